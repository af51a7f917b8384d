"""placeholder's logs under gunicorn: a server error with its traceback with DEBUG off, the
access log, text lines or JSON objects (LOG_FORMAT)."""

import requests
from harness import ROOT, gunicorn, json_entries, log_line, with_failing_view

PLACEHOLDER = ROOT / "placeholder"
PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "placeholder-test-key-Vb5Nq8Wz2Lr7Tc4Yh"}


def test_a_server_error_is_logged_in_text_or_json(start, tmp_path):
    with_failing_view(tmp_path, "placeholder")
    extra = ("--pythonpath", tmp_path, "--access-logfile", "-")
    for log_format in ("text", "json"):
        env = {**PRODUCTION, "LOG_FORMAT": log_format}
        service = start(gunicorn("broken", PLACEHOLDER, env, extra=extra))
        assert requests.get(service.url + "/boom", timeout=10).status_code == 500
        service.stop()
        output = service.output()
        if log_format == "text":
            log_line(output, "placeholder", "django.request", "Internal Server Error: /boom")
            log_line(output, "placeholder", "gunicorn.access", '"GET /boom HTTP/1.1" 500')
            log_line(output, "placeholder", "gunicorn.error", "Starting gunicorn")  # the master
            assert "RuntimeError: a bug in a view" in output
        else:
            entries = json_entries(output)
            error = next(entry for entry in entries if entry["logger"] == "django.request")
            assert (error["service"], error["level"]) == ("placeholder", "ERROR")
            assert "RuntimeError: a bug in a view" in error["error"]
            master = next(entry for entry in entries if entry["logger"] == "gunicorn.error")
            assert (master["service"], master["message"][:17]) == (
                "placeholder",
                "Starting gunicorn",
            )
