"""The DESIGN.md protocol on both brokers: relay rules, tokens, hooks, messages, /health."""

import hashlib

import pytest
import requests
import websocket
from conftest import SECRET, Client, health, hook, signer, token, wait_for

TASK = {"model": "task", "id": 7, "action": "dragstart"}


def test_relays_to_peers_on_the_sprint_not_the_sender_nor_other_sprints(server, clients):
    sender, peer, other_peer, elsewhere = (clients(server, sprint) for sprint in (1, 1, 1, 2))
    sender.send(TASK)
    for client in (peer, other_peer):
        assert client.receive() == {**TASK, "channel": "sprint:1", "seq": 1}
    assert sender.receive() == {"type": "ack", "channel": "sprint:1", "seq": 1}
    sender.assert_silent()
    elsewhere.assert_silent()


def test_extra_fields_are_relayed_and_numbers_follow_each_other(server, clients):
    sender, peer = clients(server, 3), clients(server, 3)
    for n in range(3):
        sender.send({**TASK, "note": n, "seq": 99, "channel": "spoofed"})
    assert [m["seq"] for m in peer.receive_all(3)] == [1, 2, 3]
    peer.send(TASK)
    assert sender.receive_all(4)[-1] == {**TASK, "channel": "sprint:3", "seq": 4}


def test_hook_reaches_every_socket_on_every_sprint(server, clients):
    sockets = [clients(server, sprint) for sprint in (1, 2, 2)]
    body = {"id": 5, "name": "Write tests", "status": 2}
    response = hook(server.url + "/task/5", "PUT", body)
    assert response.status_code == 200, response.text
    expected = {"model": "task", "id": 5, "action": "update", "body": body, "channel": "all"}
    for client in sockets:
        assert client.receive() == {**expected, "seq": 1}


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("POST", "add", {"id": 4, "name": "S"}),
        ("PUT", "update", {"id": 4}),
        ("DELETE", "remove", None),
    ],
)
def test_hook_methods_are_actions(server, clients, method, action, body):
    client = clients(server, 1)
    assert hook(server.url + "/sprint/4", method, body).status_code == 200
    message = client.receive()
    assert (message["model"], message["id"], message["action"]) == ("sprint", 4, action)
    assert message["body"] == body


@pytest.mark.parametrize(
    ("token_kwargs", "query", "code"),
    [
        ({}, "&missing", 4400),
        ({"secret": "another-secret"}, "", 4401),
        ({"age": 31 * 60}, "", 4403),
    ],
    ids=["missing", "wrong-secret", "expired"],
)
def test_refused_tokens_close_with_a_reason_and_relay_nothing(
    server, clients, token_kwargs, query, code
):
    peer = clients(server, 1)
    url = f"ws://127.0.0.1:{server.port}/socket?channel="
    if query == "&missing":
        refused = websocket.create_connection(url.removesuffix("?channel="), timeout=5)
    else:
        refused = clients(server, 1, **token_kwargs).ws
    refused.send('{"model": "task", "id": 1, "action": "dragstart"}')
    opcode, data = refused.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == code
    assert data[2:]  # a human-readable reason
    peer.assert_silent()


def test_tampered_token_is_refused(server, clients):
    peer = clients(server, 1)
    sprint_one = token(1)
    tampered = sprint_one.replace("1:", "2:", 1)
    assert tampered != sprint_one
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/socket?channel={tampered}", timeout=5
    )
    ws.send('{"model": "task", "id": 1, "action": "drop"}')
    opcode, data = ws.recv_data(control_frame=True)
    assert (opcode, int.from_bytes(data[:2], "big")) == (websocket.ABNF.OPCODE_CLOSE, 4401)
    peer.assert_silent()


@pytest.mark.parametrize(
    "message",
    ['{"model": "task", "id": 7', "[1, 2]", '"task"', '{"model": "task", "id": 7}', "null"],
    ids=["broken-json", "array", "string", "no-action", "null"],
)
def test_malformed_messages_are_not_relayed_and_the_sender_is_told(server, clients, message):
    sender, peer = clients(server, 1), clients(server, 1)
    sender.send(message)
    reply = sender.receive()
    assert reply["type"] == "error" and reply["error"].startswith("not relayed")
    peer.assert_silent()
    sender.send(TASK)  # the socket stays usable
    assert peer.receive()["action"] == "dragstart"


def test_binary_messages_are_not_relayed(server, clients):
    sender, peer = clients(server, 1), clients(server, 1)
    sender.ws.send_binary(b'{"model": "task", "id": 7, "action": "drop"}')
    assert sender.receive()["type"] == "error"
    peer.assert_silent()


def test_oversize_message_closes_with_1009(server, clients):
    sender, peer = clients(server, 1), clients(server, 1)
    sender.send({**TASK, "padding": "x" * 70_000})
    assert sender.close_status()[0] == 1009
    peer.assert_silent()


def test_flooding_client_is_closed_with_4429(launch, clients, broker_env):
    server = launch("--rate_limit=5", env=broker_env)
    flooder = clients(server, 1)
    for _ in range(30):
        flooder.send(TASK)
    code, reason = flooder.close_status()
    assert code == 4429 and "too many" in reason


def test_catch_up_with_since_replays_what_was_missed(server, clients):
    sender, peer = clients(server, 1), clients(server, 1)
    for n in range(1, 4):
        sender.send({**TASK, "id": n})
    assert [m["id"] for m in peer.receive_all(3)] == [1, 2, 3]
    hook(server.url + "/user/9", "PUT", {"username": "ann"})
    assert peer.receive()["seq"] == 1
    back = clients(server, 1, query="&since=1&since_all=0")
    replayed = back.receive_all(3)
    assert [(m["channel"], m["seq"]) for m in replayed] == [
        ("sprint:1", 2),
        ("sprint:1", 3),
        ("all", 1),
    ]
    assert replayed[0]["id"] == 2
    back.assert_silent()
    sender.send({**TASK, "id": 4})  # live messages continue after the replay
    assert back.receive()["seq"] == 4


def test_catch_up_beyond_the_history_asks_for_a_resync(launch, clients, broker_env):
    server = launch("--history=2", env=broker_env)
    sender = clients(server, 1)
    for n in range(5):
        sender.send({**TASK, "id": n})
    wait_for(lambda: len(sender.receive_all(5)) == 5)
    too_old = clients(server, 1, query="&since=1")
    assert too_old.receive() == {"type": "resync", "channel": "sprint:1", "seq": 5}
    from_the_future = clients(server, 1, query="&since=50")
    assert from_the_future.receive() == {"type": "resync", "channel": "sprint:1", "seq": 5}
    recent = clients(server, 1, query="&since=3")
    assert [m["id"] for m in recent.receive_all(2)] == [3, 4]


def test_bad_since_is_refused(server, clients):
    client = clients(server, 1, query="&since=yesterday")
    assert client.close_status() == (4400, "since must be a whole number")


@pytest.mark.parametrize(
    ("args", "origin", "allowed"),
    [
        ((), "http://evil.example", False),
        (
            ("--allowed_hosts=board.example:8000", "--allowed_hosts=other.example"),
            "http://board.example:8000",
            True,
        ),
        (
            ("--allowed_hosts=board.example:8000", "--allowed_hosts=other.example"),
            "https://other.example",
            True,
        ),
        (("--allowed_hosts=board.example:8000",), "http://board.example:9999", False),
        (("--allowed_hosts=a.example,board.example:8000",), "http://board.example:8000", True),
        (("--debug",), "http://anything.example", True),
    ],
)
def test_origins(launch, args, origin, allowed):
    server = launch(*args)
    if allowed:
        Client(server, 1, origin=origin).close()
    else:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            Client(server, 1, origin=origin)
        assert refused.value.status_code == 403


def test_health_counts_connections_and_channels(server, clients):
    assert health(server) == (
        200,
        {"status": "ok", "connections": 0, "channels": 0, "broker": health(server)[1]["broker"]},
    )
    first, _, _ = clients(server, 1), clients(server, 1), clients(server, 2)
    status, body = health(server)
    assert (status, body["connections"], body["channels"], body["broker"]["state"]) == (
        200,
        3,
        2,
        "up",
    )
    first.close()
    wait_for(lambda: health(server)[1]["connections"] == 2)


BAD_HOOKS = {
    "unsigned": dict(secret=None),
    "wrong-secret": dict(secret="another-secret"),
    "expired": dict(age=61),
    "replayed-on-another-url": dict(signed_url="/task/8"),
    "replayed-with-another-body": dict(signed_body=b'{"id": 7, "name": "old"}'),
}


@pytest.mark.parametrize("bad", BAD_HOOKS.values(), ids=BAD_HOOKS.keys())
def test_bad_hook_signatures_are_400_and_broadcast_nothing(server, clients, bad):
    client = clients(server, 1)
    kwargs = dict(bad)
    if "signed_url" in kwargs:
        kwargs["signed_url"] = server.url + kwargs["signed_url"]
    response = hook(server.url + "/task/7", "PUT", {"id": 7, "name": "new"}, **kwargs)
    assert response.status_code == 400
    assert response.json()["error"]
    client.assert_silent()


def test_hook_signed_for_another_method_is_400(server, clients):
    client = clients(server, 1)
    url = server.url + "/task/7"
    signature = signer(SECRET).sign(f"post:{url}:{'0' * 64}")
    response = requests.delete(url, headers={"X-Signature": signature}, timeout=5)
    assert response.status_code == 400
    client.assert_silent()


@pytest.mark.parametrize(
    ("path", "error"), [("/story/7", "unknown model"), ("/task/seven", "whole number")]
)
def test_hook_with_unknown_model_or_bad_id_is_400(server, clients, path, error):
    client = clients(server, 1)
    response = hook(server.url + path, "POST", {"id": 7})
    assert response.status_code == 400
    assert error in response.json()["error"]
    client.assert_silent()


def test_hook_body_must_be_json(server, clients):
    client = clients(server, 1)
    url, body = server.url + "/task/7", b"not json"
    signature = signer(SECRET).sign(f"post:{url}:{hashlib.sha256(body).hexdigest()}")
    response = requests.post(url, data=body, headers={"X-Signature": signature}, timeout=5)
    assert response.status_code == 400
    assert "Traceback" not in response.text
    client.assert_silent()


def test_hooks_only_accept_post_put_delete(server):
    assert requests.get(server.url + "/task/7", timeout=5).status_code == 405


@pytest.mark.parametrize(("args", "status"), [(("--xheaders",), 200), ((), 400)])
def test_hook_signed_for_https_behind_a_proxy(launch, clients, args, status):
    server = launch(*args)
    client = clients(server, 1)
    url, body = server.url + "/task/7", b'{"id": 7}'
    signed_url = url.replace("http://", "https://")
    signature = signer(SECRET).sign(f"put:{signed_url}:{hashlib.sha256(body).hexdigest()}")
    headers = {"X-Signature": signature, "X-Forwarded-Proto": "https"}
    assert requests.put(url, data=body, headers=headers, timeout=5).status_code == status
    if status == 200:
        assert client.receive()["body"] == {"id": 7}
    else:
        client.assert_silent()
