"""The board in a real browser: scrum under gunicorn, the watercooler, headless Chromium.

One scrum + watercooler per test module (boardstack.Stack), one Chromium per session, a fresh
browser context per board. Every board fails its test if the page logged a console error,
threw, or opened a dialog, unless the test said it expects that console message (e.g. the 400
of a refused login).
"""

import re
import time

import pytest
from boardstack import TIMEOUT_MS, Stack, seeded_database, wait_until
from playwright.sync_api import expect

expect.set_options(timeout=TIMEOUT_MS)


class Board:
    """One user's browser context on the board, with what a user can see and do."""

    def __init__(self, browser, stack, token=None):
        self.stack = stack
        self.url = stack.scrum.url
        state = None
        if token:  # already logged in, without spending the token endpoint's throttle
            storage = [{"name": "apiToken", "value": token}]
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

    def column(self, title):
        heading = self.page.locator("h4", has_text=re.compile(rf"^\s*{re.escape(title)}\s*$"))
        return self.page.locator(".tasks section.status").filter(has=heading)

    def card(self, name, column=None):
        scope = self.column(column) if column else self.page
        return scope.locator(".task-item[draggable=true]").filter(has_text=name)

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

    def check(self):
        """Fail the test with everything the page complained about."""
        problems, self.problems = self.problems, []
        assert not problems, "the page reported:\n" + "\n".join(problems)

    def close(self):
        self.context.close()


@pytest.fixture(scope="session")
def seeded(tmp_path_factory):
    """A migrated database with demo / test, copied by each module's stack."""
    return seeded_database(tmp_path_factory.mktemp("seeded") / "scrum.sqlite3")


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, seeded):
    """scrum (gunicorn, SCRUM_WORKERS of the module or 2 workers) + watercooler."""
    workers = getattr(request.module, "SCRUM_WORKERS", 2)
    running = Stack(tmp_path_factory.mktemp("board"), workers)
    try:
        yield running.start(template=seeded)
    finally:
        running.stop()


@pytest.fixture
def api(stack):
    return stack.api


@pytest.fixture
def board(browser, stack):
    """board(logged_in=True) opens a fresh browser context; each is checked at the end."""
    opened = []

    def _board(logged_in=True, token=None):
        opened.append(Board(browser, stack, token or (stack.api.token if logged_in else None)))
        return opened[-1]

    yield _board
    problems = []
    for each in opened:
        problems += each.problems
        each.close()
    assert not problems, "the page reported:\n" + "\n".join(problems)
