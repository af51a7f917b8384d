"""Logins limited against password guessing: failed logins per client, on every path.

A client is its address: REMOTE_ADDR, or with NUM_PROXIES set (the proxies in front of
gunicorn) the address those proxies saw in X-Forwarded-For, so a client cannot pose as
another by sending the header itself. Failures are counted in the default cache, which is
shared by every worker (a database table, or Redis with REDIS_URL, see scrum.py). Each
attempt is counted before its password is checked, atomically, and given back when the
password is right: however many guesses arrive at once, no more than the limit are checked.
Wrong passwords for /api/token/ and for HTTP basic auth count against the same limit; once it
is reached both answer 429, without checking the password, until a minute passes without
attempts. (The token view, in views.py, uses the same LoginThrottle.)

The limit fails open: while the cache is unreachable (Redis down) logins go on, uncounted, and
tokens keep working; the process logs one warning when the outage starts and one when it ends,
and leaves the cache alone for BACKOFF_SECONDS after each failure. Every failed login is
logged with its username and client address (never the password), and so is a lock-out.
"""

import contextlib
import logging
import threading
import time

from drf_spectacular.authentication import BasicScheme
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)
BACKOFF_SECONDS = 5
USERNAME_LOGGED = 150  # characters of a username in the log, at most


class CacheOutage:
    """The login limit's view of the cache in this process: a call that fails answers a
    default instead (the limit fails open) and the cache is skipped for BACKOFF_SECONDS; one
    warning when an outage starts, one when it ends."""

    def __init__(self):
        self.down = False
        self.retry_at = 0.0
        self.lock = threading.Lock()

    def call(self, operation, default=None):
        if time.monotonic() < self.retry_at:
            return default
        try:
            result = operation()
        except Exception as error:  # whatever the cache's client raises: count nothing
            with self.lock:
                self.retry_at = time.monotonic() + BACKOFF_SECONDS
                if not self.down:
                    self.down = True
                    log.warning(
                        "login limit off: the cache is unavailable (%s: %s); "
                        "failed logins are not counted until it is back",
                        type(error).__name__,
                        error,
                    )
            return default
        if self.down:
            with self.lock:
                if self.down:
                    self.down = False
                    log.warning("login limit on again: the cache is back")
        return result


outage = CacheOutage()


class LoginThrottle(SimpleRateThrottle):
    """Failed logins of one client: the "login" rate's count (e.g. 10/minute) of failures,
    each less than the period (a minute) after the attempt before, blocks for that period.
    The count is a cache counter, atomic on both caches (cache.py for the database's), its
    expiry renewed by every attempt. Call check before the password is checked, then either
    record_failure or record_success."""

    scope = "login"

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def check(self, request):
        """Count this attempt; raise Throttled (429) if the client has no attempts left."""
        self.client = self.get_ident(request)
        self.key = self.get_cache_key(request)
        if outage.call(self.count_attempt, default=0) > self.num_requests:
            outage.call(self.forget_attempt)
            raise exceptions.Throttled(wait=self.duration)

    def count_attempt(self):
        """Return the client's attempts in this period, this one included."""
        try:
            count = self.cache.incr(self.key)
        except ValueError:  # no count yet (or it expired): start one, unless another did
            return 1 if self.cache.add(self.key, 1, self.duration) else self.count_attempt()
        self.cache.touch(self.key, self.duration)
        return count

    def forget_attempt(self):
        """Take this attempt off the client's count (its expiry stays a period away: the
        database cache's decr alone would set its default timeout)."""
        with contextlib.suppress(ValueError):  # the count expired meanwhile
            self.cache.decr(self.key)
            self.cache.touch(self.key, self.duration)

    def record_failure(self, username=""):
        """Keep this attempt counted (a wrong password) and log it, and a lock-out."""
        count = outage.call(lambda: self.cache.get(self.key, 0), default=0)
        username = str(username or "")[:USERNAME_LOGGED]
        log.warning("failed login for username %r from %s", username, self.client)
        if count == self.num_requests:
            log.warning(
                "client %s locked out of logins for %ss after %s failed logins",
                self.client,
                self.duration,
                count,
            )

    def record_success(self):
        """Give this attempt back: the password was right."""
        outage.call(self.forget_attempt)


class ThrottledBasicAuthentication(BasicAuthentication):
    """HTTP basic auth whose wrong passwords (and impossible usernames) count as failed
    logins."""

    def authenticate_credentials(self, userid, password, request=None):
        throttle = LoginThrottle()
        throttle.check(request)
        try:
            if "\x00" in userid:  # no such user; PostgreSQL could not even look it up
                raise exceptions.AuthenticationFailed("Invalid username/password.")
            found = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            throttle.record_failure(userid)
            raise
        throttle.record_success()
        return found


class ThrottledBasicScheme(BasicScheme):
    """The OpenAPI schema's basicAuth security scheme, for the throttled class."""

    target_class = ThrottledBasicAuthentication
