"""Signed announcements of API writes to the watercooler (DESIGN.md protocol).

An announcement is queued when the database transaction commits and sent by one background
thread per process, with short timeouts: a watercooler that is down, slow or hanging costs an
API request nothing but a queue insertion, and never fails it. The queue is bounded; when it
is full, or an announcement waited longer than its signature would stay valid, it is dropped
and logged (the board resynchronises on its next fetch). A process that exits (a gunicorn
worker stopped or replaced) first gives the thread up to FLUSH_SECONDS to send what is queued.

Revocations (revoke(): a login ended, a user made inactive or deleted) go the same way to
``/revoked``, and one that fails is sent again every RETRY_SECONDS for up to REVOKE_SECONDS,
so the watercooler closes the revoked sockets within a minute even through a short outage.

Signatures use their own salt ("watercooler.hook", never the channel tokens' one), and the
watercooler accepts each signature once. Every body carries a "change" with a unique id
(change()), so no two announcements, from any process at any time, ever sign alike.
"""

import atexit
import hashlib
import json
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
RETRY_SECONDS = 5  # between two tries of a revocation that failed
REVOKE_SECONDS = 55  # a revocation is tried for this long: sockets close within a minute

_queue = queue.Queue(maxsize=QUEUE_SIZE)
_sender = None
_sender_lock = threading.Lock()


def url(path):
    """Return a watercooler URL, e.g. http://localhost:8080/task/7 for "task/7"."""
    scheme = "https" if settings.WATERCOOLER_SECURE else "http"
    return f"{scheme}://{settings.WATERCOOLER_SERVER}/{path}"


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
    target = url(f"{model}/{pk}")
    transaction.on_commit(lambda: enqueue(method, target, body))


def revoke(**what):
    """Have the watercooler close the sockets of a login (session=Token.session) or a user
    (user=username) once the current transaction commits, and refuse their older links."""
    body = json.dumps({"at": int(time.time()), **what}).encode()
    deadline = time.monotonic() + REVOKE_SECONDS
    transaction.on_commit(lambda: enqueue("POST", url("revoked"), body, deadline))


def enqueue(method, target, body, retry_until=None):
    """Hand an announcement to the sender thread without ever blocking (one with a
    ``retry_until`` deadline is sent again after a failure until then)."""
    start_sender()
    QUEUED.inc()  # before the sender can take it off
    try:
        _queue.put_nowait((time.monotonic(), method, target, body, retry_until))
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
        queued, method, target, body, retry_until = _queue.get()
        QUEUED.dec()
        if time.monotonic() - queued > MAX_AGE:
            DROPPED.labels("too old").inc()
            log.warning("watercooler announcement too old, dropped %s %s", method, target)
        elif not send(session, method, target, body, signature(method, target, body)):
            retry(method, target, body, retry_until)
        _queue.task_done()


def retry(method, target, body, retry_until):
    """Queue a failed revocation again in RETRY_SECONDS, while its deadline allows."""
    if retry_until is not None and time.monotonic() + RETRY_SECONDS < retry_until:
        later = threading.Timer(RETRY_SECONDS, enqueue, (method, target, body, retry_until))
        later.daemon = True
        later.start()


@atexit.register
def flush(timeout=FLUSH_SECONDS):
    """At exit: wait up to ``timeout`` seconds for the sender to empty the queue, then say
    how many announcements are lost (the boards find out from their versions)."""
    with _queue.all_tasks_done:
        _queue.all_tasks_done.wait_for(lambda: not _queue.unfinished_tasks, timeout)
        if _queue.unfinished_tasks:
            log.warning("exiting with %d announcements unsent", _queue.unfinished_tasks)


def send(session, method, target, body, signed):
    """Return whether one signed request was accepted; failures are logged, never raised."""
    headers = {"X-Signature": signed}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        response = session.request(method, target, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as error:
        FAILED.labels("unreachable").inc()
        log.warning("watercooler unreachable: %s %s: %s", method, target, error)
        return False
    if response.status_code >= 400:
        FAILED.labels("refused").inc()
        log.warning("watercooler refused %s %s: %s", method, target, response.status_code)
        return False
    SENT.inc()
    return True
