"""GET /health for load balancers and compose: can this process serve the API?

200 while the database and the cache (a table in the database, or Redis with REDIS_URL)
answer, 503 naming what is down. No login, no session, never cached; the reason names the
kind of error only (its message may hold host names and ports).
"""

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe


def select_one():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def probe(check):
    """None if check() ran, else the name of the exception it raised."""
    try:
        check()
    except Exception as error:  # whatever the driver raises: the dependency is down
        return type(error).__name__
    return None


@require_safe
def health(request):
    redis = "redis" in settings.CACHES["default"]["BACKEND"]
    failures = {
        "database": probe(select_one),
        "cache": probe(lambda: cache.get("health")),
    }
    body = {
        "status": "unavailable" if any(failures.values()) else "ok",
        "database": {"vendor": connection.vendor},
        "cache": {"kind": "redis" if redis else "database"},
    }
    for name, failure in failures.items():
        body[name]["state"] = "down" if failure else "up"
    down = [f"{name} unreachable ({failure})" for name, failure in failures.items() if failure]
    if down:
        body["reason"] = "; ".join(down)
    status = 503 if down else 200
    return JsonResponse(body, status=status, headers={"Cache-Control": "no-store"})
