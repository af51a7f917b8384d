"""placeholder's Prometheus figures at /metrics (METRICS=on): requests by route and status,
renders, cache hits and misses, summed over every gunicorn worker (nothing unless asked: see
tests/observability)."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import requests
from harness import ROOT, gunicorn, redis_service

PLACEHOLDER = ROOT / "placeholder"
PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "placeholder-test-key-Vb5Nq8Wz2Lr7Tc4Yh"}


def sample(text, name):
    """The value of one sample (name with its labels) in Prometheus text, or None."""
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(values[0]) if values else None


@pytest.mark.redis
def test_metrics_add_up_every_workers_requests_renders_and_cache_lookups(start):
    redis_server = start(redis_service())
    env = {**PRODUCTION, "METRICS": "on", "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"}
    service = start(gunicorn("placeholder", PLACEHOLDER, env, workers=2))
    for _ in range(10):
        assert requests.get(service.url + "/health", timeout=10).status_code == 200
        assert requests.get(service.url + "/image/30x20.png", timeout=10).status_code == 200
    assert requests.get(service.url + "/image/0x0/", timeout=10).status_code == 400
    for _ in range(4):  # whichever worker answers, the figures are the sum of both
        text = requests.get(service.url + "/metrics", timeout=10).text
        count = "placeholder_request_duration_seconds_count"
        assert sample(text, count + '{route="health",status="200"}') == 10
        assert sample(text, count + '{route="image",status="200"}') == 10
        assert sample(text, count + '{route="placeholder",status="400"}') == 1
        assert sample(text, 'placeholder_renders_total{format="png"}') == 1
        assert sample(text, 'placeholder_cache_lookups_total{result="miss"}') == 1
        assert sample(text, 'placeholder_cache_lookups_total{result="hit"}') == 9
    service.stop()
    # The workers counted in one folder of the temporary directory named after gunicorn's pid.
    folder = Path(tempfile.gettempdir()) / f"placeholder-metrics-{os.getuid()}-{service.proc.pid}"
    assert any(folder.glob("counter_*.db"))
    shutil.rmtree(folder)
