"""Several processes on one real redis-server act as one; Redis outages are survived."""

import pytest
import redis
from conftest import health, hook, wait_for, watercooler
from harness import free_port

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
        assert client.receive() == {**TASK, "channel": "sprint:1", "seq": 1}
    assert sender.receive()["type"] == "ack"
    elsewhere.assert_silent()
    sender.assert_silent()


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
    sender.receive_all(3)
    late = clients(b, 1, query="&since=1")
    assert [(m["id"], m["seq"]) for m in late.receive_all(2)] == [(1, 2), (2, 3)]


def test_redis_stopped_and_restarted_while_clients_stay_connected(pair, clients, redis_server):
    a, b = pair
    sender, peer = clients(a, 1), clients(b, 1)
    sender.send(TASK)
    assert peer.receive()["seq"] == 1
    assert sender.receive()["type"] == "ack"
    try:
        redis_server.stop()
        for service in pair:
            wait_for(lambda s=service: health(s)[0] == 503)
        assert health(a)[1]["broker"] == {"kind": "redis", "state": "down"}
        assert hook(a.url + "/task/7", "PUT", {"id": 7}).status_code == 503
        sender.send(TASK)
        reply = sender.receive(timeout=5)
        assert reply == {"type": "error", "error": "not relayed: broker unavailable"}
        joined_during_outage = clients(b, 1)  # sockets are still accepted
    finally:
        if not redis_server.running():
            redis_server.start()
    for service in pair:
        wait_for(lambda s=service: health(s)[0] == 200, timeout=20)
    # Whatever happened meanwhile, every socket is told to refetch, per channel.
    for client in (sender, peer, joined_during_outage):
        resyncs = client.receive_all(2)
        assert {m["type"] for m in resyncs} == {"resync"}
        assert {m["channel"] for m in resyncs} == {"sprint:1", "all"}
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
