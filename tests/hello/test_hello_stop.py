"""A stop under load: on SIGTERM the worker finishes its request, then answers the connections
already waiting in the listen queue (deploy/gunicorn.conf.py) instead of leaving them to be
reset, as gunicorn's own sync worker does."""

import signal
import socket
import time

from harness import ROOT, gunicorn

HELLO = ROOT / "hello"
WAITING = 8


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def request(port):
    """A connection that has sent a whole request."""
    connection = connect(port)
    connection.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    return connection


def answer(connection):
    """Everything the server sends until it closes (b"" or a reset: no answer); then the
    connection is closed, as a client does (gunicorn waits a moment for that)."""
    chunks = []
    try:
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    connection.close()
    return b"".join(chunks)


def test_requests_waiting_in_the_listen_queue_when_the_stop_comes_are_answered(start):
    service = start(gunicorn("hello", HELLO))  # one sync worker
    busy = connect(service.port)
    busy.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # the worker waits for the rest
    time.sleep(0.5)
    waiting = [request(service.port) for _ in range(WAITING)]  # queued behind it
    time.sleep(0.2)
    service.proc.send_signal(signal.SIGTERM)  # the master: stop gracefully
    time.sleep(0.5)
    busy.sendall(b"Connection: close\r\n\r\n")
    assert answer(busy).startswith(b"HTTP/1.1 200 OK")
    answers = [answer(connection) for connection in waiting]
    assert [reply[:15] for reply in answers] == [b"HTTP/1.1 200 OK"] * WAITING
    assert service.proc.wait(10) == 0
