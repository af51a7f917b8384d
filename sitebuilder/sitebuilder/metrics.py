"""The live server's Prometheus figures, served at /metrics with METRICS=on (see urls.py)."""

import time

from prometheus_client import Histogram

REQUESTS = Histogram(
    "sitebuilder_request_duration_seconds",
    "HTTP requests, by route and status",
    ["route", "status"],
)


def measured(get_response):
    """Middleware (METRICS=on): each request's duration, by route (its URL's name) and status."""

    def middleware(request):
        started = time.perf_counter()
        response = get_response(request)
        route = getattr(request.resolver_match, "url_name", None) or "other"  # 404s: other
        REQUESTS.labels(route, response.status_code).observe(time.perf_counter() - started)
        return response

    return middleware
