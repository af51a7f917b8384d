"""The watercooler goes away mid-session and comes back on the same port.

The page says it is reconnecting, reconnects by itself, and then shows every change that was
made through the API while it was away; an edit made on the page meanwhile is not lost, and
neither is a task announced while the page refetches.
"""

import re

import pytest
from boardstack import wait_until
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
RECONNECT_MS = 30000  # generous: the back-off may have grown while the server was down


def test_the_board_reconnects_and_catches_up_after_a_watercooler_restart(stack, api, board):
    sprint = api.sprint("Restart")
    renamed = api.task("Before the restart", sprint=sprint["id"])
    deleted = api.task("Deleted while away", sprint=sprint["id"])
    edited = api.task("Edited on the page", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    user.expect_watercooler_down()
    page = user.page
    indicator = page.locator("#live-status")
    expect(indicator).to_have_attribute("data-state", "live")

    stack.stop_watercooler()
    expect(indicator).to_have_attribute("data-state", "reconnecting")
    api.task("Added while away", sprint=sprint["id"])
    api.call("PATCH", renamed["links"]["self"], json={"name": "Renamed while away"})
    api.call("DELETE", deleted["links"]["self"], expect=204)
    api.call("POST", f"/api/tasks/{renamed['id']}/move/", json={"status": 3, "position": 0})

    user.card("Edited on the page").click()  # the API is up: an edit now must be kept
    user.edit_field("name", "Saved while away")
    page.locator(".task-detail").get_by_role("button", name="Save").click()
    expect(page.locator(".task-detail [data-field=name]")).to_have_text("Saved while away")
    page.locator(".task-detail").get_by_role("button", name="Close").click()

    stack.start_watercooler()
    expect(indicator).to_have_attribute("data-state", "live", timeout=RECONNECT_MS)
    expect(user.card("Added while away", "Not Started")).to_be_visible()
    expect(user.card("Renamed while away", "In Testing")).to_be_visible()
    expect(user.card("Before the restart")).to_have_count(0)
    expect(user.card("Deleted while away")).to_have_count(0)
    expect(user.card("Saved while away", "Not Started")).to_be_visible()
    assert api.get_task(edited["id"])["name"] == "Saved while away"

    api.task("Added after the restart", sprint=sprint["id"])  # and it is live again
    expect(user.card("Added after the restart", "Not Started")).to_be_visible()


def test_a_task_announced_while_the_catch_up_refetch_is_under_way_stays(stack, api, board):
    """The refetch after a reconnect reads the lists at one moment; a task announced before
    its answers arrive is newer than they are and must not be removed by them."""
    sprint = api.sprint("Refetch race")
    user = board().open_sprint(sprint)
    user.expect_watercooler_down()
    page = user.page
    expect(user.live_status).to_have_attribute("data-state", "live")
    held, holding = [], [True]

    def hold(route):  # the lists as the server answers now, handed to the page later
        if holding:
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route(re.compile(r"/api/tasks/\?"), hold)
    stack.stop_watercooler()
    expect(user.live_status).to_have_attribute("data-state", "reconnecting")
    stack.start_watercooler()
    expect(user.live_status).to_have_attribute("data-state", "live", timeout=RECONNECT_MS)
    wait_until(lambda: len(held), lambda count: count >= 2)  # the sprint's tasks, the backlog
    holding.clear()
    api.task("Added during the refetch", sprint=sprint["id"])
    expect(user.card("Added during the refetch", "Not Started")).to_be_visible()

    for route, response in held:
        route.fulfill(response=response)
    api.task("Added after the refetch", sprint=sprint["id"])  # announced after the answers
    expect(user.card("Added after the refetch", "Not Started")).to_be_visible()
    expect(user.card("Added during the refetch", "Not Started")).to_be_visible()
