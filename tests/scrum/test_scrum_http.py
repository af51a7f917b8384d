"""The scrum service over real HTTP: gunicorn on the run's database, a real hook listener."""

import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import date, timedelta

import psycopg
import pytest
import requests
from conftest import SCRUM, SECRET, as_announced, fresh_database, verify
from harness import BIN

SPRINT_END = (date.today() + timedelta(days=30)).isoformat()  # the demo sprint ends sooner


def token_session(server, username="demo", password="test"):
    """A requests session authenticated with the user's API token."""
    response = requests.post(
        f"{server.url}/api/token/", data={"username": username, "password": password}
    )
    response.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Token {response.json()['token']}"
    return session


def test_the_books_python_client_walkthrough(scrum_server):
    """Book ch. 4, "Using a Python Client", step by step against gunicorn."""
    server = scrum_server()
    api = f"{server.url}/api/"
    response = requests.get(api)  # the root needs no login, as in the book
    assert response.status_code == 200
    links = response.json()
    assert set(links) == {"sprints", "tasks", "users"}
    assert requests.get(links["tasks"]).status_code == 401  # everything below it does
    assert requests.get(links["tasks"], auth=("demo", "test")).status_code == 200

    response = requests.post(
        f"{server.url}/api/token/", data={"username": "demo", "password": "test"}
    )
    headers = {"Authorization": f"Token {response.json()['token']}"}
    assert requests.get(api, headers=headers).status_code == 200

    past = {"name": "Something", "end": "2014-01-01"}
    response = requests.post(links["sprints"], data=past, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"end": ["End date cannot be in the past."]}

    response = requests.post(
        links["sprints"], data={"name": "Something", "end": SPRINT_END}, headers=headers
    )
    assert response.status_code == 201
    sprint = response.json()
    assert set(sprint["links"]) == {"self", "tasks", "channel"}

    response = requests.post(
        links["tasks"], data={"name": "First task", "sprint": sprint["id"]}, headers=headers
    )
    assert response.status_code == 201
    task = response.json()
    assert task["links"]["sprint"] == sprint["links"]["self"]

    tasks = requests.get(sprint["links"]["tasks"], headers=headers).json()
    assert [t["id"] for t in tasks["results"]] == [task["id"]]

    task["status"] = 2  # started, as the book's session does it: the whole task, form-encoded
    task["started"] = date.today().isoformat()
    response = requests.put(task["links"]["self"], data=task, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status_display"] == "In Progress"
    assert response.json()["started"] == task["started"]
    me = requests.get(f"{api}users/demo/", headers=headers).json()
    mine = requests.get(me["links"]["tasks"], headers=headers).json()
    assert all(t["assigned"] == "demo" for t in mine["results"])
    assert requests.get(task["links"]["self"], headers=headers).json()["name"] == "First task"


def test_writes_are_announced_to_the_watercooler_signed(scrum_server, listener):
    server = scrum_server({"WATERCOOLER_SERVER": listener.address})
    api = token_session(server)
    refused = api.post(f"{server.url}/api/sprints/", json={"end": "2020-01-01"})
    assert refused.status_code == 400  # rolled back: never announced
    sprint = api.post(f"{server.url}/api/sprints/", json={"end": SPRINT_END}).json()
    task = api.post(f"{server.url}/api/tasks/", json={"name": "T", "sprint": sprint["id"]}).json()
    stale = api.patch(task["links"]["self"], json={"name": "X"}, headers={"If-Match": '"0"'})
    assert stale.status_code == 412  # refused: never announced
    updated = api.patch(task["links"]["self"], json={"name": "Renamed"}).json()
    api.delete(task["links"]["self"]).raise_for_status()

    requests_seen = listener.wait_for(4)
    assert [(m, p) for m, p, _, _ in requests_seen] == [
        ("POST", f"/sprint/{sprint['id']}"),
        ("POST", f"/task/{task['id']}"),
        ("PUT", f"/task/{task['id']}"),
        ("DELETE", f"/task/{task['id']}"),
    ]
    bodies = [verify(request, listener.address) for request in requests_seen]
    changes = [body.pop("change") for body in bodies]
    bodies[0] = as_announced(bodies[0])
    assert bodies == [as_announced(sprint), task, updated, {"id": task["id"]}]
    assert len({change.pop("id") for change in changes}) == 4
    scope = sprint["id"]
    assert changes == [  # the refused writes took no version
        {},
        {"versions": [{"sprint": scope, "version": 1}]},
        {"versions": [{"sprint": scope, "version": 2}]},
        {
            "versions": [{"sprint": scope, "version": 3}],
            "columns": [{"sprint": scope, "status": 1, "ids": []}],
        },
    ]
    assert requests_seen[1][2]["Content-Type"] == "application/json"


def test_a_move_is_one_announcement_with_its_columns_order(scrum_server, listener):
    server = scrum_server({"WATERCOOLER_SERVER": listener.address})
    api = token_session(server)
    sprint = api.post(f"{server.url}/api/sprints/", json={"end": SPRINT_END}).json()
    ids = [
        api.post(f"{server.url}/api/tasks/", json={"name": n, "sprint": sprint["id"]}).json()["id"]
        for n in "abc"
    ]
    moved = api.post(f"{server.url}/api/tasks/{ids[2]}/move/", json={"status": 1, "position": 0})
    assert moved.status_code == 200
    announced = listener.announcements(5)
    time.sleep(0.5)  # nothing more comes
    assert len(listener.requests) == 5
    method, path, body = announced[4]
    assert (method, path, body["order"]) == ("PUT", f"/task/{ids[2]}", 0)
    change = body.pop("change")
    assert body == moved.json()["task"]
    assert change == moved.json()["change"]
    assert change["versions"] == [{"sprint": sprint["id"], "version": 4}]
    assert change["columns"] == [{"sprint": sprint["id"], "status": 1, "ids": [ids[2], *ids[:2]]}]


TWIN_TASK = 1  # the first task seed_demo makes, the same in both databases


def test_identical_announcements_from_two_processes_never_sign_alike(
    scrum_server, listener, tmp_path
):
    """Two servers on twin databases make the same rename at once: the same URL, task and
    version, and still two signatures (the watercooler accepts each one once)."""
    env = {"WATERCOOLER_SERVER": listener.address}
    twin = fresh_database(tmp_path / "twin")
    servers = [scrum_server(env), scrum_server(env, database=twin)]
    pairs = [(server, token_session(server)) for server in servers]

    def rename(pair):
        server, session = pair
        path = f"{server.url}/api/tasks/{TWIN_TASK}/"  # one Host: the same links in both bodies
        return session.patch(path, json={"name": "Same"}, headers={"Host": "localhost"})

    with ThreadPoolExecutor(2) as pool:
        assert [r.status_code for r in pool.map(rename, pairs)] == [200, 200]
    first, second = listener.wait_for(2)
    assert first[:2] == second[:2] == ("PUT", f"/task/{TWIN_TASK}")
    bodies = [verify(request, listener.address) for request in (first, second)]
    assert bodies[0]["change"].pop("id") != bodies[1]["change"].pop("id")
    assert bodies[0] == bodies[1]
    assert first[2]["X-Signature"] != second[2]["X-Signature"]


def test_a_hanging_watercooler_costs_writes_nothing(scrum_server):
    """A listener that accepts connections and never answers: writes stay fast and succeed."""
    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(100)
        address = f"127.0.0.1:{hanging.getsockname()[1]}"
        server = scrum_server({"WATERCOOLER_SERVER": address})
        api = token_session(server)
        durations = []
        for n in range(6):
            started = time.monotonic()
            response = api.post(f"{server.url}/api/tasks/", json={"name": f"T{n}"})
            durations.append(time.monotonic() - started)
            assert response.status_code == 201
    # Each announcement would block for its 2 s read timeout if it were on the request path.
    assert max(durations) < 1.5, durations


def test_an_absent_watercooler_never_fails_a_write(scrum_server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"  # bound, not listening: refused
        server = scrum_server({"WATERCOOLER_SERVER": address})
        api = token_session(server)
        response = api.post(f"{server.url}/api/sprints/", json={"end": SPRINT_END})
        assert response.status_code == 201
        assert api.delete(response.json()["links"]["self"]).status_code == 204


def test_concurrent_moves_never_lose_or_duplicate_positions(scrum_server, listener):
    """8 clients move 12 tasks at once between the columns of a sprint and the backlog: the
    columns stay dense and every transaction got the next version of each scope it touched."""
    server = scrum_server({"WATERCOOLER_SERVER": listener.address}, workers=2, threads=4)
    api = token_session(server)
    sprint = api.post(f"{server.url}/api/sprints/", json={"end": SPRINT_END}).json()
    ids = [
        api.post(f"{server.url}/api/tasks/", json={"name": f"T{n}", "sprint": sprint["id"]}).json()[
            "id"
        ]
        for n in range(12)
    ]
    rng = random.Random(5)

    def target():
        if rng.random() < 0.25:
            return {"sprint": None, "status": 1, "position": rng.randint(0, 4)}
        return {"sprint": sprint["id"], "status": rng.randint(1, 3), "position": rng.randint(0, 6)}

    plans = [[(rng.choice(ids), target()) for _ in range(6)] for _ in range(8)]

    def run(plan):
        session = requests.Session()
        session.headers.update(api.headers)
        return [
            session.post(f"{server.url}/api/tasks/{pk}/move/", json=body).status_code
            for pk, body in plan
        ]

    with ThreadPoolExecutor(len(plans)) as pool:
        codes = [code for result in pool.map(run, plans) for code in result]
    assert codes == [200] * len(codes), server.output()[-2000:]

    everything = api.get(f"{server.url}/api/tasks/?page_size=100").json()["results"]
    assert {t["id"] for t in everything} >= set(ids)
    columns = {}
    for t in everything:
        columns.setdefault((t["sprint"], t["status"]), []).append(t["order"])
    for place, orders in columns.items():
        assert sorted(orders) == list(range(len(orders))), (place, orders)

    announced = listener.announcements(1 + len(ids) + len(codes))
    seen = {}
    for _, _, body in announced[1:]:
        for scope in body["change"]["versions"]:
            seen.setdefault(scope["sprint"], []).append(scope["version"])
    versions = api.get(f"{server.url}/api/sprints/{sprint['id']}/versions/").json()
    assert sorted(seen[sprint["id"]]) == list(range(1, versions["version"] + 1))
    assert sorted(seen[None]) == list(range(1, versions["backlog"] + 1))


PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": "scrum-test-key-Hd7Kp3Xv9Qw2Nb5Tz8",
    "WATERCOOLER_SECRET": SECRET,
}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "WATERCOOLER_SECRET"])
def test_debug_off_refuses_to_start_without_secrets(missing, server_database):
    env = {**os.environ, **PRODUCTION, "DATABASE_URL": server_database}
    del env[missing]
    result = subprocess.run(
        [sys.executable, "scrum.py", "check"], cwd=SCRUM, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert f"{missing} must be set when DEBUG is off" in result.stderr
    assert "Traceback" not in result.stderr
    gunicorn = subprocess.run(
        [BIN / "gunicorn", "--bind", "127.0.0.1:0", "scrum:application"],
        cwd=SCRUM,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gunicorn.returncode != 0
    assert f"{missing} must be set" in gunicorn.stderr


def test_production_serves_static_files_and_local_docs(scrum_server):
    server = scrum_server(PRODUCTION)
    css = requests.get(f"{server.url}/static/rest_framework/css/bootstrap.min.css")
    assert css.status_code == 200
    docs = requests.get(f"{server.url}/api/docs/").text
    bundle = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert bundle in docs
    assert requests.get(server.url + bundle).status_code == 200
    assert "https://" not in docs
    missing = requests.get(f"{server.url}/api/tasks/999/", auth=("demo", "test"))
    assert missing.status_code == 404
    assert "Traceback" not in missing.text
    page = requests.get(f"{server.url}/")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    for asset in re.findall(r'(?:href|src)="(/static/board/[^"]+)"', page.text):
        assert requests.get(server.url + asset).status_code == 200, asset


def guess(server, n, **headers):
    """One wrong password for demo at /api/token/; returns the status code."""
    data = {"username": "demo", "password": f"guess{n}"}
    return requests.post(f"{server.url}/api/token/", data=data, headers=headers).status_code


@pytest.mark.parametrize("cache", ["database", "redis"])
def test_failed_logins_are_limited_per_client_across_workers(scrum_server, cache, request):
    """An attacker rotating X-Forwarded-For over fresh connections to 3 workers gets 10 guesses."""
    env = {"REDIS_URL": request.getfixturevalue("redis_url")} if cache == "redis" else {}
    server = scrum_server(env, workers=3)
    codes = [guess(server, n, **{"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(10)]
    assert codes == [400] * 10
    right = {"username": "demo", "password": "test"}
    refused = requests.post(
        f"{server.url}/api/token/", data=right, headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert requests.get(f"{server.url}/api/tasks/", auth=("demo", "test")).status_code == 429


def test_failed_basic_logins_count_against_the_same_limit(scrum_server):
    server = scrum_server(workers=3)
    logged_in = token_session(server)
    tasks = f"{server.url}/api/tasks/"
    codes = [requests.get(tasks, auth=("demo", f"guess{n}")).status_code for n in range(10)]
    assert codes == [401] * 10
    assert requests.get(tasks, auth=("demo", "test")).status_code == 429  # password unchecked
    assert guess(server, 10) == 429
    assert logged_in.get(tasks).status_code == 200  # a token already handed out keeps working


def test_behind_proxies_the_client_is_the_address_they_saw(scrum_server):
    """NUM_PROXIES=1: the last X-Forwarded-For entry (the proxy's) names the client."""
    server = scrum_server({"NUM_PROXIES": "1"})
    codes = [guess(server, n, **{"X-Forwarded-For": "203.0.113.5"}) for n in range(10)]
    assert codes == [400] * 10
    assert guess(server, 10, **{"X-Forwarded-For": "192.0.2.1, 203.0.113.5"}) == 429
    neighbour = {"X-Forwarded-For": "203.0.113.6"}
    response = requests.get(f"{server.url}/api/tasks/", auth=("demo", "test"), headers=neighbour)
    assert response.status_code == 200


def drop_table(database_url, table):
    """Break a server's database from outside (as a half-done migration or restore would)."""
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as database:
            database.execute(f"DROP TABLE {table}")
    else:
        with psycopg.connect(database_url, autocommit=True) as database:
            database.execute(f"DROP TABLE {table} CASCADE")


def test_a_server_error_is_logged_and_answered_in_json(scrum_server, server_database):
    server = scrum_server(PRODUCTION)
    api = token_session(server)
    assert api.get(f"{server.url}/api/tasks/").status_code == 200
    drop_table(server_database, "board_task")
    response = api.get(f"{server.url}/api/tasks/")
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Server error."}
    log = server.output()
    assert "Internal Server Error: /api/tasks/" in log
    assert "Traceback (most recent call last)" in log and "board_task" in log


DEPLOY_KEY = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6"  # long and varied


def deploy_check(env):
    """`python scrum.py check --deploy` with DEBUG off; returns (exit code, output)."""
    environment = {**os.environ, **PRODUCTION, "SECRET_KEY": DEPLOY_KEY, **env}
    command = [sys.executable, "scrum.py", "check", "--deploy", "--fail-level", "WARNING"]
    result = subprocess.run(command, cwd=SCRUM, env=environment, capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


def test_check_deploy_is_clean_behind_tls():
    code, output = deploy_check({"HTTPS": "on"})
    assert code == 0, output
    assert "System check identified no issues" in output
    code, output = deploy_check({})
    assert code != 0
    assert "security.W004" in output and "security.W008" in output  # HSTS, redirect


def test_https_switch_redirects_and_sends_hsts(scrum_server):
    server = scrum_server({**PRODUCTION, "HTTPS": "on"})
    plain = requests.get(f"{server.url}/api/", allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"https://127.0.0.1:{server.port}/api/"
    proxied = requests.get(
        f"{server.url}/api/tasks/", auth=("demo", "test"), headers={"X-Forwarded-Proto": "https"}
    )
    assert proxied.status_code == 200
    assert proxied.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert proxied.json()["next"] is None
