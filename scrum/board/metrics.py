"""scrum's Prometheus figures, served at /metrics with METRICS=on (see scrum.py).

Under gunicorn every worker counts into one folder (prometheus-client's multiprocess mode) and
/metrics (prometheus-client's own Django view) answers the sum of them all, whichever worker it
reaches; scrum.py chooses the folder before this module is imported.
"""

import atexit
import os
import time

from prometheus_client import Counter, Gauge, Histogram, multiprocess

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ

REQUESTS = Histogram(
    "scrum_request_duration_seconds", "HTTP requests, by route and status", ["route", "status"]
)
QUEUED = Gauge(
    "scrum_announcements_queued", "Announcements waiting to be sent", multiprocess_mode="livesum"
)
SENT = Counter("scrum_announcements_sent", "Announcements the watercooler took")
FAILED = Counter(
    "scrum_announcements_failed", "Announcements sent but not taken, by reason", ["reason"]
)
DROPPED = Counter("scrum_announcements_dropped", "Announcements never sent, by reason", ["reason"])


def measured(get_response):
    """Middleware: each request's duration, by route (its URL's name) and status."""

    def middleware(request):
        started = time.perf_counter()
        response = get_response(request)
        match = request.resolver_match  # None: static files, 404s
        route = (match and match.url_name) or "other"
        REQUESTS.labels(route, response.status_code).observe(time.perf_counter() - started)
        return response

    return middleware


if MULTIPROCESS:  # a worker that exits takes its queue depth with it
    atexit.register(lambda: multiprocess.mark_process_dead(os.getpid()))
