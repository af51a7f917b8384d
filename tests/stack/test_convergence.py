"""Every board shows what the database holds, under team load and through faults.

Two boards in Chromium, each on its own side of a PostgreSQL + Redis stack (as in
test_two_boards.py), and several API clients writing through both sides for about a minute:
renames (an A-B-A rename through the two sides among them), moves within and between columns,
moves to the top of a column of 150 tasks, adds and deletes. Meanwhile the watercooler that
side A announces to is killed and started again, Redis is killed and started again from its
snapshot (which brings back older counters), and side B's watercooler hangs for 10 seconds.
Within 10 seconds of the last write both boards show exactly what the database holds: every
card, in its column, at its position, read from what the page shows.
"""

import os
import random
import signal
import threading
import time

import psycopg
import pytest
import redis as redis_py
import requests
from boardstack import Api, seed
from harness import redis_service
from test_two_boards import Side

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]
WRITERS = 4
WRITE_SECONDS = 60
CONVERGED_S = 10
BIG_COLUMN = 150
TITLES = {1: "Not Started", 2: "In Development", 3: "In Testing", 4: "Completed"}

# Each column's card names, top to bottom as the page lays them out.
SHOWN = """() => Object.fromEntries(Array.from(document.querySelectorAll('.tasks section.status'))
  .map(section => [section.querySelector('h4').textContent.trim(),
    Array.from(section.querySelectorAll('.task-item[draggable=true]'))
      .map(card => [card.getBoundingClientRect().top, card.querySelector('.name').textContent])
      .sort((a, b) => a[0] - b[0]).map(pair => pair[1])]))"""


def held(api, sprint):
    """Each column's task names in order, as the database holds them."""
    tasks = api.tasks(sprint=sprint, page_size=500) + api.tasks(backlog="true", page_size=500)
    columns = {title: [] for title in ["Backlog", *TITLES.values()]}
    for task in sorted(tasks, key=lambda t: (t["order"], t["id"])):
        title = TITLES[task["status"]] if task["sprint"] else "Backlog"
        columns[title].append(task["name"])
    return columns


class Writer(threading.Thread):
    """One API client: random writes through both sides until told to stop."""

    def __init__(self, number, apis, sprint, stop):
        super().__init__(daemon=True)
        self.apis, self.sprint, self.stop = apis, sprint, stop
        self.random = random.Random(number)
        self.number, self.made = number, 0
        self.statuses = {}  # HTTP status -> count
        self.errors = []

    def call(self, method, path, **kwargs):
        api = self.random.choice(self.apis)
        try:
            response = api.session.request(method, api.url + path, timeout=10, **kwargs)
        except requests.RequestException as error:
            self.errors.append(f"{method} {path}: {error}")
            return None
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            self.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response.json() if response.ok and response.content else None

    def some_task(self):
        tasks = self.call("GET", "/api/tasks/", params={"sprint": self.sprint, "page_size": 500})
        tasks = tasks["results"] if tasks else []
        return self.random.choice(tasks) if tasks else None

    def run(self):
        while not self.stop.is_set():
            self.write()
            time.sleep(self.random.uniform(0.1, 0.5))

    def write(self):
        kind = self.random.choice(["rename", "aba", "move", "top", "add", "delete", "backlog"])
        if kind == "add":
            self.made += 1
            status = self.random.choice(list(TITLES))
            name = f"w{self.number}-{self.made}"
            self.call(
                "POST", "/api/tasks/", json={"name": name, "sprint": self.sprint, "status": status}
            )
            return
        task = self.some_task()
        if task is None:
            return
        path = f"/api/tasks/{task['id']}/"
        if kind == "rename":
            self.call("PATCH", path, json={"name": task["name"] + "'"})
        elif kind == "aba":  # through one side, then back through the other
            first, second = self.apis if self.random.random() < 0.5 else self.apis[::-1]
            for api, name in ((first, task["name"] + "-B"), (second, task["name"])):
                api.session.patch(api.url + path, json={"name": name}, timeout=10)
        elif kind == "move":
            status = self.random.choice(list(TITLES))
            position = self.random.randint(0, 20)
            self.call("POST", path + "move/", json={"status": status, "position": position})
        elif kind == "top":
            self.call("POST", path + "move/", json={"status": 1, "position": 0})
        elif kind == "delete" and task["status"] != 1:  # the big column keeps its size
            self.call("DELETE", path)
        elif kind == "backlog" and task["status"] != 4:
            self.call("POST", path + "move/", json={"status": 1, "sprint": None, "position": 0})


def signal_watercooler(side, signum):
    os.killpg(side.watercooler.proc.pid, signum)


@pytest.fixture
def database_url(postgres_url):
    """A database of its own on the run's cluster: the other stack tests never see its tasks."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE DATABASE convergence")
    return postgres_url.rsplit("/", 1)[0] + "/convergence"


def test_every_board_shows_the_database_after_load_and_faults(
    browser, database_url, tmp_path_factory, record_latency
):
    seed(database_url)
    redis = redis_service(tmp_path_factory.mktemp("redis")).start()
    redis_url = f"redis://127.0.0.1:{redis.port}/0"
    a, b = Side(database_url, redis_url), Side(database_url, redis_url)
    try:
        for side in (a, b):
            side.start(browser)
        sprint = a.api.sprint("Convergence")
        for n in range(BIG_COLUMN):
            a.api.task(f"big-{n}", sprint=sprint["id"])
        for side in (a, b):
            side.board.open_sprint(sprint)
        stop = threading.Event()
        apis = [Api(side.scrum.url, side.api.token) for side in (a, b)]
        writers = [Writer(n, apis, sprint["id"], stop) for n in range(WRITERS)]
        for writer in writers:
            writer.start()
        faults(a, b, redis)
        stop.set()
        for writer in writers:
            writer.join(timeout=30)
        assert not [e for w in writers for e in w.errors], [w.errors for w in writers]
        truth = held(a.api, sprint["id"])
        began = time.monotonic()
        deadline = began + CONVERGED_S
        shown = {}
        while time.monotonic() < deadline:
            shown = {name: side.board.page.evaluate(SHOWN) for name, side in (("A", a), ("B", b))}
            if all(columns == truth for columns in shown.values()):
                record_latency(
                    "both boards show the database, after the last write", time.monotonic() - began
                )
                break
            time.sleep(0.25)
        for side, columns in shown.items():
            for title, names in truth.items():
                assert columns.get(title) == names, f"board {side}, column {title}"
    finally:
        for side in (a, b):
            side.stop()
        redis.stop()


def faults(a, b, redis):
    """The minute of writing, with its faults on a schedule (seconds from now)."""
    start = time.monotonic()

    def at(second):
        time.sleep(max(0.0, start + second - time.monotonic()))

    at(8)
    a.kill_watercooler()
    at(14)
    a.watercooler.start()
    at(22)
    redis_py.Redis(port=redis.port).save()  # what it restores: older counters than at the kill
    at(26)
    redis.stop(signal.SIGKILL)
    at(28)
    redis.start()
    at(36)
    signal_watercooler(b, signal.SIGSTOP)
    at(46)
    signal_watercooler(b, signal.SIGCONT)
    at(WRITE_SECONDS)
