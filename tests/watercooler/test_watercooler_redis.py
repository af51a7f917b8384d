"""Several processes on one real redis-server act as one; Redis outages are survived."""

import contextlib
import os
import signal
import socket
import threading
import time

import pytest
import redis
import requests
from conftest import drag_marker, health, hook, signature, wait_for, watercooler
from harness import free_port, redis_service

pytestmark = pytest.mark.redis
TASK = {"model": "task", "id": 7, "action": "drop"}


@pytest.fixture
def pair(launch, redis_url):
    """Two watercooler processes sharing a freshly flushed Redis."""
    redis.Redis.from_url(redis_url).flushdb()
    env = {"REDIS_URL": redis_url}
    return launch(env=env), launch(env=env)


def test_two_processes_relay_to_each_other(pair, clients):
    a, b = pair
    sender, peer, elsewhere = clients(a, 1), clients(b, 1), clients(b, 2)
    local_peer = clients(a, 1)
    sender.send(TASK)
    for client in (peer, local_peer):
        message = client.receive()
        assert message == {**TASK, "channel": "sprint:1", "seq": 1, "epoch": message["epoch"]}
    assert sender.receive()["type"] == "ack"
    drag_marker(clients(a, 2), elsewhere)
    drag_marker(peer, sender)


class SlowLink:
    """A TCP proxy to ``port`` on 127.0.0.1 that holds every chunk ``delay`` seconds each way,
    as a distant Redis would."""

    def __init__(self, port, delay):
        self.upstream, self.delay = port, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client = self.listener.accept()[0]
            server = socket.create_connection(("127.0.0.1", self.upstream))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        with contextlib.suppress(OSError):  # either side hung up
            while chunk := source.recv(65536):
                time.sleep(self.delay)
                sink.sendall(chunk)
        sink.close()


def test_a_socket_hears_everything_relayed_once_it_is_open(start, launch, clients):
    """Its process has joined the sprint in Redis before the handshake is answered, however
    slow Redis is to confirm: a relay sent the moment the client sees the socket open lands."""
    redis_server = start(redis_service())
    near = {"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"}
    far = {"REDIS_URL": f"redis://127.0.0.1:{SlowLink(redis_server.port, 0.3).port}/0"}
    a, b = launch(env=near), launch(env=far)
    for sprint in range(1, 4):
        sender = clients(a, sprint)
        listener = clients(b, sprint)  # the first socket on this sprint in process b
        sender.send(TASK)
        assert listener.receive()["action"] == TASK["action"]


def test_hook_on_one_process_reaches_sockets_on_both(pair, clients):
    a, b = pair
    sockets = [clients(a, 1), clients(b, 2), clients(b, 3)]
    assert hook(b.url + "/user/3", "DELETE").status_code == 200
    for client in sockets:
        message = client.receive()
        assert (message["model"], message["id"], message["action"]) == ("user", 3, "remove")
        assert message["body"] is None


def test_history_is_shared_between_processes(pair, clients):
    a, b = pair
    sender = clients(a, 1)
    for n in range(3):
        sender.send({**TASK, "id": n})
    epoch = sender.receive_all(3)[0]["epoch"]
    late = clients(b, 1, query=f"&since={epoch}:1")
    assert [(m["id"], m["seq"]) for m in late.receive_all(2)] == [(1, 2), (2, 3)]


def test_a_hook_is_accepted_once_across_processes(launch, redis_url, clients):
    """Behind a load balancer both processes answer to one name; a replay to either is 400."""
    redis.Redis.from_url(redis_url).flushdb()
    env, name = {"REDIS_URL": redis_url}, "--public_hosts=watercooler.example:8080"
    a, b = launch(name, env=env), launch(name, env=env)
    client = clients(b, 1)
    url, body = "http://watercooler.example:8080/task/7", b'{"id": 7}'
    headers = {"X-Signature": signature("put", url, body), "Host": "watercooler.example:8080"}
    assert requests.put(a.url + "/task/7", data=body, headers=headers, timeout=5).status_code == 200
    assert client.receive()["body"] == {"id": 7}
    for replay_on in (b, a):
        replayed = requests.put(replay_on.url + "/task/7", data=body, headers=headers, timeout=5)
        assert replayed.status_code == 400
        assert replayed.json() == {"error": "signature already used"}
    body = b'{"id": 8}'  # the marker: a fresh signature on the same name
    headers["X-Signature"] = signature("put", url, body)
    assert requests.put(b.url + "/task/7", data=body, headers=headers, timeout=5).status_code == 200
    assert client.receive()["body"] == {"id": 8}


def test_a_hook_redis_does_not_publish_is_not_answered_ok(launch, redis_url, clients):
    """200 means every process has the message: when Redis refuses to publish it (here its
    counter key holds the wrong type), scrum hears 503, and the same hook can be sent again."""
    server = redis.Redis.from_url(redis_url)
    server.flushdb()
    service = launch(env={"REDIS_URL": redis_url})
    client = clients(service, 1)
    server.set("watercooler:{all}:counter", "not a hash")
    url, body = service.url + "/task/7", b'{"id": 7}'
    headers = {"X-Signature": signature("put", url, body)}
    refused = requests.put(url, data=body, headers=headers, timeout=5)
    assert refused.status_code == 503
    assert refused.json() == {
        "error": "broker did not confirm the broadcast; it may not have been sent"
    }
    server.delete("watercooler:{all}:counter")
    assert requests.put(url, data=body, headers=headers, timeout=5).status_code == 200
    message = client.receive()  # the first: the refused one never reached the socket
    assert (message["id"], message["body"]) == (7, {"id": 7})
    assert "Traceback" not in service.output()


def test_a_hook_while_redis_hangs_is_answered_503_in_bounded_time(start, launch, clients):
    """Redis stopped with SIGSTOP: the hook is answered 503 within seconds (never 200), the
    process stays live, and once Redis resumes hooks reach the sockets again."""
    redis_server = start(redis_service())
    service = launch(env={"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"})
    client = clients(service, 1)
    os.killpg(redis_server.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        refused = hook(service.url + "/task/7", "PUT", {"id": 7}, timeout=30)
        waited = time.monotonic() - started
        assert requests.get(service.url + "/health/live", timeout=5).status_code == 200
    finally:
        os.killpg(redis_server.proc.pid, signal.SIGCONT)
    assert refused.status_code == 503, refused.text
    assert waited < 15, f"answered after {waited:.1f} s"
    wait_for(lambda: health(service)[0] == 200, timeout=20)
    assert hook(service.url + "/task/8", "PUT", {"id": 8}).status_code == 200
    for _ in range(5):  # a resync, and the refused hook if Redis ran it on waking, may come first
        message = client.receive()
        if message.get("id") == 8:
            break
    assert message["body"] == {"id": 8}
    assert "Traceback" not in service.output()


def during_an_outage(pair, sender, clients):
    """What Redis being down looks like: health 503 saying why, hooks and relays refused with a
    reason, sockets still accepted (the one returned joined during the outage)."""
    a, b = pair
    for service in pair:
        wait_for(lambda s=service: health(s)[0] == 503)
    assert health(a)[1]["broker"] == {"kind": "redis", "state": "down"}
    assert hook(a.url + "/task/7", "PUT", {"id": 7}).status_code == 503
    sender.send(TASK)
    assert sender.receive(timeout=5) == {
        "type": "error",
        "error": "not relayed: broker unavailable",
    }
    return clients(b, 1)


def assert_told_to_refetch(sockets):
    """Whatever happened meanwhile, every socket is told to refetch, per channel."""
    for client in sockets:
        resyncs = client.receive_all(2)
        assert {m["type"] for m in resyncs} == {"resync"}
        assert {m["channel"] for m in resyncs} == {"sprint:1", "all"}
        assert all(m["epoch"] for m in resyncs)


def test_redis_stopped_and_restarted_while_clients_stay_connected(pair, clients, redis_server):
    a, b = pair
    sender, peer = clients(a, 1), clients(b, 1)
    sender.send(TASK)
    assert peer.receive()["seq"] == 1
    assert sender.receive()["type"] == "ack"
    try:
        redis_server.stop()
        joined_during_outage = during_an_outage(pair, sender, clients)
    finally:
        if not redis_server.running():
            redis_server.start()
    for service in pair:
        wait_for(lambda s=service: health(s)[0] == 200, timeout=20)
    assert_told_to_refetch((sender, peer, joined_during_outage))
    assert "unavailable for its resync" not in a.output() + b.output()
    sender.send(TASK)
    assert peer.receive()["action"] == "drop"
    assert joined_during_outage.receive()["action"] == "drop"
    assert sender.receive()["type"] == "ack"
    assert hook(b.url + "/task/7", "PUT", {"id": 7}).status_code == 200
    assert sender.receive()["action"] == "update"
    assert a.proc.poll() is None and b.proc.poll() is None
    assert "broker: Redis broker" in a.output() and "is down" in a.output()


def test_starts_and_answers_while_redis_is_unreachable(start, clients):
    service = start(watercooler(env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}))
    status, body = health(service)
    assert status == 503 and body["broker"]["kind"] == "redis"
    assert body["broker"]["state"] in {"connecting", "down"}
    client = clients(service, 1)
    assert hook(service.url + "/task/1", "POST", {"id": 1}).status_code == 503
    client.send(TASK)
    assert client.receive()["type"] == "error"
    assert service.proc.poll() is None
    assert "Traceback" not in service.output()


def test_numbers_lost_by_a_redis_restart_start_a_new_epoch(start, launch, clients):
    """Redis killed and started again on its port: nobody catches up into the new run."""
    first_run = start(redis_service())
    env = {"REDIS_URL": f"redis://127.0.0.1:{first_run.port}/0"}
    a, b = launch(env=env), launch(env=env)
    sender, peer = clients(a, 1), clients(b, 1)
    for _ in range(3):
        sender.send(TASK)
    old_epoch = peer.receive_all(3)[-1]["epoch"]
    sender.receive_all(3)  # the acks
    first_run.stop(signal.SIGKILL)
    start(redis_service(port=first_run.port))
    for service in (a, b):
        wait_for(lambda s=service: health(s)[0] == 200, timeout=20)
    resync = {m["channel"]: m for m in peer.receive_all(2)}["sprint:1"]
    assert resync["type"] == "resync" and resync["seq"] == 0
    new_epoch = resync["epoch"]
    assert new_epoch != old_epoch
    for _ in range(5):  # numbers 1..5 again, in the new epoch
        sender.send(TASK)
    assert [(m["seq"], m["epoch"]) for m in peer.receive_all(5)] == [
        (n, new_epoch) for n in range(1, 6)
    ]
    # Back from the old run at 3: a resync to the new run's 5, not its 4 and 5 as if nothing
    # had happened.
    late = clients(b, 1, query=f"&since={old_epoch}:3")
    assert late.receive() == {"type": "resync", "channel": "sprint:1", "seq": 5, "epoch": new_epoch}


def test_a_redis_restored_from_a_snapshot_starts_a_new_epoch(start, launch, clients, tmp_path):
    """The snapshot brings back old counters: numbering on from them would reuse numbers."""
    first_run = start(redis_service(tmp_path))
    env = {"REDIS_URL": f"redis://127.0.0.1:{first_run.port}/0"}
    a = launch(env=env)
    sender, peer = clients(a, 1), clients(a, 1)
    for _ in range(3):
        sender.send(TASK)
    peer.receive_all(3)
    redis.Redis(port=first_run.port).save()  # the snapshot holds numbers 1..3
    for _ in range(2):
        sender.send(TASK)
    old = peer.receive_all(2)[-1]
    assert old["seq"] == 5
    first_run.stop(signal.SIGKILL)
    start(redis_service(tmp_path, port=first_run.port))
    wait_for(lambda: health(a)[0] == 200, timeout=20)
    resync = {m["channel"]: m for m in peer.receive_all(2)}["sprint:1"]
    assert resync["type"] == "resync" and resync["epoch"] != old["epoch"]
    sender.send(TASK)
    assert peer.receive()["epoch"] == resync["epoch"]
    late = clients(a, 1, query=f"&since={old['epoch']}:5")
    assert late.receive()["type"] == "resync"


def test_a_subscriber_connection_dropped_by_redis_makes_every_socket_resync(
    pair, redis_url, clients
):
    """However the subscriber comes back, its sockets are told they may have missed messages."""
    a, b = pair
    sockets = [clients(a, 1), clients(b, 2)]
    server = redis.Redis.from_url(redis_url)
    wait_for(lambda: len(server.client_list(_type="pubsub")) == 2)
    server.client_kill_filter(_type="pubsub")
    for client in sockets:
        kinds = {m["channel"]: m["type"] for m in client.receive_all(2)}
        assert set(kinds.values()) == {"resync"}
    wait_for(lambda: health(a)[0] == 200)
    sockets[0].send(TASK)
    assert sockets[0].receive()["type"] == "ack"


def test_a_message_in_an_older_format_is_skipped(pair, redis_url, clients):
    """During a rolling upgrade an old process publishes "<sender> <seq> <frame>"."""
    a, b = pair
    sender, peer = clients(a, 1), clients(b, 1)
    old_format = b'- 1 {"model":"task","id":1,"action":"drop","channel":"sprint:1","seq":1}'
    server, channel = redis.Redis.from_url(redis_url), "watercooler:sprint:1"
    assert server.publish(channel, old_format) == 2
    drag_marker(sender, peer)  # both listeners are still alive
    assert sender.receive()["type"] == "ack"
    drag_marker(peer, sender)
    assert "in an unknown format" in b.output()
