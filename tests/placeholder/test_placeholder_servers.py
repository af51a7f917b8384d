"""placeholder as users run it: runserver and gunicorn start-up, production settings, the image
cache in one process (bounded) and shared through a real redis-server by every process."""

import contextlib
import pickle
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests
from harness import (
    ROOT,
    Service,
    free_port,
    gunicorn,
    missing_security_headers,
    require_program,
    runserver,
)

PLACEHOLDER = ROOT / "placeholder"
sys.path.insert(0, str(PLACEHOLDER))
import placeholder  # noqa: E402  (for its documented limits only)

PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": "placeholder-test-key-Vb5Nq8Wz2Lr7Tc4Yh",
    "ALLOWED_HOSTS": "images.example.com",
}


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


def test_behind_https_every_answer_carries_the_security_headers(start):
    service = start(gunicorn("placeholder", PLACEHOLDER, {**PRODUCTION, "HTTPS": "on"}))
    headers = {"Host": "images.example.com", "X-Forwarded-Proto": "https"}
    for path in ("/", "/image/10x10/", "/image/10x10.svg", "/image/0x0/", "/nope", "/health"):
        response = requests.get(service.url + path, headers=headers, timeout=10)
        assert not missing_security_headers(response, https=True), path
    css = requests.get(service.url + "/static/site.css", headers=headers, timeout=10)
    assert css.headers["X-Content-Type-Options"] == "nosniff"
    assert css.headers["Strict-Transport-Security"].startswith("max-age=31536000")


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


def test_a_full_local_cache_drops_only_the_least_recently_used(start):
    """One image more than CACHE_ENTRIES drops the image asked for least recently, no other
    (a cache that culled a share of its entries would miss many below)."""
    service = start(gunicorn("placeholder", PLACEHOLDER))
    session = requests.Session()

    def cached(path):
        return session.get(service.url + path, timeout=10).headers["X-Cache"] == "HIT"

    paths = [f"/image/{width}x2/" for width in range(1, placeholder.CACHE_ENTRIES + 1)]
    assert not any(cached(path) for path in paths)
    assert cached(paths[0])  # now the most recently used; paths[1] the least
    assert not cached("/image/1x3/")  # one image too many
    assert all(cached(path) for path in paths[2:])
    assert cached(paths[0])
    assert not cached(paths[1])


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


def warnings_about_the_cache(service):
    return [line for line in service.output().splitlines() if "image cache unavailable" in line]


def timed_requests(service, count):
    """Seconds taken by ``count`` requests for distinct images, each asserted to be a 200."""
    started = time.monotonic()
    for _ in range(count):
        response = requests.get(service.url + unique_image(), timeout=30)
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "MISS"
    return time.monotonic() - started


@pytest.mark.redis
def test_redis_stopped_images_stay_fast_with_one_warning_and_the_cache_comes_back(start, tmp_path):
    redis_port = free_port()
    redis_server = Service(
        [require_program("redis-server"), "--port", "{port}", "--save", "", "--dir", tmp_path],
        tmp_path,
        port=redis_port,
        ready_path=None,
    )
    start(redis_server)
    service = start(
        gunicorn("placeholder", PLACEHOLDER, {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"})
    )
    path = unique_image()
    assert cache_states(service, path, 2) == ["MISS", "HIT"]
    redis_server.stop()
    assert timed_requests(service, 5) < 10  # generous: a refused connection is quick
    assert len(warnings_about_the_cache(service)) == 1
    assert "Traceback" not in service.output()
    start(redis_server)  # the same port again: the cache is used once the back-off is over
    deadline = time.monotonic() + 30
    while cache_states(service, path, 1) != ["HIT"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cache_states(service, path, 1) == ["HIT"]
    assert "image cache available again" in service.output()
    assert len(warnings_about_the_cache(service)) == 1


@pytest.fixture
def silent_listener():
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    server = socket.create_server(("127.0.0.1", 0))
    held, stopping = [], threading.Event()

    def accept():
        while not stopping.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    stopping.set()
    server.close()
    for connection in held:
        connection.close()


def test_redis_that_never_answers_costs_one_short_timeout(start, silent_listener):
    redis_url = f"redis://127.0.0.1:{silent_listener}/0"
    service = start(gunicorn("placeholder", PLACEHOLDER, {"REDIS_URL": redis_url}))
    assert timed_requests(service, 5) < 10  # generous: it used to take about 10 s per image
    assert len(warnings_about_the_cache(service)) == 1
    assert "TimeoutError" in warnings_about_the_cache(service)[0]
    assert "Traceback" not in service.output()


def worker_memory(arbiter):
    """{'VmRSS': bytes, 'VmHWM': bytes} of the only worker of a gunicorn Service."""
    arbiter_pid = arbiter.proc.pid
    (worker,) = Path(f"/proc/{arbiter_pid}/task/{arbiter_pid}/children").read_text().split()
    status = Path(f"/proc/{worker}/status").read_text()
    return {
        name: int(re.search(rf"^{name}:\s+(\d+) kB", status, re.M).group(1)) * 1024
        for name in ("VmRSS", "VmHWM")
    }


LARGEST = ["/image/2000x2000@2x.png", "/image/2000x2000@2x.gif", "/image/2000x2000@2x.jpg"]
LARGEST += ["/image/2000x2000.webp", "/image/500x2000@2x.webp", "/image/2000x2000@2x.svg"]
LARGEST += ["/image/2000x2000.avif", "/image/500x2000@2x.avif"]


def test_one_render_of_any_format_needs_at_most_128_mib(start):
    """The largest image of every format, one after the other: the worker's peak RSS."""
    service = start(gunicorn("placeholder", PLACEHOLDER))
    assert requests.get(service.url + "/image/20x20.webp", timeout=30).status_code == 200
    baseline = worker_memory(service)["VmRSS"]
    for path in LARGEST:
        response = requests.get(service.url + path + "?text=MMMM", timeout=60)
        assert response.status_code == 200, response.text
    peak = worker_memory(service)["VmHWM"]
    assert peak - baseline < 128 * 1024 * 1024
    for too_big in ("/image/2000x2000@2x.webp", "/image/2000x2000@2x.avif"):
        assert requests.get(service.url + too_big, timeout=30).status_code == 400


TOO_MANY_FIELDS = "a&" * 1001  # gunicorn takes it (request line < 4 KB); Django's limit is 1000


@pytest.mark.parametrize("server", [runserver, gunicorn], ids=["runserver", "gunicorn"])
def test_too_many_query_fields_is_the_services_own_400(start, server):
    service = start(server("placeholder.py" if server is runserver else "placeholder", PLACEHOLDER))
    response = requests.get(service.url + "/image/10x10/?" + TOO_MANY_FIELDS, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Invalid Image Request: too many query parameters"
    at_the_limit = requests.get(service.url + "/image/10x10/?" + "a&" * 999 + "a", timeout=10)
    assert at_the_limit.status_code == 200
    assert "Traceback" not in service.output()


def test_head_renders_nothing_and_gunicorn_logs_no_warning(start):
    service = start(gunicorn("placeholder", PLACEHOLDER))
    path = unique_image()
    head = requests.head(service.url + path, timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["X-Cache"] == "MISS"
    get = requests.get(service.url + path, timeout=10)
    assert get.headers["X-Cache"] == "MISS"  # the HEAD neither rendered nor cached the image
    for header in ("Content-Type", "ETag", "Cache-Control"):
        assert head.headers[header] == get.headers[header]
    cached = requests.head(service.url + path, timeout=10)
    assert cached.headers["X-Cache"] == "HIT"
    assert cached.headers["Content-Length"] == get.headers["Content-Length"]
    for other in ("/", "/image/0x0/"):  # the home page and an error: headers, no body
        head, get = (requests.request(m, service.url + other, timeout=10) for m in ("HEAD", "GET"))
        assert (head.status_code, head.content) == (get.status_code, b"")
        assert head.headers["Content-Length"] == str(len(get.content))
    assert "WARNING" not in service.output()
    assert "body" not in service.output()


def test_home_page_uses_https_behind_a_tls_proxy_when_told_to(start):
    """gunicorn as behind a proxy on another host, so that gunicorn itself does not act on
    X-Forwarded-Proto: with HTTPS=on Django does."""
    untrusting = ["--forwarded-allow-ips", "192.0.2.1"]
    proxied = {"X-Forwarded-Proto": "https"}
    trusting = start(gunicorn("placeholder", PLACEHOLDER, {"HTTPS": "on"}, extra=untrusting))
    home = requests.get(trusting.url + "/", headers=proxied, timeout=10)
    assert f'src="https://127.0.0.1:{trusting.port}/image/50x50/"' in home.text
    options = re.findall(r'<img src="([^"]+)"', home.text)
    assert len(options) == len(placeholder.HOME_OPTIONS) + 1
    assert all(url.startswith("https://") for url in options)
    direct = requests.get(trusting.url + "/", timeout=10)  # no proxy in between: plain http
    assert f'src="http://127.0.0.1:{trusting.port}/image/50x50/"' in direct.text
    plain = start(gunicorn("placeholder", PLACEHOLDER, extra=untrusting))
    home = requests.get(plain.url + "/", headers=proxied, timeout=10)  # not trusted
    assert f'src="http://127.0.0.1:{plain.port}/image/50x50/"' in home.text


def test_allowed_hosts_entries_are_stripped(start):
    env = {**PRODUCTION, "ALLOWED_HOSTS": "localhost, images.example.com "}
    service = start(gunicorn("placeholder", PLACEHOLDER, env))
    for host in ("localhost", "images.example.com"):
        response = requests.get(service.url + "/image/10x10/", headers={"Host": host}, timeout=10)
        assert response.status_code == 200, host
