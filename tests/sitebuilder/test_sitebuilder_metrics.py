"""sitebuilder's live server with METRICS=on: Prometheus text at /metrics, its requests and
their latency by route and status; nothing unless asked."""

import requests
from harness import log_line, metric_sample, runserver, with_failing_view

COUNT = "sitebuilder_request_duration_seconds_count"


def test_metrics_count_requests_by_route_and_status(start, site, prototypes, tmp_path):
    prototypes("build")  # with DEBUG off the live pages use the build's bundles
    broken = with_failing_view(tmp_path, "prototypes", "sitebuilder.urls")
    service = start(runserver(broken, site, {"DEBUG": "off", "METRICS": "on"}))
    for _ in range(3):
        assert requests.get(service.url + "/pricing/", timeout=10).status_code == 200
    assert requests.get(service.url + "/nope/", timeout=10).status_code == 404
    assert requests.get(service.url + "/boom", timeout=10).status_code == 500
    text = requests.get(service.url + "/metrics", timeout=10).text
    assert metric_sample(text, COUNT + '{route="page",status="200"}') == 3
    assert metric_sample(text, COUNT + '{route="homepage",status="200"}') == 1  # readiness
    assert metric_sample(text, COUNT + '{route="page",status="404"}') == 1
    assert metric_sample(text, COUNT + '{route="other",status="500"}') == 1  # /boom: unnamed
    within = 'sitebuilder_request_duration_seconds_bucket{le="10.0",route="page",status="200"}'
    assert metric_sample(text, within) == 3  # latency: every one under ten seconds
    service.stop()
    log_line(service.output(), "sitebuilder", "django.request", "Internal Server Error: /boom")


def test_metrics_are_not_served_unless_asked(start, site):
    service = start(runserver("prototypes.py", site))
    assert requests.get(service.url + "/metrics", timeout=10).status_code == 404


def test_a_metrics_setting_that_is_not_on_or_off_stops_every_command(prototypes):
    result = prototypes("build", check=False, METRICS="maybe")
    assert result.returncode == 3
    assert "sitebuilder: METRICS must be on or off, not 'maybe'" in result.stderr
