"""hello.py served for real: runserver and gunicorn, configured from the environment."""

import os
import subprocess
import sys

import pytest
import requests
from harness import ROOT, gunicorn, runserver

HELLO = ROOT / "hello"
PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": "hello-test-key-2QbT7nVw9Lm4Xs8Pk3Rf6Hz1",
    "ALLOWED_HOSTS": "hello.example.com",
}


@pytest.mark.parametrize("server", [runserver, gunicorn], ids=["runserver", "gunicorn"])
def test_says_hello_world(start, server):
    service = start(server("hello.py" if server is runserver else "hello", HELLO))
    response = requests.get(service.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello World"


def test_unknown_path_is_404(start):
    service = start(gunicorn("hello", HELLO))
    assert requests.get(service.url + "/nope").status_code == 404


def test_allowed_host_is_served_with_debug_off(start):
    service = start(gunicorn("hello", HELLO, PRODUCTION))
    response = requests.get(service.url + "/", headers={"Host": "hello.example.com"})
    assert response.status_code == 200
    assert response.text == "Hello World"


def test_unknown_host_is_400_without_traceback(start):
    service = start(gunicorn("hello", HELLO, PRODUCTION))
    response = requests.get(service.url + "/", headers={"Host": "evil.example.com"})
    assert response.status_code == 400
    assert "Traceback" not in response.text
    assert "DisallowedHost" not in response.text
    assert "Traceback" not in service.output()


def test_debug_on_explains_the_unknown_host(start):
    service = start(gunicorn("hello", HELLO, {"DEBUG": "on", "ALLOWED_HOSTS": "localhost"}))
    response = requests.get(service.url + "/", headers={"Host": "evil.example.com"})
    assert response.status_code == 400
    assert "ALLOWED_HOSTS" in response.text


def test_allowed_hosts_entries_are_stripped(start):
    env = {**PRODUCTION, "ALLOWED_HOSTS": "localhost, hello.example.com ,"}
    service = start(gunicorn("hello", HELLO, env))
    for host in ("localhost", "hello.example.com"):
        response = requests.get(service.url + "/", headers={"Host": host})
        assert response.status_code == 200, host
        assert response.text == "Hello World"
    assert requests.get(service.url + "/", headers={"Host": "evil.test"}).status_code == 400


def test_a_debug_neither_on_nor_off_stops_the_start_with_its_name():
    result = subprocess.run(
        [sys.executable, "hello.py", "check"],
        cwd=HELLO,
        env={**os.environ, "DEBUG": "maybe"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "hello: DEBUG must be on or off, not 'maybe'" in result.stderr
