"""scrum run as operators run it: /health with its database and cache stopped and back,
logins while Redis is down, failed logins in the log, HEAD under gunicorn, unsafe secrets."""

import os
import subprocess
import sys
import time

import psycopg
import pytest
import requests
from conftest import ON_POSTGRES, SCRUM, SECRET, manage
from harness import PostgresCluster, gunicorn, redis_service

KEY = "scrum-test-key-Hd7Kp3Xv9Qw2Nb5Tz8"
PRODUCTION = {"DEBUG": "off", "SECRET_KEY": KEY, "WATERCOOLER_SECRET": SECRET}
LOGIN = {"username": "demo", "password": "test"}


def health(server):
    """(status, body) of /health, checking what every answer of it must have."""
    response = requests.get(f"{server.url}/health", timeout=20)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers and "Vary" not in response.headers
    return response.status_code, response.json()


def wait_for_health(server, status, timeout=20):
    deadline = time.monotonic() + timeout
    while health(server)[0] != status and time.monotonic() < deadline:
        time.sleep(0.2)
    return health(server)


def login(server, password="test"):
    data = {"username": "demo", "password": password}
    return requests.post(f"{server.url}/api/token/", data=data, timeout=20)


def test_health_answers_without_credentials(scrum_server):
    server = scrum_server(PRODUCTION)
    status, body = health(server)
    assert status == 200
    assert body["status"] == "ok"
    assert body["database"] == {"vendor": "postgresql" if ON_POSTGRES else "sqlite", "state": "up"}
    assert body["cache"] == {"kind": "database", "state": "up"}
    assert "reason" not in body


def test_health_is_not_redirected_to_https(scrum_server):
    server = scrum_server({**PRODUCTION, "HTTPS": "on"})
    assert health(server)[0] == 200
    assert requests.get(f"{server.url}/api/", allow_redirects=False).status_code == 301


@pytest.mark.skipif(not ON_POSTGRES, reason="the postgres pass stops its own PostgreSQL")
def test_health_is_503_while_postgresql_is_down_and_200_once_it_is_back(start):
    cluster = PostgresCluster().start()
    try:
        manage(cluster.url, "migrate", "--verbosity", "0")
        manage(cluster.url, "seed_demo")
        server = start(gunicorn("scrum", SCRUM, {**PRODUCTION, "DATABASE_URL": cluster.url}))
        assert health(server)[0] == 200
        cluster.halt()
        status, body = health(server)
        assert status == 503
        assert body["status"] == "unavailable"
        assert body["database"]["state"] == "down"
        assert body["cache"]["state"] == "down"  # the cache is a table of the same database
        assert body["reason"].startswith("database unreachable (OperationalError)")
        assert str(cluster.port) not in body["reason"]
        cluster.resume()
        status, body = wait_for_health(server, 200)
        assert (status, body["database"]["state"], body["cache"]["state"]) == (200, "up", "up")
        assert login(server).status_code == 200
    finally:
        cluster.stop()


@pytest.mark.skipif(not ON_POSTGRES, reason="prepared statements are PostgreSQL's")
@pytest.mark.parametrize("first", ["read", "write"])
def test_a_migration_that_changes_what_prepared_statements_return(
    scrum_server, server_database, first
):
    """A running server's statements are prepared; then a migration widens the tasks' name.
    Reads go on answering 200. Only a write that is the first to meet the change fails, in its
    transaction (rolled back whole); every request after it succeeds."""
    server = scrum_server(PRODUCTION, threads=1)  # one connection: the one prepared
    api = requests.Session()
    api.headers["Authorization"] = f"Token {login(server).json()['token']}"
    task = api.post(f"{server.url}/api/tasks/", json={"name": "before"}, timeout=20).json()
    tasks, this = f"{server.url}/api/tasks/", task["links"]["self"]

    def rename(name):
        return api.patch(this, json={"name": name}, timeout=20).status_code

    def reads():
        return [api.get(tasks, timeout=20).status_code for _ in range(3)]

    assert reads() + reads() == [200] * 6
    assert [rename(f"name {n}") for n in range(6)] == [200] * 6
    with psycopg.connect(server_database, autocommit=True) as database:
        database.execute("ALTER TABLE board_task ALTER COLUMN name TYPE varchar(1000)")
    if first == "write":  # its rollback dropped the old plans: the next write succeeds
        assert [rename("lost"), rename("name 5")] == [500, 200]
    assert reads() == [200] * 3
    assert api.get(this, timeout=20).json()["name"] == "name 5"
    assert [rename(f"after {n}") for n in range(3)] == [200] * 3
    assert api.get(this, timeout=20).json()["name"] == "after 2"


@pytest.mark.redis
def test_health_is_503_while_the_redis_cache_is_down_and_200_once_it_is_back(start, scrum_server):
    redis_server = start(redis_service())
    server = scrum_server({**PRODUCTION, "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"})
    status, body = health(server)
    assert (status, body["cache"]) == (200, {"kind": "redis", "state": "up"})
    redis_server.stop()
    status, body = health(server)
    assert (status, body["status"]) == (503, "unavailable")
    assert body["database"]["state"] == "up"
    assert body["cache"] == {"kind": "redis", "state": "down"}
    assert body["reason"] == "cache unreachable (ConnectionError)"
    start(redis_server)
    assert wait_for_health(server, 200)[1]["cache"]["state"] == "up"


def log_lines(server, text):
    return [line for line in server.output().splitlines() if text in line]


@pytest.mark.redis
def test_logins_keep_working_while_redis_is_down_and_the_limit_comes_back(start, scrum_server):
    """The login limit fails open: logins while Redis is down, one warning per outage."""
    redis_server = start(redis_service())
    server = scrum_server({**PRODUCTION, "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"})
    assert login(server).status_code == 200
    redis_server.stop()
    assert [login(server).status_code for _ in range(5)] == [200] * 5
    assert [login(server, "wrong").status_code for _ in range(12)] == [400] * 12  # uncounted
    tasks = f"{server.url}/api/tasks/"
    assert requests.get(tasks, auth=("demo", "test"), timeout=20).status_code == 200
    time.sleep(6)  # past the back-off: the cache is tried again, still down
    assert login(server).status_code == 200
    assert len(log_lines(server, "login limit off: the cache is unavailable")) == 1
    start(redis_server)
    deadline = time.monotonic() + 20
    while not log_lines(server, "login limit on again") and time.monotonic() < deadline:
        assert login(server).status_code == 200
        time.sleep(0.5)
    assert len(log_lines(server, "login limit on again")) == 1
    assert [login(server, "wrong").status_code for _ in range(10)] == [400] * 10
    assert login(server).status_code == 429  # counted again
    assert "Traceback" not in server.output()


def test_failed_logins_and_lockouts_are_logged_without_the_password(scrum_server):
    server = scrum_server(PRODUCTION)
    secret_guesses = [f"guess-{n}-Zq8" for n in range(10)]
    for guess in secret_guesses[:5]:
        assert login(server, guess).status_code == 400
    tasks = f"{server.url}/api/tasks/"
    for guess in secret_guesses[5:]:
        assert requests.get(tasks, auth=("demo", guess), timeout=20).status_code == 401
    assert login(server).status_code == 429
    failed = log_lines(server, "failed login for username 'demo' from 127.0.0.1")
    assert len(failed) == 10
    locked = log_lines(server, "client 127.0.0.1 locked out of logins for 60s after 10 failed")
    assert len(locked) == 1
    assert not any(guess in server.output() for guess in secret_guesses)
    assert " WARNING scrum board.logins: " in failed[0]


def test_a_token_request_that_is_not_an_object_is_a_400(scrum_server):
    server = scrum_server(PRODUCTION)
    response = requests.post(f"{server.url}/api/token/", json=["demo", "test"], timeout=20)
    assert response.status_code == 400
    assert log_lines(server, "failed login for username '' from 127.0.0.1")


def test_head_has_the_headers_of_get_and_logs_nothing(scrum_server):
    server = scrum_server(PRODUCTION)
    token = login(server).json()["token"]
    auth = {"Authorization": f"Token {token}"}
    page = requests.get(f"{server.url}/", timeout=20)
    static = page.text.split('src="', 1)[1].split('"', 1)[0]
    for path in ("/", "/health", "/api/", "/api/tasks/", "/api/nope/", static):
        get = requests.get(server.url + path, headers=auth, timeout=20)
        head = requests.head(server.url + path, headers=auth, timeout=20)
        assert head.status_code == get.status_code, path
        assert head.headers.get("Content-Length") == get.headers.get("Content-Length"), path
        assert head.content == b"", path
    server.stop()
    assert "no-body response" not in server.output()


def start_with(env):
    """`python scrum.py check` with these settings: (exit status, standard error)."""
    environment = {**os.environ, **PRODUCTION, **env}
    command = [sys.executable, "scrum.py", "check"]
    done = subprocess.run(command, cwd=SCRUM, env=environment, capture_output=True, text=True)
    return done.returncode, done.stderr


@pytest.mark.parametrize("name", ["SECRET_KEY", "WATERCOOLER_SECRET"])
@pytest.mark.parametrize(
    "value, reason",
    [
        ("change-me", "is shorter than 32 characters"),
        ("change-me-change-me-change-me-change-me", "is a published placeholder"),
        ("dev-only-watercooler_secret-do-not-use-in-production", "is a published placeholder"),
        ("k" * 50, "has fewer than 5 different characters"),
    ],
)
def test_unsafe_secrets_stop_the_start_with_debug_off(name, value, reason):
    status, stderr = start_with({name: value})
    assert status == 3
    assert stderr == f"scrum: {name} {reason} (refusing to start)\n"
    assert start_with({name: value, "DEBUG": "on"})[0] == 0


@pytest.mark.parametrize("name", ["SECRET_KEY", "WATERCOOLER_SECRET"])
def test_unsafe_secret_stops_gunicorn_too(start, name):
    with pytest.raises(RuntimeError) as failed:
        start(gunicorn("scrum", SCRUM, {**PRODUCTION, name: "change-me"}))
    assert f"scrum: {name} is shorter than 32 characters (refusing to start)" in str(failed.value)


@pytest.mark.parametrize("name", ["DEBUG", "HTTPS", "WATERCOOLER_SECURE"])
def test_an_on_off_setting_that_is_neither_stops_the_start(name):
    status, stderr = start_with({name: "maybe"})
    assert (status, stderr) == (3, f"scrum: {name} must be on or off, not 'maybe'\n")
    assert start_with({name: "OFF" if name == "DEBUG" else "no"})[0] == 0
