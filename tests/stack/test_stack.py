"""The whole stack as users meet it: the scrum API announces changes that board sockets receive.

scrum runs under gunicorn on a throwaway SQLite file, watercooler as `python watercooler.py`;
with Redis, two watercooler processes act as one.
"""

import json
import subprocess
import sys
from datetime import date, timedelta

import pytest
import requests
import websocket
from harness import ROOT, Service, gunicorn

SECRET = "stack-test-secret"
SCRUM = ROOT / "scrum"


def watercooler(env=None):
    command = [sys.executable, "watercooler.py", "--port={port}"]
    return Service(command, ROOT / "watercooler", {"WATERCOOLER_SECRET": SECRET, **(env or {})})


@pytest.fixture
def scrum_env(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'scrum.sqlite3'}", "WATERCOOLER_SECRET": SECRET}
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run(
            [sys.executable, "scrum.py", *command],
            cwd=SCRUM,
            env={**Service([], SCRUM).env, **env},
            check=True,
            capture_output=True,
        )
    return env


def board(start, scrum_env, announce_to, listen_on):
    """Start scrum announcing to one watercooler; returns an API session, the scrum service,
    a new sprint and a board socket on that sprint connected to another (or the same) one."""
    server = f"127.0.0.1:{announce_to.port}"
    scrum = start(gunicorn("scrum", SCRUM, {**scrum_env, "WATERCOOLER_SERVER": server}))
    session = requests.Session()
    token = session.post(scrum.url + "/api/token/", data={"username": "demo", "password": "test"})
    session.headers["Authorization"] = f"Token {token.json()['token']}"
    end = (date.today() + timedelta(days=30)).isoformat()
    sprint = session.post(scrum.url + "/api/sprints/", json={"name": "Stack", "end": end})
    assert sprint.status_code == 201, sprint.text
    sprint = sprint.json()
    return session, scrum, sprint, board_socket(sprint["links"]["channel"], listen_on.port)


def receive_until(socket, predicate, limit=20):
    """Messages from a board socket until one matches predicate (timeouts fail the test)."""
    for _ in range(limit):
        message = json.loads(socket.recv())
        if predicate(message):
            return message
    raise AssertionError("no matching message")


def board_socket(channel_url, port):
    """Connect like the board: the channel link from the API, pointed at this watercooler."""
    path = channel_url.split("/socket", 1)[1]
    return websocket.create_connection(f"ws://127.0.0.1:{port}/socket{path}", timeout=10)


def test_a_task_created_through_the_api_reaches_the_board(start, scrum_env):
    hub = start(watercooler())
    session, scrum, sprint, socket = board(start, scrum_env, announce_to=hub, listen_on=hub)
    created = session.post(scrum.url + "/api/tasks/", json={"name": "Ship", "sprint": sprint["id"]})
    assert created.status_code == 201, created.text
    message = receive_until(socket, lambda m: m.get("model") == "task" and m.get("action") == "add")
    assert message["id"] == created.json()["id"]
    assert message["body"]["name"] == "Ship"
    socket.close()


def test_two_watercoolers_on_redis_act_as_one(start, scrum_env, redis_url):
    board_side = start(watercooler({"REDIS_URL": redis_url}))
    api_side = start(watercooler({"REDIS_URL": redis_url}))
    session, scrum, sprint, socket = board(start, scrum_env, api_side, board_side)
    task = session.post(scrum.url + "/api/tasks/", json={"name": "Fan out", "sprint": sprint["id"]})
    updated = session.patch(task.json()["links"]["self"], json={"name": "Fanned out"})
    assert updated.status_code == 200, updated.text
    message = receive_until(socket, lambda m: m.get("action") == "update")
    assert message["model"] == "task"
    assert message["body"]["name"] == "Fanned out"
    socket.close()
