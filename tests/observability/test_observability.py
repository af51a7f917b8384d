"""observability.py, the log format and request metrics every Django service links, tried
through hello and placeholder under gunicorn: each request counted by route and status and
summed over every worker, /metrics only when asked, and a setting that is none of its values
stopping the start. (scrum's and sitebuilder's suites check their own figures and lines.)"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import requests
from harness import ROOT, gunicorn, log_line, metric_sample, with_failing_view

SERVICES = {  # name: (a route and its path, another), the page the readiness probe asks first
    "hello": (("index", "/"), ("health", "/health")),
    "placeholder": (("home", "/"), ("health", "/health")),
}
PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "observability-test-key-Rq4Wz8Nc2Lv6Tb9Xk"}

pytestmark = pytest.mark.parametrize("name", SERVICES)


def counts(text, name):
    """{(route, status): requests} from the service's request histogram in Prometheus text."""
    prefix = f"{name}_request_duration_seconds_count{{"
    found = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            labels, value = line[len(prefix) :].rsplit("} ", 1)
            route, status = (label.split("=")[1].strip('"') for label in labels.split(","))
            found[route, status] = float(value)
    return found


def test_requests_are_counted_by_route_and_status_over_every_worker(start, tmp_path, name):
    with_failing_view(tmp_path, name)
    env = {**PRODUCTION, "METRICS": "on"}
    service = start(
        gunicorn("broken", ROOT / name, env, workers=2, extra=("--pythonpath", tmp_path))
    )
    (first, first_path), (second, second_path) = SERVICES[name]
    ready = counts(requests.get(service.url + "/metrics", timeout=10).text, name)[first, "200"]
    for _ in range(5):
        assert requests.get(service.url + first_path, timeout=10).status_code == 200
        assert requests.get(service.url + second_path, timeout=10).status_code == 200
    assert requests.get(service.url + "/nope", timeout=10).status_code == 404
    assert requests.get(service.url + "/boom", timeout=10).status_code == 500
    for _ in range(4):  # whichever worker answers, the figures are the sum of both
        text = requests.get(service.url + "/metrics", timeout=10).text
        found = counts(text, name)
        found.pop(("metrics", "200"))  # the scrapes themselves
        assert found == {
            (first, "200"): ready + 5,
            (second, "200"): 5,
            ("other", "404"): 1,
            ("other", "500"): 1,  # /boom: a view without a route name
        }
        bucket = (
            f'{name}_request_duration_seconds_bucket{{le="10.0",route="{second}",status="200"}}'
        )
        assert metric_sample(text, bucket) == 5  # latency: every one under ten seconds
    service.stop()
    log_line(service.output(), name, "django.request", "Internal Server Error: /boom")
    folder = Path(tempfile.gettempdir()) / f"{name}-metrics-{os.getuid()}-{service.proc.pid}"
    assert any(folder.glob("histogram_*.db"))  # the workers counted in one folder
    shutil.rmtree(folder)


def test_metrics_are_not_served_unless_asked(start, name):
    service = start(gunicorn(name, ROOT / name, PRODUCTION))
    assert requests.get(service.url + "/metrics", timeout=10).status_code == 404


@pytest.mark.parametrize("setting", ["METRICS", "LOG_FORMAT"])
def test_a_setting_that_is_none_of_its_values_stops_the_start(start, name, setting):
    with pytest.raises(RuntimeError) as failed:
        start(gunicorn(name, ROOT / name, {**PRODUCTION, setting: "maybe"}))
    assert "exited with 3" in str(failed.value)  # gunicorn stopped, no worker respawned
    choices = "on or off" if setting == "METRICS" else "text or json"
    assert str(failed.value).count(f"{name}: {setting} must be {choices}, not 'maybe'") == 1


def test_an_empty_setting_means_its_default(start, name):
    """LOG_FORMAT= and METRICS= (set but empty, as compose passes an unset variable) are text
    logs and no /metrics, as when they are not set at all."""
    service = start(gunicorn(name, ROOT / name, {**PRODUCTION, "LOG_FORMAT": "", "METRICS": ""}))
    assert requests.get(service.url + "/metrics", timeout=10).status_code == 404
    service.stop()
    log_line(service.output(), name, "gunicorn.error", "Listening at")
