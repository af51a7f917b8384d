"""Watercooler under test: real `python watercooler.py` processes, real sockets, real Redis.

Tokens and hook signatures are made exactly as the scrum API makes them (DESIGN.md). That
something was NOT relayed is checked with a marker sent after it: the next message a peer gets
must be the marker, so a wrong relay cannot arrive unnoticed after a fixed wait.
"""

import hashlib
import itertools
import json
import struct
import sys
import time

import pytest
import redis
import requests
import websocket
from django.core.signing import TimestampSigner, b62_encode
from harness import ROOT, Service

SECRET = "watercooler-test-secret-Rk5Vn9Qd3Ws7"
WATERCOOLER = ROOT / "watercooler"
CHANNEL_SALT, HOOK_SALT = "watercooler.channel", "watercooler.hook"
MARKER = {"model": "user", "id": 424242, "action": "drop"}  # sent after what must not pass


class AgedSigner(TimestampSigner):
    """A TimestampSigner whose signatures look ``age`` seconds old."""

    def __init__(self, age, **kwargs):
        super().__init__(**kwargs)
        self.age = age

    def timestamp(self):
        return b62_encode(int(time.time()) - self.age)


def signer(secret=SECRET, age=0, salt=HOOK_SALT):
    return AgedSigner(age, key=secret, salt=salt, fallback_keys=[])


def token(sprint, secret=SECRET, age=0, salt=CHANNEL_SALT):
    """A sprint's channel token, as the scrum API hands it out."""
    return signer(secret, age, salt).sign(str(sprint))


def signature(method, url, data, secret=SECRET, age=0, salt=HOOK_SALT):
    """X-Signature for a hook, as scrum signs it."""
    value = f"{method.lower()}:{url}:{hashlib.sha256(data).hexdigest()}"
    return signer(secret, age, salt).sign(value)


def hook(
    url,
    method="POST",
    body=None,
    secret=SECRET,
    age=0,
    signed_url=None,
    signed_body=None,
    host=None,
    timeout=5,
):
    """Send a model-change announcement the way Django does; returns the response.

    ``host`` sets the Host header (the signed URL is then ``signed_url``, or built from it).
    """
    data = b"" if body is None else json.dumps(body).encode()
    payload = data if signed_body is None else signed_body
    headers = {"Host": host} if host else {}
    if secret:
        headers["X-Signature"] = signature(method, signed_url or url, payload, secret, age)
    return requests.request(method, url, data=data, headers=headers, timeout=timeout)


def is_marker(message):
    return {k: message.get(k) for k in MARKER} == MARKER


def drag_marker(sender, *peers):
    """``sender`` relays the marker; it must be the next message each peer gets."""
    sender.send(MARKER)
    for peer in peers:
        message = peer.receive()
        assert is_marker(message), f"got {message} before the marker"


MARKERS_SENT = itertools.count()


def hook_marker(service, *clients):
    """A valid hook updating the marker user; it must be the next message each client gets."""
    body = {"id": MARKER["id"], "marker": next(MARKERS_SENT)}  # each hook signed differently
    assert hook(f"{service.url}/user/{MARKER['id']}", "PUT", body).status_code == 200
    for client in clients:
        message = client.receive()
        assert (message["model"], message["id"]) == ("user", MARKER["id"]), message


def watercooler(*args, env=None, port=None):
    """A watercooler Service (not started) with the test secret and extra command-line args."""
    command = [sys.executable, "watercooler.py", "--port={port}", "--drain_window=0", *args]
    env = {"WATERCOOLER_SECRET": SECRET, **(env or {})}
    return Service(command, WATERCOOLER, env=env, port=port, ready_path="/health")


class Client:
    """A blocking websocket client (websocket-client) with helpers for the assertions."""

    def __init__(self, service, sprint=1, query="", origin=None, **token_kwargs):
        url = f"ws://127.0.0.1:{service.port}/socket?channel={token(sprint, **token_kwargs)}{query}"
        headers = {"origin": origin} if origin else {}
        self.ws = websocket.create_connection(url, timeout=5, **headers)

    def send(self, message):
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def receive(self, timeout=5):
        """The next text message, parsed."""
        self.ws.settimeout(timeout)
        return json.loads(self.ws.recv())

    def receive_all(self, count, timeout=5):
        return [self.receive(timeout) for _ in range(count)]

    def close_status(self, timeout=5):
        """(code, reason) of the close frame the server sends next, skipping data frames."""
        self.ws.settimeout(timeout)
        while True:
            frame = self.ws.recv_frame()  # raw: the server may already have hung up
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                return code, data[2:].decode()

    def close(self):
        self.ws.close()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def broker_env(request):
    """Run the test on both brokers: in-process, and Redis through a real redis-server."""
    if request.param == "local":
        return {}
    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()  # sequence numbers and histories start afresh
    return {"REDIS_URL": url}


@pytest.fixture
def launch(start):
    """launch(*args, env=...) -> a started watercooler whose broker is up (/health 200)."""

    def _launch(*args, env=None):
        service = start(watercooler(*args, env=env))
        wait_for(lambda: health(service)[0] == 200)
        return service

    return _launch


@pytest.fixture
def server(launch, broker_env):
    """A started watercooler on the parametrized broker."""
    return launch(env=broker_env)


@pytest.fixture
def clients():
    """connect(service, ...) -> Client, all closed at the end of the test."""
    made = []

    def connect(service, *args, **kwargs):
        made.append(Client(service, *args, **kwargs))
        return made[-1]

    yield connect
    for client in made:
        client.ws.close(timeout=0.2)


def health(service):
    response = requests.get(service.url + "/health", timeout=5)
    return response.status_code, response.json()


def wait_for(predicate, timeout=10, interval=0.05):
    """Poll until predicate() is truthy; returns its value or fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")
