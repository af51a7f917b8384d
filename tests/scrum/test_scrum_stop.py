"""gunicorn stopped (SIGTERM) right after API writes: each worker sends the announcements it
still holds before it exits, and gives up on a watercooler that hangs (5 seconds at most)."""

import re
import signal
import threading

from conftest import SECRET, Listener, add_tasks

PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "scrum-test-key-Hd7Kp3Xv9Qw2Nb5Tz8"}
PRODUCTION["WATERCOOLER_SECRET"] = SECRET


def slow_watercooler(delay):
    listener = Listener(delay)
    threading.Thread(target=listener.server.serve_forever, daemon=True).start()
    return listener


def test_a_stopped_worker_sends_the_announcements_it_still_holds(scrum_server):
    watercooler = slow_watercooler(delay=0.3)  # 8 announcements: about 2.4 s to send
    try:
        server = scrum_server({**PRODUCTION, "WATERCOOLER_SERVER": watercooler.address})
        add_tasks(server, 8)
        assert len(watercooler.requests) < 8  # still queued when the stop comes
        assert server.stop(signal.SIGTERM, timeout=20) == 0
        assert len(watercooler.wait_for(8, timeout=1)) == 8
        assert "unsent" not in server.output()
    finally:
        watercooler.server.shutdown()
        watercooler.server.server_close()


def test_a_watercooler_that_hangs_holds_the_stop_5_seconds_at_most(scrum_server):
    watercooler = slow_watercooler(delay=30)  # answers nothing: each send times out
    try:
        server = scrum_server({**PRODUCTION, "WATERCOOLER_SERVER": watercooler.address})
        add_tasks(server, 5)
        assert server.stop(signal.SIGTERM, timeout=20) == 0  # on its own, not killed
        unsent = re.search(r"exiting with (\d+) announcements unsent", server.output())
        assert unsent and int(unsent[1]) > 0  # it gave up on them instead of waiting
    finally:
        watercooler.server.shutdown()
        watercooler.server.server_close()
