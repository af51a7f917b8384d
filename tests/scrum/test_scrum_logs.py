"""scrum's logs under gunicorn: the services' format (text or JSON), and a watercooler outage
summarised: the first failed announcement logged, then one line a second with a count."""

import re
import time

import requests
from conftest import SECRET, add_tasks
from harness import json_entries, log_line

PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "scrum-test-key-Hd7Kp3Xv9Qw2Nb5Tz8"}
PRODUCTION["WATERCOOLER_SECRET"] = SECRET
WRITES = 40


def failures(output):
    """(lines about unreachable announcements, announcements those lines account for)."""
    lines = [line for line in output.splitlines() if "watercooler unreachable" in line]
    held = [re.search(r" (\d+) more like ", line) for line in lines]
    return lines, len([h for h in held if not h]) + sum(int(h.group(1)) for h in held if h)


def test_announcements_the_watercooler_never_got_are_summarised(scrum_server):
    """Nothing listens at WATERCOOLER_SERVER (conftest): every write's announcement fails."""
    server = scrum_server({**PRODUCTION, "WATERCOOLER_SERVER": "127.0.0.1:9"})
    add_tasks(server, WRITES)
    deadline = time.monotonic() + 10
    while failures(server.output())[1] < WRITES and time.monotonic() < deadline:
        time.sleep(0.2)
    lines, accounted = failures(server.output())
    assert accounted == WRITES  # none lost from the count
    assert len(lines) < WRITES / 2  # the first, then a line a second with a count: not one each
    assert re.search(
        r"WARNING scrum board\.hooks: \d+ more like 'watercooler unreachable", lines[-1]
    )


def test_logs_are_lines_of_the_services_format_or_json_objects(scrum_server):
    server = scrum_server(PRODUCTION, extra=("--access-logfile", "-"))
    assert requests.post(f"{server.url}/api/token/", data={"username": "demo"}).status_code == 400
    server.stop()
    log_line(server.output(), "scrum", "gunicorn.access", '"POST /api/token/ HTTP/1.1" 400')
    log_line(server.output(), "scrum", "gunicorn.error", "Starting gunicorn")  # the master's
    server = scrum_server({**PRODUCTION, "LOG_FORMAT": "json"})
    login = {"username": "demo", "password": "wrong"}
    assert requests.post(f"{server.url}/api/token/", data=login).status_code == 400
    server.stop()
    entries = json_entries(server.output())
    failed = next(entry for entry in entries if entry["logger"] == "board.logins")
    assert (failed["service"], failed["level"]) == ("scrum", "WARNING")
    assert failed["message"].startswith("failed login for username 'demo' from 127.0.0.1")
    master = next(entry for entry in entries if entry["logger"] == "gunicorn.error")
    assert (master["service"], master["message"][:17]) == ("scrum", "Starting gunicorn")
