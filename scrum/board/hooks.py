"""Signed announcements of API writes to the watercooler (DESIGN.md protocol).

An announcement is queued when the database transaction commits and sent by one background
thread per process, with short timeouts: a watercooler that is down, slow or hanging costs an
API request nothing but a queue insertion, and never fails it. The queue is bounded; when it
is full, or an announcement waited longer than its signature would stay valid, it is dropped
and logged (the board resynchronises on its next fetch). A process that exits (a gunicorn
worker stopped or replaced) first gives the thread up to FLUSH_SECONDS to send what is queued.

Signatures use their own salt ("watercooler.hook", never the channel tokens' one), and the
watercooler accepts each signature once. Every body carries a "change" with a unique id
(change()), so no two announcements, from any process at any time, ever sign alike.
"""

import atexit
import hashlib
import logging
import queue
import threading
import time
import uuid

import requests
from django.conf import settings
from django.core.signing import TimestampSigner
from django.db import transaction

from board.metrics import DROPPED, FAILED, QUEUED, SENT

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
TIMEOUT = (1.0, 2.0)  # seconds to connect, seconds to wait for the answer
MAX_AGE = 50  # seconds; the watercooler refuses signatures older than 60
SALT = "watercooler.hook"
FLUSH_SECONDS = 5  # at exit; within gunicorn's graceful timeout (30 s)

_queue = queue.Queue(maxsize=QUEUE_SIZE)
_sender = None
_sender_lock = threading.Lock()


def url(model, pk):
    """Return the watercooler URL announcing one object, e.g. http://localhost:8080/task/7."""
    scheme = "https" if settings.WATERCOOLER_SECURE else "http"
    return f"{scheme}://{settings.WATERCOOLER_SERVER}/{model}/{pk}"


def change(versions=(), columns=(), refetch=False):
    """Return an announcement's "change": a unique id, the new versions of the scopes the
    write bumped, the new order of the columns it renumbered, and whether boards refetch."""
    described = {"id": uuid.uuid4().hex}
    if versions:
        described["versions"] = list(versions)
    if columns:
        described["columns"] = list(columns)
    if refetch:
        described["refetch"] = True
    return described


def signature(method, target, body):
    """Return X-Signature: the signed "<method>:<url>:<sha256 of body>" string."""
    digest = hashlib.sha256(body or b"").hexdigest()
    signer = TimestampSigner(key=settings.WATERCOOLER_SECRET, salt=SALT)
    return signer.sign(f"{method.lower()}:{target}:{digest}")


def announce(method, model, pk, body=None):
    """Send POST/PUT/DELETE for an object once the current transaction commits."""
    target = url(model, pk)
    transaction.on_commit(lambda: enqueue(method, target, body))


def enqueue(method, target, body):
    """Hand an announcement to the sender thread without ever blocking."""
    start_sender()
    QUEUED.inc()  # before the sender can take it off
    try:
        _queue.put_nowait((time.monotonic(), method, target, body))
    except queue.Full:
        QUEUED.dec()
        DROPPED.labels("queue full").inc()
        log.warning("watercooler queue full, dropped %s %s", method, target)


def start_sender():
    """Start this process's sender thread on first use (after a fork, in each worker)."""
    global _sender
    with _sender_lock:
        if _sender is None or not _sender.is_alive():
            _sender = threading.Thread(target=send_forever, name="watercooler", daemon=True)
            _sender.start()


def send_forever():
    """Send queued announcements one after the other, for the life of the process."""
    session = requests.Session()
    while True:
        queued, method, target, body = _queue.get()
        QUEUED.dec()
        if time.monotonic() - queued > MAX_AGE:
            DROPPED.labels("too old").inc()
            log.warning("watercooler announcement too old, dropped %s %s", method, target)
        else:
            send(session, method, target, body, signature(method, target, body))
        _queue.task_done()


@atexit.register
def flush(timeout=FLUSH_SECONDS):
    """At exit: wait up to ``timeout`` seconds for the sender to empty the queue, then say
    how many announcements are lost (the boards find out from their versions)."""
    with _queue.all_tasks_done:
        _queue.all_tasks_done.wait_for(lambda: not _queue.unfinished_tasks, timeout)
        if _queue.unfinished_tasks:
            log.warning("exiting with %d announcements unsent", _queue.unfinished_tasks)


def send(session, method, target, body, signed):
    """One signed request; failures are logged, never raised."""
    headers = {"X-Signature": signed}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        response = session.request(method, target, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as error:
        FAILED.labels("unreachable").inc()
        log.warning("watercooler unreachable: %s %s: %s", method, target, error)
        return
    if response.status_code >= 400:
        FAILED.labels("refused").inc()
        log.warning("watercooler refused %s %s: %s", method, target, response.status_code)
    else:
        SENT.inc()
