"""Watercooler against tuned Django Channels, websockets, Socket.IO and the floor, interleaved.

Contenders, each on 127.0.0.1, the brokered ones on the same throwaway Redis:
- watercooler with its shipped defaults (rate limit on: 20 messages/s per socket, bursts of 40);
- Django Channels: daphne + channels_redis (bench/channels_peer.py), tuned as channels_redis
  documents (channel capacity, Redis connection pool; see there);
- the websockets library's own ``broadcast`` (bench/websockets_peer.py, one process; fan-out);
- Socket.IO on node (bench/socketio_peer, the version its package.json pins, installed by this
  benchmark with ``npm ci`` when its node_modules is missing; websocket transport only, one
  process; fan-out);
- the floor (fan-out): bench/fanout_floor.py, a bare asyncio program writing the same
  pre-framed message to the same sockets, timed by itself around those writes alone.

Figures, each from --rounds rounds in which every contender takes its turn (the order
rotating), printed as median with min and IQR (bench/stats.py):
1. fan-out, at every --sizes (100, 1,000 and 10,000 sockets; from --split-at on, watercooler
   and Channels run two processes each, half the sockets on each, the POST to the first): one
   signed announcement, a POST as the scrum API sends it; per round the p99 over the sockets
   of the time from sending the POST until a socket has the frame. Every frame must carry the
   round's marker (anything else is counted as wrong). Targets at every size: ahead of every
   peer (the peer's p99 over watercooler's above 1x), within 1.5x of the floor's write time,
   no delivery missed or wrong. The floor as its own clients see it is shown beside: what the
   clients and the POST add to every contender;
2. end to end: watercooler's p99 of the same fan-out at 1,000 sockets (the largest size up to
   1,000 that was measured), from the signed hook POST until the sockets have the frame.
   Target: under 100 ms;
3. relay: SENDERS sockets each send a burst of BURST messages (within the shipped rate limit)
   to one sprint with PEERS more sockets on it; messages/s until every peer has them all.
   Targets: at least 5x Channels, nothing lost;
4. idle: 10,000 sockets on 100 sprints on a freshly started server, its RSS. Target: all
   connected and under 250 MB.

The sockets are held by several client processes with a minimal asyncio websocket client (which
speaks the engine.io/Socket.IO handshake to Socket.IO), so that the clients stay cheap on a
shared machine. Every wait is bounded. Exit status 1 when a target is missed. Usage:
python bench/bench_watercooler.py [--sizes 100,1000,10000 | --sockets N] [--split-at 10000]
[--rounds 30] [--idle 10000] [--idle-rounds 10] [--only fanout|relay|idle ...] [--quick]
"""

import argparse
import asyncio
import base64
import contextlib
import hashlib
import importlib.util
import json
import multiprocessing
import os
import resource
import struct
import subprocess
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
from harness import BIN, Service, free_port, require_program  # noqa: E402

SECRET = "bench-watercooler-secret-Nx7Dq3Hv5Lb9"
CHANNEL_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.channel", fallback_keys=[])
HOOK_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.hook", fallback_keys=[])
WORKERS = 4  # client processes
GENTLE = 5  # handshakes in flight per client process, so 20 at a time
SENDERS, BURST, PEERS = 10, 40, 10  # relay: 40 is the burst watercooler's defaults allow
REFILL_S = 2.5  # the rate limit's bucket (20/s, 40 deep) is full again after 2 s
WARMUP = 3  # fan-out rounds per contender not counted
SOCKETIO = ROOT / "bench" / "socketio_peer"
SOCKETIO_VERSION = json.loads((SOCKETIO / "package.json").read_text())["dependencies"]["socket.io"]
CONTENDERS = ("watercooler", "channels", "websockets", "socketio", "floor")
RIVALS = ("channels", "websockets", "socketio")  # the fan-out peers
BROKERED = ("watercooler", "channels")  # several processes as one; relay and idle compare them
LABELS = {
    "watercooler": "watercooler",
    "channels": "Channels (tuned)",
    "websockets": "websockets.broadcast",
    "socketio": f"Socket.IO {SOCKETIO_VERSION} (node)",
    "floor": "floor (server-side writes)",
}
E2E_SOCKETS = 1000
PARTS = ("fanout", "relay", "idle")


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
    """A websocket client that only timestamps text frames and answers pings.

    With ``socketio`` it speaks just enough engine.io/Socket.IO (protocol 4) on top: it
    answers the open packet ("0{...}") with a connect ("40"), is open once the connect is
    acknowledged ("40{...}"), answers pings ("2") with pongs ("3") and counts event frames
    ("42[...]") as the messages.
    """

    def __init__(self, request, group, socketio=False):
        self.request, self.group, self.socketio = request, group, socketio
        self.buffer = bytearray()
        self.opened = asyncio.get_running_loop().create_future()
        self.transport = None
        self.upgraded = False  # the HTTP handshake is done
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
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.transport.close()
                return
            self.upgraded = True
            if not self.socketio:
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
                self.text(payload, now)
            elif opcode == 0x9:
                self.transport.write(client_frame(0xA, payload))
            elif opcode == 0x8:
                self.transport.close()

    def text(self, payload, now):
        if not self.socketio or payload.startswith(b"42"):
            self.group.arrived(self, payload, now)
        elif payload == b"2":
            self.send_text("3")
        elif payload.startswith(b"0"):
            self.send_text("40")
        elif payload.startswith(b"40") and not self.opened.done():
            self.opened.set_result(True)

    def send_text(self, text, times=1):
        self.transport.write(client_frame(0x1, text.encode()) * times)


class Group:
    """The sockets one client process holds on one server (or one role on it)."""

    def __init__(self):
        self.sockets = []
        self.lost = 0
        self.expected = self.marker = None
        self.received, self.last_any, self.wrong = 0, 0.0, 0

    async def connect(self, port, paths, concurrency, socketio=False):
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
                        loop.create_connection(
                            lambda: RawSocket(request, self, socketio), "127.0.0.1", port
                        ),
                        30,
                    )
                    await asyncio.wait_for(sock.opened, 30)
                    self.sockets.append(sock)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(path) for path in paths))
        return len(paths) - len(errors), errors[:3]

    def arm(self, expected, marker=None):
        """Count afresh until every socket has ``expected`` more text frames (holding
        ``marker``, when given: any other frame is counted as wrong, not as a message)."""
        for sock in self.sockets:
            sock.count = 0
        self.expected, self.marker, self.completed = expected, marker, []
        self.received, self.last_any, self.wrong = 0, time.monotonic(), 0
        self.done = asyncio.get_running_loop().create_future()

    def arrived(self, sock, payload, now):
        if self.marker is not None and self.marker not in payload:
            self.wrong += 1
            return
        sock.count += 1
        self.received += 1
        self.last_any = now
        if self.expected is not None and sock.count == self.expected:
            self.completed.append(now)
            if len(self.completed) == len(self.sockets) and not self.done.done():
                self.done.set_result(True)

    async def wait(self, timeout, quiet=3.0):
        """(completion time of each complete socket, frames received, last arrival, wrong
        frames).

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
        return self.completed, self.received, self.last_any, self.wrong

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
        expected, marker, timeout = args
        group.arm(expected, marker)
        pipe.send(("armed",))
        return await group.wait(timeout)
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

    def connect(self, group, port, paths, pipes=None, concurrency=GENTLE, socketio=False):
        """Spread the socket paths over the processes; returns (connected, sample errors)."""
        pipes = pipes or self.pipes
        for index, pipe in enumerate(pipes):
            share = paths[index :: len(pipes)]
            pipe.send(("connect", group, port, share, concurrency, socketio))
        replies = [self._reply(pipe, 600) for pipe in pipes]
        return sum(r[0] for r in replies), [e for r in replies for e in r[1]]

    def arm(self, group, expected, timeout, pipes=None, marker=None):
        pipes = pipes or self.pipes
        for pipe in pipes:
            pipe.send(("arm", group, expected, marker, timeout))
        for pipe in pipes:
            assert self._reply(pipe, 10) == ("armed",)
        return pipes

    def results(self, pipes, timeout):
        """Per process: (completion times, frames received, last arrival, wrong frames)."""
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
    if kind == "websockets":
        hook_port = free_port()
        command = [sys.executable, "websockets_peer.py", "{port}", hook_port]
        service = Service(command, ROOT / "bench", env, ready_path=None).start()
        service.hook_url = f"http://127.0.0.1:{hook_port}"
        return service
    if kind == "socketio":
        command = [require_program("node"), "server.js", "{port}"]
        return Service(command, SOCKETIO, env, ready_path="/health").start()
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


def start_servers(kind, redis_url, processes):
    """``processes`` servers of ``kind`` (only those with a broker run more than one)."""
    count = processes if kind in BROKERED else 1
    return [start_server(kind, redis_url) for _ in range(count)]


def install_socketio():
    """The Socket.IO peer's packages, exactly as its lock has them (npm ci), if missing."""
    if not (SOCKETIO / "node_modules" / "socket.io").is_dir():
        npm = require_program("npm")
        command = [npm, "ci", "--prefix", str(SOCKETIO), "--no-audit", "--no-fund", "--silent"]
        subprocess.run(command, check=True, timeout=600)


def socket_path(sprint, kind="watercooler"):
    if kind == "socketio":
        return "/socket.io/?EIO=4&transport=websocket"
    return f"/socket?channel={CHANNEL_SIGNER.sign(str(sprint))}"


def task_body(pk, marker):
    """A task as scrum's API serializes it, its name holding ``marker`` for the clients."""
    task = {"id": pk, "name": f"Benchmark task {marker}", "description": "Measured fan-out"}
    task.update(sprint=1, status=2, order=0, assigned="bench", started=None, due=None)
    task.update(completed=None, links={"self": f"/api/tasks/{pk}/", "sprint": "/api/sprints/1/"})
    return json.dumps(task).encode()


def announce(base_url, pk, method="PUT", marker=""):
    """A signed announcement, exactly as the scrum API sends it; the response, or None."""
    url = f"{base_url}/task/{pk}"
    body = task_body(pk, marker)
    value = f"{method.lower()}:{url}:{hashlib.sha256(body).hexdigest()}"
    headers = {"X-Signature": HOOK_SIGNER.sign(value), "Content-Type": "application/json"}
    response = requests.request(method, url, data=body, headers=headers, timeout=10)
    return response if response.status_code == 200 else None


def rotated(items, index):
    """The contenders in a different order each round, so none always goes first."""
    index %= len(items)
    return items[index:] + items[:index]


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


# ---- measurements -------------------------------------------------------------------------


def fanout(clients, redis_service, size, processes, rounds):
    """One signed POST at a time to ``size`` sockets of each contender, interleaved.

    Returns a Sweep, or why it could not be measured.
    """
    url = redis_url(redis_service)
    servers = {kind: start_servers(kind, url, processes) for kind in CONTENDERS}
    sweep = Sweep(size, processes)
    try:
        for kind, services in servers.items():
            problem = connect(clients, kind, services, size)
            if problem:
                return problem
        for index in range(WARMUP + rounds):
            for kind in rotated(list(CONTENDERS), index):
                measured = one_fanout(clients, kind, servers[kind][0], size, index)
                if index >= WARMUP:
                    sweep.add(kind, *measured)
    finally:
        for kind in CONTENDERS:
            clients.close(kind)
        for services in servers.values():
            for service in services:
                service.stop()
    return sweep


def connect(clients, kind, services, size):
    """Open ``size`` sockets on a contender, split evenly over its processes; why not, or None."""
    paths = [socket_path(1, kind)] * size
    connected, errors = 0, []
    for index, service in enumerate(services):
        share = paths[index :: len(services)]
        opened, failed = clients.connect(kind, service.port, share, socketio=kind == "socketio")
        connected, errors = connected + opened, errors + failed
    if connected < size:
        return f"{kind}: only {connected}/{size} connected {errors[:3]}"
    return None


def one_fanout(clients, kind, service, size, index):
    """(p99 ms from the POST until a socket has the frame, sockets missed, wrong frames, and
    the writes' ms as the server timed them: the floor's figure)."""
    time.sleep(0.1)  # announcements come one at a time, not back to back
    marker = f"round-{index}-{kind}"
    pipes = clients.arm(kind, 1, 10, marker=marker.encode())
    began = time.monotonic()
    response = announce(getattr(service, "hook_url", service.url), 1000 + index, "POST", marker)
    results = clients.results(pipes, 10)
    arrivals = [t for r in results for t in r[0]] if response else []
    latencies = [(t - began) * 1000 for t in arrivals]
    latencies += [float("inf")] * (size - len(latencies))
    wrote = float("inf")
    if kind == "floor" and response and response.json()["sockets"] == size:
        wrote = response.json()["seconds"] * 1000
    return percentile(latencies, 99), size - len(arrivals), sum(r[3] for r in results), wrote


class Sweep:
    """One size's fan-out figures, a list per contender with one value per round."""

    def __init__(self, size, processes):
        self.size, self.processes = size, processes
        self.p99s = {kind: [] for kind in CONTENDERS}
        self.missed, self.wrong = dict.fromkeys(CONTENDERS, 0), dict.fromkeys(CONTENDERS, 0)
        self.writes = []  # the floor's own write times

    def add(self, kind, p99, missed, wrong, wrote):
        self.p99s[kind].append(p99)
        self.missed[kind] += missed
        self.wrong[kind] += wrong
        if kind == "floor":
            self.writes.append(wrote)

    def report(self, report):
        """The rows of this size: against every peer, against the floor, deliveries."""
        ours, size = self.p99s["watercooler"], self.size
        split = f", watercooler and Channels on {self.processes} processes" * (self.processes > 1)
        figure = f"fan-out p99, a signed POST to {size:,} sockets{split} (ms)"
        for kind in RIVALS:
            ratios = [p / o for p, o in zip(self.p99s[kind], ours, strict=True)]
            report.row(
                f"{figure}, against {LABELS[kind]}",
                spread(ours, " ms"),
                f"{LABELS[kind]}: {spread(self.p99s[kind], ' ms')}",
                spread(ratios, "x"),
                Target(ratios, ">", 1, "x"),
            )
        ratios = [o / f for o, f in zip(ours, self.writes, strict=True)]
        report.row(
            f"{figure}, against the floor",
            spread(ours, " ms"),
            f"{LABELS['floor']}: {spread(self.writes, ' ms', 2)}",
            spread(ratios, "x of the floor"),
            Target(ratios, "<=", 1.5, "x of the floor"),
        )
        report.row(
            f"fan-out to {size:,} sockets: the floor's p99 as its clients see it (ms)",
            spread(self.p99s["floor"], " ms"),
            "the same clients and POST as every contender: what is left is theirs",
        )
        total = len(ours) * size
        others = ", ".join(
            f"{LABELS[kind]} {self.missed[kind]} missed, {self.wrong[kind]} wrong"
            for kind in (*RIVALS, "floor")
        )
        report.row(
            f"fan-out to {size:,} sockets: deliveries missed or wrong",
            f"{self.missed['watercooler']} missed, {self.wrong['watercooler']} wrong of {total:,}",
            others,
            target=Target([self.missed["watercooler"] + self.wrong["watercooler"]], "==", 0),
        )

    def report_end_to_end(self, report):
        """watercooler's own p99 from the signed hook POST, against the absolute target."""
        report.row(
            f"end to end: a signed hook POST until {self.size:,} sockets have the frame, p99",
            spread(self.p99s["watercooler"], " ms"),
            target=Target(self.p99s["watercooler"], "<", 100, " ms"),
        )


def relay(clients, redis_service, rounds, report):
    """Bursts of client messages to one sprint's peers, watercooler and Channels in turn."""
    kinds = BROKERED
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
    kinds = BROKERED
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


def sweep(clients, redis_service, args, report):
    """Fan-out at every size, then the end-to-end target at 1,000 sockets (or the largest
    size below it that was measured)."""
    sweeps = []
    for size in args.sizes:
        processes = 2 if size >= args.split_at else 1
        print(f"fan-out to {size:,} sockets, {args.rounds} rounds ...", flush=True)
        result = fanout(clients, redis_service, size, processes, args.rounds)
        if isinstance(result, str):
            report.fail(f"fan-out to {size:,} sockets", result)
            continue
        result.report(report)
        sweeps.append(result)
    small = [result for result in sweeps if result.size <= E2E_SOCKETS]
    if small:
        max(small, key=lambda result: result.size).report_end_to_end(report)
    else:
        report.fail("end to end", f"no fan-out to at most {E2E_SOCKETS:,} sockets was measured")


def sizes(text):
    return [int(size) for size in text.split(",")]


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=sizes, default=[100, 1000, 10_000], help="e.g. 100,1000")
    parser.add_argument("--sockets", type=int, help="one fan-out size (instead of --sizes)")
    parser.add_argument("--split-at", type=int, default=10_000, help="2 processes from here")
    parser.add_argument("--rounds", type=int, default=30, help="fan-out and relay rounds")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--idle-rounds", type=int, default=10)
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try it out")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.split_at, args.rounds = [50, 200], 200, 5
        args.idle, args.idle_rounds = 1000, 2
    if args.sockets:
        args.sizes = [args.sockets]
    args.only = args.only or PARTS
    return args


def main():
    args = arguments()
    if importlib.util.find_spec("websockets") is None:
        sys.exit("bench_watercooler: the websockets package is missing (requirements/dev.txt)")
    raise_fd_limit()
    install_socketio()
    report = Report("watercooler")
    redis_service = start_redis()
    clients = Clients()
    try:
        if "fanout" in args.only:
            sweep(clients, redis_service, args, report)
        if "relay" in args.only:
            print(f"relay, {args.rounds} rounds ...", flush=True)
            relay(clients, redis_service, args.rounds, report)
        if "idle" in args.only:
            print(f"idle, {args.idle_rounds} rounds ...", flush=True)
            idle(clients, redis_service, args.idle, args.idle_rounds, report)
    finally:
        clients.exit()
        redis_service.stop()
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
