"""Logins limited against password guessing: failed logins per client, on every path.

A client is its address: REMOTE_ADDR, or with NUM_PROXIES set (the proxies in front of
gunicorn) the address those proxies saw in X-Forwarded-For, so a client cannot pose as
another by sending the header itself. Failures are counted in the default cache, which is
shared by every worker (a database table, or Redis with REDIS_URL, see scrum.py). Wrong
passwords for /api/token/ and for HTTP basic auth count against the same limit; once it is
reached both answer 429 for a minute, without checking the password. (The token view, in
views.py, uses the same LoginThrottle.)

The limit fails open: while the cache is unreachable (Redis down) logins go on, uncounted, and
tokens keep working; the process logs one warning when the outage starts and one when it ends,
and leaves the cache alone for BACKOFF_SECONDS after each failure. Every failed login is
logged with its username and client address (never the password), and so is a lock-out.
"""

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
    each less than the period (a minute) after the one before, blocks for that period.
    The count is a cache counter (atomic in Redis), its expiry renewed by every failure."""

    scope = "login"

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def check(self, request):
        """Raise Throttled (429) if this client has used up its failed logins."""
        self.client = self.get_ident(request)
        self.key = self.get_cache_key(request)
        if outage.call(lambda: self.cache.get(self.key, 0), default=0) >= self.num_requests:
            raise exceptions.Throttled(wait=self.duration)

    def record_failure(self, username=""):
        """Count and log one failed login (call after check)."""
        count = outage.call(self.count_failure)
        username = str(username or "")[:USERNAME_LOGGED]
        log.warning("failed login for username %r from %s", username, self.client)
        if count == self.num_requests:
            log.warning(
                "client %s locked out of logins for %ss after %s failed logins",
                self.client,
                self.duration,
                count,
            )

    def count_failure(self):
        """The client's failures so far, this one included."""
        self.cache.add(self.key, 0, self.duration)
        try:
            count = self.cache.incr(self.key)
        except ValueError:  # expired between add and incr
            self.cache.add(self.key, 1, self.duration)
            count = 1
        self.cache.touch(self.key, self.duration)
        return count


class ThrottledBasicAuthentication(BasicAuthentication):
    """HTTP basic auth whose wrong passwords (and impossible usernames) count as failed
    logins."""

    def authenticate_credentials(self, userid, password, request=None):
        throttle = LoginThrottle()
        throttle.check(request)
        try:
            if "\x00" in userid:  # no such user; PostgreSQL could not even look it up
                raise exceptions.AuthenticationFailed("Invalid username/password.")
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            throttle.record_failure(userid)
            raise


class ThrottledBasicScheme(BasicScheme):
    """The OpenAPI schema's basicAuth security scheme, for the throttled class."""

    target_class = ThrottledBasicAuthentication
