"""`make run`'s stack as the Procfile starts it under honcho: ports from the environment, a
service that dies started again while the others keep serving, each gunicorn on its folder's
gunicorn.conf.py, no shared gunicorn control socket, and PUBLIC_HOST opening the stack to
other machines. All on 127.0.0.1 free ports."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta

import psutil
import requests
import websocket
from harness import BIN, ROOT, Service, free_port

SECRET = "procfile-test-secret-Tn4Wq8Bz2Kc6Xm"
PORTS = ("SCRUM_PORT", "WATERCOOLER_PORT", "PLACEHOLDER_PORT", "SITE_PORT", "HELLO_PORT")
HEALTH = {  # the page that answers once each service serves
    "SCRUM_PORT": "/health",
    "WATERCOOLER_PORT": "/health",
    "PLACEHOLDER_PORT": "/health",
    "SITE_PORT": "/",
    "HELLO_PORT": "/health",
}


def honcho(tmp_path, *processes, **settings):
    """A Service running `honcho start` on the repository's Procfile, every port a free one,
    scrum on a migrated SQLite file with the demo user, HOME in tmp_path, no .env."""
    env = {name: str(free_port()) for name in PORTS}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'scrum.sqlite3'}", WATERCOOLER_SECRET=SECRET)
    env.update(HOME=str(tmp_path), XDG_RUNTIME_DIR="", **settings)
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        scrum = [sys.executable, "scrum.py", *command]
        environment = {**os.environ, **env}
        subprocess.run(scrum, cwd=ROOT / "scrum", env=environment, check=True, capture_output=True)
    command = [BIN / "honcho", "-e", tmp_path / "no.env", "start", *processes]
    port = int(env["HELLO_PORT"] if "hello" in processes or not processes else env["SCRUM_PORT"])
    return Service(command, ROOT, env, port=port, ready_path=None, timeout=60)


def url(stack, name, path="/"):
    return f"http://127.0.0.1:{stack.env[name]}{path}"


def wait_until_serving(stack, names, timeout=60):
    """Wait until every named service answers its HEALTH page with a 200."""
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            try:
                if requests.get(url(stack, name, HEALTH[name]), timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"{name} not serving:\n{stack.output()}"
            time.sleep(0.2)


def watercooler_pid(stack):
    """The pid of the watercooler's Python process (not of the shells around it)."""
    port = f"--port={stack.env['WATERCOOLER_PORT']}"
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if port in cmdline and cmdline[0].endswith(("python", "python3")):
            return process.pid
    raise AssertionError("no watercooler process")


def test_a_service_that_dies_comes_back_and_the_others_keep_serving(start, tmp_path):
    stack = start(honcho(tmp_path))
    wait_until_serving(stack, PORTS)
    assert not (tmp_path / ".gunicorn").exists()  # no gunicorn made a control socket
    for name in ("hello", "placeholder", "scrum"):  # each read its folder's gunicorn.conf.py
        assert f" INFO {name} gunicorn.error: Starting gunicorn " in stack.output(), name
    first = watercooler_pid(stack)
    os.kill(first, signal.SIGKILL)
    for name in ("SCRUM_PORT", "PLACEHOLDER_PORT", "HELLO_PORT", "SITE_PORT"):
        assert requests.get(url(stack, name, HEALTH[name]), timeout=10).status_code == 200
    wait_until_serving(stack, ["WATERCOOLER_PORT"], timeout=30)
    assert watercooler_pid(stack) != first
    assert "respawn: python exited with status 137; starting it again in 1 s" in stack.output()
    assert stack.proc.poll() is None  # honcho stopped nothing
    stack.stop()  # SIGTERM to honcho, as Ctrl-C would: it stops every service
    assert "SIGKILL" not in stack.output()  # each stopped within honcho's grace period
    for name in PORTS:
        try:
            requests.get(url(stack, name), timeout=2)
        except requests.ConnectionError:
            continue
        raise AssertionError(f"{name} still answers after honcho stopped:\n{stack.output()}")


def test_public_host_lets_other_machines_use_the_stack(start, tmp_path):
    public = "board.lan.test"
    processes = ("hello", "placeholder", "scrum", "watercooler")
    # HOST: the tests listen on loopback only (PUBLIC_HOST alone listens on every interface)
    stack = start(honcho(tmp_path, *processes, PUBLIC_HOST=public, HOST="127.0.0.1"))
    names = ("HELLO_PORT", "PLACEHOLDER_PORT", "SCRUM_PORT", "WATERCOOLER_PORT")
    wait_until_serving(stack, names)
    for name in ("HELLO_PORT", "PLACEHOLDER_PORT", "SCRUM_PORT"):
        host = f"{public}:{stack.env[name]}"
        assert requests.get(url(stack, name), headers={"Host": host}).status_code == 200, name
        other = {"Host": f"other.lan.test:{stack.env[name]}"}
        assert requests.get(url(stack, name), headers=other).status_code == 400, name
    scrum = url(stack, "SCRUM_PORT")
    watercooler = f"{public}:{stack.env['WATERCOOLER_PORT']}"
    page = requests.get(scrum, headers={"Host": f"{public}:{stack.env['SCRUM_PORT']}"})
    assert f"ws://{watercooler}" in page.headers["Content-Security-Policy"]
    api = requests.Session()
    api.auth = ("demo", "test")
    end = (date.today() + timedelta(days=30)).isoformat()
    sprint = api.post(f"{scrum}api/sprints/", json={"name": "LAN", "end": end}).json()
    channel = sprint["links"]["channel"]
    assert channel.startswith(f"ws://{watercooler}/socket?channel=")
    socket = websocket.create_connection(
        channel.replace(watercooler, f"127.0.0.1:{stack.env['WATERCOOLER_PORT']}"),
        host=watercooler,
        origin=f"http://{public}:{stack.env['SCRUM_PORT']}",
        timeout=10,
    )
    task = api.post(f"{scrum}api/tasks/", json={"name": "Seen", "sprint": sprint["id"]}).json()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message = json.loads(socket.recv())
        if message.get("action") == "add" and message.get("id") == task["id"]:
            break
    else:
        raise AssertionError("the hook never reached the socket")
    socket.close()
