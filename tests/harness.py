"""Real processes for the tests: services on free loopback ports, Redis and PostgreSQL.

Every service under test runs as a subprocess on 127.0.0.1 exactly as a user would start it
(runserver, gunicorn, python watercooler.py); the fixtures in conftest.py wrap these helpers.
With CI=true a missing program fails the test; elsewhere it skips with the reason.
"""

import atexit
import functools
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def require_program(name, *fallback_globs):
    """Path of a program; in CI a missing one fails the test, elsewhere it skips it."""
    found = shutil.which(name) or shutil.which(name, path=str(BIN))
    for pattern in fallback_globs:
        found = found or next(iter(sorted(glob.glob(pattern), reverse=True)), None)
    if found:
        return found
    message = f"{name} is not installed (.ci/run installs it with apt-get)"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


CHROMIUM_ARGS = [  # headless on a closed network: no sandbox as root, no background traffic
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def launch_chromium(playwright):
    """Debian's headless Chromium through Playwright (never a browser downloaded by a tool)."""
    path = require_program("chromium")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@functools.cache
def logs_folder():
    """This process's folder for its services' output, removed when it exits (a log file per
    server left in /tmp by every run filled it: thousands after a few test runs)."""
    folder = tempfile.mkdtemp(prefix="service-logs-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


# A server the tests start turns every warning into an error (a warning at start-up stops it),
# so a dependency that starts to warn about how a service uses it fails the tests, not users.
SERVICE_WARNINGS = {"PYTHONWARNINGS": "error"}


class Service:
    """A server subprocess on 127.0.0.1:port, started in cwd, stopped on exit.

    ``command`` may contain ``{port}``; output goes to a log file shown when start-up fails.
    """

    def __init__(self, command, cwd, env=None, port=None, ready_path="/", timeout=30):
        self.port = port or free_port()
        self.command = [str(part).format(port=self.port) for part in command]
        self.cwd = Path(cwd)
        self.env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **SERVICE_WARNINGS}
        self.env.update(env or {})
        self.ready_path = ready_path
        self.timeout = timeout
        self.proc = None
        log, name = tempfile.mkstemp(prefix="service-", suffix=".log", dir=logs_folder())
        os.close(log)
        self.log_path = Path(name)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def output(self):
        return self.log_path.read_text(errors="replace")

    def start(self):
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.command} exited with {self.proc.returncode}:\n{self.output()}"
                )
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.command} did not answer in {self.timeout}s:\n{self.output()}")

    def _answers(self):
        if self.ready_path is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        try:
            requests.get(self.url + self.ready_path, timeout=2, allow_redirects=False)
            return True
        except requests.RequestException:
            return False

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the process group, wait, then kill; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def redis_service(folder=None, port=None):
    """A redis-server Service on 127.0.0.1: keeping nothing across a restart (as a crashed
    cache would), or with folder, its data in folder/dump.rdb, written on SAVE only."""
    command = [require_program("redis-server"), "--port", "{port}", "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    if folder is not None:
        command += ["--dir", str(folder)]
    return Service(command, ROOT, port=port, ready_path=None)


def gunicorn(module, cwd, env=None, workers=1, extra=()):
    """A gunicorn Service serving ``module:application``."""
    command = [BIN / "gunicorn", "--bind", "127.0.0.1:{port}", "--workers", workers, *extra]
    return Service([*command, f"{module}:application"], cwd, env)


def runserver(script, cwd, env=None):
    """A Service running ``python script runserver`` without the autoreloader."""
    command = [sys.executable, script, "runserver", "--noreload", "127.0.0.1:{port}"]
    return Service(command, cwd, env)


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb in a temporary folder) on a free port.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user.
    """

    def __init__(self):
        self.initdb = require_program("initdb", "/usr/lib/postgresql/*/bin/initdb")
        self.pg_ctl = str(Path(self.initdb).with_name("pg_ctl"))
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pytest-pg-"))
        self.data = self.dir / "data"
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command):
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, text=True)

    def start(self):
        # stopped when this process ends even if its owner never gets to stop it (a conftest
        # that fails to import after starting one never reaches pytest_unconfigure), but not
        # by a forked child that exits
        owner = os.getpid()

        def stop_if_owner():
            if os.getpid() == owner:
                self.stop()

        atexit.register(stop_if_owner)
        self._run(self.initdb, "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self.resume()

    def halt(self):
        """Stop the server at once (as a crash would), keeping its data for resume()."""
        self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")

    def resume(self):
        """Start the server on its data folder and port, and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            self.pg_ctl, "-D", self.data, "-l", self.dir / "log", "-o", options, "-w", "start"
        )
        return self

    def stop(self):
        if not self.dir.exists():  # stopped already
            return
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", self.data, "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


FAILING_VIEW = """
import os, sys
sys.path.insert(0, os.getcwd())  # the service's folder, where the server runs
import {module}
from django.urls import path
from {urls} import urlpatterns

def boom(request):
    raise RuntimeError("a bug in a view")

urlpatterns.insert(0, path("boom", boom))
application = getattr({module}, "application", None)
if __name__ == "__main__":
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""


def with_failing_view(folder, module, urls=None):
    """Write folder/broken.py: the service ``module`` (its URLs in ``urls``, default the
    module itself) with GET /boom raising RuntimeError, as a bug would; run it with
    gunicorn("broken", the service's folder, extra=("--pythonpath", folder)) or
    runserver(folder / "broken.py", the service's folder). Returns the file."""
    broken = Path(folder) / "broken.py"
    broken.write_text(FAILING_VIEW.format(module=module, urls=urls or module))
    return broken


LOG_LINE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "


def log_line(output, service, logger, text):
    """The one line of a server's output from ``logger`` that holds ``text``, checked to be
    in the services' text format: time, level, service, logger: message."""
    lines = [line for line in output.splitlines() if f" {logger}: " in line and text in line]
    assert len(lines) == 1, (logger, text, output[-3000:])
    assert re.match(LOG_LINE + f"{service} {re.escape(logger)}: ", lines[0]), lines[0]
    return lines[0]


def json_entries(output):
    """The JSON objects of a server's output (LOG_FORMAT=json), one a line; no other line is
    in the text format."""
    entries, others = [], []
    for line in filter(None, output.splitlines()):
        (entries if line.startswith("{") else others).append(line)
    assert not [line for line in others if re.match(LOG_LINE, line)], others
    return [json.loads(line) for line in entries]


def metric_sample(text, name):
    """The value of one sample (its name with its labels) in Prometheus text, or None."""
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(values[0]) if values else None


def content_security_policy(header):
    """{directive: [sources]} of a Content-Security-Policy header."""
    directives = (part.split() for part in header.split(";") if part.strip())
    return {words[0].lower(): words[1:] for words in directives}


def missing_security_headers(response, https=False):
    """What a response lacks of the baseline every service sends (empty when it has it all):
    a CSP that runs no inline script and allows no framing, DENY framing, nosniff, a referrer
    policy, and HSTS for a year behind HTTPS."""
    headers, missing = response.headers, []
    policy = content_security_policy(headers.get("Content-Security-Policy", ""))
    scripts = policy.get("script-src", policy.get("default-src", ["*"]))
    if "'unsafe-inline'" in scripts or "*" in scripts:
        missing.append(f"a CSP that forbids inline and foreign scripts (script-src {scripts})")
    if policy.get("frame-ancestors") != ["'none'"]:
        missing.append("CSP frame-ancestors 'none'")
    expected = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}
    missing += [
        f"{name}: {value}" for name, value in expected.items() if headers.get(name) != value
    ]
    if "Referrer-Policy" not in headers:
        missing.append("Referrer-Policy")
    hsts = headers.get("Strict-Transport-Security", "")
    if https and not hsts.startswith("max-age=31536000"):
        missing.append(f"Strict-Transport-Security max-age=31536000 (got {hsts!r})")
    return missing
