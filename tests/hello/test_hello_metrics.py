"""hello's Prometheus figures at /metrics (METRICS=on): a client's made-up methods cost no
series. How requests are counted, summed over every worker, is tests/observability's."""

import requests
from harness import ROOT, gunicorn

HELLO = ROOT / "hello"
PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "hello-test-key-2QbT7nVw9Lm4Xs8Pk3Rf6Hz1"}
COUNT = "hello_request_duration_seconds_count"


def scrape(service):
    return requests.get(service.url + "/metrics", timeout=10).text


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
