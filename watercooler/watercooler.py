"""Watercooler: the scrum board's real-time websocket server (Lightweight Django, ch. 7-8).

Browsers connect to ``/socket?channel=TOKEN`` (TOKEN: the sprint id signed by the scrum API
with ``TimestampSigner(WATERCOOLER_SECRET, salt="watercooler.channel")``). The drag events
they send, ``{"model": "task"|"sprint"|"user", "id": <int>, "action": "dragstart"|"dragend"|
"drop"}``, are relayed (those three fields only) to the other sockets on the same sprint, never
back to the sender; anything else is answered with an error and dropped. Django announces model
changes with ``POST``/``PUT``/``DELETE`` requests to ``/<task|sprint|user>/<pk>``, signed with
the salt "watercooler.hook", addressed to one of the server's public names and each accepted
once; they are broadcast to every socket. With REDIS_URL the fan-out goes through Redis pub/sub
so several processes act as one; without it an in-process broker serves a single process.

Beyond the book: every message carries its channel, a per-channel sequence number and the
epoch (run) that number belongs to; a short history per channel lets a reconnecting client
catch up with ``?since=EPOCH:N&since_all=EPOCH:M`` (or tells it to resync), refused tokens
close with 4xxx codes, clients are rate limited, slow clients are dropped, ``GET /health``
(readiness) reports the broker state and ``GET /health/live`` (liveness) that the process
serves, and SIGTERM drains: unready at once, then the sockets closed with 1001 a few at a time.
A socket opened with scrum's signed ``&viewer=`` is listed in its sprint's presence, told to the
sprint's sockets as people come and go (across processes through Redis), and its drags say who
holds the card. Scrum's signed ``POST /revoked`` (a logout, a deleted token, a user made inactive
or deleted) closes that session's or user's sockets on every process within a second, and the
links issued to them before it are refused from then on.

Run: ``WATERCOOLER_SECRET=... python watercooler.py --port=8080 [--allowed_hosts=HOST[:PORT],...]
[--public_hosts=HOST[:PORT],...]`` (``--debug`` instead of the secret for development);
``python watercooler.py --help`` lists every option.
"""

import asyncio
import contextlib
import gc
import hashlib
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import struct
import time
import uuid
import warnings
from collections import defaultdict, deque
from typing import NamedTuple
from urllib.parse import urlparse

import prometheus_client as prometheus
import redis.asyncio as redis
from django.core.signing import BadSignature, SignatureExpired, TimestampSigner, b62_decode
from django.utils.crypto import constant_time_compare
from observability import env_flag, log_format
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.iostream import StreamBufferFullError, StreamClosedError
from tornado.netutil import bind_sockets
from tornado.options import Error, define, options, parse_command_line
from tornado.web import Application, HTTPError, RequestHandler, stream_request_body
from tornado.websocket import WebSocketHandler

log = logging.getLogger("watercooler")

# ---- Options -------------------------------------------------------------------------------------

# Every occurrence of these options adds to the list (tornado keeps only the last one).
ALLOWED_HOSTS = []
PUBLIC_HOSTS = []


def add_names(names):
    """An option callback adding the non-empty, lower-cased entries of one occurrence."""
    return lambda values: names.extend(v.strip().lower() for v in values if v.strip())


define("port", default=8080, help="port to listen on")
define("address", default="", help="interface to listen on (default: all)")
define(
    "debug",
    default=False,
    help="development: sockets from any origin, autoreload, and a dev-only secret when "
    "WATERCOOLER_SECRET is unset",
)
define(
    "allowed_hosts",
    multiple=True,
    default=[],
    callback=add_names(ALLOWED_HOSTS),
    help="origins allowed to open sockets besides our own: host or host:port (repeatable)",
)
define(
    "public_hosts",
    multiple=True,
    default=[],
    callback=add_names(PUBLIC_HOSTS),
    help="host[:port] names hooks may be addressed to, as in scrum's WATERCOOLER_SERVER "
    "(repeatable; default: the address a hook arrived on, and localhost on loopback)",
)
define("ping_interval", default=25.0, help="seconds between keepalive pings")
define("ping_timeout", default=20.0, help="seconds to wait for a pong before closing")
define("max_message_size", default=64 * 1024, help="largest client message in bytes (1009)")
define(
    "max_buffer", default=1024 * 1024, help="outgoing bytes queued per socket before it is dropped"
)
define(
    "rate_limit", default=20.0, help="messages/s a socket may send, bursts of twice that; 0: off"
)
define("history", default=100, help="messages kept per channel for ?since= catch-up")
define("xheaders", default=False, help="behind a proxy: trust X-Forwarded-Proto and X-Real-Ip")
define(
    "drain_window",
    default=10.0,
    help="on SIGTERM, seconds over which the sockets are closed (1001), a few at a time, so "
    "their boards do not all reconnect in the same second",
)

# ---- Protocol constants --------------------------------------------------------------------------

SECRET = os.environ.get("WATERCOOLER_SECRET", "")
DEV_SECRET = "dev-only-watercooler_secret-do-not-use-in-production"  # scrum's dev default
CHANNEL_SALT = "watercooler.channel"
HOOK_SALT = "watercooler.hook"
VIEWER_SALT = "watercooler.viewer"  # ?viewer=: who a socket's user is, signed by scrum
TOKEN_MAX_AGE = 30 * 60
HOOK_MAX_AGE = 60
HOOK_MEMORY = 2 * HOOK_MAX_AGE  # seconds a used signature is remembered (covers clock skew)
HOOK_MAX_SIZE = 1024 * 1024  # larger hook bodies get 413
HOOK_DRAIN_LIMIT = 16 * HOOK_MAX_SIZE  # read (and drop) up to this so the 413 reaches the client
MODELS = ("task", "sprint", "user")
ACTIONS = {"POST": "add", "PUT": "update", "DELETE": "remove"}
DRAG_ACTIONS = ("dragstart", "dragend", "drop")  # the only actions a client may send
MAX_ID = 2**53 - 1  # the largest integer a browser holds exactly
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits only, small enough for int()
SINCE = re.compile(r"([0-9A-Za-z]{1,64}):([0-9]{1,18})")  # epoch:seq
DRAIN_STEP = 0.1  # seconds between two batches of closes while draining
UNKNOWN_EPOCH = "0"  # in a resync when the broker could not say: never a real epoch
PRESENCE_POLL = 2  # seconds between two reads of who is viewing (other processes' viewers)
PRESENCE_REFRESH = 15  # seconds between two writes of this process's viewers to Redis
PRESENCE_TTL = 45  # a viewer not written for this long is gone (its process died)
ALL = "all"
REVOKED = "revoked"  # the broker channel that tells every process of a revocation

# Close codes: 1001 server going away (reconnect), 1009 message too big; 4xxx refused requests.
CLOSE_BAD_REQUEST = 4400  # channel token missing or ?since= malformed: fix the client
CLOSE_TOKEN_INVALID = 4401  # tampered, signed with another secret or salt, not a sprint id
CLOSE_TOKEN_EXPIRED = 4403  # older than 30 minutes: fetch the sprint again for a new token
CLOSE_REVOKED = 4410  # the user logged out or lost access: the page asks the API again
CLOSE_RATE_LIMITED = 4429  # sent more than --rate_limit messages per second


# ---- Environment and metrics (Prometheus text at /metrics when METRICS=on) -----------------------


SOCKETS = prometheus.Gauge("watercooler_sockets", "Open sockets")
RECEIVED = prometheus.Counter("watercooler_messages_received", "Messages sockets sent")
SENT = prometheus.Counter("watercooler_messages_sent", "Messages delivered to sockets")
REFUSED = prometheus.Counter(
    "watercooler_relays_refused", "Socket messages not relayed, by reason", ["reason"]
)
HOOKS = prometheus.Counter("watercooler_hooks", "Announcements from Django, by status", ["status"])
REVOKED_SOCKETS = prometheus.Counter(
    "watercooler_sockets_revoked", "Sockets closed or refused because their access was revoked"
)
BROKER_UP = prometheus.Gauge("watercooler_broker_up", "1 while the broker is reachable")
RECONNECTS = prometheus.Counter("watercooler_broker_reconnects", "Reconnections to the broker")
REQUESTS = prometheus.Histogram(
    "watercooler_request_duration_seconds",
    "HTTP requests (socket handshakes included), by route and status",
    ["route", "status"],
)


# ---- Messages and frames: encoded once for every socket ------------------------------------------


def encode(message):
    """Compact JSON text of a message."""
    return json.dumps(message, separators=(",", ":"))


def new_epoch():
    """A fresh run id for a channel's sequence numbers."""
    return secrets.token_hex(8)


def issued_at(token):
    """When a token that passed its signer's check was signed (seconds since the epoch)."""
    return b62_decode(token.rsplit(":", 2)[-2])


def text_frame(payload):
    """One unmasked websocket text frame (RFC 6455) holding ``payload`` bytes.

    Built once per fan-out and written as-is to every socket (no compression is negotiated),
    instead of framing the same message again for each socket.
    """
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size <= 0xFFFF:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


# A message is numbered after it is encoded, by the broker (in Redis, by a script): its JSON
# object is encoded without the closing brace (opened), and numbered() closes it with NUMBERS.
NUMBERS = ',"seq":%d,"epoch":"%s"}'


def opened(message):
    """The compact JSON text of a message without its closing brace, for numbered()."""
    return encode(message)[:-1]


def numbered(head, seq, epoch):
    """The frame payload: an opened() message closed with its sequence number and epoch."""
    return (head + NUMBERS % (seq, epoch)).encode()


# ---- Brokers: numbering, history and fan-out across processes ------------------------------------


class LocalBroker:
    """In-process broker for a single watercooler: numbers, history and used hooks in memory.

    Its epoch is a random id per process start: a restarted process starts a new numbering.
    """

    kind = "local"
    state = "up"

    def __init__(self, deliver, history_size):
        self.deliver = deliver
        self.epoch = new_epoch()
        self.seqs = defaultdict(int)
        self.histories = defaultdict(lambda: deque(maxlen=history_size))
        self.claims = {}  # key -> expiry (monotonic seconds), oldest first

    def describe(self):
        return "in-process broker (single process; set REDIS_URL to scale out)"

    async def start(self):
        """Nothing to connect to."""

    async def stop(self):
        """Nothing to disconnect."""

    async def subscribe(self, channel):
        """Every local channel is always "subscribed"."""

    async def unsubscribe(self, channel):
        """The channel's history stays (bounded) for sockets that come back with ?since=."""

    def publish(self, channel, sender, head):
        """Number and keep the message, then deliver it on the next loop turn like Redis would."""
        self.seqs[channel] += 1
        seq = self.seqs[channel]
        frame = numbered(head, seq, self.epoch)
        self.histories[channel].append(frame)
        loop = asyncio.get_running_loop()
        loop.call_soon(self.deliver, channel, sender, seq, self.epoch, frame)
        return True

    async def announce(self, channel, head, key, ttl):
        """A hook's message published as publish() does, unless ``key`` was claimed within
        ``ttl`` seconds: its sequence number, or 0 for a replay."""
        if not await self.claim(key, ttl):
            return 0
        self.publish(channel, None, head)
        return self.seqs[channel]

    async def history(self, channel):
        """(last sequence number, its epoch, the kept frames, oldest first)."""
        return self.seqs.get(channel, 0), self.epoch, list(self.histories.get(channel, ()))

    async def claim(self, key, ttl):
        """True the first time ``key`` is claimed within ``ttl`` seconds, False after."""
        now = time.monotonic()
        while self.claims and next(iter(self.claims.values())) <= now:
            del self.claims[next(iter(self.claims))]
        if key in self.claims:
            return False
        self.claims[key] = now + ttl
        return True


# A channel's numbering belongs to one run of the Redis server: NUMBERING (the start of both
# scripts) starts a new epoch, with an empty history, when the channel's counter was made by
# another run (Redis restarted, or restored from a snapshot or an append-only file that brought
# back old counters) or is gone (expired). So a number never means two messages in one epoch.
# Reading the run id costs about 3 us per script (redis-benchmark: 115k against 176k evals/s).
NUMBERING = """
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
if redis.call('HGET', KEYS[1], 'run') ~= run then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[1], 'run', run, 'epoch', ARGV[1], 'seq', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
"""

# Atomically number a message, keep it in the channel's bounded history and publish it with
# its sender, so every process and every catch-up sees the same numbers. A hook's message has a
# third key, its signature's claim: if that is taken the script returns 0 and does nothing,
# otherwise it takes it (for ARGV[7] seconds) with the message, so a hook is answered 200 only
# once Redis has published it, in one round trip.
PUBLISH_SCRIPT = (
    NUMBERING
    + f"local NUMBERS = '{NUMBERS}'"
    + """
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local frame = ARGV[5] .. string.format(NUMBERS, seq, epoch)
redis.call('RPUSH', KEYS[2], frame)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[6]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if KEYS[3] then redis.call('SET', KEYS[3], 1, 'EX', ARGV[7]) end
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. seq .. ' ' .. epoch .. ' ' .. frame)
return seq
"""
)

# A channel's last sequence number, epoch (started here if it has none yet) and history.
HISTORY_SCRIPT = (
    NUMBERING
    + """
local position = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
return {tonumber(position[1]) or 0, position[2], redis.call('LRANGE', KEYS[2], 0, -1)}
"""
)


class Claim(NamedTuple):
    """What makes a queued message a hook's: its signature's key in Redis, the seconds the
    signature stays used, and the future that gets the script's answer."""

    key: str
    seconds: int
    answer: asyncio.Future


class RedisBroker:
    """Redis pub/sub broker: one dedicated subscriber connection and one publishing task.

    redis-py's asyncio pool raises instead of waiting when exhausted, so commands use a small
    blocking pool. The subscriber has a pool of its own whose every connection passes through
    ``_connected``: whenever it connects again, however redis-py came to reconnect (our
    ``_listen`` after an error, or redis-py's own retries, which resubscribe quietly), a resync
    is due, and ``_listen`` has ``on_reconnect`` tell the sockets what they may have missed.
    """

    kind = "redis"
    PREFIX = "watercooler:"
    KEY_TTL = 24 * 3600
    QUEUE_SIZE = 10_000
    BATCH = 500
    CONFIRM_SECONDS = 10  # a hook waits this long for Redis to publish its message

    def __init__(self, url, deliver, on_reconnect, on_revoked, history_size):
        self.deliver = deliver
        self.on_reconnect = on_reconnect
        self.on_revoked = on_revoked
        self.history_size = history_size
        timeouts = {"socket_connect_timeout": 2, "socket_timeout": 5, "health_check_interval": 10}
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=8,
            timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
            **timeouts,
        )
        self.client = redis.Redis(connection_pool=pool)
        subscriber_pool = redis.ConnectionPool.from_url(
            url, redis_connect_func=self._connected, retry=Retry(NoBackoff(), 0), **timeouts
        )
        self.subscriber = redis.Redis(connection_pool=subscriber_pool)
        self.connects = 0
        self.resync_due = False
        self.channels = {ALL, REVOKED}
        self.state = "connecting"
        self.queue = asyncio.Queue(self.QUEUE_SIZE)
        self.pubsub = None
        self.confirmations = {}  # channel -> future set when Redis confirms its subscription
        self.tasks = []

    def describe(self):
        kwargs = self.client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"Redis broker at {where}/{kwargs.get('db', 0)}"

    async def start(self):
        """Connect in the background: the server answers (503 on /health) while Redis is down."""
        self.tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._publish())]

    async def stop(self):
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.aclose()
        await self.subscriber.aclose()

    def _key(self, channel, kind):
        return f"{self.PREFIX}{{{channel}}}:{kind}"

    async def subscribe(self, channel):
        """Subscribe, and return once Redis has confirmed it (waiting at most 2 s): from then
        on every message published on the channel reaches this process."""
        self.channels.add(channel)
        confirmed = self.confirmations.get(channel)
        if confirmed is None or confirmed.done():
            confirmed = self.confirmations[channel] = asyncio.get_running_loop().create_future()
        await self._change(self.pubsub and self.pubsub.subscribe, channel)
        if self.state == "up":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(confirmed), 2)

    async def unsubscribe(self, channel):
        self.channels.discard(channel)
        await self._change(self.pubsub and self.pubsub.unsubscribe, channel)

    async def _change(self, command, channel):
        """(Un)subscribe now when connected; otherwise the next reconnect does it."""
        if command and self.state == "up":
            try:
                await command(self.PREFIX + channel)
            except (RedisError, OSError) as exc:
                log.warning("broker: could not change subscription to %s: %s", channel, exc)

    def publish(self, channel, sender, head, claim=None):
        """Queue a message for the publishing task; False when it cannot be sent now.

        A ``claim`` (Claim) makes it a hook's: see announce().
        """
        if self.state != "up":
            return False
        try:
            self.queue.put_nowait((channel, sender, head, claim))
        except asyncio.QueueFull:
            log.warning("broker: publish queue full, message to %s dropped", channel)
            return False
        return True

    async def announce(self, channel, head, key, ttl):
        """Publish a hook's message unless ``key`` was claimed within ``ttl`` seconds, and wait
        for Redis's answer: its sequence number, 0 for a replay, None if it cannot be sent now.
        RedisError, OSError or TimeoutError when Redis did not confirm it within CONFIRM_SECONDS
        (one still queued by then is never sent; one sent may still be published)."""
        answer = asyncio.get_running_loop().create_future()
        claim = Claim(self._key(channel, f"claim:{key}"), ttl, answer)
        if not self.publish(channel, None, head, claim):
            return None
        return await asyncio.wait_for(answer, self.CONFIRM_SECONDS)

    async def history(self, channel):
        """(last sequence number, its epoch, the kept frames, oldest first), read atomically."""
        keys = (self._key(channel, "counter"), self._key(channel, "history"))
        last, epoch, frames = await self.client.eval(
            HISTORY_SCRIPT, 2, *keys, new_epoch(), self.KEY_TTL
        )
        return last, epoch.decode(), frames

    async def claim(self, key, ttl):
        """True the first time ``key`` is claimed within ``ttl`` seconds by any process."""
        return bool(await self.client.set(f"{self.PREFIX}claim:{key}", 1, nx=True, ex=ttl))

    async def _publish(self):
        """Send queued messages in pipelined batches: one round trip for many messages. A
        hook's message gets its script's answer (or error); a hook no longer waiting is
        dropped."""
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < self.BATCH:
                batch.append(self.queue.get_nowait())
            batch = [item for item in batch if not (item[3] and item[3].answer.done())]
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for channel, sender, head, claim in batch:
                        keys = [self._key(channel, "counter"), self._key(channel, "history")]
                        args = [new_epoch(), self.KEY_TTL, self.PREFIX + channel, sender or "-"]
                        args += [head, self.history_size]
                        if claim:
                            keys.append(claim.key)
                            args.append(claim.seconds)
                        pipe.eval(PUBLISH_SCRIPT, len(keys), *keys, *args)
                    results = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                results = [exc] * len(batch)
            errors = [result for result in results if isinstance(result, Exception)]
            if errors:
                log.error("broker: %d messages not published: %s", len(errors), errors[0])
            for (*_, claim), result in zip(batch, results, strict=True):
                if claim and not claim.answer.done():
                    if isinstance(result, Exception):
                        claim.answer.set_exception(result)
                    else:
                        claim.answer.set_result(result)

    async def _listen(self):
        """Receive published messages forever, reconnecting with backoff after failures."""
        backoff = 0.1
        while True:
            try:
                self.pubsub = self.subscriber.pubsub()
                requested = set(self.channels)
                await self.pubsub.subscribe(*(self.PREFIX + c for c in requested))
                self._set_state("up")  # from now on subscribe() goes straight to Redis
                if self.channels - requested:  # added while we were connecting
                    await self.pubsub.subscribe(
                        *(self.PREFIX + c for c in self.channels - requested)
                    )
                backoff = 0.1
                while True:
                    if self.resync_due:
                        self.resync_due = False
                        await self._reconnected()
                    message = await self.pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "message":
                        self._dispatch(message)
                    elif message and message["type"] == "subscribe":
                        self._confirmed(message["channel"].decode()[len(self.PREFIX) :])
            except (RedisError, OSError) as exc:
                self._set_state("down", exc)
            finally:
                pubsub, self.pubsub = self.pubsub, None
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _confirmed(self, channel):
        confirmed = self.confirmations.pop(channel, None)
        if confirmed is not None and not confirmed.done():
            confirmed.set_result(None)

    async def _connected(self, connection):
        """Every subscriber connection's handshake; after the first, a resync is due."""
        await connection.on_connect()
        self.connects += 1
        if self.connects > 1:
            RECONNECTS.inc()
        self.resync_due = self.resync_due or self.connects > 1

    async def _reconnected(self):
        """Start the command connections afresh (they may predate the outage) and resync."""
        await self.client.connection_pool.disconnect(inuse_connections=False)
        await self.on_reconnect()

    def _dispatch(self, message):
        """Deliver "<sender> <seq> <epoch> <frame>" (hand on a revocation); anything else (an
        older process) is skipped."""
        channel = message["channel"].decode()[len(self.PREFIX) :]
        if channel == REVOKED:
            self.on_revoked(message["data"])
            return
        try:
            sender, seq, epoch, frame = message["data"].split(b" ", 3)
            seq, epoch = int(seq), epoch.decode("ascii")
        except ValueError:
            log.warning("broker: skipped a message on %s in an unknown format", channel)
            return
        self.deliver(channel, None if sender == b"-" else sender.decode(), seq, epoch, frame)

    def _set_state(self, state, error=None):
        if state != self.state:
            if error is None:
                log.info("broker: %s is %s", self.describe(), state)
            else:
                log.error("broker: %s is %s (%s); retrying", self.describe(), state, error)
        self.state = state


# ---- Sockets: the boards -------------------------------------------------------------------------


class TokenBucket:
    """Allows ``rate`` events per second on average, in bursts of up to ``2 * rate``."""

    def __init__(self, rate):
        self.rate = rate
        self.capacity = self.tokens = 2 * rate
        self.stamp = time.monotonic()

    def take(self):
        if not self.rate:
            return True
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Hardened:
    """The security headers every response carries, and no Server header naming Tornado."""

    HEADERS = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",
    }

    def set_default_headers(self):
        self.clear_header("Server")
        for name, value in self.HEADERS.items():
            self.set_header(name, value)


class SprintHandler(Hardened, WebSocketHandler):
    """A board's socket on one sprint channel (plus the "all" channel of model changes)."""

    channel = None
    holding = None  # (model, id) of the card this socket's last dragstart holds
    viewer = None  # {"username", "name"} from a valid ?viewer=, else anonymous
    session = None  # the viewer's login (scrum's digest of its API token), if it has one
    issued = 0  # when scrum signed the viewer's link (the channel token's, if anonymous)

    def check_origin(self, origin):
        """Our own origin, --allowed_hosts (host or host:port), or anything with --debug."""
        if options.debug or super().check_origin(origin):
            return True
        parsed = urlparse(origin.lower())
        return any(host in (parsed.netloc, parsed.hostname) for host in ALLOWED_HOSTS)

    async def prepare(self):
        """Join the token's sprint before the handshake is answered, so that nothing another
        process relays after the client sees its socket open is missed: until open() has
        caught up, live messages are held back. A draining server takes no new sockets (the
        client reconnects to another one)."""
        if self.application.draining:
            raise HTTPError(503, reason="Draining")
        self.uid = uuid.uuid4().hex
        self.seen = {}  # channel -> (epoch, last sequence number) this socket got
        self.backlog = []  # live messages held back until open() has caught up
        self.closed = False
        sprint, self.refusal = self._checked_token()  # open() says why, once it can
        if sprint is not None:
            self.channel = f"sprint:{sprint}"
            await self.application.add_subscriber(self.channel, self)

    def on_finish(self):
        """A handshake refused after prepare() (not an upgrade, another origin) leaves."""
        if self.get_status() != 101 and self.channel is not None:
            self.application.remove_subscriber(self.channel, self)
            self.channel = None

    async def open(self):
        if self.refusal:
            return self.close(*self.refusal)
        since = self._since()
        if since is None:
            return
        stream = self.ws_connection.stream
        stream.max_write_buffer_size = options.max_buffer
        # Frames leave at once (TCP_NODELAY, which Tornado leaves off). queue_frame already
        # sends what a loop turn has for a socket in one write; Nagle's algorithm would only
        # hold the next frame back until the client acknowledges the last one, and clients
        # delay that: 10 announcements posted back to back to a client that sends pongs
        # arrived in 2 or 3 packets in half the tries on loopback (the frame held came 15 ms
        # late, up to 42, between two plain sockets).
        self.set_nodelay(True)
        self.bucket = TokenBucket(options.rate_limit)
        self.viewer = self._viewer(self.channel.removeprefix("sprint:"))
        if await self.application.revocations.refuses(self):
            return self.revoke()
        if since and not self.closed:
            await self._catch_up(since)
        self._release_held()
        if self.viewer and not self.closed:
            await self.application.presence.join(self.channel, self, self.viewer)

    def _checked_token(self):
        """(the sprint id signed in ?channel=, None), or (None, (close code, why not))."""
        token = self.get_argument("channel", "")
        if not token:
            return None, (CLOSE_BAD_REQUEST, "channel token missing")
        try:
            sprint = self.application.channel_signer.unsign(token, max_age=TOKEN_MAX_AGE)
        except SignatureExpired:
            return None, (CLOSE_TOKEN_EXPIRED, "channel token expired")
        except BadSignature:
            return None, (CLOSE_TOKEN_INVALID, "channel token invalid")
        if not NUMBER.fullmatch(sprint):
            return None, (CLOSE_TOKEN_INVALID, "channel token is not for a sprint")
        self.issued = issued_at(token)
        return sprint, None

    def _viewer(self, sprint):
        """Who this socket's user is, from ?viewer= (signed by scrum for this sprint), or None:
        without it (the book's client, an old link) the socket works but is not listed."""
        token = self.get_argument("viewer", "")
        try:
            signed = self.application.viewer_signer.unsign_object(token, max_age=TOKEN_MAX_AGE)
        except (BadSignature, ValueError):
            return None
        if not isinstance(signed, dict) or str(signed.get("s")) != sprint:
            return None
        self.session, self.issued = str(signed.get("k") or "") or None, issued_at(token)
        return {"username": str(signed.get("u", "")), "name": str(signed.get("n", ""))}

    def revoke(self):
        """Close a socket whose access was revoked: the page asks the API for a new link (and
        is told to log in again)."""
        REVOKED_SOCKETS.inc()
        self.close(CLOSE_REVOKED, "access revoked")

    def _since(self):
        """{channel: (epoch, seq)} from ?since= (sprint) and ?since_all= (all), each
        ``EPOCH:SEQ`` as the messages carried them; None (the socket closed) if malformed."""
        since = {}
        for argument, channel in (("since", None), ("since_all", ALL)):
            value = self.get_argument(argument, None)
            if value is None:
                continue
            match = SINCE.fullmatch(value)
            if not match:
                return self.close(CLOSE_BAD_REQUEST, f"{argument} must be EPOCH:SEQ")
            since[channel] = (match[1], int(match[2]))
        return since

    async def _catch_up(self, since):
        """Replay what the socket missed from the history, or tell it to resync."""
        for channel, (epoch, after) in since.items():
            channel = channel or self.channel
            try:
                last, current, frames = await self.application.broker.history(channel)
            except (RedisError, OSError) as exc:
                log.warning("history of %s unavailable: %s", channel, exc)
                last, current, frames = 0, UNKNOWN_EPOCH, None
            first = last - len(frames or ()) + 1
            if frames is None or epoch != current:
                self.resync(channel, last, current)
            elif first - 1 <= after < last:
                for frame in frames[after - first + 1 :]:
                    self.application.queue_frame(self, text_frame(frame))
            elif after != last:
                self.resync(channel, last, current)
            self.seen[channel] = (current, last)

    def _release_held(self):
        """Deliver the live messages held back since prepare(), but those already replayed."""
        held, self.backlog = self.backlog, None
        for channel, sender, seq, epoch, data in held:
            seen_epoch, seen_seq = self.seen.get(channel, (None, 0))
            if epoch != seen_epoch or seq > seen_seq:  # not already replayed
                self.deliver(channel, sender, seq, epoch, data)

    def deliver(self, channel, sender, seq, epoch, data):
        """Send one framed message (an ack instead if it is the socket's own)."""
        if self.backlog is not None:
            self.backlog.append((channel, sender, seq, epoch, data))
            return
        self.seen[channel] = (epoch, seq)
        if sender == self.uid:
            self.notify(type="ack", channel=channel, seq=seq, epoch=epoch)
        else:
            self.application.queue_frame(self, data)

    def resync(self, channel, seq, epoch):
        """Tell the client it may have missed messages on ``channel``: refetch, go on from seq."""
        self.seen[channel] = (epoch, seq)
        self.notify(type="resync", channel=channel, seq=seq, epoch=epoch)

    def notify(self, **message):
        """A message of the extended protocol (no "model", so the book's client ignores it)."""
        self.application.queue_frame(self, text_frame(encode(message).encode()))

    def send_frames(self, data):
        """Write ready-made frames; a client too slow to take them is disconnected.

        Fan-out costs one system call per socket, so while Tornado has nothing queued for the
        socket the bytes go straight to it; what the kernel does not take right away (and
        everything while something is queued) goes through Tornado's bounded write buffer.
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return
        stream = connection.stream
        try:
            if not stream.writing():
                with contextlib.suppress(BlockingIOError):
                    data = data[stream.socket.send(data) :]
                if not data:
                    return
            stream.write(data)
        except StreamBufferFullError:
            log.warning("socket %s dropped: over %d bytes unsent", self.uid, options.max_buffer)
            stream.close()
        except (StreamClosedError, OSError):
            stream.close()

    def on_message(self, message):
        if self.channel is None:
            return
        RECEIVED.inc()
        if not self.bucket.take():
            REFUSED.labels("rate limited").inc()
            self.close(CLOSE_RATE_LIMITED, "too many messages")
            return
        parsed, error = self._parse(message)
        if error:
            REFUSED.labels("invalid").inc()
            self.notify(type="error", error=f"not relayed: {error}")
            return
        self._hold(parsed)
        if self.viewer:
            parsed["by"] = self.viewer  # who holds the card, as scrum signed it
        if not self._relay(parsed):
            REFUSED.labels("broker unavailable").inc()
            self.notify(type="error", error="not relayed: broker unavailable")

    def _relay(self, event):
        """Send a drag event to the sprint's other sockets; False if the broker is down."""
        return self.application.broadcast(event, channel=self.channel, sender=self.uid)

    def _hold(self, event):
        """Track the one card this socket holds: a new dragstart ends the previous hold."""
        card = (event["model"], event["id"])
        if event["action"] == "dragstart":
            if self.holding not in (None, card):
                self._release()
            self.holding = card
        elif card == self.holding:
            self.holding = None

    def _release(self):
        """End this socket's hold for everyone else (a dragend on its behalf)."""
        model, pk = self.holding
        self.holding = None
        event = {"model": model, "id": pk, "action": "dragend"}
        self._relay({**event, "by": self.viewer} if self.viewer else event)

    @staticmethod
    def _parse(message):
        """(the drag event to relay, None) or (None, why the message may not be relayed).

        Only the board's drag events pass, rebuilt from their three fields: nothing else a
        client sends (a "body", a "type", a forged action) ever reaches another socket.
        """
        if isinstance(message, bytes):
            return None, "binary messages are not accepted"
        try:
            parsed = json.loads(message)
        except (ValueError, RecursionError):  # deeply nested arrays exhaust the parser's stack
            return None, "not JSON"
        if not isinstance(parsed, dict):
            return None, "a JSON object with model, id and action is required"
        model, pk, action = parsed.get("model"), parsed.get("id"), parsed.get("action")
        if not isinstance(model, str) or model not in MODELS:
            return None, f"model must be one of {', '.join(MODELS)}"
        if type(pk) is not int or not 0 <= pk <= MAX_ID:
            return None, "id must be a whole number"
        if not isinstance(action, str) or action not in DRAG_ACTIONS:
            return None, f"action must be one of {', '.join(DRAG_ACTIONS)}"
        return {"model": model, "id": pk, "action": action}, None

    def on_close(self):
        self.closed = True
        if self.channel is not None:
            if self.holding is not None:
                self._release()
            self.application.remove_subscriber(self.channel, self)
            if self.viewer:
                self.application.run(self.application.presence.leave(self.channel, self))

    def _request_summary(self):
        """Tornado's name for the request in an error line: without the token."""
        return request_summary(self.request)


# ---- Presence: who is viewing each sprint --------------------------------------------------------


class Presence:
    """The signed-in viewers of each sprint, told to its sockets as they come and go.

    Each process knows its own sockets' viewers; with Redis it also writes them to a hash per
    sprint (refreshed every PRESENCE_REFRESH s, so a killed process's entries go stale within
    PRESENCE_TTL s) and reads the hash every PRESENCE_POLL s. A sprint's sockets get
    ``{"type": "presence", "channel", "viewers": [{"username", "name"}]}`` when they join and
    whenever the list changes. Viewers come only from ?viewer= tokens that scrum signed.
    """

    def __init__(self, process, client=None):
        self.process = process  # this process's name in the shared hash
        self.client = client  # Redis, or None: this process is the whole truth
        self.local = defaultdict(dict)  # channel -> {handler: viewer}
        self.told = {}  # channel -> the viewers its sockets were last told

    def key(self, channel):
        return f"{RedisBroker.PREFIX}presence:{channel}"

    def field(self, handler):
        return f"{self.process}:{handler.uid}"

    async def join(self, channel, handler, viewer):
        self.local[channel][handler] = viewer
        await self._write(channel, {handler: viewer})
        await self.tell(channel, force=handler)

    async def leave(self, channel, handler):
        if self.local.get(channel, {}).pop(handler, None) is None:
            return
        if not self.local[channel]:
            del self.local[channel]
        if self.client is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.client.hdel(self.key(channel), self.field(handler))
        await self.tell(channel)

    async def _write(self, channel, viewers):
        """Write this process's viewers of a channel to Redis, stamped with the time."""
        if self.client is None or not viewers:
            return
        now = time.time()
        entries = {self.field(h): json.dumps({**v, "at": now}) for h, v in viewers.items()}
        with contextlib.suppress(RedisError, OSError):
            await self.client.hset(self.key(channel), mapping=entries)
            await self.client.expire(self.key(channel), PRESENCE_TTL * 2)

    async def viewers(self, channel):
        """The channel's viewers, one per username, sorted by name."""
        found = list(self.local.get(channel, {}).values())
        if self.client is not None:
            with contextlib.suppress(RedisError, OSError):
                stored = await self.client.hgetall(self.key(channel))
                found = [v for v in map(json.loads, stored.values()) if fresh(v)] + found
        unique = {viewer["username"]: viewer for viewer in found}
        return sorted(
            ({"username": u, "name": v["name"]} for u, v in unique.items()),
            key=lambda viewer: (viewer["name"].lower(), viewer["username"]),
        )

    async def tell(self, channel, force=None):
        """Send the channel's sockets its viewers if they changed (and ``force`` anyway)."""
        handlers = list(self.local.get(channel, {}))
        viewers = await self.viewers(channel)
        changed = viewers != self.told.get(channel)
        self.told[channel] = viewers
        targets = handlers if changed else [force] if force else []
        for handler in targets:
            handler.notify(type="presence", channel=channel, viewers=viewers)
        if channel not in self.local:
            self.told.pop(channel, None)

    async def poll(self):
        """Every PRESENCE_POLL s: others' joins and leaves; every PRESENCE_REFRESH s: ours."""
        rounds = 0
        while True:
            await asyncio.sleep(PRESENCE_POLL)
            rounds += 1
            for channel in list(self.local):
                if rounds * PRESENCE_POLL % PRESENCE_REFRESH < PRESENCE_POLL:
                    await self._write(channel, self.local.get(channel, {}))
                await self.tell(channel)


def fresh(entry):
    """Whether a stored viewer was written recently enough to be still there."""
    return time.time() - entry.get("at", 0) < PRESENCE_TTL


# ---- Revocations: logins ended, users made inactive or deleted -----------------------------------


class Revocations:
    """What scrum revoked (RevokeHandler), each kept TOKEN_MAX_AGE: no link issued before it is
    valid for longer.

    A socket is refused, when it opens and when a revocation arrives, if its viewer's login was
    revoked, if its viewer's user was revoked after its link was issued, or, for a socket with
    no viewer, if anyone was revoked after its link was issued: so dropping ``&viewer=`` from a
    copied link does not outlive its holder's revocation. (Scrum gives every signed-in user a
    viewer; only the sprint links inside announcements and hand-made links have none.) With
    Redis, revocations are kept there and published to every process; otherwise kept here.
    """

    KEY = RedisBroker.PREFIX + "revoked:"

    def __init__(self, close, client=None):
        self.close = close  # closes the sockets a revocation covers, on this process
        self.client = client
        self.local = {}  # key -> (revoked at, expiry on the monotonic clock), without Redis

    @staticmethod
    def keys(revocation):
        """The keys a revocation sets: its login's or its user's, and anyone's."""
        if "session" in revocation:
            return ["session:" + revocation["session"], "anyone"]
        return ["user:" + revocation["user"], "anyone"]

    @staticmethod
    def checks(socket):
        """(key, issued): the socket is refused once a key holds a time at or after issued."""
        if socket.viewer is None:
            return [("anyone", socket.issued)]
        checks = [("user:" + socket.viewer["username"], socket.issued)]
        if socket.session:
            checks.append(("session:" + socket.session, 0))  # an ended login never comes back
        return checks

    @classmethod
    def covers(cls, revocation, socket):
        """Whether a revocation refuses a socket."""
        keys = cls.keys(revocation)
        return any(key in keys and revocation["at"] >= at for key, at in cls.checks(socket))

    async def record(self, revocation):
        """Keep a revocation, then close the sockets it covers on every process."""
        if self.client is None:
            now = time.monotonic()
            self.local = {key: kept for key, kept in self.local.items() if kept[1] > now}
            for key in self.keys(revocation):
                self.local[key] = (revocation["at"], now + TOKEN_MAX_AGE)
            self.close(revocation)
            return
        async with self.client.pipeline(transaction=True) as pipe:
            for key in self.keys(revocation):
                pipe.set(self.KEY + key, revocation["at"], ex=TOKEN_MAX_AGE)
            pipe.publish(RedisBroker.PREFIX + REVOKED, encode(revocation))
            await pipe.execute()

    def heard(self, data):
        """A revocation some process published (this one's included); one in another format
        (another version's) is skipped, never raised into the broker's listener."""
        try:
            revocation = revocation_from(json.loads(data))
        except ValueError:
            revocation = None
        if revocation is None:
            log.warning("broker: skipped a revocation in an unknown format")
            return
        self.close(revocation)

    async def refuses(self, socket):
        """Whether a revocation kept so far refuses a socket (False when Redis cannot say:
        every socket is checked again when the broker reconnects)."""
        checks = self.checks(socket)
        keys = [key for key, _ in checks]
        if self.client is None:
            now = time.monotonic()
            kept = (self.local.get(key, (None, now)) for key in keys)
            times = [at if expiry > now else None for at, expiry in kept]
        else:
            try:
                times = await self.client.mget([self.KEY + key for key in keys])
            except (RedisError, OSError) as exc:
                log.warning("broker: revocations unreadable: %s", exc)
                return False
        issued = [at for _, at in checks]
        return any(at is not None and int(at) >= i for at, i in zip(times, issued, strict=True))


# ---- Announcements: signed hooks from Django -----------------------------------------------------


@stream_request_body
class UpdateHandler(Hardened, RequestHandler):
    """Signed model-change announcements from Django, broadcast to every socket.

    The body is streamed so that one over HOOK_MAX_SIZE is still read (up to the server's
    HOOK_DRAIN_LIMIT) and answered with 413, instead of the connection being dropped.
    """

    def prepare(self):
        self.chunks, self.size = [], 0

    def data_received(self, chunk):
        self.size += len(chunk)
        if self.size <= HOOK_MAX_SIZE:
            self.chunks.append(chunk)

    async def post(self, model, pk):
        await self.announce(model, pk, b"".join(self.chunks))

    put = delete = post

    async def announce(self, model, pk, body):
        if model not in MODELS:
            return self.fail(400, f"unknown model {model!r}; expected one of {', '.join(MODELS)}")
        if not NUMBER.fullmatch(pk):
            return self.fail(400, f"id must be a whole number, not {pk!r}")
        data, problem = self.verified(body)
        if problem:
            return self.fail(*problem)
        message = {"model": model, "id": int(pk), "action": ACTIONS[self.request.method]}
        try:
            seq = await self.application.announce({**message, "body": data}, self.claim_key())
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("broker: a hook's message not confirmed: %r", exc)
            return self.fail(503, "broker did not confirm the broadcast; it may not have been sent")
        if seq is None:
            return self.fail(503, "broker unavailable; nothing was broadcast")
        if not seq:
            return self.fail(400, "signature already used")
        self.write({"status": "ok"})

    def claim_key(self):
        """What marks this hook's signature as used (on every process, with Redis)."""
        return hashlib.sha256(self.request.headers["X-Signature"].encode()).hexdigest()

    def verified(self, body):
        """(the body's JSON object or None, None) for a hook signed for this method and URL
        and body; (None, (status, error)) for any other."""
        if self.size > HOOK_MAX_SIZE:
            return None, (413, f"body larger than {HOOK_MAX_SIZE} bytes")
        problem = self._host_problem() or self._signature_problem(body)
        if problem:
            return None, (400, problem)
        try:
            data = json.loads(body) if body else None
        except (ValueError, RecursionError):
            return None, (400, "body is not JSON")
        if data is not None and not isinstance(data, dict):
            return None, (400, "body must be a JSON object (or empty)")
        return data, None

    def _host_problem(self):
        """Why the Host header is not one of this server's public names, or None.

        The signed URL is rebuilt from the Host header, so only the names scrum may use for
        this server (--public_hosts, or by default the address the hook arrived on, with
        localhost when that is a loopback address) are accepted.
        """
        host = self.request.host.lower()
        if host in (PUBLIC_HOSTS or self._listening_names()):
            return None
        return f"Host {host!r} is not a public name of this server (see --public_hosts)"

    def _listening_names(self):
        """host:port names of the local address this request arrived on."""
        address, port = self.request.connection.stream.socket.getsockname()[:2]
        ip = ipaddress.ip_address(address)
        names = {f"[{ip}]" if ip.version == 6 else str(ip)}
        if ip.is_loopback:
            names.update(LOOPBACK_NAMES)
        return {f"{name}:{port}" for name in names}

    def _signature_problem(self, body):
        """What is wrong with X-Signature for this method, URL and body, or None."""
        signature = self.request.headers.get("X-Signature")
        if not signature:
            return "X-Signature header missing"
        try:
            signed = self.application.hook_signer.unsign(signature, max_age=HOOK_MAX_AGE)
        except SignatureExpired:
            return "signature expired"
        except BadSignature:
            return "bad signature"
        request = self.request
        digest = hashlib.sha256(body).hexdigest()
        expected = f"{request.method.lower()}:{request.full_url()}:{digest}"
        if not constant_time_compare(signed, expected):
            return "signature does not match this method, URL and body"
        return None

    def fail(self, status, error):
        log.warning("refused %s %s: %s", self.request.method, self.request.path, error)
        self.set_status(status)
        self.finish({"error": error})

    def check_xsrf_cookie(self):
        """Announcements are authenticated by their signature, not by a cookie."""


class RevokeHandler(UpdateHandler):
    """Signed revocations from scrum: ``{"at": <unix time>, "session": <id>}`` when a login
    ends (logout, a deleted or expired token) or ``{"at", "user": <username>}`` when a user is
    made inactive or deleted. They reach every process's sockets (see Revocations)."""

    SUPPORTED_METHODS = ("POST",)

    async def post(self):
        data, problem = self.verified(b"".join(self.chunks))
        problem = problem or await self._claim()
        if problem:
            return self.fail(*problem)
        revocation = revocation_from(data)
        if revocation is None:
            return self.fail(400, 'body must be {"at": <int>, "session" or "user": <text>}')
        try:
            await self.application.revocations.record(revocation)
        except (RedisError, OSError) as exc:
            log.warning("broker: could not record a revocation: %s", exc)
            return self.fail(503, "broker unavailable; nothing was revoked")
        self.write({"status": "ok"})

    async def _claim(self):
        """(status, error) unless this is the signature's first use on any process."""
        broker = self.application.broker
        if broker.state != "up":
            return 503, "broker unavailable; nothing was revoked"
        try:
            if await broker.claim(self.claim_key(), HOOK_MEMORY):
                return None
        except (RedisError, OSError) as exc:
            log.warning("broker: could not record a hook signature: %s", exc)
            return 503, "broker unavailable; nothing was revoked"
        return 400, "signature already used"


def revocation_from(data):
    """The revocation a hook body describes, or None if it describes none."""
    if not isinstance(data, dict) or type(data.get("at")) is not int:
        return None
    for kind in ("session", "user"):
        value = data.get(kind)
        if isinstance(value, str) and 0 < len(value) <= 150:
            return {"at": data["at"], kind: value}
    return None


# ---- Health and metrics --------------------------------------------------------------------------


class HealthHandler(Hardened, RequestHandler):
    """Readiness, for the load balancer: 200 while the broker is reachable, 503 while it is
    not or while the server drains its sockets to stop."""

    def get(self):
        app = self.application
        ready = app.broker.state == "up" and not app.draining
        self.set_status(200 if ready else 503)
        self.set_header("Cache-Control", "no-store")
        status = "draining" if app.draining else "ok" if ready else "unavailable"
        self.write(
            {
                "status": status,
                "connections": len(app.subscriptions.get(ALL, ())),
                "channels": len(app.subscriptions) - (ALL in app.subscriptions),
                "broker": {"kind": app.broker.kind, "state": app.broker.state},
            }
        )


class LiveHandler(Hardened, RequestHandler):
    """Liveness, for a supervisor: 200 while the process serves at all (a Redis outage or a
    drain makes it unready, not dead: restarting it would not help)."""

    def get(self):
        self.set_header("Cache-Control", "no-store")
        self.write({"status": "ok"})


class MetricsHandler(Hardened, RequestHandler):
    """The Prometheus text format of every metric of this process."""

    def get(self):
        self.set_header("Content-Type", prometheus.CONTENT_TYPE_LATEST)
        self.write(prometheus.generate_latest())


# ---- The application -----------------------------------------------------------------------------


def request_summary(request):
    """Method, path and client of a request, without the query string: it carries tokens."""
    return f"{request.method} {request.path} ({request.remote_ip})"


def log_request(handler):
    """Tornado's access log line without the query string (it carries channel tokens), and the
    request's metrics. An accepted announcement logs at DEBUG only: there is one per API write."""
    request, status = handler.request, handler.get_status()
    route = type(handler).__name__.removesuffix("Handler").lower()
    REQUESTS.labels(route, str(status)).observe(request.request_time())
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if route == "update":
        HOOKS.labels(str(status)).inc()
        level = logging.DEBUG if status < 400 else level
    logging.getLogger("tornado.access").log(
        level,
        "%d %s %.2fms",
        status,
        request_summary(request),
        1000 * request.request_time(),
    )


class ScrumApplication(Application):
    """Routes, the two signers, the local subscriber registry and the broker."""

    def __init__(self, secret, redis_url=None, metrics=False, **settings):
        routes = [
            (r"/socket", SprintHandler),
            (r"/health", HealthHandler),
            (r"/health/live", LiveHandler),
            (r"/revoked", RevokeHandler),
            *([(r"/metrics", MetricsHandler)] if metrics else []),
            (r"/([^/]+)/([^/]+)", UpdateHandler),
        ]
        super().__init__(
            routes,
            websocket_ping_interval=options.ping_interval,
            websocket_ping_timeout=min(options.ping_timeout, options.ping_interval),
            websocket_max_message_size=options.max_message_size,
            log_function=log_request,
            **settings,
        )
        # One salt per purpose: a hook signature is never a channel token, nor the reverse.
        self.channel_signer = TimestampSigner(key=secret, salt=CHANNEL_SALT, fallback_keys=[])
        self.hook_signer = TimestampSigner(key=secret, salt=HOOK_SALT, fallback_keys=[])
        self.viewer_signer = TimestampSigner(key=secret, salt=VIEWER_SALT, fallback_keys=[])
        self.subscriptions = {}  # channel -> set of SprintHandler on this process
        SOCKETS.set_function(lambda: len(self.subscriptions.get(ALL, ())))
        BROKER_UP.set_function(lambda: self.broker.state == "up")
        self.outbox = {}  # SprintHandler -> frames to write at the end of this loop turn
        self.tasks = set()  # unsubscriptions and presence updates under way
        self.draining = False
        self.revocations = Revocations(self.close_revoked)
        if redis_url:
            self.broker = RedisBroker(
                redis_url, self.deliver, self.resync_all, self.revocations.heard, options.history
            )
        else:
            self.broker = LocalBroker(self.deliver, options.history)
        self.revocations.client = getattr(self.broker, "client", None)
        self.presence = Presence(uuid.uuid4().hex, self.revocations.client)

    def run(self, coroutine):
        """Run a coroutine in the background, kept referenced until it is done."""
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def add_subscriber(self, channel, subscriber):
        for name in (channel, ALL):
            members = self.subscriptions.setdefault(name, set())
            members.add(subscriber)
            if len(members) == 1 and name != ALL:
                await self.broker.subscribe(name)

    def remove_subscriber(self, channel, subscriber):
        for name in (channel, ALL):
            members = self.subscriptions.get(name, set())
            members.discard(subscriber)
            if not members and name in self.subscriptions:
                del self.subscriptions[name]
                if name != ALL:
                    self.run(self._forget(name))

    async def _forget(self, channel):
        """Unsubscribe from a channel that has had no socket here since it was left."""
        if channel not in self.subscriptions:
            await self.broker.unsubscribe(channel)

    def broadcast(self, message, channel=ALL, sender=None):
        """Send a message to every socket on ``channel`` (all processes) but the sender's.

        ``message`` (a dict built here, never a client's) gets its "channel" here and its "seq"
        and "epoch" from the broker, which encodes it once for all sockets. False if it cannot
        be sent now.
        """
        head = opened({**message, "channel": channel})
        return self.broker.publish(channel, sender, head)

    async def announce(self, message, key):
        """broadcast() a hook's message to every socket unless ``key`` (its signature's) was
        used within HOOK_MEMORY seconds on any process, and wait until the broker has (see
        RedisBroker.announce): its sequence number, 0 for a replay, None if it cannot now."""
        head = opened({**message, "channel": ALL})
        return await self.broker.announce(ALL, head, key, HOOK_MEMORY)

    def queue_frame(self, handler, frame):
        """Write a frame when this loop turn ends, with any others for the same socket.

        A lone frame is kept as it is (bytes are not tracked by the garbage collector, so a
        fan-out to thousands of sockets does not set off collections).
        """
        pending = self.outbox.get(handler)
        if pending is None:
            if not self.outbox:
                asyncio.get_running_loop().call_soon(self.flush)
            self.outbox[handler] = frame
        elif isinstance(pending, bytes):
            self.outbox[handler] = [pending, frame]
        else:
            pending.append(frame)

    def flush(self):
        """One write per socket for everything delivered during the loop turn."""
        outbox, self.outbox = self.outbox, {}
        for handler, frames in outbox.items():
            handler.send_frames(frames if isinstance(frames, bytes) else b"".join(frames))

    def deliver(self, channel, sender, seq, epoch, frame):
        """Hand a numbered message from the broker to this process's sockets, framed once."""
        members = self.subscriptions.get(channel)
        if members:
            data = text_frame(frame)
            for handler in list(members):
                handler.deliver(channel, sender, seq, epoch, data)
            SENT.inc(len(members))

    async def resync_all(self):
        """After a broker reconnect anything may have been missed: every socket must resync.

        The numbers go on from the broker's current ones, under a new epoch if Redis lost them.
        """
        for channel in list(self.subscriptions):
            try:
                last, epoch, _ = await self.broker.history(channel)
            except (RedisError, OSError) as exc:
                log.warning("broker: position of %s unavailable for its resync: %r", channel, exc)
                last, epoch = 0, UNKNOWN_EPOCH
            for handler in list(self.subscriptions.get(channel, ())):
                handler.resync(channel, last, epoch)
        for handler in list(self.subscriptions.get(ALL, ())):  # revocations it may have missed
            if await self.revocations.refuses(handler):
                handler.revoke()

    def close_revoked(self, revocation):
        """Close this process's sockets that a revocation covers."""
        for handler in list(self.subscriptions.get(ALL, ())):
            if Revocations.covers(revocation, handler):
                handler.revoke()

    async def drain(self, window):
        """Close every socket with 1001, in steps spread over ``window`` seconds."""
        self.draining = True
        sockets = list(set().union(*self.subscriptions.values()))
        steps = max(1, min(len(sockets), round(window / DRAIN_STEP)))
        for step in range(steps):
            for handler in sockets[step::steps]:
                handler.close(1001, "going away")
            if step < steps - 1:
                await asyncio.sleep(window / steps)
        return len(sockets)


# ---- Logs: time, level, service, message; JSON lines with LOG_FORMAT=json ------------------------

TEXT_FORMAT = "%(asctime)s %(levelname)s watercooler %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record):
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "service": "watercooler",
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return encode(entry)


class Repeats(logging.Filter):
    """Summarise a burst of the same warning: the first line goes out, the same message
    (before its arguments) within WINDOW seconds is only counted, and flush() (every second)
    logs how many were held back. An outage then costs a few lines, not one per event."""

    WINDOW = 1.0

    def __init__(self):
        super().__init__()
        self.runs = {}  # (logger, message) -> [monotonic time of its first line, lines held]

    def filter(self, record):
        if record.levelno < logging.WARNING or getattr(record, "summary", False):
            return True
        key, now = (record.name, record.msg), time.monotonic()
        run = self.runs.get(key)
        if run and now - run[0] < self.WINDOW:
            run[1] += 1
            return False
        self.runs[key] = [now, 0]
        return True

    def flush(self):
        now = time.monotonic()
        for (name, message), (first, held) in list(self.runs.items()):
            if now - first >= self.WINDOW:
                del self.runs[(name, message)]
                if held:
                    summary = "%d more like %r in %.0fs"
                    args = (held, message, self.WINDOW)
                    logging.getLogger(name).warning(summary, *args, extra={"summary": True})


REPEATS = Repeats()


def configure_logs():
    """Our format (LOG_FORMAT: text or json) and the summary of repeats on Tornado's handlers."""
    kind = log_format("watercooler", exit_status=1)
    formatter = JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
        handler.addFilter(REPEATS)


# ---- Start-up ------------------------------------------------------------------------------------


async def serve(secret, sockets, metrics=False):
    """Run until SIGINT or SIGTERM, then drain: unready at once, sockets closed with 1001 over
    --drain_window seconds, then exit."""
    if secret == DEV_SECRET:
        log.warning("WATERCOOLER_SECRET is not set: --debug uses the dev-only secret")
    app = ScrumApplication(
        secret, redis_url=os.environ.get("REDIS_URL"), metrics=metrics, debug=options.debug
    )
    gc.freeze()  # what start-up made lives forever: full collections need not walk it again
    await app.broker.start()
    app.run(app.presence.poll())
    PeriodicCallback(REPEATS.flush, 1000 * Repeats.WINDOW).start()
    server = HTTPServer(
        app,
        xheaders=options.xheaders,
        max_body_size=HOOK_DRAIN_LIMIT,
        idle_connection_timeout=60,
    )
    server.add_sockets(sockets)
    log.info(
        "watercooler listening on %s:%d, %s",
        options.address or "*",
        options.port,
        app.broker.describe(),
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("stopping: draining sockets over %gs", options.drain_window)
    closed = await app.drain(options.drain_window)
    server.stop()
    log.info("stopping: closed %d sockets (1001 going away)", closed)
    deadline = loop.time() + 2
    while app.subscriptions and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await app.broker.stop()
    log.info("stopped")


def check_options():
    """A clear start-up error for option values that make no sense."""
    if not 1 <= options.port <= 65535:
        raise SystemExit(f"watercooler: --port must be between 1 and 65535, not {options.port}")
    minimums = {"history": 1, "max_message_size": 1, "max_buffer": 1, "rate_limit": 0}
    minimums.update(drain_window=0)
    minimums.update(ping_interval=0, ping_timeout=0)
    for name, least in minimums.items():
        if options[name] < least:
            raise SystemExit(f"watercooler: --{name} must be at least {least}")


def secret():
    """WATERCOOLER_SECRET; with --debug and no secret the dev-only one. Without --debug a
    missing, short, repetitive or published placeholder secret is a start-up error."""
    if options.debug:
        return SECRET or DEV_SECRET
    if not SECRET:
        problem = "must be set (the same value as scrum's)"
    elif len(SECRET) < 32:
        problem = "is shorter than 32 characters"
    elif len(set(SECRET)) < 5:
        problem = "has fewer than 5 different characters"
    elif any(part in SECRET.lower() for part in ("change-me", "changeme", "change_me", "dev-only")):
        problem = "is a published placeholder"
    else:
        return SECRET
    raise SystemExit(
        f"watercooler: WATERCOOLER_SECRET {problem}; refusing to start "
        "(--debug runs on a dev-only secret)"
    )


def listening_sockets():
    """The bound listening sockets, or a one-line start-up error (port in use, bad address)."""
    try:
        return bind_sockets(options.port, options.address or None)
    except OSError as exc:
        # tornado leaves the socket that failed to bind open: collect it without a warning.
        with warnings.catch_warnings(action="ignore", category=ResourceWarning):
            gc.collect()
        where = f"{options.address or '*'}:{options.port}"
        raise SystemExit(f"watercooler: cannot listen on {where}: {exc.strerror or exc}") from None


def main():
    try:
        parse_command_line()
    except (Error, ValueError) as exc:
        raise SystemExit(f"watercooler: {exc} (see --help)") from None
    check_options()
    configure_logs()
    key, metrics = secret(), env_flag("watercooler", "METRICS", False, exit_status=1)
    asyncio.run(serve(key, listening_sockets(), metrics))


if __name__ == "__main__":
    main()
