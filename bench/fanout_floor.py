"""The floor of bench_watercooler's fan-out: the loopback writes alone, timed by the server.

A bare asyncio program (the standard loop, no uvloop). It accepts websocket handshakes on any
path and, for ``PUT|POST|DELETE /<model>/<pk>``, frames the announcement once (the same fields
watercooler sends) and writes that one pre-framed message to every open socket with
``transport.write``, timing only that loop; it answers 200 with ``{"sockets": N, "seconds": T}``.
No signatures, no broker, no per-socket state, and no client in the figure: nothing any server
could skip is left but the writes. The clients still count the frames, so a floor that did
not deliver is seen. ``GET /health`` answers 200.

    python bench/fanout_floor.py PORT
"""

import asyncio
import base64
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "watercooler"))
from watercooler import text_frame  # noqa: E402  the same framing, so only the work differs

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ACTIONS = {"POST": "add", "PUT": "update", "DELETE": "remove"}
SOCKETS = set()
SEQUENCE = iter(range(1, 2**62))


def announcement(method, model, pk, body, seq, epoch):
    """The compact JSON text a socket gets for a hook: the watercooler's message and fields
    (the websockets peer sends the same)."""
    message = {
        "model": model,
        "id": int(pk),
        "action": ACTIONS[method],
        "body": json.loads(body) if body else None,
        "channel": "all",
        "seq": seq,
        "epoch": epoch,
    }
    return json.dumps(message, separators=(",", ":"))


def announce(method, path, body):
    """Frame the announcement once, write it to every socket; return the writes' seconds."""
    model, pk = path.strip("/").split("/")
    frame = text_frame(announcement(method, model, pk, body, next(SEQUENCE), "floor").encode())
    started = time.perf_counter()
    for transport in SOCKETS:
        transport.write(frame)
    return time.perf_counter() - started


class Connection(asyncio.Protocol):
    """An HTTP request, or a websocket that only ever receives."""

    def connection_made(self, transport):
        self.transport, self.buffer, self.upgraded = transport, b"", False

    def connection_lost(self, exc):
        SOCKETS.discard(self.transport)

    def data_received(self, data):
        if self.upgraded:
            return  # pongs and close frames: nothing to do
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        request, *lines = self.buffer[:end].decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in lines)
        }
        method, path, _ = request.split(" ")
        body = self.buffer[end + 4 :]
        if headers.get("upgrade", "").lower() == "websocket":
            self.upgrade(headers["sec-websocket-key"])
        elif len(body) >= int(headers.get("content-length", 0)):
            seconds = announce(method, path, body) if method in ACTIONS else 0.0
            answer = json.dumps({"sockets": len(SOCKETS), "seconds": seconds}).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
            )
            self.transport.close()

    def upgrade(self, key):
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        self.upgraded, self.buffer = True, b""
        SOCKETS.add(self.transport)


async def main(port):
    server = await asyncio.get_running_loop().create_server(Connection, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
