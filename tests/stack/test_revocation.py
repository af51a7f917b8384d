"""Revocation reaches the live feed: a login that ends, or a user made inactive, stops hearing
the board within seconds, on the real stack (scrum under gunicorn, the watercooler, Chromium).

Played as the attacker: alice keeps a socket opened with her laptop's link, and a copy of that
link with ``&viewer=`` cut off, after she logs out, through a watercooler hung at that moment.
"""

import json
import os
import signal
import struct
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import websocket
from boardstack import SCRUM, Api, Board, Stack
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
CLOSE_REVOKED = 4410
REVOKE_SECONDS = 20  # a hung watercooler's revocation comes with scrum's next try (every 5 s)


def login(stack):
    """A new login of demo (each login is its own token), as the book's Python client."""
    answer = requests.post(
        stack.scrum.url + "/api/token/", data={"username": "demo", "password": "test"}, timeout=10
    )
    return Api(stack.scrum.url, answer.json()["token"])


def socket(link, port, viewer=True):
    """A socket opened with a sprint's channel link (without its viewer: a stripped copy)."""
    query = parse_qs(urlsplit(link).query)
    if not viewer:
        del query["viewer"]
    params = urlencode({name: values[0] for name, values in query.items()})
    return websocket.create_connection(f"ws://127.0.0.1:{port}/socket?{params}", timeout=10)


def close_code(ws, timeout):
    """The code of the close frame the server sends within timeout (data frames skipped)."""
    ws.settimeout(timeout)
    while True:
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", frame.data[:2])[0]


def hears(ws, task):
    """Whether the socket gets the announcement of the task's creation."""
    ws.settimeout(10)
    while True:
        message = json.loads(ws.recv())
        if message.get("model") == "task" and message.get("action") == "add":
            return message["id"] == task["id"]


def deactivate(stack, username):
    """Make a user inactive as an administrator would, from another process."""
    code = (
        "from django.contrib.auth.models import User\n"
        f"user = User.objects.get(username={username!r})\n"
        "user.is_active = False\n"
        "user.save()"
    )
    command = [sys.executable, "scrum.py", "shell", "-c", code]
    subprocess.run(command, cwd=SCRUM, env={**os.environ, **stack.env}, check=True)


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path).start()
    yield stack
    stack.stop()


def test_logout_and_deactivation_close_the_live_feed_within_seconds(stack, browser):
    laptop, phone = login(stack), login(stack)
    sprint = phone.sprint("Revoked")
    link = laptop.call("GET", f"/api/sprints/{sprint['id']}/")["links"]["channel"]
    port = stack.watercooler.port
    kept, stripped = socket(link, port), socket(link, port, viewer=False)
    board = Board(browser, stack.scrum.url, phone.token).open_sprint(sprint)
    expect(board.live_status).to_have_attribute("data-state", "live")

    os.killpg(stack.watercooler.proc.pid, signal.SIGSTOP)  # hung when the logout comes
    started = time.monotonic()
    laptop.call("POST", "/api/logout/", 204)
    assert time.monotonic() - started < 1  # the API does not wait for the watercooler
    time.sleep(3)
    os.killpg(stack.watercooler.proc.pid, signal.SIGCONT)
    assert close_code(kept, REVOKE_SECONDS) == CLOSE_REVOKED
    assert close_code(stripped, REVOKE_SECONDS) == CLOSE_REVOKED
    for copy in (socket(link, port), socket(link, port, viewer=False)):  # opened again
        assert close_code(copy, 5) == CLOSE_REVOKED

    listener = socket(phone.call("GET", f"/api/sprints/{sprint['id']}/")["links"]["channel"], port)
    task = phone.task("Still live", sprint=sprint["id"])
    assert hears(listener, task)  # the phone's login is untouched
    expect(board.card("Still live")).to_be_visible()

    deactivate(stack, "demo")
    assert close_code(listener, REVOKE_SECONDS) == CLOSE_REVOKED
    board.expect_status(401)
    expect(board.page.get_by_label("Username")).to_be_visible()  # the page asks to log in
    board.check()
    board.close()
