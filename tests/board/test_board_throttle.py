"""Password guessing on the login form: the token endpoint's 429 message shows (spec 3.6).

A module of its own: once throttled, nobody on this stack can log in for a minute.
"""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
SCRUM_WORKERS = 1  # each worker counts on its own: one worker throttles after 10 attempts
ATTEMPTS = 15  # the token endpoint allows 10 a minute


def test_the_throttle_message_shows_on_the_login_form(board):
    user = board(logged_in=False).open()
    user.expect_status(400)
    user.expect_status(429)
    message = user.page.locator("#login .error")
    for _ in range(ATTEMPTS):
        user.login("demo", "guess")
        expect(message).to_have_count(1)
        if "throttled" in message.inner_text():
            break
    expect(message).to_have_text(re.compile(r"^Request was throttled\. Expected available in \d+"))
    expect(user.page.get_by_role("link", name="Logout")).to_have_count(0)
