"""Process life: start-up checks and errors, graceful SIGTERM/SIGINT, restarts, slow clients."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import websocket
from conftest import SECRET, WATERCOOLER, Client, health, hook, wait_for, watercooler
from django.core.signing import TimestampSigner
from harness import free_port


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
    assert "stopping: closed 3 sockets" in log and "stopped" in log
    assert "Traceback" not in log
    assert "channel=" not in log  # tokens stay out of the access log


def test_slow_client_is_disconnected_instead_of_buffering(launch, clients):
    service = launch("--max_buffer=65536")
    slow = clients(service, 1)
    slow.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for n in range(60):  # ~12 MB, more than the kernel buffers on both sides can hold
        body = {"id": 1, "n": n, "description": "x" * 200_000}  # each hook signed anew
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
        ("--port=99999", "--port must be between 1 and 65535, not 99999"),
        ("--port=0", "--port must be between 1 and 65535, not 0"),
        ("--colour=blue", "Unrecognized command line option: 'colour'"),
    ],
)
def test_bad_options_are_a_clear_start_up_error(option, error):
    result = run_watercooler(option)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert error in result.stderr.splitlines()[-1]  # after the usage for an unknown option


def test_a_drain_turns_unready_first_and_spreads_the_closes(launch, clients):
    """SIGTERM: /health says 503 at once (the balancer stops sending boards), /health/live stays
    200, new sockets are refused, and the open ones close with 1001 over --drain_window."""
    service = launch("--drain_window=2")
    sockets = [clients(service, n) for n in range(1, 11)]
    os.killpg(service.proc.pid, signal.SIGTERM)
    wait_for(lambda: health(service)[0] == 503)
    assert health(service)[1]["status"] == "draining"
    assert requests.get(service.url + "/health/live", timeout=5).status_code == 200
    with pytest.raises(websocket.WebSocketBadStatusException):
        Client(service, 1)

    def close_time(client):
        assert client.close_status(timeout=10) == (1001, "going away")
        return time.monotonic()

    with ThreadPoolExecutor(len(sockets)) as pool:
        closed = list(pool.map(close_time, sockets))
    assert max(closed) - min(closed) > 1.0  # not all in the same second
    assert service.proc.wait(10) == 0


def metric(service, name):
    """The value of one sample in the Prometheus text at /metrics."""
    text = requests.get(service.url + "/metrics", timeout=5).text
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(values[0]) if values else None


def test_metrics_count_sockets_messages_refusals_and_hooks(launch, clients, broker_env):
    service = launch(env={**broker_env, "METRICS": "on"})
    sender, peer = clients(service, 1), clients(service, 1)
    assert metric(service, "watercooler_sockets") == 2
    sender.send({"model": "task", "id": 1, "action": "drop"})
    peer.receive()
    sender.send("not json")
    sender.receive_all(2)  # the ack and the error
    assert hook(service.url + "/task/1", "PUT", {"id": 1}).status_code == 200
    peer.receive()
    assert metric(service, "watercooler_messages_received_total") == 2
    assert metric(service, 'watercooler_relays_refused_total{reason="invalid"}') == 1
    assert metric(service, 'watercooler_hooks_total{status="200"}') == 1
    assert metric(service, "watercooler_broker_up") == 1


def test_metrics_are_not_served_unless_asked(server):
    assert requests.get(server.url + "/metrics", timeout=5).status_code == 404


@pytest.mark.parametrize(
    "setting, message",
    [("METRICS", "METRICS must be on or off"), ("LOG_FORMAT", "LOG_FORMAT must be text or json")],
)
def test_a_setting_that_is_none_of_its_values_is_a_start_up_error(setting, message):
    result = run_watercooler(f"--port={free_port()}", env={setting: "maybe"})
    assert result.returncode == 1
    assert result.stderr == f"watercooler: {message}, not 'maybe'\n"


def test_a_burst_of_one_warning_is_summarised(launch):
    """Fifty refused hooks in a burst: the first logged, the rest counted in one line."""
    service = launch()
    for _ in range(50):
        requests.put(service.url + "/task/1", data=b"{}", timeout=5)  # no signature: refused
    wait_for(lambda: "more like" in service.output(), timeout=5)
    lines = service.output().splitlines()
    refused = [line for line in lines if "refused PUT /task/1" in line]
    assert 1 <= len(refused) < 10
    summary = next(line for line in lines if "more like" in line)
    assert "refused %s %s: %s" in summary
    held = int(summary.split(" more like")[0].rsplit(" ", 1)[1])
    assert len(refused) + held == 50


def test_json_logs_are_one_object_per_line(launch, clients):
    service = launch(env={"LOG_FORMAT": "json"})
    clients(service, 1).close()
    service.stop()
    entries = [json.loads(line) for line in service.output().splitlines() if line]
    assert entries and all(e["service"] == "watercooler" and e["level"] for e in entries)
    assert any("listening on" in e["message"] for e in entries)


def run_watercooler(*args, secret=SECRET, env=None):
    """Run watercooler.py to its exit (start-up errors); returns the CompletedProcess."""
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "WATERCOOLER_SECRET"}
    if secret:
        env["WATERCOOLER_SECRET"] = secret
    command = [sys.executable, "watercooler.py", *args]
    return subprocess.run(
        command, cwd=WATERCOOLER, env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("secret", [None, ""], ids=["unset", "empty"])
def test_refuses_to_start_without_a_secret(secret):
    port = free_port()
    result = run_watercooler(f"--port={port}", secret=secret)
    assert result.returncode == 1
    assert result.stderr.startswith("watercooler: WATERCOOLER_SECRET must be set")
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_debug_runs_on_the_dev_secret_with_a_warning(start):
    service = watercooler("--debug", env={"WATERCOOLER_SECRET": ""})
    start(service)
    dev = TimestampSigner(
        key="dev-only-watercooler_secret-do-not-use-in-production",
        salt="watercooler.channel",
        fallback_keys=[],
    )
    url = f"ws://127.0.0.1:{service.port}/socket?channel={dev.sign('1')}"
    websocket.create_connection(url, timeout=5).close()
    assert "--debug uses the dev-only secret" in service.output()


def test_busy_port_is_a_one_line_start_up_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_watercooler(f"--port={port}", "--address=127.0.0.1")
    assert result.returncode == 1
    assert (
        result.stderr == f"watercooler: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_a_restarted_process_starts_a_new_epoch(start, clients):
    """Catching up across a restart of the in-process broker gets a resync, never a gap."""
    first = start(watercooler())
    sender = clients(first, 1)
    for n in range(3):
        sender.send({"model": "task", "id": n, "action": "drop"})
    old_epoch = sender.receive_all(3)[-1]["epoch"]
    first.stop()
    second = start(watercooler(port=first.port))
    newcomer = clients(second, 1)
    for n in range(5):  # the new run numbers 1..5 again
        newcomer.send({"model": "task", "id": n, "action": "drop"})
    new_epoch = newcomer.receive_all(5)[-1]["epoch"]
    assert new_epoch != old_epoch
    back = Client(second, 1, query=f"&since={old_epoch}:3&since_all={old_epoch}:0")
    resyncs = {m["channel"]: m for m in back.receive_all(2)}
    assert resyncs["sprint:1"] == {
        "type": "resync",
        "channel": "sprint:1",
        "seq": 5,
        "epoch": new_epoch,
    }
    assert resyncs["all"] == {"type": "resync", "channel": "all", "seq": 0, "epoch": new_epoch}
    back.close()
