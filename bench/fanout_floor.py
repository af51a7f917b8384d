"""The floor of bench_watercooler's fan-out: a bare asyncio program doing only the physical work.

It accepts websocket handshakes on any path and, for ``PUT|POST|DELETE /<model>/<pk>``, frames
the announcement once (the same fields watercooler sends) and writes that one frame to every
open socket, then answers 200. No signatures, no broker, no per-socket state: nothing a real
server could skip is left but the loopback writes. ``GET /health`` answers 200.

    python bench/fanout_floor.py PORT
"""

import asyncio
import base64
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "watercooler"))
from watercooler import text_frame  # noqa: E402  the same framing, so only the work differs

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ACTIONS = {"POST": "add", "PUT": "update", "DELETE": "remove"}
OK = b'HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{"status": "ok"}'
SOCKETS = set()
SEQUENCE = iter(range(1, 2**62))


def announce(method, path, body):
    """Frame the announcement once and write it to every socket."""
    model, pk = path.strip("/").split("/")
    message = {
        "model": model,
        "id": int(pk),
        "action": ACTIONS[method],
        "body": json.loads(body) if body else None,
        "channel": "all",
        "seq": next(SEQUENCE),
        "epoch": "floor",
    }
    frame = text_frame(json.dumps(message).encode())
    for transport in SOCKETS:
        transport.write(frame)


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
            if method in ACTIONS:
                announce(method, path, body)
            self.transport.write(OK)
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
