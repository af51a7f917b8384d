"""gunicorn's settings for every gunicorn-run service (hello, placeholder, scrum).

Each service folder links its ``gunicorn.conf.py`` here, and gunicorn reads that file from the
folder it starts in (``gunicorn hello:application`` inside it; ``--chdir`` comes too late, so
the Procfile, compose and the Dockerfile ``cd`` into the folder first). The service is named
after that folder.

- Logs: gunicorn's own lines (the master's: starting, workers booted, signals, stop) and its
  access lines take the services' format, LOG_FORMAT text or json (each service refuses any
  other value), like every other line; the access log is on.
- Stops: on SIGTERM a worker finishes its request, then serves the connections already waiting
  in the listen queue before it exits (for up to DRAIN_SECONDS), where gunicorn's own sync
  worker would leave them all to be reset.
"""

import errno
import time
from pathlib import Path

from gunicorn.workers.sync import SyncWorker
from observability import log_format, logging_config  # linked beside this file too

SERVICE = Path.cwd().name
logconfig_dict = logging_config(SERVICE, log_format(SERVICE))

NOTHING_WAITING = (errno.EAGAIN, errno.EWOULDBLOCK)
DRAIN_SECONDS = 5  # at most, so that a stop under steady load still ends well within 30 s


def post_worker_init(worker):
    """Have a sync worker (the services' kind) drain its listen queue when a stop (SIGTERM)
    ends its loop. A worker retiring after --max-requests does not: the master still listens,
    so the others take what waits. Other kinds keep gunicorn's behaviour (gthread closes its
    listeners itself)."""
    if not isinstance(worker, SyncWorker):
        return
    run = worker.run

    def run_then_drain():
        run()
        if worker.nr < worker.max_requests:
            drain(worker)

    worker.run = run_then_drain


def drain(worker):
    """Serve the connections waiting on the worker's listeners (non-blocking since its loop
    started) until none is left or DRAIN_SECONDS have passed (under steady load the queue
    never empties: what still waits then is reset, as without the drain)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    for listener in worker.sockets:
        while time.monotonic() < deadline:
            worker.notify()  # still alive for the master while it works
            try:
                worker.accept(listener)
            except OSError as error:
                if error.errno in NOTHING_WAITING:
                    break
                if error.errno != errno.ECONNABORTED:
                    raise
