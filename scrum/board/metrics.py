"""scrum's Prometheus figures, served at /metrics with METRICS=on (see scrum.py).

Under gunicorn every worker counts into one folder (prometheus-client's multiprocess mode) and
/metrics (prometheus-client's own Django view) answers the sum of them all, whichever worker it
reaches; scrum.py chooses the folder before this module is imported.
"""

import atexit
import os

from prometheus_client import Counter, Gauge, multiprocess

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ

QUEUED = Gauge(
    "scrum_announcements_queued", "Announcements waiting to be sent", multiprocess_mode="livesum"
)
SENT = Counter("scrum_announcements_sent", "Announcements the watercooler took")
FAILED = Counter(
    "scrum_announcements_failed", "Announcements sent but not taken, by reason", ["reason"]
)
DROPPED = Counter("scrum_announcements_dropped", "Announcements never sent, by reason", ["reason"])


if MULTIPROCESS:  # a worker that exits takes its queue depth with it
    atexit.register(lambda: multiprocess.mark_process_dead(os.getpid()))
