"""Process life: start-up logging, graceful SIGTERM/SIGINT with clients, slow clients."""

import signal
import socket
import subprocess
import sys
import time

import pytest
import websocket
from conftest import WATERCOOLER, health, hook, wait_for


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_closes_sockets_with_1001_and_exits_0(launch, clients, broker_env, sig):
    service = launch(env=broker_env)
    sockets = [clients(service, sprint) for sprint in (1, 1, 2)]
    began = time.monotonic()
    service.proc.send_signal(sig)
    for client in sockets:
        assert client.close_status() == (1001, "going away")
    assert service.proc.wait(timeout=5) == 0
    assert time.monotonic() - began < 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", service.port), timeout=1)
    log = service.output()
    assert "watercooler listening on" in log
    assert "stopping: closing 3 sockets" in log and "stopped" in log
    assert "Traceback" not in log
    assert "channel=" not in log  # tokens stay out of the access log


def test_slow_client_is_disconnected_instead_of_buffering(launch, clients):
    service = launch("--max_buffer=65536")
    slow = clients(service, 1)
    slow.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = {"id": 1, "description": "x" * 200_000}
    for _ in range(60):  # ~12 MB, more than the kernel buffers on both sides can hold
        assert hook(service.url + "/task/1", "PUT", body).status_code == 200
        if health(service)[1]["connections"] == 0:
            break
    wait_for(lambda: health(service)[1]["connections"] == 0)
    assert "dropped: over 65536 bytes unsent" in service.output()
    fresh = clients(service, 1)  # the server itself is fine
    assert hook(service.url + "/task/2", "DELETE").status_code == 200
    assert fresh.receive()["id"] == 2


def test_peer_that_stops_answering_pings_is_closed(launch, clients):
    service = launch("--ping_interval=0.5", "--ping_timeout=0.5")
    silent, alive = clients(service, 1), clients(service, 1)
    deadline = time.monotonic() + 12  # ping, pong timeout, then 5 s for a closing handshake
    while health(service)[1]["connections"] == 2 and time.monotonic() < deadline:
        with pytest.raises(websocket.WebSocketTimeoutException):
            alive.ws.settimeout(0.2)  # only ``alive`` reads, so only it answers pings
            alive.ws.recv()
    assert health(service)[1]["connections"] == 1
    assert hook(service.url + "/task/1", "DELETE").status_code == 200
    assert alive.receive()["action"] == "remove"
    assert silent.close_status(timeout=1)[0] in {1000, None}


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("--history=0", "--history must be at least 1"),
        ("--port=http", "invalid literal for int()"),
        ("--colour=blue", "Unrecognized command line option: 'colour'"),
    ],
)
def test_bad_options_are_a_clear_start_up_error(option, error):
    command = [sys.executable, "watercooler.py", option]
    result = subprocess.run(command, cwd=WATERCOOLER, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert error in result.stderr and "Traceback" not in result.stderr
