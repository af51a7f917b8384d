"""A hostile logged-in user against gunicorn: oversized text, bodies and JSON, dates at the end
of the calendar, and password guesses sent all at once. Each gets a JSON answer, never a 500."""

import sqlite3
import threading
from contextlib import closing
from datetime import date, timedelta

import psycopg
import pytest
import redis
import requests
from test_scrum_http import PRODUCTION, SPRINT_END, token_session

NAME, DESCRIPTION = 100, 10_000  # the limits scrum/README.md states
HOOK_MAX_SIZE = 1024 * 1024  # the largest announcement the watercooler accepts
DEEP = "[" * 200_000  # deeper than Python's parser can go


def test_text_fields_and_pages_are_bounded(scrum_server, listener):
    server = scrum_server({"WATERCOOLER_SERVER": listener.address})
    api = token_session(server)
    sprints, tasks = f"{server.url}/api/sprints/", f"{server.url}/api/tasks/"
    too_long = {"name": "n" * (NAME + 1), "description": "d" * (DESCRIPTION + 1)}
    for url in (sprints, tasks):
        refused = api.post(url, json={**too_long, "end": SPRINT_END})
        assert refused.status_code == 400
        assert refused.json() == {
            "name": [f"Ensure this field has no more than {NAME} characters."],
            "description": [f"Ensure this field has no more than {DESCRIPTION} characters."],
        }
    sprint = api.post(sprints, json={"end": SPRINT_END}).json()
    escaped = "\u0001"  # six characters in JSON: the widest task has only these
    widest = {"name": escaped * NAME, "description": escaped * DESCRIPTION, "sprint": sprint["id"]}
    task = api.post(tasks, json=widest)
    assert task.status_code == 201
    assert len(task.content) < 70_000  # so a page of 500 tasks stays under 35 MB
    assert api.patch(task.json()["links"]["self"], json=too_long).status_code == 400
    assert api.patch(sprint["links"]["self"], json=too_long).status_code == 400
    _, _, _, announced = listener.wait_for(2)[1]
    assert len(announced) < HOOK_MAX_SIZE  # the widest task's announcement reaches every board
    for _ in range(2):
        api.post(tasks, json=widest).raise_for_status()
    page = api.get(tasks, params={"page_size": 500, "sprint": sprint["id"]})  # the largest
    assert page.status_code == 200 and len(page.json()["results"]) == 3
    assert len(page.content) < 3 * 70_000


def test_the_boards_forms_hold_no_more_than_the_api_takes(scrum_server):
    page = requests.get(f"{scrum_server().url}/").text
    assert page.count(f'name="name" maxlength="{NAME}"') == 3  # new sprint, its edit, new task
    assert page.count(f'name="description" maxlength="{DESCRIPTION}"') == 3


JSON_ENDPOINTS = [
    ("POST", "/api/token/"),
    ("POST", "/api/sprints/"),
    ("PATCH", "/api/sprints/{sprint}/"),
    ("POST", "/api/sprints/{sprint}/carry-over/"),
    ("POST", "/api/tasks/"),
    ("PUT", "/api/tasks/{task}/"),
    ("POST", "/api/tasks/{task}/move/"),
]


def test_deeply_nested_json_is_a_400_on_every_endpoint(scrum_server):
    server = scrum_server(PRODUCTION)
    api = token_session(server)
    sprint = api.post(f"{server.url}/api/sprints/", json={"end": SPRINT_END}).json()["id"]
    task = api.post(f"{server.url}/api/tasks/", json={"name": "T", "sprint": sprint}).json()["id"]
    headers = {"Content-Type": "application/json"}
    for method, path in JSON_ENDPOINTS:
        url = server.url + path.format(sprint=sprint, task=task)
        response = api.request(method, url, data=DEEP, headers=headers)
        assert response.status_code == 400, (method, path, response.text[:200])
        assert response.json() == {"detail": "JSON parse error - nested too deeply."}
    assert "Traceback" not in server.output()


def insert_sprint(database_url, end):
    """Store a sprint ending on `end` around the API (as data from before its limits)."""
    sql = "INSERT INTO board_sprint (name, description, \"end\", version) VALUES ('', '', {}, 0)"
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as database, database:
            return database.execute(sql.format("?"), [end.isoformat()]).lastrowid
    with psycopg.connect(database_url, autocommit=True) as database:
        return database.execute(sql.format("%s") + " RETURNING id", [end]).fetchone()[0]


def test_sprints_at_the_ends_of_the_calendar(scrum_server, server_database):
    server = scrum_server(PRODUCTION)
    api = token_session(server)
    sprints = f"{server.url}/api/sprints/"
    refused = api.post(sprints, json={"end": "9999-12-31"})
    assert refused.status_code == 400
    assert refused.json() == {"end": ["End date must be within ten years from today."]}
    furthest = date.today() + timedelta(days=3650)
    assert api.post(sprints, json={"end": furthest.isoformat()}).status_code == 201
    last = insert_sprint(server_database, date.max)
    burndown = api.get(f"{sprints}{last}/burndown/")
    assert burndown.status_code == 200, burndown.text
    days = burndown.json()["days"]
    assert (len(days), days[-1]["date"]) == (14, "9999-12-31")
    year = api.get(f"{sprints}{last}/burndown/", params={"start": "9999-01-01"}).json()
    assert len(year["days"]) == 365
    first = insert_sprint(server_database, date(1, 1, 5))
    assert [d["date"] for d in api.get(f"{sprints}{first}/burndown/").json()["days"]] == [
        f"0001-01-0{n}" for n in range(1, 6)
    ]
    assert "Traceback" not in server.output()


def test_too_large_bodies_get_json_answers(scrum_server):
    server = scrum_server(PRODUCTION)
    api = token_session(server)
    tasks = f"{server.url}/api/tasks/"
    big = {"name": "T", "description": "x" * 3_000_000}
    for sent in ({"json": big}, {"data": big}):
        response = api.post(tasks, **sent)
        assert response.status_code == 413
        assert response.json() == {"detail": "Request body too large (at most 1048576 bytes)."}
    fields = api.post(tasks, data={f"f{n}": "" for n in range(1001)})
    assert fields.status_code == 400
    assert fields.json() == {"detail": "Too many fields (at most 1000)."}
    stranger = requests.get(f"{server.url}/api/", headers={"Host": "attacker.example"})
    assert stranger.status_code == 400 and stranger.json() == {"detail": "Bad request."}


def guesses_at_once(url, count, password="wrong"):
    """Send `count` logins for demo at the same moment; return their status codes."""
    ready, codes = threading.Barrier(count), []

    def guess():
        ready.wait()
        data = {"username": "demo", "password": password}
        codes.append(requests.post(url, data=data, timeout=120).status_code)

    threads = [threading.Thread(target=guess) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(codes)


@pytest.fixture
def empty_redis(redis_url):
    """URL of a Redis database of its own, emptied (other tests count logins in theirs)."""
    url = redis_url.rsplit("/", 1)[0] + "/5"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.mark.parametrize("cache", ["database", "redis"])
def test_simultaneous_guesses_check_no_more_passwords_than_the_limit(scrum_server, cache, request):
    env = {"REDIS_URL": request.getfixturevalue("empty_redis")} if cache == "redis" else {}
    server = scrum_server(env, workers=3, threads=4)
    codes = guesses_at_once(f"{server.url}/api/token/", 12)
    assert codes.count(400) == 10 and codes.count(429) == 2
    assert guesses_at_once(f"{server.url}/api/token/", 1, password="test") == [429]


def test_failed_logins_on_refused_writes_stay_counted(scrum_server):
    """A write's transaction rolls back when refused; the failed login it counted does not."""
    server = scrum_server()
    tasks = f"{server.url}/api/tasks/"
    codes = [requests.post(tasks, auth=("demo", f"guess{n}")).status_code for n in range(10)]
    assert codes == [401] * 10
    assert requests.get(tasks, auth=("demo", "test")).status_code == 429
