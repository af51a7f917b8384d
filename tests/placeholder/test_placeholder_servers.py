"""placeholder as users run it: runserver and gunicorn start-up, production settings, the image
cache in one process (bounded) and shared through a real redis-server by every process."""

import pickle
import sys
import uuid

import pytest
import redis
import requests
from harness import ROOT, free_port, gunicorn, runserver

PLACEHOLDER = ROOT / "placeholder"
sys.path.insert(0, str(PLACEHOLDER))
import placeholder  # noqa: E402  (for its documented limits only)

PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "images.example.com"}


def unique_image():
    """A path no test has asked for yet (the Redis server lives for the whole session)."""
    return f"/image/320x240/?text={uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("server", [runserver, gunicorn], ids=["runserver", "gunicorn"])
def test_starts_from_inside_its_folder(start, server):
    service = start(server("placeholder.py" if server is runserver else "placeholder", PLACEHOLDER))
    home = requests.get(service.url + "/", timeout=10)
    assert home.status_code == 200
    assert "/image/50x50/" in home.text
    image = requests.get(service.url + "/image/50x50/", timeout=10)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/png"
    css = requests.get(service.url + "/static/site.css", timeout=10)
    assert css.status_code == 200


def test_production_settings(start):
    service = start(gunicorn("placeholder", PLACEHOLDER, PRODUCTION))
    host = {"Host": "images.example.com"}
    home = requests.get(service.url + "/", headers=host, timeout=10)
    assert home.status_code == 200
    assert 'src="http://images.example.com/image/50x50/"' in home.text
    css = requests.get(service.url + "/static/site.css", headers=host, timeout=10)
    assert css.status_code == 200  # WhiteNoise serves static files with DEBUG off
    image = requests.get(service.url + "/image/10x10.gif", headers=host, timeout=10)
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    bad = requests.get(service.url + "/image/0x0/", headers=host, timeout=10)
    assert bad.status_code == 400
    missing = requests.get(service.url + "/image/x/", headers=host, timeout=10)
    assert missing.status_code == 404
    assert "Traceback" not in missing.text and "urlpatterns" not in missing.text
    evil = requests.get(service.url + "/image/10x10/", headers={"Host": "evil.test"}, timeout=10)
    assert evil.status_code == 400
    assert "Traceback" not in service.output()


def test_304_renders_nothing(start):
    """A fresh process answers If-None-Match from the URL alone: nothing rendered or cached."""
    path = unique_image()
    first = start(gunicorn("placeholder", PLACEHOLDER))
    etag = requests.get(first.url + path, timeout=10).headers["ETag"]
    fresh = start(gunicorn("placeholder", PLACEHOLDER))
    revalidated = requests.get(fresh.url + path, headers={"If-None-Match": etag}, timeout=10)
    assert revalidated.status_code == 304
    assert requests.get(fresh.url + path, timeout=10).headers["X-Cache"] == "MISS"


def test_local_memory_cache_is_bounded(start):
    """A flood of distinct sizes leaves at most CACHE_ENTRIES images cached in a worker."""
    service = start(gunicorn("placeholder", PLACEHOLDER))
    paths = [f"/image/{width}x1/" for width in range(1, placeholder.CACHE_ENTRIES + 201)]
    session = requests.Session()
    for path in paths:
        assert session.get(service.url + path, timeout=10).headers["X-Cache"] == "MISS"
    hits = sum(
        session.get(service.url + path, timeout=10).headers["X-Cache"] == "HIT"
        for path in reversed(paths)  # newest first: each is asked for once more
    )
    assert 0 < hits <= placeholder.CACHE_ENTRIES


def cache_states(service, path, times):
    return [requests.get(service.url + path, timeout=30).headers["X-Cache"] for _ in range(times)]


@pytest.mark.redis
def test_redis_cache_is_shared_by_every_process(start, redis_url):
    """Two workers, each replaced after one request: every request meets a new process."""
    service = start(
        gunicorn(
            "placeholder",
            PLACEHOLDER,
            {"REDIS_URL": redis_url},
            workers=2,
            extra=["--max-requests", "1"],
        )
    )
    path = unique_image()
    assert cache_states(service, path, 6) == ["MISS"] + ["HIT"] * 5
    image = requests.get(service.url + path, timeout=10)
    client = redis.Redis.from_url(redis_url)
    key = next(client.scan_iter("placeholder:*image:" + image.headers["ETag"].strip('"')))
    assert pickle.loads(client.get(key)) == image.content


def test_without_redis_each_process_has_its_own_cache(start):
    """The control for the test above: same servers, local-memory cache, nothing shared."""
    service = start(gunicorn("placeholder", PLACEHOLDER, workers=2, extra=["--max-requests", "1"]))
    assert cache_states(service, unique_image(), 4) == ["MISS"] * 4


@pytest.mark.redis
def test_redis_cache_shared_by_separate_servers(start, redis_url):
    path = unique_image()
    one = start(gunicorn("placeholder", PLACEHOLDER, {"REDIS_URL": redis_url}))
    two = start(gunicorn("placeholder", PLACEHOLDER, {"REDIS_URL": redis_url}))
    assert cache_states(one, path, 1) == ["MISS"]
    assert cache_states(two, path, 1) == ["HIT"]


def test_redis_down_still_serves_images(start):
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    service = start(gunicorn("placeholder", PLACEHOLDER, {"REDIS_URL": unreachable}))
    for _ in range(2):
        response = requests.get(service.url + "/image/64x32.png", timeout=30)
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "MISS"
    assert "image cache unavailable" in service.output()
