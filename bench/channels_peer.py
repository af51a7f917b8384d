"""The benchmark's peer: watercooler's job done the Django Channels way (daphne + channels_redis).

The same protocol as watercooler (DESIGN.md): /socket?channel=TOKEN joins the sprint's group and
the "all" group, client messages are group_send to the sprint's group (skipped by the sender),
and signed POST/PUT/DELETE /<task|sprint|user>/<pk> are group_send to "all". Started by
bench_watercooler.py: ``daphne -b 127.0.0.1 -p PORT channels_peer:application`` with REDIS_URL
and WATERCOOLER_SECRET set.
"""

import hashlib
import json
import os
from urllib.parse import parse_qs

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="channels-peer-benchmark-only",
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Tuned as channels_redis's README (CONFIG options) documents, not its defaults:
                # "hosts" may be a dict with "address" plus redis.asyncio ConnectionPool
                # arguments; redis-py's pool holds 100 connections by default and raises
                # MaxConnectionsError beyond them, which refused sockets in a reconnect storm.
                "hosts": [{"address": os.environ["REDIS_URL"], "max_connections": 2000}],
                # "capacity": messages a channel holds before it is full (default 100); beyond
                # it group_send silently drops them, which lost 70% of a relay burst.
                "capacity": 2000,
            },
        }
    },
)
django.setup()

from channels.generic.http import AsyncHttpConsumer  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.signing import BadSignature, TimestampSigner  # noqa: E402
from django.urls import path, re_path  # noqa: E402
from django.utils.crypto import constant_time_compare  # noqa: E402

SECRET = os.environ["WATERCOOLER_SECRET"]
CHANNEL_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.channel", fallback_keys=[])
HOOK_SIGNER = TimestampSigner(key=SECRET, salt="watercooler.hook", fallback_keys=[])
ACTIONS = {"POST": "add", "PUT": "update", "DELETE": "remove"}


class SprintConsumer(AsyncWebsocketConsumer):
    """A board's socket: relays JSON messages to the other sockets of its sprint."""

    async def connect(self):
        token = parse_qs(self.scope["query_string"].decode()).get("channel", [""])[0]
        try:
            sprint = CHANNEL_SIGNER.unsign(token, max_age=30 * 60)
        except BadSignature:
            await self.close(code=4401)
            return
        self.sprint_group = f"sprint-{sprint}"
        self.groups_joined = [self.sprint_group, "all"]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(message, dict) and {"model", "id", "action"} <= message.keys():
            event = {"type": "relay", "text": text_data, "sender": self.channel_name}
            await self.channel_layer.group_send(self.sprint_group, event)

    async def relay(self, event):
        if event.get("sender") != self.channel_name:
            await self.send(text_data=event["text"])


class UpdateConsumer(AsyncHttpConsumer):
    """Signed model-change announcements, sent to every socket."""

    async def handle(self, body):
        headers = dict(self.scope["headers"])
        method = self.scope["method"]
        url = f"{self.scope['scheme']}://{headers[b'host'].decode()}{self.scope['path']}"
        expected = f"{method.lower()}:{url}:{hashlib.sha256(body).hexdigest()}"
        try:
            signed = HOOK_SIGNER.unsign(headers.get(b"x-signature", b"").decode(), max_age=60)
        except BadSignature:
            signed = None
        if method not in ACTIONS or not constant_time_compare(signed or "", expected):
            await self.send_response(400, b"bad signature")
            return
        kwargs = self.scope["url_route"]["kwargs"]
        message = {
            "model": kwargs["model"],
            "id": int(kwargs["pk"]),
            "action": ACTIONS[method],
            "body": json.loads(body) if body else None,
        }
        event = {"type": "relay", "text": json.dumps(message)}
        await self.channel_layer.group_send("all", event)
        await self.send_response(200, b'{"status": "ok"}')


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter([path("socket", SprintConsumer.as_asgi())]),
        "http": URLRouter(
            [re_path(r"^(?P<model>task|sprint|user)/(?P<pk>[0-9]+)$", UpdateConsumer.as_asgi())]
        ),
    }
)
