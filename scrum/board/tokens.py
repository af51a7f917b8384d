"""API tokens: one per login, ended by logout or by idleness.

Rules:

- Every successful POST to /api/token/ creates a new token, so each device a user logs in
  from holds its own and logging out on one does not log out the others. A user keeps at most
  MAX_PER_USER tokens: a new login deletes the least recently used beyond that.
- A token unused for TOKEN_IDLE_DAYS (a setting, default 14) is refused with 401 and deleted.
  Use is recorded at most once a minute per token (TOUCH_EVERY): most requests write nothing.
- POST /api/logout/ deletes the token that authenticated it (204): a copy of it elsewhere is
  refused from then on.
- An inactive user's tokens are refused (DRF's own check): no data, no sprint's channel link.
- Whenever a token is deleted (logout, idleness, too many logins, an admin) and whenever a user
  is made inactive or deleted, the watercooler is told (hooks.revoke()): it closes their open
  sockets and refuses the channel links they were given before.

The authentication class is named in REST_FRAMEWORK's settings, so this module imports no DRF
view (that would import the settings back); the logout view is in views.py.
"""

from datetime import timedelta
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from . import hooks
from .compiled import CompiledQuery
from .models import Token

MAX_PER_USER = 100  # plenty for a user's devices and scripts: the least recently used go
TOUCH_EVERY = timedelta(minutes=1)


def idle_limit():
    """Return how long a token may go unused before it is refused."""
    return timedelta(days=settings.TOKEN_IDLE_DAYS)


def is_idle(token, now):
    """Return whether the token went unused for longer than the idle limit."""
    return token.last_used < now - idle_limit()


def issue(user):
    """Return a new token for a user who just logged in; drop their idle tokens and the least
    recently used beyond MAX_PER_USER."""
    with transaction.atomic():
        now = timezone.now()
        tokens = Token.objects.filter(user=user)
        tokens.filter(last_used__lt=now - idle_limit()).delete()
        token = Token.objects.create(user=user, created=now, last_used=now)
        kept = tokens.order_by("-last_used", "-created").values("pk")[:MAX_PER_USER]
        tokens.exclude(pk__in=[row["pk"] for row in kept]).delete()
    return token


def touch(token, now):
    """Record that the token was used now (at most one write per TOUCH_EVERY)."""
    if token.last_used < now - TOUCH_EVERY:
        Token.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now


@cache
def lookup():
    """The ORM's query of a token and its user by key (select_related), compiled once: 0.59 ms
    of CPU a request through a QuerySet, 0.15 ms this way, on PostgreSQL."""
    return CompiledQuery(Token.objects.select_related("user").filter(key=""), ("",))


def find(key):
    """Return the token with this key, its user loaded, or None."""
    rows = lookup().rows([key])
    if not rows:
        return None
    split = len(Token._meta.concrete_fields)
    token = Token.from_db(connection.alias, None, rows[0][:split])
    token.user = get_user_model().from_db(connection.alias, None, rows[0][split:])
    return token


class IdleTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` with the board's tokens: refused once idle too long."""

    model = Token

    def authenticate_credentials(self, key):
        """Return (user, token) for a known, recently used token of an active user (DRF's
        checks and messages, in one query compiled once)."""
        token = find(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        now = timezone.now()
        if is_idle(token, now):
            token.delete()
            raise exceptions.AuthenticationFailed("Token expired: log in again.")
        touch(token, now)
        return token.user, token


@receiver(post_delete, sender=Token)
def login_ended(sender, instance, **kwargs):
    """A deleted token: the sockets opened with its links close."""
    hooks.revoke(session=instance.session)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def user_saved(sender, instance, **kwargs):
    """A user made (or kept) inactive: their sockets close."""
    if not instance.is_active:
        hooks.revoke(user=instance.get_username())


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def user_deleted(sender, instance, **kwargs):
    """A deleted user: their sockets close."""
    hooks.revoke(user=instance.get_username())
