"""placeholder run as operators run it: /health with and without Redis, secrets at start."""

import time

import pytest
import requests
from harness import ROOT, gunicorn, redis_service

PLACEHOLDER = ROOT / "placeholder"
KEY = "placeholder-test-key-Vb5Nq8Wz2Lr7Tc4Yh"


def health(service):
    response = requests.get(service.url + "/health", timeout=10)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    return response.status_code, response.json()


def test_health_without_redis_is_ok(start):
    service = start(gunicorn("placeholder", PLACEHOLDER, {"DEBUG": "off", "SECRET_KEY": KEY}))
    assert health(service) == (200, {"status": "ok", "cache": {"kind": "local", "state": "up"}})
    head = requests.head(service.url + "/health", timeout=10)
    assert head.status_code == 200 and head.content == b""
    service.stop()
    assert "no-body response" not in service.output()


@pytest.mark.redis
def test_health_is_degraded_but_200_while_redis_is_down(start):
    redis_server = start(redis_service())
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"}
    service = start(gunicorn("placeholder", PLACEHOLDER, env))
    assert health(service) == (200, {"status": "ok", "cache": {"kind": "redis", "state": "up"}})
    redis_server.stop()
    status, body = health(service)
    assert (status, body["status"], body["cache"]) == (
        200,
        "degraded",
        {"kind": "redis", "state": "down"},
    )
    assert body["reason"].startswith("Redis unreachable (ConnectionError)")
    image = requests.get(service.url + "/image/40x20.png", timeout=10)
    assert image.status_code == 200  # what degraded means: served, not cached
    start(redis_server)
    deadline = time.monotonic() + 10
    while health(service)[1]["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health(service) == (200, {"status": "ok", "cache": {"kind": "redis", "state": "up"}})


@pytest.mark.parametrize(
    "key, reason",
    [
        ("change-me", "is shorter than 32 characters"),
        ("CHANGE-ME-to-something-only-you-know", "is a published placeholder"),
        ("s" * 50, "has fewer than 5 different characters"),
    ],
)
def test_unsafe_secret_key_stops_the_start_with_debug_off(start, key, reason):
    with pytest.raises(RuntimeError) as failed:
        start(gunicorn("placeholder", PLACEHOLDER, {"DEBUG": "off", "SECRET_KEY": key}))
    line = f"placeholder: SECRET_KEY {reason} (refusing to start with DEBUG off)"
    assert line in str(failed.value)
