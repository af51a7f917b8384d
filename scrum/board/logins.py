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
"""

import contextlib

from drf_spectacular.authentication import BasicScheme
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication
from rest_framework.throttling import SimpleRateThrottle


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
        self.key = self.get_cache_key(request)
        if self.count_attempt() > self.num_requests:
            self.forget_attempt()
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

    def record_failure(self):
        """Keep this attempt counted: a wrong password."""

    def record_success(self):
        """Give this attempt back: the password was right."""
        self.forget_attempt()


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
            throttle.record_failure()
            raise
        throttle.record_success()
        return found


class ThrottledBasicScheme(BasicScheme):
    """The OpenAPI schema's basicAuth security scheme, for the throttled class."""

    target_class = ThrottledBasicAuthentication
