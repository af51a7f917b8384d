"""bench_watercooler's peers and floor do the work they are credited with; no timing is asserted.

Each fan-out peer runs for real (node for Socket.IO, with the packages its lock pins) and is
reached as the benchmark reaches it: a socket, then a signed announcement that must arrive on
it, and a forged one that must be refused and arrive nowhere.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest
import requests
import websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_watercooler  # noqa: E402


@pytest.fixture(scope="module")
def peers():
    """The websockets and Socket.IO peers and the floor, each on its own port."""
    if not shutil.which("node"):
        pytest.fail("node is missing: .ci/run installs Debian's nodejs and npm")
    bench_watercooler.install_socketio()
    kinds = ("websockets", "socketio", "floor")
    servers = {kind: bench_watercooler.start_server(kind, "redis://unused") for kind in kinds}
    yield servers
    for server in servers.values():
        server.stop()


def open_socket(kind, server):
    """A connected client socket, through Socket.IO's connect for the Socket.IO peer."""
    path = bench_watercooler.socket_path(1, kind)
    sock = websocket.create_connection(f"ws://127.0.0.1:{server.port}{path}", timeout=5)
    if kind == "socketio":
        assert sock.recv().startswith("0{")
        sock.send("40")
        assert sock.recv().startswith("40{")
    return sock


def hook_url(server):
    return getattr(server, "hook_url", server.url)


@pytest.mark.parametrize("kind", ["websockets", "socketio", "floor"])
def test_a_signed_announcement_reaches_the_socket_with_its_marker(peers, kind):
    sock = open_socket(kind, peers[kind])
    try:
        response = bench_watercooler.announce(hook_url(peers[kind]), 7, "POST", "marker-1")
        assert response is not None
        frame = sock.recv()
    finally:
        sock.close()
    assert "marker-1" in frame
    message = json.loads(frame[2:])[1] if kind == "socketio" else json.loads(frame)
    assert message["model"] == "task" and message["id"] == 7 and message["action"] == "add"


@pytest.mark.parametrize("kind", ["websockets", "socketio"])
def test_a_forged_announcement_is_refused_and_sent_nowhere(peers, kind):
    sock = open_socket(kind, peers[kind])
    try:
        url = f"{hook_url(peers[kind])}/task/7"
        body = bench_watercooler.task_body(7, "forged")
        forged = requests.post(url, data=body, headers={"X-Signature": "x:y:z"}, timeout=5)
        other_body = requests.post(
            url,
            data=body + b" ",
            headers={"X-Signature": signature_of(url, body)},
            timeout=5,
        )
        sock.settimeout(0.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            sock.recv()
    finally:
        sock.close()
    assert forged.status_code == 400
    assert other_body.status_code == 400


def signature_of(url, body):
    """A genuine signature of a POST of ``body`` to ``url``."""
    digest = bench_watercooler.hashlib.sha256(body).hexdigest()
    return bench_watercooler.HOOK_SIGNER.sign(f"post:{url}:{digest}")


def test_the_floor_says_how_many_sockets_it_wrote_to(peers):
    socks = [open_socket("floor", peers["floor"]) for _ in range(3)]
    try:
        response = bench_watercooler.announce(peers["floor"].url, 8, "POST", "marker-2")
        frames = [sock.recv() for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert response.json()["sockets"] == 3
    assert all("marker-2" in frame for frame in frames)


def test_a_frame_without_the_rounds_marker_is_counted_wrong_not_delivered():
    group = bench_watercooler.Group()
    sock = type("Sock", (), {"count": 0})()
    group.sockets = [sock]
    group.expected, group.marker, group.completed = 1, b"round-3", []
    group.arrived(sock, b'{"name":"round-2"}', 1.0)
    assert (group.wrong, group.received, sock.count) == (1, 0, 0)
