"""Sessions against a real gunicorn, played as an attacker who holds a copy of a token: logout
deletes it, idleness expires it, every login gets its own, an inactive user gets nothing."""

import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta

import psycopg
import requests
from conftest import SCRUM, manage

IDLE_DAYS = 3


def login(server, username="demo", password="test"):
    """POST /api/token/ as the book's Python client does; return the token."""
    response = requests.post(
        f"{server.url}/api/token/", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"token"}
    return response.json()["token"]


def status(server, token, path="/api/sprints/"):
    """The status code of a GET with the token."""
    headers = {"Authorization": f"Token {token}"}
    return requests.get(f"{server.url}{path}", headers=headers).status_code


def sql(database_url, statement, *params):
    """Run one statement on the server's database behind its back (%s placeholders)."""
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as database:
            database.execute(statement.replace("%s", "?"), params)
            database.commit()
    else:
        with psycopg.connect(database_url, autocommit=True) as database:
            database.execute(statement, params)


def age_token(database_url, token, days):
    """Pretend the token was last used `days` days ago."""
    sql(database_url, "UPDATE board_token SET last_used = %s WHERE key = %s", ago(days), token)


def ago(days):
    """A timestamp `days` days before now, as both databases take it."""
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(sep=" ")


def test_a_token_copied_before_logout_is_refused_after_it(scrum_server):
    server = scrum_server()
    laptop = login(server)
    copy = laptop  # what an attacker lifted from the laptop's storage
    assert status(server, copy) == 200
    headers = {"Authorization": f"Token {laptop}"}
    response = requests.post(f"{server.url}/api/logout/", headers=headers)
    assert response.status_code == 204
    assert status(server, copy) == 401
    assert status(server, copy, "/api/sprints/1/") == 401  # no channel link either
    assert requests.post(f"{server.url}/api/logout", headers=headers).status_code == 401


def test_logout_without_a_token_is_refused(scrum_server):
    server = scrum_server()
    assert requests.post(f"{server.url}/api/logout/").status_code == 401


def test_every_login_gets_its_own_token_and_logout_ends_only_that_one(scrum_server):
    server = scrum_server()
    laptop, phone = login(server), login(server)
    assert laptop != phone
    assert status(server, laptop) == status(server, phone) == 200
    headers = {"Authorization": f"Token {phone}"}
    assert requests.post(f"{server.url}/api/logout/", headers=headers).status_code == 204
    assert status(server, phone) == 401
    assert status(server, laptop) == 200  # the other device stays logged in


def test_a_token_idle_past_the_limit_is_refused(scrum_server, server_database):
    server = scrum_server({"TOKEN_IDLE_DAYS": str(IDLE_DAYS)})
    stale, recent = login(server), login(server)
    age_token(server_database, stale, IDLE_DAYS + 0.01)
    age_token(server_database, recent, IDLE_DAYS - 0.5)
    assert status(server, stale) == 401
    assert status(server, recent) == 200  # used now: its idle time starts again
    age_token(server_database, recent, IDLE_DAYS - 0.5)
    assert status(server, recent) == 200
    assert status(server, stale) == 401  # and it stays refused (deleted)


def test_use_renews_a_token(scrum_server, server_database):
    server = scrum_server({"TOKEN_IDLE_DAYS": str(IDLE_DAYS)})
    token = login(server)
    for _ in range(3):  # used every two days: alive after six, though the limit is three
        age_token(server_database, token, IDLE_DAYS - 1)
        assert status(server, token) == 200


def test_an_inactive_users_token_and_channel_links_are_refused(scrum_server, server_database):
    server = scrum_server()
    token = login(server)
    assert status(server, token, "/api/sprints/") == 200
    sql(server_database, "UPDATE auth_user SET is_active = %s WHERE username = %s", False, "demo")
    assert status(server, token, "/api/sprints/") == 401
    assert status(server, token, "/api/sprints/1/") == 401


def test_logins_keep_at_most_a_hundred_tokens_per_user(scrum_server, server_database):
    server = scrum_server()
    old = [f"{n:040x}" for n in range(100)]  # 100 sessions, the first the least recently used
    for days, key in zip(range(100, 0, -1), old, strict=True):
        sql(
            server_database,
            "INSERT INTO board_token (key, created, last_used, user_id)"
            " SELECT %s, %s, %s, id FROM auth_user WHERE username = %s",
            key,
            ago(days / 10),
            ago(days / 10),
            "demo",
        )
    newest = [login(server) for _ in range(3)]  # with seed_demo's: 104 tokens, 4 too many
    assert [status(server, key) for key in old[:5]] == [401] * 4 + [200]
    assert all(status(server, key) == 200 for key in old[4:] + newest)


def test_the_idle_limit_must_be_a_positive_number_of_days(server_database):
    for value in ("0", "two", "-1"):
        result = subprocess.run(
            [sys.executable, "scrum.py", "check"],
            cwd=SCRUM,
            env={"DATABASE_URL": server_database, "TOKEN_IDLE_DAYS": value, "PATH": "/usr/bin"},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 3, result.stderr
        assert "TOKEN_IDLE_DAYS must be a whole number of days" in result.stderr


def test_tokens_of_the_old_one_per_user_table_keep_working(scrum_server, server_database):
    manage(server_database, "seed_demo")
    manage(server_database, "migrate", "board", "0006", "--verbosity", "0")
    key = "0123456789abcdef0123456789abcdef01234567"
    sql(
        server_database,
        "INSERT INTO authtoken_token (key, created, user_id)"
        " SELECT %s, %s, id FROM auth_user WHERE username = %s",
        key,
        ago(100),
        "demo",
    )
    manage(server_database, "migrate", "--verbosity", "0")
    assert status(scrum_server(), key) == 200  # carried over, idle time counted from now
