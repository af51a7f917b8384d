"""The compose stack, deployed for real and driven through nginx on 127.0.0.1.

Run by `make test-compose` (deploy/ci/test-compose.sh), which provides the Docker engine,
COMPOSE_FILE, COMPOSE_PROJECT_NAME and COMPOSE_ENV_FILES (random secrets, free ports). Not
part of `make test`: its name keeps tests/run_suites.py from picking this folder up.
The stack is built and started once for the module and removed (`down -v`) afterwards.
"""

import json
import os
import re
import socket
import subprocess
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
import websocket
from harness import IN_CI, ROOT, launch_chromium

pytestmark = pytest.mark.timeout(900)  # the first test also builds and starts the stack
WAIT = 30  # seconds to wait for a message, a reconnect or a restarted service
BOARD_TEMPLATE = ROOT / "scrum" / "board" / "templates" / "board" / "index.html"


def compose(*args, check=True):
    """`docker compose ARGS` as the README runs it; returns its standard output."""
    done = subprocess.run(
        ["docker", "compose", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    if check and done.returncode:
        pytest.fail(f"docker compose {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def settings():
    """The variables of the generated .env (ports and secrets)."""
    lines = Path(os.environ["COMPOSE_ENV_FILES"]).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture(scope="module")
def stack():
    """Build, `up --wait`, yield the public URLs; then logs on failure and `down -v`."""
    if "COMPOSE_ENV_FILES" not in os.environ:
        message = "run by `make test-compose` (deploy/ci/test-compose.sh), which starts Docker"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    compose("build")
    try:
        compose("up", "--wait", "--wait-timeout", "300")
        env = settings()
        yield {
            name: f"http://127.0.0.1:{env[name.upper() + '_PORT']}"
            for name in ("scrum", "placeholder", "site", "hello")
        }
    finally:
        print(compose("ps", "--all", check=False))
        print(compose("logs", "--no-color", "--tail", "40", check=False)[-20000:])
        compose("down", "--volumes", "--remove-orphans", check=False)


@pytest.fixture(scope="module")
def api(stack):
    """A requests session with the demo user's token, after asking for the demo data."""
    login = {"username": "demo", "password": "test"}
    before = requests.post(f"{stack['scrum']}/api/token/", data=login, timeout=WAIT)
    assert before.status_code == 400, "demo data must appear only when asked for"
    compose("run", "--rm", "scrum", "python", "scrum/scrum.py", "seed_demo")
    token = requests.post(f"{stack['scrum']}/api/token/", data=login, timeout=WAIT)
    assert token.status_code == 200, token.text
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token.json()['token']}"
    return session


@pytest.fixture(scope="module")
def sprint(stack, api):
    end = (date.today() + timedelta(days=60)).isoformat()  # ends are unique: not demo's
    created = api.post(f"{stack['scrum']}/api/sprints/", json={"name": "Deployed", "end": end})
    assert created.status_code == 201, created.text
    return created.json()


def replica_health():
    """{container id: /health of that watercooler replica}, each asked on its own port."""
    health = {}
    for container in compose("ps", "--quiet", "watercooler").split():
        port = subprocess.check_output(["docker", "port", container, "8080/tcp"], text=True)
        address = port.splitlines()[0].strip()
        health[container] = requests.get(f"http://{address}/health", timeout=WAIT).json()
    return health


def connections():
    return {container: h["connections"] for container, h in replica_health().items()}


def open_socket(channel):
    return websocket.create_connection(channel, timeout=WAIT)


def receive(socket, **expected):
    """The next message with the expected fields, skipping the others."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        message = json.loads(socket.recv())
        if all(message.get(key) == value for key, value in expected.items()):
            return message
    raise AssertionError(f"no message with {expected}")


def add_task(stack, api, sprint, name):
    task = {"name": name, "sprint": sprint["id"], "status": 1}
    created = api.post(f"{stack['scrum']}/api/tasks/", json=task, timeout=WAIT)
    assert created.status_code == 201, created.text
    return created.json()


def test_api_walkthrough(stack, api, sprint):
    """Token, sprint, task, move: the book's API on PostgreSQL through nginx."""
    task = add_task(stack, api, sprint, "Ship the compose file")
    moved = api.post(f"{task['links']['self']}move/", json={"status": 2}, timeout=WAIT)
    assert moved.status_code == 200, moved.text
    assert moved.json()["task"]["status_display"] == "In Progress"
    listed = api.get(f"{stack['scrum']}/api/tasks/", params={"sprint": sprint["id"]})
    assert [t["name"] for t in listed.json()["results"]] == ["Ship the compose file"]
    assert task["links"]["self"].startswith(stack["scrum"] + "/api/tasks/")


def test_channel_link_is_the_public_address(stack, sprint):
    """Browsers get the nginx address for sockets, not the internal name hooks go to."""
    ws_base = stack["scrum"].replace("http://", "ws://")
    assert sprint["links"]["channel"].startswith(f"{ws_base}/socket?channel=")


def test_hook_reaches_sockets_on_every_replica(stack, api, sprint):
    """Sockets through nginx land on both replicas; a change reaches every one of them."""
    assert len(replica_health()) == 2
    idle = sum(connections().values())
    sockets = [open_socket(sprint["links"]["channel"]) for _ in range(4)]
    try:
        per_replica = connections()
        assert sum(per_replica.values()) == idle + 4
        assert all(count >= 1 for count in per_replica.values()), per_replica
        task = add_task(stack, api, sprint, "Seen by every replica")
        for socket in sockets:
            message = receive(socket, model="task", action="add", id=task["id"])
            assert message["body"]["name"] == "Seen by every replica"
    finally:
        for socket in sockets:
            socket.close()


ASK_IMAGE = """import hashlib, sys, urllib.request
response = urllib.request.urlopen(sys.argv[1], timeout=5)
digest = hashlib.sha256(response.read()).hexdigest()
print(response.getcode(), response.headers["X-Cache"], digest)"""


def image_inside(path):
    """(status, X-Cache, sha256 of the body) of an image asked of placeholder itself, inside
    its container: nginx's cache in front would answer a repeat without asking it."""
    url = f"http://127.0.0.1:{PORTS['placeholder']}{path}"
    return compose("exec", "-T", "placeholder", "python", "-c", ASK_IMAGE, url).split()


def test_placeholder_image_cached_in_redis(stack):
    """Rendered once, then a HIT from Redis even after every worker has been replaced."""
    path = f"/image/321x{100 + uuid.uuid4().int % 500}/?text=compose"
    status, cache, digest = image_inside(path)
    assert (status, cache) == ("200", "MISS")
    compose("restart", "placeholder")
    compose("up", "--wait", "placeholder")
    assert image_inside(path) == ["200", "HIT", digest]


def test_nginx_keeps_images_while_placeholder_is_down(stack):
    """An immutable image is kept by nginx: a repeat never reaches placeholder."""
    path = f"/image/123x{100 + uuid.uuid4().int % 500}/?text=nginx"
    first = requests.get(stack["placeholder"] + path, timeout=WAIT)
    assert (first.status_code, first.headers["X-Proxy-Cache"]) == (200, "MISS")
    assert first.headers["Content-Type"] == "image/png"
    compose("stop", "placeholder")
    try:
        again = requests.get(stack["placeholder"] + path, timeout=WAIT)
        assert (again.status_code, again.headers["X-Proxy-Cache"]) == (200, "HIT")
        assert again.content == first.content
        never = f"/image/7x7/?text={uuid.uuid4().hex[:8]}"
        other = requests.get(stack["placeholder"] + never, timeout=WAIT)
        assert other.status_code in (502, 504)  # never asked before: placeholder is needed
    finally:
        compose("start", "placeholder")
        compose("up", "--wait", "placeholder")


def test_built_site_served_by_nginx(stack):
    """The one-shot build's output: home page, a page, its stylesheet and the sitemap."""
    home = requests.get(stack["site"] + "/", timeout=WAIT)
    assert home.status_code == 200 and "<title>" in home.text
    pricing = requests.get(stack["site"] + "/pricing/", timeout=WAIT)
    assert pricing.status_code == 200 and "Pricing" in pricing.text
    stylesheet = pricing.text.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    css = requests.get(stack["site"] + stylesheet, timeout=WAIT)
    assert css.status_code == 200 and css.headers["Content-Type"] == "text/css"
    sitemap = requests.get(stack["site"] + "/sitemap.xml", timeout=WAIT)
    assert f"<loc>{stack['site']}/pricing/</loc>" in sitemap.text
    assert requests.get(stack["site"] + "/no-such-page/", timeout=WAIT).status_code == 404


def test_services_run_unprivileged(stack):
    """Every service of ours runs as the image's unprivileged user, not root."""
    for service in ("scrum", "watercooler", "placeholder", "hello"):
        assert compose("exec", "-T", service, "id", "-un").strip() == "app", service


def test_hello(stack):
    hello = requests.get(stack["hello"] + "/", timeout=WAIT)
    assert (hello.status_code, hello.text) == (200, "Hello World")


# --- Operations: health, secrets, the login limit behind nginx, caches, headers ------------
PORTS = {"scrum": 8000, "placeholder": 8001, "hello": 8003}
ASK_HEALTH = """import sys, urllib.error, urllib.request
try:
    response = urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError as error:
    response = error
print(response.getcode(), response.read().decode())"""


def health(service):
    """(status, JSON body) of a service's /health, asked inside its container."""
    url = f"http://127.0.0.1:{PORTS[service]}/health"
    status, body = compose("exec", "-T", service, "python", "-c", ASK_HEALTH, url).split(" ", 1)
    return int(status), json.loads(body)


def health_until(service, status, state="ok"):
    """The service's health once it answers with this status code and body status (or WAIT)."""
    deadline = time.monotonic() + WAIT
    while True:
        answer = health(service)
        if (answer[0], answer[1]["status"]) == (status, state) or time.monotonic() > deadline:
            return answer
        time.sleep(1)


def container(service):
    return compose("ps", "--quiet", service).split()[0]


def test_every_health_check_asks_health(stack):
    """Compose's checks ask /health; each service is healthy and says why."""
    for service in PORTS:
        inspect = ["docker", "inspect", "--format", "{{json .Config.Healthcheck.Test}}"]
        check = json.loads(subprocess.check_output([*inspect, container(service)], text=True))
        assert check[-1] == f"http://127.0.0.1:{PORTS[service]}/health", service
        state = ["docker", "inspect", "--format", "{{.State.Health.Status}}", container(service)]
        assert subprocess.check_output(state, text=True).strip() == "healthy", service
    status, body = health("scrum")
    assert status == 200
    assert body["database"] == {"vendor": "postgresql", "state": "up"}
    assert health("placeholder") == (
        200,
        {"status": "ok", "cache": {"kind": "redis", "state": "up"}},
    )
    assert health("hello") == (200, {"status": "ok"})


def test_scrum_health_is_503_while_postgresql_is_stopped(stack, api):
    compose("stop", "postgres")
    try:
        status, body = health_until("scrum", 503, "unavailable")
        assert status == 503, body
        assert body["reason"].startswith("database unreachable")
    finally:
        compose("start", "postgres")
    assert health_until("scrum", 200)[0] == 200
    assert api.get(f"{stack['scrum']}/api/tasks/", timeout=WAIT).status_code == 200


def redis_cli(service, *args):
    return compose("exec", "-T", service, "redis-cli", *args).split()


def test_the_image_cache_is_bounded_and_apart_from_the_broker(stack):
    assert redis_cli("cache", "config", "get", "maxmemory-policy")[-1] == "allkeys-lru"
    assert int(redis_cli("cache", "config", "get", "maxmemory")[-1]) > 0
    assert redis_cli("redis", "config", "get", "maxmemory-policy")[-1] == "noeviction"
    for database in range(16):  # no image in the broker's Redis
        assert not redis_cli("redis", "-n", str(database), "--scan", "--pattern", "*image*")
    compose("stop", "cache")
    try:
        status, body = health("placeholder")
        assert (status, body["status"]) == (200, "degraded")
        image = requests.get(stack["placeholder"] + "/image/20x10.png", timeout=WAIT)
        assert image.status_code == 200
    finally:
        compose("start", "cache")
    assert health_until("placeholder", 200)[1]["status"] == "ok"


def test_the_login_limit_counts_the_address_nginx_saw(stack):
    """NUM_PROXIES=1: the client is what nginx appended, not nginx, not the client's claim."""
    username = f"compose-{uuid.uuid4().hex[:8]}"
    response = requests.post(
        f"{stack['scrum']}/api/token/",
        data={"username": username, "password": "wrong"},
        headers={"X-Forwarded-For": "203.0.113.9"},
        timeout=WAIT,
    )
    assert response.status_code == 400
    nginx_ip = subprocess.check_output(
        [
            "docker",
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        ]
        + [container("nginx")],
        text=True,
    ).strip()
    deadline = time.monotonic() + WAIT
    while f"username '{username}'" not in (logs := compose("logs", "--no-color", "scrum")):
        assert time.monotonic() < deadline, "the failed login was not logged"
        time.sleep(1)
    line = next(line for line in logs.splitlines() if f"username '{username}'" in line)
    client = line.rsplit(" from ", 1)[1].strip()
    assert client not in (nginx_ip, "203.0.113.9"), line
    assert "wrong" not in line


def test_security_headers_on_every_public_port(stack):
    for name, path in (("site", "/"), ("site", "/sitemap.xml"), ("placeholder", "/")):
        response = requests.get(stack[name] + path, timeout=WAIT)
        assert response.headers["X-Content-Type-Options"] == "nosniff", (name, path)
        assert response.headers["Referrer-Policy"] == "same-origin", (name, path)
        assert response.headers["X-Frame-Options"] == "DENY", (name, path)
    for url in (stack["hello"] + "/", stack["site"] + "/no-such-page/"):
        response = requests.get(url, timeout=WAIT)
        assert response.headers["X-Frame-Options"] == "DENY", url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
    board = requests.get(stack["scrum"] + "/", timeout=WAIT)
    assert "frame-ancestors 'none'" in board.headers["Content-Security-Policy"]
    assert board.headers["X-Frame-Options"] == "DENY"
    assert board.headers["X-Content-Type-Options"] == "nosniff"


def slow_client(url, body):
    """A connection that sends a request's start and then nothing more, as a slow link does."""
    address = url.removeprefix("http://").split(":")
    connection = socket.create_connection((address[0], int(address[1])), timeout=WAIT)
    if body:
        start = "POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
    else:
        start = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
    connection.sendall(start.encode())
    return connection


def test_slow_clients_do_not_hold_gunicorns_workers(stack):
    """Behind nginx (which reads whole requests before passing them on), a dozen clients that
    stall mid-request leave hello's one worker and scrum's two free for everybody else."""
    stalled = [slow_client(stack[name], body) for name in ("hello", "scrum") for body in (0, 1)]
    stalled += [slow_client(stack["hello"], False) for _ in range(8)]
    try:
        time.sleep(1)
        for url in (stack["hello"] + "/", stack["scrum"] + "/api/"):  # held: a 30 s wait
            assert requests.get(url, timeout=5).status_code == 200, url
    finally:
        for connection in stalled:
            connection.close()


def test_no_metrics_through_nginx_access_logs_and_bounded_log_files(stack):
    for name in ("scrum", "placeholder", "hello"):
        assert requests.get(stack[name] + "/metrics", timeout=WAIT).status_code == 404, name
    assert requests.get(stack["hello"] + "/health?from=check", timeout=WAIT).status_code == 200
    time.sleep(1)
    request = '"GET /health?from=check HTTP/1.1" 200'
    line = next(
        line for line in compose("logs", "--no-color", "hello").splitlines() if request in line
    )
    assert " INFO hello gunicorn.access: " in line, line
    for name in ("scrum", "hello", "nginx", "redis"):
        container = compose("ps", "--quiet", name).split()[0]
        inspect = ["docker", "inspect", "--format", "{{json .HostConfig.LogConfig}}", container]
        config = json.loads(subprocess.run(inspect, capture_output=True, text=True).stdout)
        assert config == {"Type": "local", "Config": {"max-size": "10m", "max-file": "5"}}, name


def test_gunicorns_own_lines_take_the_services_format(stack):
    """Each gunicorn read its service's gunicorn.conf.py (gunicorn looks for it in the folder it
    starts in, before any --chdir): the master's own start line is one of the service's."""
    for name in ("scrum", "placeholder", "hello"):
        logs = compose("logs", "--no-color", name)
        assert re.search(rf" INFO {name} gunicorn\.error: Starting gunicorn ", logs), logs[-3000:]


def test_board_scripts_have_hashed_names_are_cached_for_good_and_gzipped(stack):
    page = requests.get(stack["scrum"] + "/", timeout=WAIT).text
    app = re.search(r'<script src="(/static/board/js/app\.[0-9a-f]{12}\.js)"', page).group(1)
    gzip = {"Accept-Encoding": "gzip"}
    response = requests.get(stack["scrum"] + app, headers=gzip, timeout=WAIT)
    assert response.headers["Cache-Control"] == "max-age=315360000, public, immutable"
    assert response.headers["Content-Encoding"] == "gzip"


def run_once(*args):
    """`docker compose run --rm --no-deps ARGS`: (exit status, output)."""
    command = ["docker", "compose", "run", "--rm", "--no-deps", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_unsafe_secrets_are_refused(stack):
    example = ["docker", "compose", "--env-file", ".env.example", "config", "--quiet"]
    done = subprocess.run(example, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "set it in .env" in done.stderr  # shipped empty
    status, output = run_once("-e", "SECRET_KEY=change-me", "hello")
    assert status == 3 and "hello: SECRET_KEY is shorter than 32 characters" in output
    # placeholder and scrum run two workers. Not always 3: when both of gunicorn 27's workers
    # fail to boot, the second one's exit raises HaltServer again while the master halts (a
    # traceback, exit status 1). Either way the container stops, saying why.
    status, output = run_once("-e", "SECRET_KEY=change-me", "placeholder")
    assert status in (1, 3) and "placeholder: SECRET_KEY is shorter than 32" in output
    status, output = run_once("-e", "WATERCOOLER_SECRET=change-me", "scrum")
    assert status in (1, 3) and "scrum: WATERCOOLER_SECRET is shorter than 32" in output
    status, output = run_once("-e", "WATERCOOLER_SECRET=change-me", "watercooler")
    assert status == 1 and "watercooler: WATERCOOLER_SECRET is shorter than 32" in output


# --- The board in headless Chromium -----------------------------------------------------
# HOOK: these run once the single-page board (scrum/board/templates/board/index.html) is in
# the tree; until then there is no board to open and the failover is shown with a plain socket.
BOARD = pytest.mark.skipif(not BOARD_TEMPLATE.exists(), reason="the board is not in this tree")


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless (never a browser downloaded by a tool)."""
    if not BOARD_TEMPLATE.exists():
        yield None
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


def open_board(chromium, stack, sprint):
    """A logged-in board showing the sprint, its socket live; None without the board."""
    if chromium is None:
        return None
    from playwright.sync_api import expect

    page = chromium.new_page()
    page.set_default_timeout(WAIT * 1000)
    page.goto(stack["scrum"] + "/")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("test")
    page.get_by_role("button", name="Login").click()
    page.get_by_role("button", name="Login").wait_for(state="detached")
    page.goto(f"{stack['scrum']}/#sprint/{sprint['id']}")
    page.get_by_role("heading", name=sprint["name"], exact=True).wait_for()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    return page


@BOARD
def test_board_login_form_in_chromium(stack, chromium):
    """The deployed board, through nginx, shows its login form in a real browser."""
    page = chromium.new_page()
    try:
        page.goto(stack["scrum"] + "/")
        page.wait_for_selector("form input[name=username]", timeout=WAIT * 1000)
        assert page.locator("form input[type=password]").is_visible()
    finally:
        page.close()


def socket_on(replica, channel):
    """A socket through nginx that landed on the given replica (round robin: a few tries)."""
    for _ in range(6):
        before = connections()[replica]
        socket = open_socket(channel)
        if connections()[replica] == before + 1:
            return socket
        socket.close()
    raise AssertionError(f"nginx never sent a socket to {replica}")


def test_failover_to_the_other_replica(stack, api, sprint, chromium):
    """Stop the replica the board (or a plain socket) is on: its sockets are closed, they
    reconnect through nginx to the other replica, which gets every change from then on.
    (Last: it leaves one replica.)"""
    before = connections()
    page = open_board(chromium, stack, sprint)
    if page is None:
        moved = socket_on(next(iter(before)), sprint["links"]["channel"])
        page_replica = None
    else:
        grown = connections()
        (page_replica,) = [c for c in grown if grown[c] == before[c] + 1]
        moved = socket_on(page_replica, sprint["links"]["channel"])
    replica = page_replica or next(iter(before))
    subprocess.run(["docker", "stop", replica], check=True, capture_output=True, timeout=120)
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        while True:  # drain until the server's close (1001, going away)
            moved.recv()
    reconnected = open_socket(sprint["links"]["channel"])
    try:
        (survivor,) = replica_health()
        assert survivor != replica
        task = add_task(stack, api, sprint, "After the failover")
        assert receive(reconnected, model="task", action="add", id=task["id"])
        if page is not None:
            from playwright.sync_api import expect

            expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
            expect(page.locator(".task-item", has_text="After the failover")).to_be_visible()
            assert connections()[survivor] >= 2  # the board's socket and ours
    finally:
        reconnected.close()
