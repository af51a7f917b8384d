"""scrum's Prometheus figures at /metrics (METRICS=on): requests by route and status, the
announcements queued, sent, failed and dropped, summed over every gunicorn worker."""

import time

import pytest
import requests
from conftest import SECRET, add_tasks

PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "scrum-test-key-Hd7Kp3Xv9Qw2Nb5Tz8"}
PRODUCTION["WATERCOOLER_SECRET"] = SECRET


def sample(server, name):
    """The value of one sample (name with its labels) at /metrics, or None."""
    text = requests.get(f"{server.url}/metrics", timeout=20).text
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(values[0]) if values else None


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def test_metrics_add_up_requests_and_announcements_of_every_worker(
    scrum_server, listener, tmp_path
):
    env = {**PRODUCTION, "METRICS": "on", "WATERCOOLER_SERVER": listener.address}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)  # the operator's folder, empty at start
    server = scrum_server(env, workers=2)
    add_tasks(server, 6)
    assert len(listener.wait_for(6)) == 6
    for _ in range(4):  # whichever worker answers, the figures are the sum of both
        assert wait_for(lambda: sample(server, "scrum_announcements_sent_total") == 6)
        assert sample(server, "scrum_announcements_queued") == 0
        count = 'scrum_request_duration_seconds_count{route="task-list",status="201"}'
        assert sample(server, count) == 6


def test_announcements_the_watercooler_never_got_are_counted(scrum_server, tmp_path):
    env = {**PRODUCTION, "METRICS": "on", "WATERCOOLER_SERVER": "127.0.0.1:9"}  # nobody there
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    server = scrum_server(env)
    add_tasks(server, 3)
    failed = 'scrum_announcements_failed_total{reason="unreachable"}'
    assert wait_for(lambda: sample(server, failed) == 3)
    assert sample(server, "scrum_announcements_sent_total") == 0


def test_metrics_are_not_served_unless_asked(scrum_server):
    server = scrum_server(PRODUCTION)
    assert requests.get(f"{server.url}/metrics", timeout=20).status_code == 404


def test_a_metrics_setting_that_is_not_on_or_off_stops_the_start(scrum_server):
    with pytest.raises(RuntimeError) as failed:
        scrum_server({**PRODUCTION, "METRICS": "maybe"})
    assert "scrum: METRICS must be on or off, not 'maybe'" in str(failed.value)
