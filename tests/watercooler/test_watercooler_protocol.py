"""The DESIGN.md protocol on both brokers: relay rules, tokens, hooks, messages, /health."""

import socket
import struct
import threading
import time

import pytest
import requests
import websocket
from conftest import (
    Client,
    drag_marker,
    health,
    hook,
    hook_marker,
    signature,
    token,
    wait_for,
)

TASK = {"model": "task", "id": 7, "action": "drop"}
HOLD = {**TASK, "action": "dragstart"}
TCP_INFO_DATA_SEGS_IN = 152  # offset of tcpi_data_segs_in in Linux's struct tcp_info


def test_relays_to_peers_on_the_sprint_not_the_sender_nor_other_sprints(server, clients):
    sender, peer, other_peer, elsewhere = (clients(server, sprint) for sprint in (1, 1, 1, 2))
    sender.send(TASK)
    relayed = peer.receive()
    epoch = relayed["epoch"]
    assert isinstance(epoch, str) and epoch
    assert relayed == {**TASK, "channel": "sprint:1", "seq": 1, "epoch": epoch}
    assert other_peer.receive() == relayed
    assert sender.receive() == {"type": "ack", "channel": "sprint:1", "seq": 1, "epoch": epoch}
    drag_marker(peer, sender, other_peer)  # the sender never got its own message back
    drag_marker(clients(server, 2), elsewhere)  # nor did the other sprint


def test_only_model_id_and_action_are_relayed_and_numbers_follow_each_other(server, clients):
    sender, peer = clients(server, 3), clients(server, 3)
    extras = {"note": 1, "seq": 99, "channel": "spoofed", "epoch": "forged", "type": "resync"}
    for _ in range(3):
        sender.send({**TASK, **extras, "body": {"name": "<script>alert(1)</script>"}})
    received = peer.receive_all(3)
    assert [m["seq"] for m in received] == [1, 2, 3]
    epoch = received[0]["epoch"]
    assert epoch != "forged"
    assert received[0] == {**TASK, "channel": "sprint:3", "seq": 1, "epoch": epoch}
    peer.send(TASK)
    assert sender.receive_all(4)[-1] == {**TASK, "channel": "sprint:3", "seq": 4, "epoch": epoch}


FORGED = {
    "remove": {"model": "task", "id": 3, "action": "remove"},
    "update-with-body": {"model": "task", "id": 3, "action": "update", "body": {"name": "x"}},
    "add": {"model": "sprint", "id": 3, "action": "add", "body": {"id": 3}},
    "fake-resync": {"type": "resync", "channel": "sprint:1", "seq": 0, "epoch": "e"},
    "html-model": {"model": "<img src=x onerror=alert(1)>", "id": 3, "action": "drop"},
    "object-model": {"model": {"toString": "task"}, "id": 3, "action": "drop"},
    "list-model": {"model": ["task"], "id": 3, "action": "drop"},
    "string-id": {"model": "task", "id": "3", "action": "drop"},
    "html-id": {"model": "task", "id": "<b>3</b>", "action": "drop"},
    "object-id": {"model": "task", "id": {"$gt": 0}, "action": "drop"},
    "bool-id": {"model": "task", "id": True, "action": "drop"},
    "float-id": {"model": "task", "id": 3.5, "action": "drop"},
    "negative-id": {"model": "task", "id": -3, "action": "drop"},
    "huge-id": {"model": "task", "id": 2**60, "action": "drop"},
    "object-action": {"model": "task", "id": 3, "action": {"drop": 1}},
    "other-action": {"model": "task", "id": 3, "action": "dragover"},
}


@pytest.mark.parametrize("forged", FORGED.values(), ids=FORGED.keys())
def test_forged_messages_are_refused_and_never_reach_a_peer(server, clients, forged):
    attacker, peer = clients(server, 1), clients(server, 1)
    attacker.send(forged)
    reply = attacker.receive()
    assert reply["type"] == "error" and reply["error"].startswith("not relayed")
    drag_marker(attacker, peer)  # the peer's next message is the marker, not the forgery


def token_signed_for_a_hook(server):
    url = f"{server.url}/task/7"
    return signature("post", url, b"")


@pytest.mark.parametrize(
    ("token_kwargs", "query", "code"),
    [
        ({}, "&missing", 4400),
        ({"secret": "another-secret"}, "", 4401),
        ({"age": 31 * 60}, "", 4403),
        ({"salt": "django.core.signing.TimestampSigner"}, "", 4401),
        ({"sprint": "all"}, "", 4401),
        ({"sprint": "1:2"}, "", 4401),
        ({"sprint": "\u0661"}, "", 4401),  # an Arabic-Indic one: a digit, but not ASCII
        ({"sprint": "hook"}, "", 4401),
    ],
    ids=[
        "missing",
        "wrong-secret",
        "expired",
        "unsalted",
        "not-digits",
        "colon",
        "unicode-digit",
        "hook-signature",
    ],
)
def test_refused_tokens_close_with_a_reason_and_relay_nothing(
    server, clients, token_kwargs, query, code
):
    peer, token_kwargs = clients(server, 1), dict(token_kwargs)  # shared by both brokers' runs
    url = f"ws://127.0.0.1:{server.port}/socket"
    if query == "&missing":
        refused = websocket.create_connection(url, timeout=5)
    elif token_kwargs.get("sprint") == "hook":
        refused = websocket.create_connection(
            f"{url}?channel={token_signed_for_a_hook(server)}", timeout=5
        )
    else:
        sprint = token_kwargs.pop("sprint", 1)
        refused = websocket.create_connection(
            f"{url}?channel={token(sprint, **token_kwargs)}", timeout=5
        )
    refused.send('{"model": "task", "id": 1, "action": "dragstart"}')
    opcode, data = refused.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == code
    assert data[2:]  # a human-readable reason
    drag_marker(clients(server, 1), peer)
    hook_marker(server, peer)


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
    drag_marker(clients(server, 1), peer)


@pytest.mark.parametrize(
    "message",
    ['{"model": "task", "id": 7', "[1, 2]", '"task"', '{"model": "task", "id": 7}', "null"]
    + ["[" * 60_000],
    ids=["broken-json", "array", "string", "no-action", "null", "deeply-nested"],
)
def test_malformed_messages_are_not_relayed_and_the_sender_is_told(server, clients, message):
    sender, peer = clients(server, 1), clients(server, 1)
    sender.send(message)
    reply = sender.receive()
    assert reply["type"] == "error" and reply["error"].startswith("not relayed")
    drag_marker(sender, peer)  # the socket stays usable, and nothing went before the marker


def test_a_crashing_message_logs_no_channel_token(server, clients):
    """An attacker's message that nests too deep gets an error reply; the log never shows the
    socket's channel token (its query string), whatever goes wrong."""
    sender = clients(server, 1)
    sender.send("[" * 60_000)
    assert sender.receive()["type"] == "error"
    assert "channel=" not in server.output() and "Traceback" not in server.output()


def test_a_socket_holds_one_card_at_a_time(server, clients):
    """Each dragstart ends the sender's previous hold, so one socket cannot lock every card."""
    sender, peer = clients(server, 1), clients(server, 1)
    for pk in (1, 2, 3):
        sender.send({**HOLD, "id": pk})
    seen = [(m["id"], m["action"]) for m in peer.receive_all(5)]
    assert seen == [
        (1, "dragstart"),
        (1, "dragend"),
        (2, "dragstart"),
        (2, "dragend"),
        (3, "dragstart"),
    ]


def test_a_closed_socket_releases_its_card(server, clients):
    sender, peer = clients(server, 1), clients(server, 1)
    sender.send({**HOLD, "id": 4})
    assert peer.receive()["action"] == "dragstart"
    sender.close()
    message = peer.receive()
    assert (message["id"], message["action"]) == (4, "dragend")


def test_responses_carry_security_headers_and_no_server_name(server):
    response = requests.get(server.url + "/health", timeout=5)
    assert "Server" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_binary_messages_are_not_relayed(server, clients):
    sender, peer = clients(server, 1), clients(server, 1)
    sender.ws.send_binary(b'{"model": "task", "id": 7, "action": "drop"}')
    assert sender.receive()["type"] == "error"
    drag_marker(sender, peer)


def test_oversize_message_closes_with_1009(server, clients):
    sender, peer = clients(server, 1), clients(server, 1)
    sender.send({**TASK, "padding": "x" * 70_000})
    assert sender.close_status()[0] == 1009
    drag_marker(clients(server, 1), peer)


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
    received = peer.receive_all(3)
    assert [m["id"] for m in received] == [1, 2, 3]
    hook(server.url + "/user/9", "PUT", {"username": "ann"})
    announced = peer.receive()
    assert announced["seq"] == 1
    sprint_epoch, all_epoch = received[0]["epoch"], announced["epoch"]
    back = clients(server, 1, query=f"&since={sprint_epoch}:1&since_all={all_epoch}:0")
    replayed = back.receive_all(3)
    assert [(m["channel"], m["seq"], m["epoch"]) for m in replayed] == [
        ("sprint:1", 2, sprint_epoch),
        ("sprint:1", 3, sprint_epoch),
        ("all", 1, all_epoch),
    ]
    assert replayed[0]["id"] == 2
    sender.send({**TASK, "id": 4})  # live messages continue right after the replay
    assert back.receive() == {
        **TASK,
        "id": 4,
        "channel": "sprint:1",
        "seq": 4,
        "epoch": sprint_epoch,
    }


def test_since_from_another_epoch_asks_for_a_resync(server, clients):
    sender = clients(server, 1)
    for n in range(1, 4):
        sender.send({**TASK, "id": n})
    epoch = sender.receive_all(3)[0]["epoch"]
    stale = clients(server, 1, query="&since=0123456789abcdef:1&since_all=feed:0")
    resyncs = {m["channel"]: m for m in stale.receive_all(2)}
    assert resyncs["sprint:1"] == {
        "type": "resync",
        "channel": "sprint:1",
        "seq": 3,
        "epoch": epoch,
    }
    assert resyncs["all"]["type"] == "resync" and resyncs["all"]["seq"] == 0
    drag_marker(sender, stale)  # nothing of the old run was replayed


def test_catch_up_beyond_the_history_asks_for_a_resync(launch, clients, broker_env):
    server = launch("--history=2", env=broker_env)
    sender = clients(server, 1)
    for n in range(5):
        sender.send({**TASK, "id": n})
    epoch = sender.receive_all(5)[0]["epoch"]
    resync = {"type": "resync", "channel": "sprint:1", "seq": 5, "epoch": epoch}
    too_old = clients(server, 1, query=f"&since={epoch}:1")
    assert too_old.receive() == resync
    from_the_future = clients(server, 1, query=f"&since={epoch}:50")
    assert from_the_future.receive() == resync
    recent = clients(server, 1, query=f"&since={epoch}:3")
    assert [m["id"] for m in recent.receive_all(2)] == [3, 4]


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ("&since=yesterday", "since"),
        ("&since=abc:", "since"),
        ("&since=:5", "since"),
        ("&since=a:1:2", "since"),
        ("&since=-1", "since"),
        ("&since=%D9%A1", "since"),  # an Arabic-Indic digit one
        ("&since=" + "9" * 5000, "since"),  # more digits than int() takes
        ("&since_all=1.5", "since_all"),
        ("&since=1", "since"),  # a number without its epoch could mean two messages
    ],
)
def test_bad_since_is_refused(server, clients, query, argument):
    client = clients(server, 1, query=query)
    assert client.close_status() == (4400, f"{argument} must be EPOCH:SEQ")


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
        (("--allowed_hosts=board.example:8000,",), "null", False),
        (("--allowed_hosts=board.example:8000,",), "file://", False),
        (("--allowed_hosts=,,board.example:8000",), "null", False),
        (("--allowed_hosts= ",), "null", False),
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


# Hooks -----------------------------------------------------------------------------------


def test_hook_reaches_every_socket_on_every_sprint(server, clients):
    sockets = [clients(server, sprint) for sprint in (1, 2, 2)]
    body = {"id": 5, "name": "Write tests", "status": 2}
    response = hook(server.url + "/task/5", "PUT", body)
    assert response.status_code == 200, response.text
    expected = {"model": "task", "id": 5, "action": "update", "body": body, "channel": "all"}
    for client in sockets:
        message = client.receive()
        assert message == {**expected, "seq": 1, "epoch": message["epoch"]}


def test_announcements_are_not_held_back_for_a_clients_acknowledgement(launch, clients):
    """Each announcement leaves at once (TCP_NODELAY), even to a client that delays its
    acknowledgements, as one that keeps sending does (pongs, as a browser answers pings,
    here): with Nagle's algorithm (Tornado's default) the server held announcements back
    until the client acknowledged the previous one, and 10 posted back to back arrived in 2
    or 3 packets in about half the tries. With the in-process broker each hook's frame is
    written on its own, so each must reach the client as a TCP segment of its own, which the
    client's kernel counts (TCP_INFO's data_segs_in)."""
    server = launch()
    viewer = clients(server)
    sending = threading.Event()

    def keep_sending():
        while not sending.wait(0.05):
            viewer.ws.pong(b"")

    chatter = threading.Thread(target=keep_sending)
    chatter.start()
    try:
        time.sleep(0.3)  # the client's acknowledgements are being delayed by now
        for attempt in range(8):
            before = data_segments_received(viewer.ws.sock)
            for pk in range(10):
                assert hook(f"{server.url}/task/{pk}", "PUT", {"id": pk, "try": attempt}).ok
            assert [m["id"] for m in viewer.receive_all(10)] == list(range(10))
            assert data_segments_received(viewer.ws.sock) - before >= 10, f"try {attempt}"
    finally:
        sending.set()
        chatter.join()


def data_segments_received(sock):
    """How many TCP segments with data a socket has received (Linux's struct tcp_info)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return struct.unpack_from("I", info, TCP_INFO_DATA_SEGS_IN)[0]


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
    hook_marker(server, client)


def test_channel_token_is_not_a_hook_signature(server, clients):
    client = clients(server, 1)
    url = server.url + "/task/7"
    value = f"delete:{url}:{'0' * 64}"
    forged = token(value)  # a valid signature, but with the channel tokens' salt
    response = requests.delete(url, headers={"X-Signature": forged}, timeout=5)
    assert response.status_code == 400
    hook_marker(server, client)


def test_hook_signed_for_another_method_is_400(server, clients):
    client = clients(server, 1)
    url = server.url + "/task/7"
    response = requests.delete(url, headers={"X-Signature": signature("post", url, b"")}, timeout=5)
    assert response.status_code == 400
    hook_marker(server, client)


def test_replayed_hook_is_400_and_broadcast_once(server, clients):
    client = clients(server, 1)
    url, body = server.url + "/task/7", b'{"id": 7, "name": "Ship"}'
    headers = {"X-Signature": signature("put", url, body)}
    assert requests.put(url, data=body, headers=headers, timeout=5).status_code == 200
    assert client.receive()["body"] == {"id": 7, "name": "Ship"}
    replayed = requests.put(url, data=body, headers=headers, timeout=5)
    assert replayed.status_code == 400
    assert replayed.json() == {"error": "signature already used"}
    hook_marker(server, client)


def test_hook_with_a_forged_host_header_is_400(server, clients):
    client = clients(server, 1)
    forged = f"evil.example:{server.port}"
    response = hook(
        server.url + "/task/7",
        "PUT",
        {"id": 7},
        host=forged,
        signed_url=f"http://{forged}/task/7",
    )
    assert response.status_code == 400
    assert "not a public name" in response.json()["error"]
    hook_marker(server, client)


def test_hooks_are_accepted_only_for_the_configured_public_names(launch, clients):
    server = launch("--public_hosts=watercooler.example:8080,", "--public_hosts=wc.example")
    client = clients(server, 1)
    for host in ("watercooler.example:8080", "WC.example"):
        signed = f"http://{host}/task/7"  # the URL as scrum writes it
        response = hook(
            server.url + "/task/7", "PUT", {"id": 7, "h": host}, host=host, signed_url=signed
        )
        assert response.status_code == 200, response.text
        assert client.receive()["body"]["h"] == host
    own = hook(server.url + "/task/7", "PUT", {"id": 7})  # Host 127.0.0.1:port: not listed
    assert own.status_code == 400
    refused = hook(server.url + "/task/7", "PUT", {"id": 7}, host="", signed_url="http:///task/7")
    assert refused.status_code == 400


def test_hooks_to_localhost_are_accepted_on_loopback(server, clients):
    """scrum's default WATERCOOLER_SERVER is localhost:8080: that name works out of the box."""
    client = clients(server, 1)
    host = f"localhost:{server.port}"
    response = hook(
        server.url + "/task/7",
        "PUT",
        {"id": 7},
        host=host,
        signed_url=f"http://{host}/task/7",
    )
    assert response.status_code == 200, response.text
    assert client.receive()["id"] == 7


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/story/7", "unknown model"),
        ("/task/seven", "whole number"),
        ("/task/%D9%A1", "whole number"),  # an Arabic-Indic digit one
        ("/task/" + "9" * 5000, "whole number"),
    ],
    ids=["model", "word", "unicode-digit", "huge"],
)
def test_hook_with_unknown_model_or_bad_id_is_400(server, clients, path, error):
    client = clients(server, 1)
    response = hook(server.url + path, "POST", {"id": 7})
    assert response.status_code == 400
    assert error in response.json()["error"]
    hook_marker(server, client)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"task"', b"7", b"true"])
def test_hook_body_must_be_a_json_object(server, clients, body):
    client = clients(server, 1)
    url = server.url + "/task/7"
    headers = {"X-Signature": signature("post", url, body)}
    response = requests.post(url, data=body, headers=headers, timeout=5)
    assert response.status_code == 400
    assert "body" in response.json()["error"]
    hook_marker(server, client)


def test_hook_body_null_is_no_body(server, clients):
    client = clients(server, 1)
    url = server.url + "/task/7"
    headers = {"X-Signature": signature("put", url, b"null")}
    assert requests.put(url, data=b"null", headers=headers, timeout=5).status_code == 200
    assert client.receive()["body"] is None


def test_hook_over_the_size_limit_is_answered_413(server, clients):
    client = clients(server, 1)
    url = server.url + "/task/7"
    body = b'{"description": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {"X-Signature": signature("put", url, body)}
    response = requests.put(url, data=body, headers=headers, timeout=10)
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]
    hook_marker(server, client)


def test_hook_over_the_size_limit_in_chunks_is_answered_413(server):
    """No Content-Length: the size is counted as the chunks arrive."""
    chunks = (b"x" * 65536 for _ in range(20))
    response = requests.put(server.url + "/task/7", data=chunks, timeout=10)
    assert response.status_code == 413


def test_hooks_only_accept_post_put_delete(server):
    assert requests.get(server.url + "/task/7", timeout=5).status_code == 405


@pytest.mark.parametrize(("args", "status"), [(("--xheaders",), 200), ((), 400)])
def test_hook_signed_for_https_behind_a_proxy(launch, clients, args, status):
    server = launch(*args)
    client = clients(server, 1)
    url, body = server.url + "/task/7", b'{"id": 7}'
    signed_url = url.replace("http://", "https://")
    headers = {"X-Signature": signature("put", signed_url, body), "X-Forwarded-Proto": "https"}
    assert requests.put(url, data=body, headers=headers, timeout=5).status_code == status
    if status == 200:
        assert client.receive()["body"] == {"id": 7}
    hook_marker(server, client)


def test_origin_null_is_refused_over_a_raw_socket(launch):
    """The handshake as a sandboxed page sends it, byte for byte."""
    server = launch("--allowed_hosts=localhost:8000,")
    path = f"/socket?channel={token(1)}"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nOrigin: null\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(request.encode())
        status_line = raw.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 403")


def test_hook_through_a_tls_proxy_under_its_public_name(launch, clients):
    """Behind a proxy: --xheaders for the scheme, --public_hosts for the name scrum uses."""
    server = launch("--xheaders", "--public_hosts=board.example")
    client = clients(server, 1)
    body = b'{"id": 7}'
    headers = {
        "Host": "board.example",
        "X-Forwarded-Proto": "https",
        "X-Signature": signature("put", "https://board.example/task/7", body),
    }
    response = requests.put(server.url + "/task/7", data=body, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert client.receive()["body"] == {"id": 7}
