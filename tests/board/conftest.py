"""The board in a real browser: scrum under gunicorn, the watercooler, headless Chromium.

One scrum + watercooler per test module (boardstack.Stack), one Chromium per session, a fresh
browser context per board. Every board fails its test if the page logged a console error,
threw, or opened a dialog, unless the test said it expects that console message (e.g. the 400
of a refused login).
"""

import pytest
from boardstack import TIMEOUT_MS, Board, Stack, seeded_database
from playwright.sync_api import expect

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def seeded(tmp_path_factory):
    """A migrated database with demo / test, copied by each module's stack."""
    return seeded_database(tmp_path_factory.mktemp("seeded") / "scrum.sqlite3")


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, seeded):
    """scrum (gunicorn, SCRUM_WORKERS of the module or 2 workers) + watercooler."""
    workers = getattr(request.module, "SCRUM_WORKERS", 2)
    running = Stack(tmp_path_factory.mktemp("board"), workers)
    try:
        yield running.start(template=seeded)
    finally:
        running.stop()


@pytest.fixture
def api(stack):
    return stack.api


@pytest.fixture
def board(browser, stack):
    """board(logged_in=True) opens a fresh browser context; each is checked at the end."""
    opened = []

    def _board(logged_in=True, token=None, username="demo"):
        token = token or (stack.api.token if logged_in else None)
        opened.append(Board(browser, stack.scrum.url, token, username))
        return opened[-1]

    yield _board
    problems = []
    for each in opened:
        problems += each.problems
        each.close()
    assert not problems, "the page reported:\n" + "\n".join(problems)
