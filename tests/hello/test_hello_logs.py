"""hello's logs under gunicorn: one line a record (time, level, service, logger: message),
JSON objects with LOG_FORMAT=json, a server error with its traceback with DEBUG off, and the
access log."""

import re

import requests
from harness import ROOT, gunicorn, json_entries, log_line, with_failing_view

HELLO = ROOT / "hello"
PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "hello-test-key-2QbT7nVw9Lm4Xs8Pk3Rf6Hz1"}


def broken_hello(folder, **env):
    with_failing_view(folder, "hello")
    extra = ("--pythonpath", folder, "--access-logfile", "-")
    return gunicorn("broken", HELLO, {**PRODUCTION, **env}, extra=extra)


def test_a_server_error_is_logged_with_its_traceback_and_every_request_once(start, tmp_path):
    service = start(broken_hello(tmp_path))
    assert requests.get(service.url + "/boom", timeout=10).status_code == 500
    assert requests.get(service.url + "/nope", timeout=10).status_code == 404
    service.stop()
    output = service.output()
    assert " ERROR " in log_line(output, "hello", "django.request", "Internal Server Error: /boom")
    assert "RuntimeError: a bug in a view" in output
    log_line(output, "hello", "gunicorn.access", '"GET /boom HTTP/1.1" 500')
    log_line(output, "hello", "gunicorn.access", '"GET /nope HTTP/1.1" 404')
    assert "Not Found" not in output  # a 404 is in the access log, not a warning of its own


def test_json_logs_are_one_object_a_line(start, tmp_path):
    service = start(broken_hello(tmp_path, LOG_FORMAT="json"))
    assert requests.get(service.url + "/boom", timeout=10).status_code == 500
    assert requests.get(service.url + "/health", timeout=10).status_code == 200
    service.stop()
    entries = json_entries(service.output())
    assert {entry["service"] for entry in entries} == {"hello"}
    error = next(entry for entry in entries if entry["logger"] == "django.request")
    assert (error["level"], error["message"]) == ("ERROR", "Internal Server Error: /boom")
    assert "RuntimeError: a bug in a view" in error["error"]
    assert error["time"][:4].isdigit()
    access = [entry["message"] for entry in entries if entry["logger"] == "gunicorn.access"]
    assert any('"GET /health HTTP/1.1" 200' in message for message in access)


def test_gunicorns_own_lines_are_in_the_services_format(start):
    service = start(gunicorn("hello", HELLO, PRODUCTION))
    service.stop()
    output = service.output()
    log_line(output, "hello", "gunicorn.error", "Starting gunicorn")
    log_line(output, "hello", "gunicorn.error", "Booting worker with pid")
    log_line(output, "hello", "gunicorn.error", "Handling signal: term")
    log_line(output, "hello", "gunicorn.error", "Shutting down: Master")


def test_gunicorns_own_lines_are_json_objects_too(start):
    service = start(gunicorn("hello", HELLO, {**PRODUCTION, "LOG_FORMAT": "json"}))
    service.stop()
    gunicorns_format = r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\]"
    assert not re.search(gunicorns_format, service.output(), re.MULTILINE)
    entries = json_entries(service.output())
    master = [entry for entry in entries if entry["logger"] == "gunicorn.error"]
    assert master[0]["message"].startswith("Starting gunicorn")
    assert {(entry["service"], entry["level"]) for entry in master} == {("hello", "INFO")}
