"""The whole stack as users meet it: the scrum API announces changes that board sockets receive.

scrum runs under gunicorn on a throwaway SQLite file, watercooler as `python watercooler.py`;
with Redis, two watercooler processes act as one. `make run`'s own way of starting them (the
Procfile under honcho, with the .env that `make` writes) is tried too, on free ports
(SCRUM_PORT, WATERCOOLER_PORT).
"""

import json
import re
import subprocess
import sys
import time
from datetime import date, timedelta

import pytest
import requests
import websocket
from harness import BIN, ROOT, Service, free_port, gunicorn

SECRET = "stack-test-secret-Mb6Xc2Tf8Jp4Lw"
SCRUM = ROOT / "scrum"


def watercooler(env=None):
    command = [sys.executable, "watercooler.py", "--port={port}", "--drain_window=0"]
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


def board(start, scrum_env, announce_to, listen_on, **env):
    """Start scrum announcing to one watercooler; returns an API session, the scrum service,
    a new sprint and a board socket on that sprint connected to another (or the same) one."""
    server = f"127.0.0.1:{announce_to.port}"
    scrum = start(gunicorn("scrum", SCRUM, {**scrum_env, "WATERCOOLER_SERVER": server, **env}))
    session, sprint = new_sprint(scrum.url)
    return session, scrum, sprint, board_socket(sprint["links"]["channel"], listen_on.port)


def new_sprint(scrum_url):
    """(an API session logged in as the demo user, a new sprint's JSON)."""
    session = requests.Session()
    token = session.post(scrum_url + "/api/token/", data={"username": "demo", "password": "test"})
    session.headers["Authorization"] = f"Token {token.json()['token']}"
    end = (date.today() + timedelta(days=30)).isoformat()
    sprint = session.post(scrum_url + "/api/sprints/", json={"name": "Stack", "end": end})
    assert sprint.status_code == 201, sprint.text
    return session, sprint.json()


def receive_until(socket, predicate, limit=20):
    """Messages from a board socket until one matches predicate (timeouts fail the test)."""
    for _ in range(limit):
        message = json.loads(socket.recv())
        if predicate(message):
            return message
    raise AssertionError("no matching message")


def task_added(message):
    return message.get("model") == "task" and message.get("action") == "add"


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


def test_channel_links_name_the_public_watercooler_while_hooks_go_to_the_server(start, scrum_env):
    hub = start(watercooler())
    public = {"WATERCOOLER_PUBLIC": "board.example:443", "WATERCOOLER_SECURE": "off"}
    session, scrum, sprint, socket = board(start, scrum_env, hub, hub, **public)
    assert sprint["links"]["channel"].startswith("ws://board.example:443/socket?channel=")
    created = session.post(scrum.url + "/api/tasks/", json={"name": "Seen", "sprint": sprint["id"]})
    message = receive_until(socket, task_added)  # the hook reached the hub
    assert message["id"] == created.json()["id"]
    socket.close()


def relayed_on_the_sprint(message):
    """A model message on a sprint's channel (not an announcement, not presence)."""
    return "model" in message and message.get("channel", "").startswith("sprint:")


def test_what_one_board_forges_never_reaches_another(start, scrum_env):
    hub = start(watercooler())
    session, scrum, sprint, attacker = board(start, scrum_env, hub, hub)
    victim = board_socket(sprint["links"]["channel"], hub.port)
    forged = {"model": "task", "id": 1, "action": "remove", "body": None}
    attacker.send(json.dumps(forged))
    refused = receive_until(attacker, lambda m: m.get("type") not in (None, "presence"))
    assert refused["type"] == "error"
    marker = {"model": "task", "id": 2, "action": "dragstart"}
    attacker.send(json.dumps(marker))
    # Announcements of the API's writes ("all" channel) and who is viewing (presence) may come
    # in between: skip those. The next model message relayed on the sprint is the marker.
    received = receive_until(victim, relayed_on_the_sprint)
    assert {k: received[k] for k in marker} == marker
    attacker.close()
    victim.close()


def test_make_run_needs_nothing_set(tmp_path, scrum_env, start):
    """`make run`: a random shared secret in .env, honcho passing it to scrum and watercooler."""
    make = ["make", "-s", "-C", tmp_path, "-f", ROOT / "Makefile", "dotenv"]
    subprocess.run(make, check=True)
    secret = (tmp_path / ".env").read_text()
    assert re.fullmatch(r"WATERCOOLER_SECRET=[\w-]{40,}\n", secret)
    subprocess.run(make, check=True)
    assert (tmp_path / ".env").read_text() == secret  # kept: sessions survive a restart
    scrum_port, watercooler_port = free_port(), free_port()
    env = {k: v for k, v in scrum_env.items() if k != "WATERCOOLER_SECRET"}
    env.update(SCRUM_PORT=str(scrum_port), WATERCOOLER_PORT=str(watercooler_port))
    command = [BIN / "honcho", "-e", tmp_path / ".env", "start", "scrum", "watercooler"]
    stack = start(Service(command, ROOT, env, port=watercooler_port, ready_path="/health"))
    session, sprint = wait_for_scrum(f"http://127.0.0.1:{scrum_port}")
    socket = board_socket(sprint["links"]["channel"], watercooler_port)
    created = session.post(
        f"http://127.0.0.1:{scrum_port}/api/tasks/", json={"name": "Run", "sprint": sprint["id"]}
    )
    message = receive_until(socket, task_added)
    assert message["id"] == created.json()["id"]
    socket.close()
    assert "refusing to start" not in stack.output()


def wait_for_scrum(url, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return new_sprint(url)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_same_change_twice_is_announced_twice(start, scrum_env):
    """Equal announcements within a second would sign alike; scrum never reuses a signature."""
    hub = start(watercooler())
    session, scrum, sprint, socket = board(start, scrum_env, hub, hub)
    task = session.post(scrum.url + "/api/tasks/", json={"name": "A", "sprint": sprint["id"]})
    for name in ("B", "A", "A"):  # the second "A" is the very same body as the first
        response = session.patch(task.json()["links"]["self"], json={"name": name})
        assert response.status_code == 200, response.text
    names = [
        receive_until(socket, lambda m: m.get("action") == "update")["body"]["name"]
        for _ in range(3)
    ]
    assert names == ["B", "A", "A"]
    assert "watercooler refused" not in scrum.output()
    socket.close()
