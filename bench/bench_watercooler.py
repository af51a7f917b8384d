"""Watercooler against Django Channels (daphne + channels_redis) on the same Redis, one run.

Measures, for each server started fresh by this script on 127.0.0.1:
1. fan-out: one signed announcement to 1,000 sockets on one sprint; per round the time from
   sending the POST until the last socket has the message; median and p99 over the rounds
   (targets: watercooler p99 under 50 ms and at most 1/5 of Channels' p99);
2. relay: client messages/s on one channel, 5 senders -> 10 peers, all delivered;
3. idle: 10,000 sockets on 100 sprints, all connected, server RSS and KB per connection
   (target: watercooler under 250 MB).

The sockets are driven by several client processes with a minimal asyncio websocket client
(handshake, frame parsing, pongs) so that the clients, not just the servers, stay cheap on a
shared 2-core machine. Every wait is bounded. Usage: python bench/bench_watercooler.py
[--sockets 1000] [--rounds 50] [--idle 10000] [--quick]
"""

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import multiprocessing
import os
import resource
import statistics
import struct
import sys
import time
from pathlib import Path

import psutil
import redis
import requests
from django.core.signing import TimestampSigner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from harness import BIN, Service, require_program  # noqa: E402

SECRET = "bench-watercooler-secret"
CHANNEL_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.channel", fallback_keys=[])
HOOK_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.hook", fallback_keys=[])
WORKERS = 4
GENTLE = 5  # handshakes in flight per client process, so 20 at a time
STORM = 100  # per client process: 400 at once, like every board reconnecting after a deploy
FANOUT_TARGET_MS = 50
FANOUT_RATIO_TARGET = 5
MEMORY_TARGET_MB = 250


# ---- client processes -------------------------------------------------------------------


def client_frame(opcode, payload):
    """A masked client frame (a zero mask key leaves the payload as it is)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size <= 0xFFFF:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + b"\0\0\0\0" + payload


class RawSocket(asyncio.Protocol):
    """A websocket client that only timestamps text frames and answers pings."""

    def __init__(self, request, pool):
        self.request, self.pool = request, pool
        self.buffer = bytearray()
        self.opened = asyncio.get_running_loop().create_future()
        self.transport = None
        self.count = 0  # text frames since the pool was armed

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        self.pool.lost += 1
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))

    def data_received(self, data):
        now = time.monotonic()
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.transport.close()
                return
            self.opened.set_result(True)
        self.parse(now)

    def parse(self, now):
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, size, offset = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + size:
                return
            payload = bytes(buffer[offset : offset + size])
            del buffer[: offset + size]
            if opcode == 0x1:
                self.count += 1
                self.pool.arrived(self, now)
            elif opcode == 0x9:
                self.transport.write(client_frame(0xA, payload))
            elif opcode == 0x8:
                self.transport.close()

    def send_text(self, text, times=1):
        self.transport.write(client_frame(0x1, text.encode()) * times)


class Pool:
    """One client process's sockets, driven by commands from the benchmark over a pipe."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.sockets = []
        self.lost = 0
        self.expected = None
        self.complete = 0
        self.last_arrival = 0.0
        self.done = None

    async def connect(self, port, paths, concurrency):
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        errors = []

        async def one(path):
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            async with gate:
                try:
                    _, sock = await asyncio.wait_for(
                        loop.create_connection(lambda: RawSocket(request, self), "127.0.0.1", port),
                        30,
                    )
                    await asyncio.wait_for(sock.opened, 30)
                    self.sockets.append(sock)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(path) for path in paths))
        return len(paths) - len(errors), errors[:3]

    def arm(self, expected):
        """Count afresh until every socket has ``expected`` more text frames."""
        for sock in self.sockets:
            sock.count = 0
        self.expected, self.complete, self.last_arrival = expected, 0, 0.0
        self.received, self.last_any = 0, time.monotonic()
        self.done = asyncio.get_running_loop().create_future()

    def arrived(self, sock, now):
        self.received += 1
        self.last_any = now
        if self.expected is not None and sock.count == self.expected:
            self.complete += 1
            self.last_arrival = max(self.last_arrival, now)
            if self.complete == len(self.sockets) and not self.done.done():
                self.done.set_result(True)

    async def wait(self, timeout, quiet=3.0):
        """(sockets complete, last completing arrival, frames received, last arrival).

        Gives up after ``timeout`` seconds, or ``quiet`` seconds after the last frame once
        frames have come (a server that dropped messages will not send them later).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (
            not self.received or time.monotonic() - self.last_any < quiet
        ):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.done), 0.2)
                break
        self.expected = None
        return self.complete, self.last_arrival, self.received, self.last_any

    async def handle(self, command, *args):
        if command == "connect":
            return await self.connect(*args)
        if command == "arm":
            self.arm(args[0])
            self.pipe.send(("armed",))
            return await self.wait(args[1])
        if command == "send":
            text, times = args
            started = time.monotonic()
            for sock in self.sockets:
                sock.send_text(text, times)
            return started
        if command == "close":
            for sock in self.sockets:
                sock.transport.close()
            self.sockets = []
            await asyncio.sleep(0.5)
            return self.lost
        raise ValueError(command)


def client_process(pipe):
    """Entry point of a client process: run commands from the pipe until "exit"."""
    raise_fd_limit()

    async def main():
        pool, loop = Pool(pipe), asyncio.get_running_loop()
        commands = asyncio.Queue()
        loop.add_reader(pipe.fileno(), lambda: commands.put_nowait(pipe.recv()))
        while (message := await commands.get())[0] != "exit":
            pipe.send(await pool.handle(*message))

    asyncio.run(main())


class Clients:
    """The client processes, each holding a share of the sockets."""

    def __init__(self, count=WORKERS):
        context = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(count):
            parent, child = context.Pipe()
            proc = context.Process(target=client_process, args=(child,), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def ask(self, pipes, *command, timeout=180):
        for pipe in pipes:
            pipe.send(command)
        return [self._reply(pipe, timeout) for pipe in pipes]

    @staticmethod
    def _reply(pipe, timeout):
        if not pipe.poll(timeout):
            raise TimeoutError("a client process did not answer")
        return pipe.recv()

    def connect(self, port, paths, pipes=None, concurrency=GENTLE):
        """Spread the socket paths over the processes; returns (connected, sample errors)."""
        pipes = pipes or self.pipes
        for index, pipe in enumerate(pipes):
            pipe.send(("connect", port, paths[index :: len(pipes)], concurrency))
        replies = [self._reply(pipe, 300) for pipe in pipes]
        return sum(r[0] for r in replies), [e for r in replies for e in r[1]]

    def arm(self, pipes, expected, timeout):
        for pipe in pipes:
            pipe.send(("arm", expected, timeout))
        for pipe in pipes:
            assert self._reply(pipe, 10) == ("armed",)

    def results(self, pipes, timeout):
        return [self._reply(pipe, timeout + 10) for pipe in pipes]

    def close_all(self):
        return self.ask(self.pipes, "close")

    def exit(self):
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            pipe.send(("exit",))
            proc.join(5)


# ---- servers ------------------------------------------------------------------------------


def raise_fd_limit():
    """10,000 sockets need more descriptors than the usual soft limit of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 30_000 if hard == resource.RLIM_INFINITY else min(hard, 30_000)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def start_redis():
    server = require_program("redis-server")
    command = [
        server,
        "--port",
        "{port}",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    return Service(command, ROOT, ready_path=None).start()


def start_server(kind, redis_url):
    env = {"REDIS_URL": redis_url, "WATERCOOLER_SECRET": SECRET}
    if kind == "watercooler":
        command = [
            sys.executable,
            "watercooler.py",
            "--port={port}",
            "--rate_limit=0",
            "--logging=warning",
        ]
        service = Service(command, ROOT / "watercooler", env, ready_path="/health").start()
        deadline = time.monotonic() + 10
        while requests.get(service.url + "/health", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("watercooler's broker did not come up")
            time.sleep(0.05)
        return service
    command = [BIN / "daphne", "-b", "127.0.0.1", "-p", "{port}", "channels_peer:application"]
    return Service(command, ROOT / "bench", env, ready_path=None).start()


def socket_path(sprint):
    return f"/socket?channel={CHANNEL_SIGNER.sign(str(sprint))}"


def announce(service, pk):
    """A signed PUT /task/<pk>, exactly as the scrum API sends it."""
    url = f"{service.url}/task/{pk}"
    body = json.dumps({"id": pk, "name": "Benchmark task", "status": 2}).encode()
    value = f"put:{url}:{hashlib.sha256(body).hexdigest()}"
    headers = {"X-Signature": HOOK_SIGNER.sign(value), "Content-Type": "application/json"}
    response = requests.put(url, data=body, headers=headers, timeout=10)
    response.raise_for_status()


# ---- measurements -------------------------------------------------------------------------


def fanout(clients, service, sockets, rounds):
    """Per round: ms from sending the announcement until the last socket that got it has it.

    Sockets that never get an announcement (within 10 s) are counted as missed deliveries.
    """
    connected, errors = clients.connect(service.port, [socket_path(1)] * sockets)
    if connected < sockets:
        return {"error": f"only {connected}/{sockets} sockets connected {errors}"}
    timings, missed = [], 0
    for index in range(rounds + 3):  # the first 3 rounds warm up
        time.sleep(0.1)  # announcements come one at a time, not back to back
        clients.arm(clients.pipes, 1, 10)
        began = time.monotonic()
        announce(service, index)
        results = clients.results(clients.pipes, 10)
        if index < 3:
            continue
        missed += sockets - sum(r[0] for r in results)
        arrivals = [r[3] for r in results if r[2]]
        if arrivals:
            timings.append((max(arrivals) - began) * 1000)
    clients.close_all()
    if not timings:
        return {"error": f"no socket got any of the {rounds} announcements"}
    return {
        "median_ms": statistics.median(timings),
        "p99_ms": percentile(timings, 99),
        "rounds": len(timings),
        "missed": missed,
        "deliveries": rounds * sockets,
    }


def relay(clients, service, senders=5, peers=10, messages=500, repeats=3):
    """Client messages relayed to every peer of the channel per second, and how many were lost.

    Each sender writes its messages in one burst; the rate counts the messages every peer
    got, from the first write until the last delivery.
    """
    send_pipe, peer_pipes = clients.pipes[:1], clients.pipes[1:]
    clients.connect(service.port, [socket_path(2)] * senders, send_pipe)
    connected, errors = clients.connect(service.port, [socket_path(2)] * peers, peer_pipes)
    if connected < peers:
        return {"error": f"only {connected}/{peers} peers connected {errors}"}
    text = json.dumps({"model": "task", "id": 7, "action": "dragstart"})
    sent = senders * messages
    rates, lost = [], []
    for _ in range(repeats):
        clients.arm(peer_pipes, sent, 60)
        started = clients.ask(send_pipe, "send", text, messages)[0]
        results = clients.results(peer_pipes, 60)
        delivered = sum(r[2] for r in results) / peers  # messages per peer, on average
        rates.append(delivered / (max(r[3] for r in results) - started))
        lost.append(1 - delivered / sent)
    clients.close_all()
    return {"messages_per_s": statistics.median(rates), "lost": statistics.median(lost)}


def idle(clients, service, count):
    """Resident memory for ``count`` idle sockets spread over 100 sprints."""
    process = psutil.Process(service.proc.pid)
    before = process.memory_info().rss
    started = time.monotonic()
    connected, errors = clients.connect(service.port, [socket_path(n % 100) for n in range(count)])
    seconds = time.monotonic() - started
    time.sleep(2)
    after = process.memory_info().rss
    alive = service.proc.poll() is None
    lost = sum(clients.close_all())
    return {
        "connected": connected,
        "lost": lost,
        "errors": errors,
        "connect_s": seconds,
        "rss_mb": after / 2**20,
        "kb_per_connection": (after - before) / 1024 / max(connected, 1),
        "server_alive": alive,
    }


def storm(clients, service, count):
    """How many of ``count`` sockets opened all at once get connected."""
    paths = [socket_path(n % 100) for n in range(count)]
    connected, errors = clients.connect(service.port, paths, concurrency=STORM)
    clients.close_all()
    return {"connected": connected, "errors": errors, "alive": service.proc.poll() is None}


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def run(kind, redis_service, clients, args):
    """Every measurement for one server, each phase on a freshly started process."""
    results = {}
    for phase, measure in (
        ("fanout", lambda s: fanout(clients, s, args.sockets, args.rounds)),
        ("relay", lambda s: relay(clients, s)),
        ("idle", lambda s: idle(clients, s, args.idle)),
        ("storm", lambda s: storm(clients, s, args.storm)),
    ):
        redis_flush(redis_service)
        service = start_server(kind, f"redis://127.0.0.1:{redis_service.port}/0")
        try:
            print(f"  {kind}: {phase} ...", flush=True)
            results[phase] = measure(service)
        finally:
            service.stop()
    return results


def redis_flush(redis_service):
    redis.Redis(port=redis_service.port).flushall()


def report(results, args):
    wc, ch = results["watercooler"], results["channels"]
    print("\n=== watercooler vs Django Channels (daphne + channels_redis), same Redis ===")
    ok = True
    print(f"\nfan-out of one announcement to {args.sockets} sockets ({args.rounds} rounds):")
    for name, res in results.items():
        fan = res["fanout"]
        if "error" in fan:
            print(f"  {name:12} {fan['error']}")
        else:
            print(
                f"  {name:12} median {fan['median_ms']:8.1f} ms   p99 {fan['p99_ms']:8.1f} ms"
                f"   {fan['missed']} of {fan['deliveries']} deliveries missed"
            )
    if "error" not in wc["fanout"] and "error" not in ch["fanout"]:
        ratio = ch["fanout"]["p99_ms"] / wc["fanout"]["p99_ms"]
        fast = wc["fanout"]["p99_ms"] < FANOUT_TARGET_MS
        print(
            f"  Channels p99 / watercooler p99 = {ratio:.1f}x (target >= {FANOUT_RATIO_TARGET}x): "
            f"{'MET' if ratio >= FANOUT_RATIO_TARGET else 'NOT MET'}"
        )
        print(f"  watercooler p99 < {FANOUT_TARGET_MS} ms: {'MET' if fast else 'NOT MET'}")
        ok = ok and fast and ratio >= FANOUT_RATIO_TARGET and not wc["fanout"]["missed"]
    else:
        ok = ok and "error" not in wc["fanout"]
    print("\nrelay, 5 senders -> 10 peers on one channel (median of 3 runs):")
    for name, res in results.items():
        rel = res["relay"]
        print(
            f"  {name:12} {rel['error']}"
            if "error" in rel
            else f"  {name:12} {rel['messages_per_s']:8.0f} messages/s relayed to every peer"
            f"   {rel['lost']:6.1%} of the messages lost"
        )
    if "error" not in wc["relay"] and "error" not in ch["relay"]:
        print(f"  ratio {wc['relay']['messages_per_s'] / ch['relay']['messages_per_s']:.1f}x")
    ok = ok and "error" not in wc["relay"] and wc["relay"]["lost"] == 0
    print(f"\n{args.idle} idle sockets on 100 sprints, one server process:")
    for name, res in results.items():
        idl = res["idle"]
        print(
            f"  {name:12} connected {idl['connected']:6}/{args.idle} in {idl['connect_s']:5.1f} s"
            f"   RSS {idl['rss_mb']:6.1f} MB   {idl['kb_per_connection']:5.1f} KB/connection"
            f"   server {'alive' if idl['server_alive'] else 'DIED'}"
            + (f"   errors e.g. {idl['errors'][0]}" if idl["errors"] else "")
        )
    print(f"\nreconnect storm: {args.storm} sockets opened {STORM * WORKERS} at a time:")
    for name, res in results.items():
        sto = res["storm"]
        print(
            f"  {name:12} connected {sto['connected']:6}/{args.storm}"
            f"   server {'alive' if sto['alive'] else 'DIED'}"
            + (f"   errors e.g. {sto['errors'][0]}" if sto["errors"] else "")
        )
    idl = wc["idle"]
    fits = idl["connected"] == args.idle and idl["rss_mb"] < MEMORY_TARGET_MB
    print(
        f"  watercooler: all {args.idle} connected and RSS < {MEMORY_TARGET_MB} MB: "
        f"{'MET' if fits else 'NOT MET'}"
    )
    return ok and fits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--storm", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, to try it out")
    args = parser.parse_args()
    if args.quick:
        args.sockets, args.rounds, args.idle, args.storm = 100, 10, 500, 500
    raise_fd_limit()
    redis_service = start_redis()
    clients = Clients()
    try:
        results = {
            kind: run(kind, redis_service, clients, args) for kind in ("watercooler", "channels")
        }
    finally:
        clients.exit()
        redis_service.stop()
    return 0 if report(results, args) else 1


if __name__ == "__main__":
    sys.exit(main())
