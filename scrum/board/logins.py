"""Logins limited against password guessing: failed logins per client, on every path.

A client is its address: REMOTE_ADDR, or with NUM_PROXIES set (the proxies in front of
gunicorn) the address those proxies saw in X-Forwarded-For, so a client cannot pose as
another by sending the header itself. Failures are counted in the default cache, which is
shared by every worker (a database table, or Redis with REDIS_URL, see scrum.py). Wrong
passwords for /api/token/ and for HTTP basic auth count against the same limit; once it is
reached both answer 429 for a minute, without checking the password. (The token view, in
views.py, uses the same LoginThrottle.)
"""

from drf_spectacular.authentication import BasicScheme
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication
from rest_framework.throttling import SimpleRateThrottle


class LoginThrottle(SimpleRateThrottle):
    """Failed logins of one client: the "login" rate's count (e.g. 10/minute) of failures,
    each less than the period (a minute) after the one before, blocks for that period.
    The count is a cache counter (atomic in Redis), its expiry renewed by every failure."""

    scope = "login"

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def check(self, request):
        """Raise Throttled (429) if this client has used up its failed logins."""
        self.key = self.get_cache_key(request)
        if self.cache.get(self.key, 0) >= self.num_requests:
            raise exceptions.Throttled(wait=self.duration)

    def record_failure(self):
        """Count one failed login (call after check)."""
        self.cache.add(self.key, 0, self.duration)
        try:
            self.cache.incr(self.key)
        except ValueError:  # expired between add and incr
            self.cache.add(self.key, 1, self.duration)
        self.cache.touch(self.key, self.duration)


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
            throttle.record_failure()
            raise


class ThrottledBasicScheme(BasicScheme):
    """The OpenAPI schema's basicAuth security scheme, for the throttled class."""

    target_class = ThrottledBasicAuthentication
