"""scrum + watercooler + Debian's headless Chromium for the board tests (tests/board, the
two-board stack tests in tests/stack) and bench/bench_board.py.

Stack starts scrum under gunicorn and the watercooler on a throwaway SQLite file seeded with
demo / test; Api is the book's Python client (plain requests with demo's token); Board is one
user's browser context on the board.
"""

import os
import re
import secrets
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from itertools import count

import requests
from harness import ROOT, Service, free_port, gunicorn
from playwright.sync_api import expect

SECRET = "board-test-secret-Gy3Hs9Kd5Qn7Rv"
SCRUM = ROOT / "scrum"
WATERCOOLER = ROOT / "watercooler"
COLUMNS = ["Backlog", "Not Started", "In Development", "In Testing", "Completed"]
STATUS = {"Not Started": 1, "In Development": 2, "In Testing": 3, "Completed": 4}
TIMEOUT_MS = 10000  # generous for a busy machine; a passing step never waits for it


def wait_until(read, done, timeout=TIMEOUT_MS / 1000):
    """Call read() until done(value) or the timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


class Api:
    """The book's Python client: plain requests with demo's token."""

    def __init__(self, url, token):
        self.url = url
        self.token = token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.ends = count(40)  # sprint end dates must be unique: today + 40, 41, ...

    def call(self, method, path, expect=200, **kwargs):
        url = path if path.startswith("http") else self.url + path
        response = self.session.request(method, url, timeout=10, **kwargs)
        assert response.status_code == expect, f"{method} {url}: {response.text}"
        return response.json() if response.content else None

    def sprint(self, name, description=""):
        end = (date.today() + timedelta(days=next(self.ends))).isoformat()
        data = {"name": name, "end": end, "description": description}
        return self.call("POST", "/api/sprints/", 201, json=data)

    def task(self, name, **fields):
        return self.call("POST", "/api/tasks/", 201, json={"name": name, **fields})

    def get_task(self, pk):
        return self.call("GET", f"/api/tasks/{pk}/")

    def wait_task(self, pk, done):
        """The stored task once done(task) holds (the page may show a move before it is saved),
        or as it is at the timeout."""
        return wait_until(lambda: self.get_task(pk), done)

    def tasks(self, **params):
        """Every task matching the filters, following the pages."""
        found, url = [], self.url + "/api/tasks/"
        params = {"page_size": 100, **params}
        while url:
            page = self.call("GET", url, params=params)
            found += page["results"]
            url, params = page["next"], None
        return found


def manage(database_url, *args):
    """Run `python scrum.py ARGS` on the database at database_url; returns its output."""
    done = subprocess.run(
        [sys.executable, "scrum.py", *args],
        cwd=SCRUM,
        env={**os.environ, "DATABASE_URL": database_url, "WATERCOOLER_SECRET": SECRET},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def seeded_database(db):
    """Migrate the SQLite file db and seed it with demo / test (seed_demo); returns db."""
    seed(f"sqlite:///{db}")
    return db


def seed(database_url):
    """Migrate the database and seed it with demo / test (seed_demo)."""
    manage(database_url, "migrate", "--noinput")
    manage(database_url, "seed_demo")


class Stack:
    """scrum + watercooler on one SQLite file; the watercooler can be stopped and restarted
    on the same port. production=True runs scrum as it is deployed: DEBUG off (WhiteNoise
    then lets browsers cache the static files instead of revalidating them every time)."""

    def __init__(self, folder, workers=2, production=False):
        self.db = folder / "scrum.sqlite3"
        self.wc_port = free_port()
        self.env = {
            "DATABASE_URL": f"sqlite:///{self.db}",
            "WATERCOOLER_SECRET": SECRET,
            "WATERCOOLER_SERVER": f"127.0.0.1:{self.wc_port}",
        }
        if production:
            self.env.update(DEBUG="off", SECRET_KEY=secrets.token_urlsafe(50))
        self.scrum = gunicorn("scrum", SCRUM, self.env, workers=workers)
        self.watercooler = None
        self.api = None

    def manage(self, *args):
        """Run `python scrum.py ARGS` on this stack's database; returns its output."""
        return manage(self.env["DATABASE_URL"], *args)

    def sql(self, statement, *params):
        """Run SQL on the database behind the API's back (what the API refuses to do)."""
        with sqlite3.connect(self.db, timeout=20) as db:
            rows = db.execute(statement, params).fetchall()
        db.close()
        return rows

    def start(self, template=None):
        """Start on a copy of template (a seeded_database), or migrate and seed afresh."""
        if template:
            with sqlite3.connect(template) as source, sqlite3.connect(self.db) as copy:
                source.backup(copy)
            source.close()
            copy.close()
        else:
            seeded_database(self.db)
        demo = "SELECT key FROM board_token JOIN auth_user ON user_id = auth_user.id"
        ((token,),) = self.sql(demo + " WHERE username = 'demo'")
        self.start_watercooler()
        self.scrum.start()
        self.api = Api(self.scrum.url, token)
        return self

    def start_watercooler(self):
        command = [
            sys.executable,
            "watercooler.py",
            "--port={port}",
            "--drain_window=0",
            f"--allowed_hosts=127.0.0.1:{self.scrum.port}",
        ]
        env = {"WATERCOOLER_SECRET": SECRET}
        self.watercooler = Service(command, WATERCOOLER, env, self.wc_port, ready_path="/health")
        self.watercooler.start()

    def stop_watercooler(self):
        self.watercooler.stop()

    def stop(self):
        self.scrum.stop()
        if self.watercooler:
            self.watercooler.stop()

    def past_sprint(self, name, days_ago):
        """A sprint that ended days_ago (inserted directly: the API refuses past end dates)."""
        end = (date.today() - timedelta(days=days_ago)).isoformat()
        self.sql("INSERT INTO board_sprint (name, description, end) VALUES (?, '', ?)", name, end)
        return self.sql("SELECT id FROM board_sprint WHERE end = ?", end)[0][0]

    def bulk_tasks(self, sprint, names, status=1):
        """Many tasks in one column at once (orders 0..n-1), without announcements."""
        rows = [(name, sprint, status, order) for order, name in enumerate(names)]
        with sqlite3.connect(self.db, timeout=20) as db:
            db.executemany(
                'INSERT INTO board_task (name, description, sprint_id, status, "order") '
                "VALUES (?, '', ?, ?, ?)",
                rows,
            )
        db.close()


class Board:
    """One user's browser context on the board at url, with what a user can see and do.

    Already logged in with token (put where the page keeps it, without spending the token
    endpoint's throttle), or logged out. Console errors, page errors and dialogs are collected
    in problems, except console messages the test said it expects.
    """

    def __init__(self, browser, url, token=None, username="demo"):
        self.url = url
        state = None
        if token:
            storage = [  # as a login through the form leaves them (the API's seed: demo)
                {"name": "apiToken", "value": token},
                {"name": "apiUsername", "value": username},
            ]
            state = {"cookies": [], "origins": [{"origin": self.url, "localStorage": storage}]}
        self.context = browser.new_context(storage_state=state, base_url=self.url)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.problems, self.expected = [], []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("dialog", self._dialog)

    def _console(self, message):
        if message.type != "error":
            return
        if not any(re.search(pattern, message.text) for pattern in self.expected):
            self.problems.append(f"console error: {message.text}")

    def _dialog(self, dialog):
        self.problems.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    def expect_console(self, pattern):
        """Allow console errors matching pattern (e.g. the browser logging an expected 400)."""
        self.expected.append(pattern)

    def expect_status(self, code):
        self.expect_console(rf"the server responded with a status of {code}\b")

    def expect_watercooler_down(self):
        """Allow what the browser logs while the watercooler cannot be reached."""
        self.expect_console(r"WebSocket connection to .* failed")
        self.expect_console(r"ERR_CONNECTION_REFUSED")

    # ---- navigation ---------------------------------------------------------------------

    def open(self, fragment=""):
        self.page.goto("/" + (f"#{fragment}" if fragment else ""))
        return self

    def login(self, username="demo", password="test"):
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        with self.page.expect_response(lambda response: "/api/token" in response.url):
            self.page.get_by_role("button", name="Login").click()

    def open_sprint(self, sprint):
        """The sprint page, loaded with its name shown."""
        self.open(f"sprint/{sprint['id']}")
        heading = self.page.get_by_role("heading", name=sprint["name"], exact=True)
        heading.wait_for()
        return self

    # ---- what is on the sprint page ---------------------------------------------------

    @property
    def live_status(self):
        """The connection badge: data-state connecting, live or reconnecting."""
        return self.page.locator("#live-status")

    def column(self, title):
        heading = self.page.locator("h4", has_text=re.compile(rf"^\s*{re.escape(title)}\s*$"))
        return self.page.locator(".tasks section.status").filter(has=heading)

    def card(self, name, column=None):
        scope = self.column(column) if column else self.page
        return scope.locator(".task-item[draggable=true]").filter(has_text=name)

    def move_with_menu(self, name, column):
        """Move a card with its "Move to..." button and the menu it opens."""
        self.card(name).get_by_role("button", name="Move to...").click()
        self.page.get_by_role("menuitem", name=column, exact=True).click()

    def delete_open_task(self):
        """Delete the task whose details are open: Delete, then "Really delete?"."""
        details = self.page.locator(".task-detail")
        details.get_by_role("button", name="Delete").click()
        details.get_by_role("button", name="Really delete?").click()

    def shown_order(self, title, names):
        """The given cards of a column, top to bottom as shown (flex order applied)."""
        tops = {name: self.card(name, title).bounding_box()["y"] for name in names}
        return sorted(names, key=tops.get)

    def wait_for_order(self, title, names, timeout=TIMEOUT_MS / 1000):
        """Wait until the column shows these cards in this order; fail with what it shows."""
        deadline = time.monotonic() + timeout
        for name in names:
            self.card(name, title).wait_for(timeout=timeout * 1000)
        left = max(0.0, deadline - time.monotonic())
        shown = wait_until(lambda: self.shown_order(title, names), names.__eq__, left)
        assert shown == names, f"{title} shows {shown}"

    # ---- what a user does on the sprint page ------------------------------------------

    def hold_first(self, method, path):
        """Hold the page's first `method` request to path until release() is called, to act
        while it is on its way; returns (every such request sent, in order, release)."""
        held, sent = [], []

        def route(request_route):
            if request_route.request.method == method:
                sent.append(request_route.request)
            if request_route.request.method == method and len(sent) == 1:
                held.append(request_route)
            else:
                request_route.continue_()

        self.page.route(f"**{path}", route)
        return sent, lambda: held.pop().continue_()

    def edit_field(self, field, text):
        """Replace an inline field of the open details as a user does, then leave it (blur)."""
        element = self.page.locator(f".task-detail [data-field={field}]")
        expect(element).to_have_attribute("contenteditable", "true")
        element.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.type(text)
        self.page.locator(".tasks").locator("h4").first.click()  # elsewhere: the field blurs

    def check(self):
        """Fail the test with everything the page complained about."""
        problems, self.problems = self.problems, []
        assert not problems, "the page reported:\n" + "\n".join(problems)

    def close(self):
        self.context.close()
