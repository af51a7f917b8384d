"""hello's Prometheus figures at /metrics (METRICS=on): requests and their latency by route and
status, summed over every gunicorn worker; nothing unless asked."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import requests
from harness import ROOT, gunicorn, log_line, metric_sample, with_failing_view

HELLO = ROOT / "hello"
PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "hello-test-key-2QbT7nVw9Lm4Xs8Pk3Rf6Hz1"}
COUNT = "hello_request_duration_seconds_count"


def scrape(service):
    return requests.get(service.url + "/metrics", timeout=10).text


def test_metrics_add_up_every_workers_requests_by_route_and_status(start, tmp_path):
    with_failing_view(tmp_path, "hello")
    env = {**PRODUCTION, "METRICS": "on"}
    extra = ("--pythonpath", tmp_path)
    service = start(gunicorn("broken", HELLO, env, workers=2, extra=extra))
    ready = metric_sample(scrape(service), COUNT + '{route="index",status="200"}')  # its probe
    for _ in range(5):
        assert requests.get(service.url + "/", timeout=10).status_code == 200
        assert requests.get(service.url + "/health", timeout=10).status_code == 200
    assert requests.get(service.url + "/nope", timeout=10).status_code == 404
    assert requests.get(service.url + "/boom", timeout=10).status_code == 500
    for _ in range(4):  # whichever worker answers, the figures are the sum of both
        text = scrape(service)
        assert metric_sample(text, COUNT + '{route="index",status="200"}') == ready + 5
        assert metric_sample(text, COUNT + '{route="health",status="200"}') == 5
        assert metric_sample(text, COUNT + '{route="other",status="404"}') == 1
        assert metric_sample(text, COUNT + '{route="other",status="500"}') == 1  # /boom: unnamed
        within = 'hello_request_duration_seconds_bucket{le="10.0",route="health",status="200"}'
        assert metric_sample(text, within) == 5  # latency: every one under ten seconds
    service.stop()
    log_line(service.output(), "hello", "django.request", "Internal Server Error: /boom")
    folder = Path(tempfile.gettempdir()) / f"hello-metrics-{os.getuid()}-{service.proc.pid}"
    assert any(folder.glob("histogram_*.db"))  # the workers counted in one folder
    shutil.rmtree(folder)


def test_made_up_methods_add_no_series(start, tmp_path):
    env = {**PRODUCTION, "METRICS": "on", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    service = start(gunicorn("hello", HELLO, env))
    for n in range(20):  # any client may send any method: each must not cost a series
        requests.request(f"MADEUP{chr(65 + n)}", service.url + "/health", timeout=10)
    counts = [line for line in scrape(service).splitlines() if line.startswith(COUNT)]
    assert [count.split("{")[1] for count in counts] == [
        'route="index",status="200"} 1.0',  # the test's readiness probe
        'route="health",status="403"} 20.0',  # CSRF refuses an unknown unsafe method
    ]


def test_metrics_are_not_served_unless_asked(start):
    service = start(gunicorn("hello", HELLO, PRODUCTION))
    assert requests.get(service.url + "/metrics", timeout=10).status_code == 404


def test_a_metrics_setting_that_is_not_on_or_off_stops_the_start(start):
    with pytest.raises(RuntimeError) as failed:
        start(gunicorn("hello", HELLO, {**PRODUCTION, "METRICS": "maybe"}))
    assert "exited with 3" in str(failed.value)  # the master stopped, no worker respawned
    assert str(failed.value).count("hello: METRICS must be on or off, not 'maybe'") == 1
