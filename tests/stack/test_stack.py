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


def api(scrum):
    session = requests.Session()
    token = session.post(scrum.url + "/api/token/", data={"username": "demo", "password": "test"})
    session.headers["Authorization"] = f"Token {token.json()['token']}"
    return session


def new_sprint(session, scrum):
    end = (date.today() + timedelta(days=30)).isoformat()
    sprint = session.post(scrum.url + "/api/sprints/", json={"name": "Stack", "end": end})
    assert sprint.status_code == 201, sprint.text
    return sprint.json()


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
    server = f"127.0.0.1:{hub.port}"
    scrum = start(gunicorn("scrum", SCRUM, {**scrum_env, "WATERCOOLER_SERVER": server}))
    session = api(scrum)
    sprint = new_sprint(session, scrum)
    socket = board_socket(sprint["links"]["channel"], hub.port)
    created = session.post(scrum.url + "/api/tasks/", json={"name": "Ship", "sprint": sprint["id"]})
    assert created.status_code == 201, created.text
    message = receive_until(socket, lambda m: m.get("model") == "task" and m.get("action") == "add")
    assert message["id"] == created.json()["id"]
    assert message["body"]["name"] == "Ship"
    socket.close()


def test_two_watercoolers_on_redis_act_as_one(start, scrum_env, redis_url):
    board_side = start(watercooler({"REDIS_URL": redis_url}))
    api_side = start(watercooler({"REDIS_URL": redis_url}))
    server = f"127.0.0.1:{api_side.port}"
    scrum = start(gunicorn("scrum", SCRUM, {**scrum_env, "WATERCOOLER_SERVER": server}))
    session = api(scrum)
    sprint = new_sprint(session, scrum)
    socket = board_socket(sprint["links"]["channel"], board_side.port)
    task = session.post(scrum.url + "/api/tasks/", json={"name": "Fan out", "sprint": sprint["id"]})
    updated = session.patch(task.json()["links"]["self"], json={"name": "Fanned out"})
    assert updated.status_code == 200, updated.text
    message = receive_until(socket, lambda m: m.get("action") == "update")
    assert message["model"] == "task"
    assert message["body"]["name"] == "Fanned out"
    socket.close()
