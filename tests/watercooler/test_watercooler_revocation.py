"""Revocation: a login that ends or a user who loses access leaves the live feed at once.

Played as the attacker would: alice keeps her board's socket and copies of its link (with and
without ``&viewer=``) after she logs out or is made inactive, and expects to go on reading.
Revocations are signed exactly as scrum signs them (hooks.revoke()).
"""

import itertools
import time
from urllib.parse import quote

import pytest
import redis
import requests
from conftest import MARKER, SECRET, hook, is_marker, signer

VIEWER_SALT = "watercooler.viewer"
CLOSE_REVOKED = 4410


def viewer(who, session=None, sprint=1, age=0):
    """?viewer= as scrum adds it to a sprint's link: user, name, and the login's digest."""
    signed = {"s": sprint, "u": who, "n": who.title()}
    if session:
        signed["k"] = session
    return "&viewer=" + quote(signer(SECRET, age, VIEWER_SALT).sign_object(signed))


def revoke(service, secret=SECRET, **what):
    """POST /revoked as scrum sends it: {"at": now, "session" or "user": ...}."""
    return hook(f"{service.url}/revoked", "POST", {"at": int(time.time()), **what}, secret)


def revoked(client):
    """Whether the server closes the client's socket as revoked."""
    return client.close_status() == (CLOSE_REVOKED, "access revoked")


def news(client):
    """The client's next message that is not a presence list (viewers come and go here)."""
    message = client.receive()
    while message.get("type") == "presence":
        message = client.receive()
    return message


HOOKS_SENT = itertools.count()


def hear_hook(service, *clients):
    """An announcement is the next news each client gets: their sockets still work."""
    body = {"id": MARKER["id"], "n": next(HOOKS_SENT)}
    assert hook(f"{service.url}/user/{MARKER['id']}", "PUT", body).status_code == 200
    for client in clients:
        assert news(client)["body"] == body


def hear_drag(sender, *peers):
    """A drag the sender relays is the next news each peer gets."""
    sender.send(MARKER)
    for peer in peers:
        assert is_marker(news(peer))


def test_a_logout_closes_that_logins_sockets_and_refuses_its_links(server, clients):
    laptop = clients(server, 1, query=viewer("alice", "s-laptop", age=60))
    phone = clients(server, 1, query=viewer("alice", "s-phone", age=60))
    bob = clients(server, 1, query=viewer("bob", "s-bob", age=60))
    copied = clients(server, 1, age=60)  # alice's laptop link with &viewer= cut off
    assert revoke(server, session="s-laptop").status_code == 200
    assert revoked(laptop) and revoked(copied)
    hear_hook(server, phone, bob)  # alice's other login and bob still hear everything
    for refused in (
        {"query": viewer("alice", "s-laptop", age=60)},  # her old link, opened again
        {"age": 60},  # the same without its viewer
        {"query": viewer("alice", "s-laptop", age=-5)},  # even a link issued later
    ):
        assert revoked(clients(server, 1, **refused)), refused
    fresh = clients(server, 1, query=viewer("alice", "s-new"))  # she logs in again
    anonymous = clients(server, 1, age=-2)  # a link issued after the logout
    hear_drag(fresh, phone, bob, anonymous)


def test_a_user_made_inactive_loses_every_login_and_link(server, clients):
    laptop = clients(server, 1, query=viewer("alice", "s-laptop", age=60))
    basic = clients(server, 1, query=viewer("alice", age=60))  # a link fetched with Basic auth
    bob = clients(server, 1, query=viewer("bob", "s-bob", age=60))
    assert revoke(server, user="alice").status_code == 200
    assert revoked(laptop) and revoked(basic)
    hear_hook(server, bob)
    assert revoked(clients(server, 1, query=viewer("alice", "s-phone", age=60)))
    hear_drag(clients(server, 1, query=viewer("alice", "s-phone", age=-2)), bob)  # made active


@pytest.mark.parametrize(
    "body, secret, status",
    [
        ({"at": 1, "session": "x"}, "another-secret-entirely-Qw7Zx2Lp", 400),  # not scrum's
        ({"at": 1, "session": "x"}, None, 400),  # unsigned
        ({"session": "x"}, SECRET, 400),  # no time
        ({"at": "1", "session": "x"}, SECRET, 400),
        ({"at": 1, "session": ""}, SECRET, 400),
        ({"at": 1, "user": ["alice"]}, SECRET, 400),
        ({"at": 1, "user": "a" * 151}, SECRET, 400),
    ],
)
def test_forged_or_malformed_revocations_close_nothing(server, clients, body, secret, status):
    alice = clients(server, 1, query=viewer("alice", "x", age=60))
    response = hook(f"{server.url}/revoked", "POST", body, secret)
    assert response.status_code == status and "error" in response.json()
    hear_hook(server, alice)


def test_a_revocation_counts_once_and_only_by_post(server, clients):
    body = {"at": int(time.time()), "session": "s-laptop"}
    first = hook(f"{server.url}/revoked", "POST", body)
    signature = first.request.headers["X-Signature"]
    headers = {"X-Signature": signature}
    again = requests.post(f"{server.url}/revoked", data=first.request.body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 400)
    assert again.json() == {"error": "signature already used"}
    assert requests.get(f"{server.url}/revoked", timeout=5).status_code == 405


@pytest.mark.redis
def test_a_revocation_reaches_every_process_and_outlives_none(launch, clients, redis_url):
    redis.Redis.from_url(redis_url).flushdb()  # no revocation left by another test
    env = {"REDIS_URL": redis_url}
    a, b = launch(env=env), launch(env=env)
    on_b = clients(b, 1, query=viewer("alice", "s-laptop", age=60))
    bob = clients(b, 1, query=viewer("bob", "s-bob", age=60))
    assert revoke(a, session="s-laptop").status_code == 200  # the balancer chose a
    assert revoked(on_b)
    hear_hook(b, bob)
    c = launch(env=env)  # a process started after the revocation knows it too
    assert revoked(clients(c, 1, query=viewer("alice", "s-laptop", age=60)))


@pytest.mark.redis
def test_a_foreign_message_on_the_revocation_channel_breaks_nothing(launch, clients, redis_url):
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()  # no revocation left by another test
    server = launch(env={"REDIS_URL": redis_url})
    alice = clients(server, 1, query=viewer("alice", "s-laptop", age=60))
    bob = clients(server, 1, query=viewer("bob", "s-bob", age=60))
    for foreign in (b"not JSON", b'{"at": 1}', b'["session", "s-laptop"]'):  # another version's
        assert broker.publish("watercooler:revoked", foreign) == 1
    hear_hook(server, alice, bob)  # the broker's listener is still there
    assert revoke(server, session="s-laptop").status_code == 200
    assert revoked(alice)
    hear_hook(server, bob)
