"""Watercooler against tuned Django Channels and the physical floor, interleaved round by round.

Contenders, each one process on 127.0.0.1, the two real servers on the same Redis:
- watercooler with its shipped defaults (rate limit on: 20 messages/s per socket, bursts of 40);
- Django Channels: daphne + channels_redis (bench/channels_peer.py), tuned as channels_redis
  documents (channel capacity, Redis connection pool; see there);
- the floor (fan-out only): bench/fanout_floor.py, a bare asyncio program writing the same
  pre-framed message to the same sockets.

Figures, each from --rounds rounds in which every contender takes its turn (the order
rotating), printed as median with min and IQR (bench/stats.py):
1. fan-out: one signed announcement to 1,000 sockets; per round the p99 over the sockets of
   the time from sending the PUT until a socket has the message. Targets: Channels' p99 at
   least 5x watercooler's, watercooler within 2x of the floor, no delivery missed;
2. relay: SENDERS sockets each send a burst of BURST messages (within the shipped rate limit)
   to one sprint with PEERS more sockets on it; messages/s until every peer has them all.
   Targets: at least 5x Channels, nothing lost;
3. idle: 10,000 sockets on 100 sprints on a freshly started server, its RSS. Target: all
   connected and under 250 MB.

The sockets are held by several client processes with a minimal asyncio websocket client, so
that the clients stay cheap on a shared machine. Every wait is bounded. Exit status 1 when a
target is missed. Usage: python bench/bench_watercooler.py [--sockets 1000] [--rounds 30]
[--idle 10000] [--idle-rounds 10] [--quick]
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
import struct
import sys
import time
from collections import defaultdict
from pathlib import Path

import psutil
import redis
import requests
from django.core.signing import TimestampSigner
from stats import Report, Target, median, spread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from harness import BIN, Service, require_program  # noqa: E402

SECRET = "bench-watercooler-secret-Nx7Dq3Hv5Lb9"
CHANNEL_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.channel", fallback_keys=[])
HOOK_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.hook", fallback_keys=[])
WORKERS = 4  # client processes
GENTLE = 5  # handshakes in flight per client process, so 20 at a time
SENDERS, BURST, PEERS = 10, 40, 10  # relay: 40 is the burst watercooler's defaults allow
REFILL_S = 2.5  # the rate limit's bucket (20/s, 40 deep) is full again after 2 s
WARMUP = 3  # fan-out rounds per contender not counted
CONTENDERS = ("watercooler", "channels", "floor")
LABELS = {
    "watercooler": "watercooler",
    "channels": "Channels (tuned)",
    "floor": "floor (bare asyncio)",
}


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

    def __init__(self, request, group):
        self.request, self.group = request, group
        self.buffer = bytearray()
        self.opened = asyncio.get_running_loop().create_future()
        self.transport = None
        self.count = 0  # text frames since the group was armed

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        self.group.lost += 1
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
                self.group.arrived(self, now)
            elif opcode == 0x9:
                self.transport.write(client_frame(0xA, payload))
            elif opcode == 0x8:
                self.transport.close()

    def send_text(self, text, times=1):
        self.transport.write(client_frame(0x1, text.encode()) * times)


class Group:
    """The sockets one client process holds on one server (or one role on it)."""

    def __init__(self):
        self.sockets = []
        self.lost = 0
        self.expected = None
        self.received, self.last_any = 0, 0.0

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
        self.expected, self.completed = expected, []
        self.received, self.last_any = 0, time.monotonic()
        self.done = asyncio.get_running_loop().create_future()

    def arrived(self, sock, now):
        self.received += 1
        self.last_any = now
        if self.expected is not None and sock.count == self.expected:
            self.completed.append(now)
            if len(self.completed) == len(self.sockets) and not self.done.done():
                self.done.set_result(True)

    async def wait(self, timeout, quiet=3.0):
        """(completion time of each complete socket, frames received, last arrival).

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
        return self.completed, self.received, self.last_any

    def send(self, text, times):
        started = time.monotonic()
        for sock in self.sockets:
            sock.send_text(text, times)
        return started

    async def close(self):
        closed_by_server = self.lost
        for sock in self.sockets:
            sock.transport.close()
        self.sockets = []
        await asyncio.sleep(0.5)
        return closed_by_server


async def handle(groups, pipe, command, name, *args):
    group = groups[name]
    if command == "connect":
        return await group.connect(*args)
    if command == "arm":
        group.arm(args[0])
        pipe.send(("armed",))
        return await group.wait(args[1])
    if command == "send":
        return group.send(*args)
    if command == "close":
        return await groups.pop(name).close()
    raise ValueError(command)


def client_process(pipe):
    """Entry point of a client process: run commands from the pipe until "exit"."""
    raise_fd_limit()

    async def main():
        groups, loop = defaultdict(Group), asyncio.get_running_loop()
        commands = asyncio.Queue()
        loop.add_reader(pipe.fileno(), lambda: commands.put_nowait(pipe.recv()))
        while (message := await commands.get())[0] != "exit":
            pipe.send(await handle(groups, pipe, *message))

    asyncio.run(main())


class Clients:
    """The client processes, each holding a share of every group's sockets."""

    def __init__(self, count=WORKERS):
        context = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(count):
            parent, child = context.Pipe()
            proc = context.Process(target=client_process, args=(child,), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    @staticmethod
    def _reply(pipe, timeout):
        if not pipe.poll(timeout):
            raise TimeoutError("a client process did not answer")
        return pipe.recv()

    def connect(self, group, port, paths, pipes=None, concurrency=GENTLE):
        """Spread the socket paths over the processes; returns (connected, sample errors)."""
        pipes = pipes or self.pipes
        for index, pipe in enumerate(pipes):
            pipe.send(("connect", group, port, paths[index :: len(pipes)], concurrency))
        replies = [self._reply(pipe, 600) for pipe in pipes]
        return sum(r[0] for r in replies), [e for r in replies for e in r[1]]

    def arm(self, group, expected, timeout, pipes=None):
        pipes = pipes or self.pipes
        for pipe in pipes:
            pipe.send(("arm", group, expected, timeout))
        for pipe in pipes:
            assert self._reply(pipe, 10) == ("armed",)
        return pipes

    def results(self, pipes, timeout):
        """Per process: (completion times, frames received, last arrival)."""
        return [self._reply(pipe, timeout + 10) for pipe in pipes]

    def send(self, group, text, times, pipes):
        for pipe in pipes:
            pipe.send(("send", group, text, times))
        return min(self._reply(pipe, 30) for pipe in pipes)

    def close(self, group, pipes=None):
        """Close the group's sockets; returns how many of them the server had closed."""
        pipes = pipes or self.pipes
        for pipe in pipes:
            pipe.send(("close", group))
        return sum(self._reply(pipe, 30) for pipe in pipes)

    def exit(self):
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            pipe.send(("exit",))
            proc.join(5)


# ---- servers ------------------------------------------------------------------------------


def raise_fd_limit():
    """10,000 sockets need more descriptors than the usual soft limit of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 40_000 if hard == resource.RLIM_INFINITY else min(hard, 40_000)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def start_redis():
    server = require_program("redis-server")
    command = [server, "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    return Service([*command, "no"], ROOT, ready_path=None).start()


def start_server(kind, redis_url):
    """A fresh server of ``kind``; watercooler runs with its shipped defaults."""
    env = {"REDIS_URL": redis_url, "WATERCOOLER_SECRET": SECRET}
    if kind == "floor":
        command = [sys.executable, "fanout_floor.py", "{port}"]
        return Service(command, ROOT / "bench", ready_path="/health").start()
    if kind == "channels":
        command = [BIN / "daphne", "-b", "127.0.0.1", "-p", "{port}", "channels_peer:application"]
        return Service(command, ROOT / "bench", env, ready_path=None).start()
    # --logging=warning only turns off the access log (daphne writes none without --access-log)
    command = [sys.executable, "watercooler.py", "--port={port}", "--logging=warning"]
    command.append("--drain_window=0")
    service = Service(command, ROOT / "watercooler", env, ready_path="/health").start()
    deadline = time.monotonic() + 10
    while requests.get(service.url + "/health", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("watercooler's broker did not come up")
        time.sleep(0.05)
    return service


def socket_path(sprint):
    return f"/socket?channel={CHANNEL_SIGNER.sign(str(sprint))}"


def announce(service, pk):
    """A signed PUT /task/<pk>, exactly as the scrum API sends it; True if accepted."""
    url = f"{service.url}/task/{pk}"
    body = json.dumps({"id": pk, "name": "Benchmark task", "status": 2}).encode()
    value = f"put:{url}:{hashlib.sha256(body).hexdigest()}"
    headers = {"X-Signature": HOOK_SIGNER.sign(value), "Content-Type": "application/json"}
    return requests.put(url, data=body, headers=headers, timeout=10).status_code == 200


def rotated(items, index):
    """The contenders in a different order each round, so none always goes first."""
    index %= len(items)
    return items[index:] + items[:index]


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


# ---- measurements -------------------------------------------------------------------------


def fanout(clients, redis_service, sockets, rounds, report):
    """One announcement at a time to ``sockets`` sockets of each contender, interleaved."""
    servers = {kind: start_server(kind, redis_url(redis_service)) for kind in CONTENDERS}
    p99s, missed = {kind: [] for kind in CONTENDERS}, dict.fromkeys(CONTENDERS, 0)
    try:
        for kind, service in servers.items():
            connected, errors = clients.connect(kind, service.port, [socket_path(1)] * sockets)
            if connected < sockets:
                report.fail("fan-out", f"{kind}: only {connected}/{sockets} connected {errors}")
                return
        for index in range(WARMUP + rounds):
            for kind in rotated(list(CONTENDERS), index):
                time.sleep(0.1)  # announcements come one at a time, not back to back
                pipes = clients.arm(kind, 1, 10)
                began = time.monotonic()
                accepted = announce(servers[kind], index)
                arrivals = [t for r in clients.results(pipes, 10) for t in r[0]]
                if index < WARMUP:
                    continue
                latencies = [(t - began) * 1000 for t in arrivals] if accepted else []
                latencies += [float("inf")] * (sockets - len(latencies))
                missed[kind] += sockets - len(arrivals) if accepted else sockets
                p99s[kind].append(percentile(latencies, 99))
        for kind in CONTENDERS:
            clients.close(kind)
    finally:
        for service in servers.values():
            service.stop()
    ours, peer, floor = (p99s[kind] for kind in CONTENDERS)
    figure = f"fan-out p99, one announcement to {sockets:,} sockets (ms)"
    ratios = [p / o for p, o in zip(peer, ours, strict=True)]
    report.row(
        figure,
        spread(ours, " ms"),
        f"{LABELS['channels']}: {spread(peer, ' ms')}",
        spread(ratios, "x"),
        Target(ratios, ">=", 5, "x"),
    )
    ratios = [o / f for o, f in zip(ours, floor, strict=True)]
    report.row(
        f"{figure}, against the floor",
        spread(ours, " ms"),
        f"{LABELS['floor']}: {spread(floor, ' ms')}",
        spread(ratios, "x of the floor"),
        Target(ratios, "<=", 2, "x of the floor"),
    )
    total = rounds * sockets
    report.row(
        "fan-out deliveries missed",
        f"{missed['watercooler']} of {total:,}",
        f"Channels {missed['channels']}, floor {missed['floor']}",
        target=Target([missed["watercooler"]], "==", 0),
    )


def relay(clients, redis_service, rounds, report):
    """Bursts of client messages to one sprint's peers, watercooler and Channels in turn."""
    kinds = CONTENDERS[:2]
    servers = {kind: start_server(kind, redis_url(redis_service)) for kind in kinds}
    send_pipe, peer_pipes = clients.pipes[:1], clients.pipes[1:]
    rates, lost, last_burst = {k: [] for k in kinds}, dict.fromkeys(kinds, 0), {}
    sent = SENDERS * BURST
    try:
        for kind, service in servers.items():
            clients.connect(f"{kind}-send", service.port, [socket_path(2)] * SENDERS, send_pipe)
            paths = [socket_path(2)] * PEERS
            connected, errors = clients.connect(f"{kind}-peer", service.port, paths, peer_pipes)
            if connected < PEERS:
                report.fail("relay", f"{kind}: only {connected}/{PEERS} peers connected {errors}")
                return
        text = json.dumps({"model": "task", "id": 7, "action": "dragstart"})
        for index in range(1 + rounds):  # the first round warms up
            for kind in rotated(list(kinds), index):
                time.sleep(max(0.0, last_burst.get(kind, 0) + REFILL_S - time.monotonic()))
                pipes = clients.arm(f"{kind}-peer", sent, 60, peer_pipes)
                started = clients.send(f"{kind}-send", text, BURST, send_pipe)
                last_burst[kind] = started
                results = clients.results(pipes, 60)
                delivered = sum(r[1] for r in results) / PEERS  # messages per peer, on average
                if index:
                    finished = max(r[2] for r in results)
                    rates[kind].append(delivered / max(finished - started, 1e-6))
                    lost[kind] += round(sent - delivered)
        closed = {kind: clients.close(f"{kind}-send", send_pipe) for kind in kinds}
        for kind in kinds:
            clients.close(f"{kind}-peer", peer_pipes)
    finally:
        for service in servers.values():
            service.stop()
    ours, peer = rates["watercooler"], rates["channels"]
    ratios = [o / p for o, p in zip(ours, peer, strict=True)]
    report.row(
        f"relay: messages/s to every peer, {SENDERS} senders x {BURST} -> {PEERS} peers",
        spread(ours, "/s", 0),
        f"{LABELS['channels']}: {spread(peer, '/s', 0)}",
        spread(ratios, "x"),
        Target(ratios, ">=", 5, "x"),
    )
    total = rounds * sent
    report.row(
        "relay: messages lost",
        f"{lost['watercooler']} of {total:,} (senders closed: {closed['watercooler']})",
        f"Channels {lost['channels']} (senders closed: {closed['channels']})",
        target=Target([lost["watercooler"]], "==", 0),
    )


def idle(clients, redis_service, count, rounds, report):
    """RSS of a fresh server holding ``count`` idle sockets on 100 sprints, in turns."""
    kinds = CONTENDERS[:2]
    rss, per_socket = {k: [] for k in kinds}, {k: [] for k in kinds}
    paths = [socket_path(n % 100) for n in range(count)]
    for index in range(rounds):
        for kind in rotated(list(kinds), index):
            service = start_server(kind, redis_url(redis_service))
            try:
                process = psutil.Process(service.proc.pid)
                before = process.memory_info().rss
                connected, errors = clients.connect(kind, service.port, paths)
                time.sleep(2)
                after = process.memory_info().rss
                clients.close(kind)
            finally:
                service.stop()
            if connected < count:
                print(f"  {kind}: only {connected}/{count} connected, e.g. {errors[:1]}")
            rss[kind].append(after / 2**20 if connected == count else float("inf"))
            per_socket[kind].append((after - before) / 1024 / max(connected, 1))
    report.row(
        f"{count:,} idle sockets on 100 sprints, server RSS (MB)",
        f"{spread(rss['watercooler'], ' MB', 0)}, "
        f"{median(per_socket['watercooler']):.1f} KB/socket",
        f"{LABELS['channels']}: {spread(rss['channels'], ' MB', 0)}, "
        f"{median(per_socket['channels']):.1f} KB/socket",
        target=Target(rss["watercooler"], "<", 250, " MB"),
    )


def redis_url(redis_service):
    redis.Redis(port=redis_service.port).flushall()
    return f"redis://127.0.0.1:{redis_service.port}/0"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30, help="fan-out and relay rounds")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--idle-rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="small sizes, to try it out")
    args = parser.parse_args()
    if args.quick:
        args.sockets, args.rounds, args.idle, args.idle_rounds = 200, 5, 1000, 2
    raise_fd_limit()
    report = Report("watercooler")
    redis_service = start_redis()
    clients = Clients()
    try:
        print(f"fan-out, {args.rounds} rounds ...", flush=True)
        fanout(clients, redis_service, args.sockets, args.rounds, report)
        print(f"relay, {args.rounds} rounds ...", flush=True)
        relay(clients, redis_service, args.rounds, report)
        print(f"idle, {args.idle_rounds} rounds ...", flush=True)
        idle(clients, redis_service, args.idle, args.idle_rounds, report)
    finally:
        clients.exit()
        redis_service.stop()
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
