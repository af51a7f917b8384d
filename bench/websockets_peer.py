"""The benchmark's peer: watercooler's fan-out done with the ``websockets`` library's broadcast.

One process, one asyncio loop. Sockets connect to ``/socket?channel=TOKEN`` (the channel token
is checked as watercooler checks it). The websockets library serves websocket handshakes only
(it answers any other request with an error), so the signed announcements arrive on a second
port, HOOK_PORT, as the same ``POST``/``PUT``/``DELETE /<task|sprint|user>/<pk>`` requests,
checked against the same signature (method, URL and body, salt "watercooler.hook"), and
``websockets.broadcast`` sends the message, encoded once, to every open socket. Started by
bench_watercooler.py with REDIS_URL unused and WATERCOOLER_SECRET set:

    python bench/websockets_peer.py PORT HOOK_PORT
"""

import asyncio
import hashlib
import itertools
import os
import sys
from urllib.parse import parse_qs, urlsplit

from django.core.signing import BadSignature, TimestampSigner
from django.utils.crypto import constant_time_compare
from fanout_floor import ACTIONS, announcement
from websockets import broadcast
from websockets.asyncio.server import serve

SECRET = os.environ["WATERCOOLER_SECRET"]
CHANNEL_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.channel", fallback_keys=[])
HOOK_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.hook", fallback_keys=[])
MODELS = ("task", "sprint", "user")
SOCKETS = set()
SEQUENCE = itertools.count(1)


async def sprint_socket(connection):
    """A board's socket: joins the broadcast set while open, if its channel token is valid."""
    query = parse_qs(urlsplit(connection.request.path).query)
    try:
        CHANNEL_SIGNER.unsign(query.get("channel", [""])[0], max_age=30 * 60)
    except BadSignature:
        await connection.close(4401, "bad channel token")
        return
    SOCKETS.add(connection)
    try:
        await connection.wait_closed()
    finally:
        SOCKETS.discard(connection)


def signed(method, url, body, signature):
    """True if ``signature`` vouches for this method, URL and body (as watercooler checks)."""
    try:
        value = HOOK_SIGNER.unsign(signature, max_age=60)
    except BadSignature:
        return False
    expected = f"{method.lower()}:{url}:{hashlib.sha256(body).hexdigest()}"
    return constant_time_compare(value, expected)


def announce(method, path, headers, body):
    """(status, text): broadcast a signed announcement to every socket."""
    model, _, pk = path.strip("/").partition("/")
    if method not in ACTIONS or model not in MODELS or not pk.isdigit():
        return 404, "not found"
    url = f"http://{headers.get('host', '')}{path}"
    if not signed(method, url, body, headers.get("x-signature", "")):
        return 400, "bad signature"
    broadcast(SOCKETS, announcement(method, model, pk, body, next(SEQUENCE), "websockets"))
    return 200, '{"status": "ok"}'


async def hook(reader, writer):
    """One HTTP request on the hook port, answered and closed."""
    head = await reader.readuntil(b"\r\n\r\n")
    request, *lines = head.decode("latin-1").rstrip().split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, value in (line.split(":", 1) for line in lines)
    }
    method, path, _ = request.split(" ")
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    status, text = announce(method, path, headers, body)
    head = f"HTTP/1.1 {status} -\r\nContent-Length: {len(text)}\r\nConnection: close\r\n\r\n"
    writer.write(f"{head}{text}".encode())
    await writer.drain()
    writer.close()


async def main(port, hook_port):
    hooks = await asyncio.start_server(hook, "127.0.0.1", hook_port)
    async with hooks, serve(sprint_socket, "127.0.0.1", port, compression=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
