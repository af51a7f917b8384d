"""Presence: who is viewing a sprint, from viewer tokens scrum signs, across processes."""

import signal
from urllib.parse import quote

from conftest import MARKER, SECRET, drag_marker, signer, wait_for

VIEWER_SALT = "watercooler.viewer"
ALICE = {"username": "alice", "name": "Alice Archer"}
BOB = {"username": "bob", "name": "Bob Baker"}


def viewer(sprint, who, secret=SECRET):
    """?viewer= as scrum adds it to a sprint's channel link for the user reading it."""
    signed = signer(secret, salt=VIEWER_SALT).sign_object(
        {"s": sprint, "u": who["username"], "n": who["name"]}
    )
    return "&viewer=" + quote(signed)


def presence(client):
    """The viewers of the next presence message the client gets (skipping nothing else)."""
    message = client.receive(timeout=65)
    assert message["type"] == "presence" and message["channel"] == "sprint:1", message
    return message["viewers"]


def test_viewers_are_told_as_they_come_and_go_and_anonymous_sockets_are_not_listed(server, clients):
    alice = clients(server, 1, query=viewer(1, ALICE))
    assert presence(alice) == [ALICE]
    book = clients(server, 1)  # the book's client: no viewer, still served, not listed
    bob = clients(server, 1, query=viewer(1, BOB))
    assert presence(bob) == [ALICE, BOB]
    assert presence(alice) == [ALICE, BOB]
    bob.close()
    assert presence(alice) == [ALICE]
    drag_marker(alice, book)  # the book's client got no presence message before the marker


def test_forged_or_borrowed_viewer_tokens_list_nobody(server, clients):
    alice = clients(server, 1, query=viewer(1, ALICE))
    assert presence(alice) == [ALICE]
    for query in (
        viewer(1, BOB, secret="another-secret-entirely-Qw7Zx2Lp"),  # not signed by scrum
        viewer(2, BOB),  # signed for another sprint
        "&viewer=" + quote('{"s": 1, "u": "bob", "n": "Bob"}'),  # unsigned
    ):
        mallory = clients(server, 1, query=query)
        drag_marker(mallory, alice)  # alice heard of no new viewer before the marker


def test_a_drag_says_who_holds_the_card_and_a_client_cannot_say_it(server, clients):
    alice = clients(server, 1, query=viewer(1, ALICE))
    peer = clients(server, 1)
    presence(alice)
    alice.send({"model": "task", "id": 5, "action": "dragstart", "by": BOB})
    held = peer.receive()
    assert (held["action"], held["by"]) == ("dragstart", ALICE)
    peer.send({**MARKER, "by": ALICE})  # an anonymous socket claiming to be alice
    assert alice.receive()["type"] == "ack"  # alice's own dragstart
    relayed = alice.receive()
    assert relayed["id"] == MARKER["id"] and "by" not in relayed


def test_a_killed_processs_viewers_vanish_from_the_others_within_a_minute(
    launch, clients, redis_url
):
    env = {"REDIS_URL": redis_url}
    a, b = launch(env=env), launch(env=env)
    alice = clients(a, 1, query=viewer(1, ALICE))
    presence(alice)
    bob = clients(b, 1, query=viewer(1, BOB))
    assert presence(bob) == [ALICE, BOB]  # alice, on the other process, read from Redis
    assert wait_for(lambda: presence(alice) == [ALICE, BOB], timeout=10)
    a.stop(signal.SIGKILL)
    assert presence(bob) == [BOB]  # within PRESENCE_TTL (45 s) and a poll
