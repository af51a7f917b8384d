"""Fixtures shared by every service's tests; the helpers themselves live in harness.py."""

import pytest
from harness import PostgresCluster, launch_chromium, require_program
from pytest_redis import factories

redis_server = factories.redis_proc(port=None)


@pytest.fixture
def start():
    """start(service) starts a harness.Service and stops it when the test ends."""
    running = []

    def _start(service):
        running.append(service)
        return service.start()

    yield _start
    for service in reversed(running):
        service.stop()


@pytest.fixture(scope="session")
def redis_url(request):
    """URL of a throwaway redis-server (pytest-redis) on a free port, for the whole run."""
    require_program("redis-server")
    executor = request.getfixturevalue("redis_server")
    return f"redis://{executor.host}:{executor.port}/0"


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a throwaway PostgreSQL cluster (initdb in a temp folder) for the whole run."""
    cluster = PostgresCluster().start()
    yield cluster.url
    cluster.stop()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (the system's), one for the whole pytest run."""
    require_program("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()
