"""The scrum suite: Django configured in this process from scrum/scrum.py, plus real servers.

The suite runs twice (tests/scrum/variants.txt): on SQLite, and with
SCRUM_TEST_DATABASE=postgres on a throwaway PostgreSQL cluster started here, before Django
is configured, and used by the in-process tests and by every server the tests start.
"""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
import requests
from django.core.signing import TimestampSigner
from harness import ROOT, PostgresCluster, gunicorn

SCRUM = ROOT / "scrum"
SECRET = "test-watercooler-secret-Jq4Zr8Lm2Wx6"
ON_POSTGRES = os.environ.get("SCRUM_TEST_DATABASE") == "postgres"

CLUSTER = PostgresCluster().start() if ON_POSTGRES else None
if CLUSTER:
    os.environ["DATABASE_URL"] = CLUSTER.url
os.environ.setdefault("WATERCOOLER_SECRET", SECRET)
os.environ.setdefault("WATERCOOLER_SERVER", "127.0.0.1:9")  # discard port: nothing answers
sys.path.insert(0, str(SCRUM))

import scrum  # noqa: E402,F401  (settings.configure + django.setup)


def pytest_unconfigure(config):
    if CLUSTER:
        CLUSTER.stop()


@pytest.fixture
def server_database(tmp_path):
    """URL of a fresh, migrated database for server subprocesses (same engine as the run)."""
    return fresh_database(tmp_path)


def fresh_database(folder):
    """Return the URL of a new, migrated database (same engine as the run; SQLite: a file in
    folder)."""
    if CLUSTER:
        name = f"e2e_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(CLUSTER.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = CLUSTER.url.rsplit("/", 1)[0] + f"/{name}"
    else:
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / 'scrum.sqlite3'}"
    manage(url, "migrate", "--verbosity", "0")
    return url


def manage(database_url, *args, env=None):
    """Run `python scrum.py ARGS` from inside scrum/ against a database."""
    environment = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    return subprocess.run(
        [sys.executable, "scrum.py", *args],
        cwd=SCRUM,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.fixture
def scrum_server(start, server_database):
    """start_server(env=None, workers=1, threads=4, database=None, extra=()) -> a gunicorn
    serving scrum on the fresh database (or another one given), with the demo user (demo /
    test) seeded."""
    manage(server_database, "seed_demo")

    def start_server(env=None, workers=1, threads=4, database=None, extra=()):
        if database:
            manage(database, "seed_demo")
        database = database or server_database
        environment = {"DATABASE_URL": database, "WATERCOOLER_SECRET": SECRET, **(env or {})}
        options = ("--threads", threads, "--timeout", 60, *extra)
        return start(gunicorn("scrum", SCRUM, environment, workers=workers, extra=options))

    return start_server


def add_tasks(server, count):
    """Add `count` backlog tasks as demo through the API, with one token for them all (Basic
    auth would hash the password on every write: about half a second each on a busy machine)."""
    api = requests.Session()
    login = {"username": "demo", "password": "test"}
    answer = api.post(f"{server.url}/api/token/", data=login, timeout=20)
    api.headers["Authorization"] = f"Token {answer.json()['token']}"
    for n in range(count):
        response = api.post(f"{server.url}/api/tasks/", json={"name": f"task {n}"}, timeout=20)
        assert response.status_code == 201, response.text


class Listener:
    """A real HTTP server on 127.0.0.1 recording every request (method, path, headers, body),
    answering each after `delay` seconds (a slow watercooler)."""

    def __init__(self, delay=0):
        self.requests = []
        self.received = threading.Condition()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with listener.received:
                    listener.requests.append((self.command, self.path, dict(self.headers), body))
                    listener.received.notify_all()
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_DELETE = record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count, timeout=10):
        """The first `count` requests, waiting up to `timeout` seconds for them."""
        with self.received:
            self.received.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def announcements(self, count, timeout=10):
        """Return the first `count` requests as (method, path, parsed body), each signature
        checked as the watercooler checks it."""
        return [
            (method, path, verify((method, path, headers, body), self.address))
            for method, path, headers, body in self.wait_for(count, timeout)
        ]


def verify(request, address):
    """The DESIGN.md signature check the watercooler performs; returns the parsed body."""
    method, path, headers, body = request
    url = f"http://{address}{path}"
    expected = f"{method.lower()}:{url}:{hashlib.sha256(body).hexdigest()}"
    signer = TimestampSigner(key=SECRET, salt="watercooler.hook")
    assert signer.unsign(headers["X-Signature"], max_age=60) == expected
    return json.loads(body) if body else None


def as_announced(sprint):
    """A sprint's JSON as every socket is sent it: the channel link without the writer's
    ?viewer=, its token checked and reduced to the sprint it names (a link signed a second
    later carries another timestamp)."""
    address, token = sprint["links"]["channel"].split("&viewer=", 1)[0].split("channel=", 1)
    named = TimestampSigner(key=SECRET, salt="watercooler.channel").unsign(token)
    return {**sprint, "links": {**sprint["links"], "channel": f"{address}channel={named}"}}


@pytest.fixture
def listener():
    listening = Listener()
    listening.thread.start()
    yield listening
    listening.server.shutdown()
    listening.server.server_close()
