"""hello run as operators run it: /health, HEAD under gunicorn, secrets refused at start."""

import pytest
import requests
from harness import ROOT, gunicorn, missing_security_headers

HELLO = ROOT / "hello"
KEY = "hello-test-key-2QbT7nVw9Lm4Xs8Pk3Rf6Hz1"


def test_health_is_ok_and_never_cached(start):
    service = start(gunicorn("hello", HELLO, {"DEBUG": "off", "SECRET_KEY": KEY}))
    response = requests.get(service.url + "/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_behind_https_every_answer_carries_the_security_headers(start):
    env = {"DEBUG": "off", "SECRET_KEY": KEY, "HTTPS": "on"}
    service = start(gunicorn("hello", HELLO, env))
    for path in ("/", "/health", "/nope"):
        response = requests.get(
            service.url + path, headers={"X-Forwarded-Proto": "https"}, timeout=10
        )
        assert not missing_security_headers(response, https=True), path


def test_a_bad_on_off_value_stops_gunicorn_at_once_instead_of_booting_workers_forever(start):
    with pytest.raises(RuntimeError) as failed:
        start(gunicorn("hello", HELLO, {"DEBUG": "maybe"}))
    assert "exited with 3" in str(failed.value)  # the master stopped, no respawn
    assert str(failed.value).count("hello: DEBUG must be on or off, not 'maybe'") == 1


def test_head_has_the_headers_of_get_and_logs_nothing(start):
    service = start(gunicorn("hello", HELLO, {"DEBUG": "off", "SECRET_KEY": KEY}))
    for path in ("/", "/health", "/nope"):
        get = requests.get(service.url + path, timeout=10)
        head = requests.head(service.url + path, timeout=10)
        assert head.status_code == get.status_code, path
        assert head.headers["Content-Length"] == get.headers["Content-Length"], path
        assert head.content == b""
    service.stop()
    assert "no-body response" not in service.output()


@pytest.mark.parametrize(
    "key, reason",
    [
        ("change-me", "is shorter than 32 characters"),
        ("change-me-now-please-before-you-deploy", "is a published placeholder"),
        ("dev-only-secret_key-do-not-use-in-production", "is a published placeholder"),
        ("ab" * 20, "has fewer than 5 different characters"),
    ],
)
def test_unsafe_secret_key_stops_the_start_with_debug_off(start, key, reason):
    with pytest.raises(RuntimeError) as failed:
        start(gunicorn("hello", HELLO, {"DEBUG": "off", "SECRET_KEY": key}))
    assert f"hello: SECRET_KEY {reason} (refusing to start with DEBUG off)" in str(failed.value)
    assert key not in str(failed.value).split("\n", 1)[1]


def test_short_secret_key_is_fine_with_debug_on(start):
    service = start(gunicorn("hello", HELLO, {"DEBUG": "on", "SECRET_KEY": "change-me"}))
    assert requests.get(service.url + "/", timeout=10).text == "Hello World"
