"""One user on the board in headless Chromium: login, sprints, tasks, edits, drag and drop.

What is asserted is what the user sees (labels, buttons, headings, card texts from
board-spec.md) and what the API then stores.
"""

import re
import time
from datetime import date, timedelta

import pytest
import requests
from boardstack import COLUMNS, STATUS, wait_until
from harness import content_security_policy, missing_security_headers
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TODAY = date.today().isoformat()
XSS = "<img src=x onerror=alert(1)>"


def test_a_wrong_password_shows_the_apis_message_and_the_right_one_logs_in(board):
    user = board(logged_in=False).open()
    user.expect_status(400)
    page = user.page
    message = page.locator("#login .error")
    for _ in range(2):  # a second failure replaces the first message (clearErrors)
        message.evaluate_all("shown => shown.forEach(old => old.setAttribute('data-old', ''))")
        user.login("demo", "wrong")
        expect(page.locator("#login .error:not([data-old])")).to_have_count(1)
        expect(message).to_have_count(1)
        expect(message).to_have_text("Unable to log in with provided credentials.")
        first_label = page.locator("#login label").first
        expect(first_label.locator("xpath=preceding-sibling::*[1]")).to_have_class(
            re.compile(r"\berror\b")
        )
    expect(page.get_by_role("link", name="Logout")).to_have_count(0)
    user.login("demo", "test")
    expect(page.get_by_role("heading", name="Your Sprints")).to_be_visible()
    header = page.locator("header")
    expect(header).to_contain_text("Scrum Board Example")
    expect(header).to_contain_text(re.compile("demo|Demo User"))
    expect(header.get_by_role("link", name="Logout")).to_be_visible()
    expect(header.get_by_role("link", name="Your Sprints")).to_have_attribute("href", "/")
    expect(page.get_by_label("Username")).to_have_count(0)
    assert page.evaluate("localStorage.apiToken")


def test_a_bookmarked_sprint_opened_logged_out_shows_the_login_then_the_sprint(api, board):
    sprint = api.sprint("Bookmarked sprint")
    user = board(logged_in=False).open(f"sprint/{sprint['id']}")
    expect(user.page.get_by_label("Password")).to_be_visible()
    user.login()
    expect(user.page.get_by_role("heading", name="Bookmarked sprint")).to_be_visible()
    expect(user.column("Backlog")).to_be_visible()


def test_home_lists_the_sprints_that_ended_within_the_last_week_or_end_later(stack, api, board):
    recent = stack.past_sprint("Ended three days ago", 3)
    stack.past_sprint("Ended a month ago", 30)
    upcoming = api.sprint("Upcoming sprint")
    page = board().open().page
    links = page.locator("a.sprint")
    expect(links.filter(has_text="Upcoming sprint")).to_contain_text(f"DUE BY {upcoming['end']}")
    expect(links.filter(has_text="Upcoming sprint")).to_have_attribute(
        "href", f"#sprint/{upcoming['id']}"
    )
    ended = (date.today() - timedelta(days=3)).isoformat()
    expect(links.filter(has_text="Ended three days ago")).to_contain_text(f"DUE BY {ended}")
    expect(links.filter(has_text="Ended three days ago")).to_have_attribute(
        "href", f"#sprint/{recent}"
    )
    expect(links.filter(has_text="Ended a month ago")).to_have_count(0)


def test_ended_sprints_are_a_click_away_latest_first_and_long_names_stay_in_their_tiles(
    stack, api, board
):
    older = stack.past_sprint("Ended two months ago", 60)
    stack.past_sprint("Ended a fortnight ago", 14)
    long_name = "Supercalifragilisticexpialidocious" * 2  # one word wider than a tile
    api.sprint(long_name)
    page = board().open().page
    ended = page.get_by_role("button", name="Ended and archived sprints")
    expect(ended).to_have_attribute("aria-expanded", "false")
    expect(page.locator("a.sprint", has_text="Ended two months ago")).to_have_count(0)
    ended.click()
    expect(ended).to_have_attribute("aria-expanded", "true")
    shown = page.get_by_label("Ended and archived sprints").locator("a.sprint")
    expect(shown.filter(has_text="Ended").first).to_contain_text("Ended a fortnight ago")
    expect(shown.filter(has_text="Ended two months ago")).to_have_attribute(
        "href", f"#sprint/{older}"
    )
    expect(shown.filter(has_text="Ended a fortnight ago")).to_contain_text(
        "ENDED " + (date.today() - timedelta(days=14)).isoformat()
    )
    expect(shown.filter(has_text=long_name)).to_have_count(0)  # still current
    tile = page.locator(".sprints:not(.ended) a.sprint", has_text=long_name)
    assert tile.evaluate("tile => tile.scrollWidth <= tile.clientWidth")
    shown.filter(has_text="Ended two months ago").click()
    expect(page.get_by_role("heading", name="Ended two months ago")).to_be_visible()
    page.go_back()
    ended = page.get_by_role("button", name="Ended and archived sprints")
    ended.click()  # a new page of the home: closed again, loaded at once
    expect(
        page.get_by_label("Ended and archived sprints").get_by_text("Ended two months ago")
    ).to_be_visible()
    ended.click()
    expect(page.get_by_label("Ended and archived sprints")).to_have_count(0)


def test_a_sprint_created_through_the_form_opens_and_a_past_date_is_refused(api, board):
    user = board().open()
    user.expect_status(400)
    page = user.page
    add = page.get_by_role("button", name="Add Sprint")
    add.click()
    expect(add).to_be_hidden()
    page.get_by_label("Sprint Name").fill("Made in the browser")
    page.get_by_label("End Date").fill((date.today() - timedelta(days=1)).isoformat())
    page.get_by_label("Description").fill("Drawn up by a user")
    page.get_by_role("button", name="Create").click()
    error = page.locator("label[for=id_end]").locator("xpath=preceding-sibling::*[1]")
    expect(error).to_have_text("End date cannot be in the past.")
    expect(error).to_have_class(re.compile(r"\berror\b"))
    assert not api.call("GET", "/api/sprints/", params={"search": "Made in the browser"})["count"]

    end = (date.today() + timedelta(days=90)).isoformat()
    page.get_by_label("End Date").fill(end)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Made in the browser")).to_be_visible()
    created = api.call("GET", "/api/sprints/", params={"search": "Made in the browser"})
    assert created["count"] == 1, created
    sprint = created["results"][0]
    assert (sprint["end"], sprint["description"]) == (end, "Drawn up by a user")
    assert page.url.endswith(f"#sprint/{sprint['id']}")
    expect(page.locator(".due-date")).to_have_text(f"Due {end}")


def test_cancel_closes_the_sprint_form_without_creating_anything(api, board):
    page = board().open().page
    before = api.call("GET", "/api/sprints/")["count"]
    add = page.get_by_role("button", name="Add Sprint")
    add.click()
    page.get_by_label("Sprint Name").fill("Never created")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_label("Sprint Name")).to_have_count(0)
    expect(add).to_be_visible()
    assert api.call("GET", "/api/sprints/")["count"] == before


def test_the_sprint_page_shows_name_due_date_description_and_the_five_columns(api, board):
    sprint = api.sprint("Sprint page", description="Everything about the page")
    page = board().open_sprint(sprint).page
    expect(page.locator(".due-date")).to_have_text(f"Due {sprint['end']}")
    expect(page.locator("p.description")).to_have_text("Everything about the page")
    expect(page.locator(".tasks section.status h4")).to_have_text(COLUMNS)
    for title in COLUMNS:
        expect(page.get_by_role("button", name=f"Add Task to {title}", exact=True)).to_be_visible()
    expect(page).to_have_title("Sprint page - Scrum Board")
    page.get_by_role("link", name="Your Sprints").click()
    expect(page).to_have_title("Scrum Board")


def test_the_burndown_draws_each_day_until_today_with_a_legend(stack, api, board):
    sprint = {"id": stack.past_sprint("Burning down", -5), "name": "Burning down"}  # ends in 5 days
    for name, status in (("Done", 4), ("Open", 1), ("Going", 2)):
        api.task(name, sprint=sprint["id"], status=status)
    page = board().open_sprint(sprint).page
    chart = page.get_by_role("img", name=re.compile("^Burndown"))
    today = date.today().isoformat()
    expect(chart).to_have_attribute("aria-label", f"Burndown: 2 of 3 tasks open on {today}")
    expect(chart.locator("circle.point")).to_have_count(9)  # 8 days ago to today
    expect(chart.locator(".legend text")).to_have_text(["Ideal", "Open tasks"])
    fresh = api.sprint("Made today")  # its first day is today: the chart has a point at once
    api.task("First task", sprint=fresh["id"])
    chart = board().open_sprint(fresh).page.get_by_role("img", name=re.compile("^Burndown"))
    expect(chart).to_have_attribute("aria-label", f"Burndown: 1 of 1 tasks open on {today}")


def test_a_phone_shows_one_column_at_a_time_with_tabs_and_a_moved_card_stays_in_view(api, board):
    sprint = api.sprint("On a phone")
    api.task("Pocket task", sprint=sprint["id"])
    api.task("Finished", sprint=sprint["id"], status=4)
    user = board()
    user.page.set_viewport_size({"width": 390, "height": 844})
    page = user.open_sprint(sprint).page
    tabs = page.get_by_role("tablist", name="Columns").get_by_role("tab")
    counts = [re.compile(r"^Backlog \d+$"), "Not Started 1", "In Development 0"]
    expect(tabs).to_have_text([*counts, "In Testing 0", "Completed 1"])  # the backlog is shared
    shown = page.locator(".tasks section.status:visible h4")
    expect(shown).to_have_text(["Not Started"])
    page.get_by_role("tab", name="Completed").click()
    expect(shown).to_have_text(["Completed"])
    expect(user.card("Finished")).to_be_visible()
    page.get_by_role("tab", name="Completed").press("ArrowLeft")
    expect(shown).to_have_text(["In Testing"])
    expect(page.get_by_role("tab", name="In Testing")).to_be_focused()
    page.get_by_role("tab", name="Not Started").click()
    user.move_with_menu("Pocket task", "In Development")  # focus follows it: its tab shows
    expect(shown).to_have_text(["In Development"])
    expect(page.get_by_role("tab", name="In Development")).to_have_attribute(
        "aria-selected", "true"
    )
    expect(user.card("Pocket task", "In Development")).to_be_focused()
    page.set_viewport_size({"width": 1366, "height": 800})  # a wide screen: all five, no tabs
    expect(shown).to_have_count(5)
    expect(page.get_by_role("tablist", name="Columns")).to_be_hidden()


def test_a_sprint_edited_on_its_page_changes_for_everyone_and_is_deleted_once_empty(api, board):
    sprint = api.sprint("Before the edit", description="old words")
    task = api.task("Still here", sprint=sprint["id"])
    user, other = board().open_sprint(sprint), board().open_sprint(sprint)
    page = user.page
    page.get_by_role("button", name="Edit sprint").click()
    form = page.get_by_role("form", name="Edit sprint")
    expect(form.get_by_label("Sprint Name")).to_have_value("Before the edit")
    end = (date.today() + timedelta(days=333)).isoformat()  # a day no other sprint ends
    form.get_by_label("Sprint Name").fill("After the edit")
    form.get_by_label("End Date").fill(end)
    form.get_by_label("Description").fill("new words")
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    for each in (user, other):  # the other board hears it from the watercooler
        expect(each.page.get_by_role("heading", name="After the edit")).to_be_visible()
        expect(each.page.locator(".due-date")).to_have_text(f"Due {end}")
        expect(each.page.locator("p.description")).to_have_text("new words")
        expect(each.page).to_have_title("After the edit - Scrum Board")
    stored = api.call("GET", f"/api/sprints/{sprint['id']}/")
    assert (stored["name"], stored["end"], stored["description"]) == (
        "After the edit",
        end,
        "new words",
    )
    user.expect_status(409)
    page.get_by_role("button", name="Edit sprint").click()
    form.get_by_role("button", name="Delete sprint").click()
    form.get_by_role("button", name="Really delete?").click()
    expect(form.locator(".error")).to_contain_text("still has 1 task")
    api.call("DELETE", f"/api/tasks/{task['id']}/", expect=204)
    form.get_by_role("button", name="Delete sprint").click()
    form.get_by_role("button", name="Really delete?").click()
    expect(page.get_by_role("heading", name="Your Sprints")).to_be_visible()
    expect(page.locator("a.sprint", has_text="After the edit")).to_have_count(0)
    expect(
        other.page.get_by_role("heading", name=f"Sprint {sprint['id']} not found.")
    ).to_be_visible()


def test_an_archived_sprint_leaves_the_home_pages_list_for_the_ended_and_archived(api, board):
    sprint = api.sprint("To archive")
    user = board().open_sprint(sprint)
    page = user.page
    page.get_by_role("button", name="Edit sprint").click()
    form = page.get_by_role("form", name="Edit sprint")
    form.get_by_label("Archived").check()
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    assert api.call("GET", f"/api/sprints/{sprint['id']}/")["archived"] is True
    page.get_by_role("link", name="Your Sprints").click()
    expect(page.get_by_role("heading", name="Your Sprints")).to_be_visible()
    expect(page.locator(".sprints:not(.ended) a.sprint", has_text="To archive")).to_have_count(0)
    page.get_by_role("button", name="Ended and archived sprints").click()
    archived = page.get_by_label("Ended and archived sprints").locator("a.sprint")
    expect(archived.filter(has_text="To archive")).to_contain_text(
        f"ARCHIVED, DUE BY {sprint['end']}"
    )


def test_a_column_over_its_wip_limit_is_marked_and_says_so_on_every_board(api, board):
    sprint = api.sprint("Limited")
    api.task("Coding one", sprint=sprint["id"], status=2)
    user, other = board().open_sprint(sprint), board().open_sprint(sprint)
    page = user.page
    page.get_by_role("button", name="Edit sprint").click()
    form = page.get_by_role("form", name="Edit sprint")
    form.get_by_label("In Development").fill("1")
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    stored = api.call("GET", f"/api/sprints/{sprint['id']}/")
    assert stored["wip_limits"] == {"2": 1}
    for each in (user, other):
        column = each.column("In Development")
        expect(column.locator(".count")).to_have_text("1 / 1")
        expect(column.get_by_text("over its limit")).to_be_hidden()
    api.task("Coding two", sprint=sprint["id"], status=2)
    for each in (user, other):
        column = each.column("In Development")
        expect(column.locator(".count")).to_have_text("2 / 1")
        expect(column.get_by_text("over its limit")).to_be_visible()
        expect(column.locator(".count")).to_have_attribute("aria-label", "2 tasks of at most 1")
    expect(user.column("In Testing").locator(".count")).to_have_text("0")  # no limit


def test_a_task_added_in_a_column_of_the_sprint_starts_there(api, board):
    sprint = api.sprint("Adding in a column")
    user = board().open_sprint(sprint)
    column = user.column("In Development")
    column.get_by_role("button", name="Add Task").click()
    column.get_by_label("Task Name").fill("Started at once")
    column.get_by_role("button", name="Create").click()
    expect(user.card("Started at once", "In Development")).to_be_visible()
    (task,) = api.tasks(search="Started at once")
    assert (task["sprint"], task["status"], task["started"]) == (sprint["id"], 2, TODAY)


def test_an_unknown_sprint_says_so(board):
    user = board()
    user.expect_status(404)
    user.expect_status(400)  # its tasks, asked for with the sprint: ?sprint=999999 is refused
    user.open("sprint/999999")
    expect(user.page.get_by_role("heading", name="Sprint 999999 not found.")).to_be_visible()


def test_a_task_added_on_the_board_goes_to_the_backlog(api, board):
    sprint = api.sprint("Adding tasks")
    user = board().open_sprint(sprint)
    page = user.page
    add = user.column("Backlog").get_by_role("button", name="Add Task")
    add.click()
    expect(add).to_be_hidden()
    page.get_by_label("Task Name").fill("Write the first draft")
    page.get_by_label("Description").fill("In the backlog")
    page.get_by_role("button", name="Create").click()
    expect(user.card("Write the first draft", "Backlog")).to_be_visible()
    expect(page.get_by_label("Task Name")).to_have_count(0)
    expect(add).to_be_visible()
    (task,) = api.tasks(search="Write the first draft")
    assert (task["sprint"], task["status"], task["description"]) == (None, 1, "In the backlog")


def test_each_inline_field_of_the_task_details_is_saved(api, board):
    sprint = api.sprint("Inline edits")
    task = api.task("Edit me", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    page = user.page
    user.card("Edit me").click()
    details = page.locator(".task-detail")
    expect(details).to_be_visible()
    expect(user.card("Edit me")).to_be_hidden()
    for field, placeholder in (("due", "No due date"), ("assigned", "Nobody")):
        element = details.locator(f"[data-field={field}]")
        expect(element).to_have_text("")  # the placeholder is not text that could be saved
        expect(element).to_have_attribute("data-placeholder", re.compile(f"^{placeholder}"))
    save = details.get_by_role("button", name="Save")
    expect(save).to_be_hidden()
    due = (date.today() + timedelta(days=10)).isoformat()
    edits = [
        ("name", "  Write the docs  ", "Write the docs"),
        ("description", "Every endpoint, with examples", "Every endpoint, with examples"),
        ("due", due, due),
        ("assigned", "demo", "demo"),
    ]
    for field, typed, stored in edits:
        user.edit_field(field, typed)
        expect(save).to_be_visible()
        save.click()
        expect(save).to_be_hidden()
        expect(details.locator(f"[data-field={field}]")).to_have_text(stored)
        assert api.get_task(task["id"])[field] == stored, field
    details.get_by_role("button", name="Close").click()
    expect(details).to_have_count(0)
    expect(user.card("Write the docs")).to_be_visible()


def test_the_due_date_and_the_assignee_can_be_picked_instead_of_typed(stack, api, board):
    sprint = api.sprint("Pickers")
    task = api.task("To pick for", sprint=sprint["id"])
    page = board().open_sprint(sprint).page
    page.get_by_text("To pick for").click()
    details = page.locator(".task-detail")
    picker = details.get_by_label("Pick who is assigned")
    expect(picker.locator("option", has_text="demo")).to_have_count(1)  # fed by /api/users/
    picker.select_option("demo")
    due = (date.today() + timedelta(days=3)).isoformat()
    details.get_by_label("Pick the due date").fill(due)
    expect(details.get_by_role("textbox", name="Assigned To", exact=True)).to_have_text("demo")
    expect(details.get_by_role("textbox", name="Due", exact=True)).to_have_text(due)
    details.get_by_role("button", name="Save").click()
    stored = api.wait_task(task["id"], lambda t: t["assigned"] == "demo")
    assert (stored["assigned"], stored["due"]) == ("demo", due)
    picker.select_option("")  # Nobody
    details.get_by_role("button", name="Save").click()
    assert api.wait_task(task["id"], lambda t: t["assigned"] is None)["due"] == due


def test_a_detail_save_the_api_refuses_shows_why_and_keeps_the_stored_value(api, board):
    sprint = api.sprint("Refused edit")
    task = api.task("Bad due date", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    user.expect_status(400)
    page = user.page
    user.card("Bad due date").click()
    user.edit_field("due", "next week")
    page.locator(".task-detail").get_by_role("button", name="Save").click()
    expect(page.locator(".task-detail .error")).to_contain_text(
        "Due date must be a date (YYYY-MM-DD)."
    )
    assert api.get_task(task["id"])["due"] is None


def test_a_task_deleted_from_its_details_leaves_the_board_and_the_api(api, board):
    sprint = api.sprint("Deleting")
    task = api.task("Delete me", sprint=sprint["id"])
    api.task("Keep me", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    user.card("Delete me").click()
    details = user.page.locator(".task-detail")
    details.get_by_role("button", name="Delete").click()
    expect(details.get_by_role("button", name="Really delete?")).to_be_focused()
    assert api.get_task(task["id"])["name"] == "Delete me"  # one click deletes nothing
    details.get_by_role("button", name="Really delete?").click()
    expect(details).to_have_count(0)
    expect(user.card("Delete me")).to_have_count(0)
    expect(user.card("Keep me", "Not Started")).to_be_visible()
    api.call("GET", task["links"]["self"], expect=404)


def test_a_card_dragged_to_every_column_is_stored_there(api, board):
    sprint = api.sprint("Drag everywhere")
    task = api.task("Travelling card")
    user = board().open_sprint(sprint)
    card = user.card("Travelling card")
    expect(user.card("Travelling card", "Backlog")).to_be_visible()
    route = ["Not Started", "In Development", "In Testing", "Completed", "In Testing", "Backlog"]
    for title in route:
        card.drag_to(user.column(title).locator("h4"))
        expect(user.card("Travelling card", title)).to_be_visible()
        place = (None, 1) if title == "Backlog" else (sprint["id"], STATUS[title])
        stored = api.wait_task(task["id"], lambda t, at=place: (t["sprint"], t["status"]) == at)
        assert (stored["sprint"], stored["status"]) == place, stored
        assert stored["started"] == (None if title in ("Backlog", "Not Started") else TODAY)
        if title in ("In Testing", "Completed"):
            assert stored["completed"] == (TODAY if title == "Completed" else None), stored
    assert user.card("Travelling card").count() == 1


def test_a_card_dropped_on_another_card_takes_its_place(api, board):
    sprint = api.sprint("Reorder")
    names = ["First card", "Second card", "Third card"]
    for name in names:
        api.task(name, sprint=sprint["id"])
    user = board().open_sprint(sprint)
    assert user.shown_order("Not Started", names) == names
    user.card("Third card").drag_to(user.card("First card"))
    expected = ["Third card", "First card", "Second card"]
    user.wait_for_order("Not Started", expected)

    def stored_order():
        tasks = sorted(api.tasks(sprint=sprint["id"]), key=lambda t: (t["status"], t["order"]))
        return [t["name"] for t in tasks]

    assert wait_until(stored_order, expected.__eq__) == expected
    assert {t["status"] for t in api.tasks(sprint=sprint["id"])} == {1}

    development = user.column("In Development").locator("h4")
    user.card("Second card").drag_to(development)
    user.wait_for_order("In Development", ["Second card"])
    user.card("First card").drag_to(development)  # a drop on a column puts it on top
    user.wait_for_order("In Development", ["First card", "Second card"])
    expected = ["Third card", "First card", "Second card"]  # by (status, order)
    assert wait_until(stored_order, expected.__eq__) == expected


def test_the_move_to_control_moves_a_card(api, board):
    sprint = api.sprint("Move to")
    task = api.task("Moved by menu", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    user.move_with_menu("Moved by menu", "In Testing")
    expect(user.card("Moved by menu", "In Testing")).to_be_visible()
    expect(user.page.locator(".task-detail")).to_have_count(0)
    stored = api.wait_task(task["id"], lambda t: t["status"] == 3)
    assert (stored["sprint"], stored["status"], stored["started"]) == (sprint["id"], 3, TODAY)


def test_the_move_to_menu_works_from_the_keyboard_and_moves_only_on_enter(api, board):
    sprint = api.sprint("Move by keyboard")
    task = api.task("Moved by keys", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    keys = user.page.keyboard
    user.card("Moved by keys").get_by_role("button", name="Move to...").focus()
    keys.press("Enter")
    menu = user.page.get_by_role("menu")
    expect(menu.get_by_role("menuitem", name="Backlog")).to_be_focused()
    for key in ("ArrowDown", "ArrowUp", "ArrowUp"):  # browsing moves nothing
        keys.press(key)
    expect(menu.get_by_role("menuitem", name="Completed")).to_be_focused()  # it wraps around
    keys.press("ArrowDown")
    user.page.wait_for_timeout(300)
    assert api.get_task(task["id"])["sprint"] == sprint["id"]
    keys.press("Enter")  # on Backlog
    expect(user.card("Moved by keys", "Backlog")).to_be_visible()
    assert api.wait_task(task["id"], lambda t: t["sprint"] is None)["sprint"] is None
    expect(user.card("Moved by keys", "Backlog")).to_be_focused()  # the focus follows the card
    user.card("Moved by keys").get_by_role("button", name="Move to...").click()
    keys.press("Escape")
    expect(user.page.get_by_role("menu")).to_have_count(0)
    expect(user.card("Moved by keys")).to_be_focused()


def test_cards_show_in_a_browser_without_request_idle_callback(api, board):
    """Desktop Safari ships no window.requestIdleCallback: the board must not need it."""
    sprint = api.sprint("No idle callbacks")
    for name in ("Idle one", "Idle two"):
        api.task(name, sprint=sprint["id"], description=f"about {name}")
    user = board()
    user.context.add_init_script("delete window.requestIdleCallback;")
    user.open_sprint(sprint)
    assert user.page.evaluate("typeof window.requestIdleCallback") == "undefined"
    for name in ("Idle one", "Idle two"):
        expect(user.card(name, "Not Started")).to_be_visible()
    user.card("Idle two").click()
    expect(user.page.locator(".task-detail [data-field=description]")).to_have_text(
        "about Idle two"
    )


def test_every_card_shows_its_assignee_due_date_description_and_a_menu_of_the_five_columns(
    api, board
):
    sprint = api.sprint("At a glance")
    past = (date.today() - timedelta(days=2)).isoformat()
    later = (date.today() + timedelta(days=5)).isoformat()
    api.task("Plain", sprint=sprint["id"])
    api.task("Late", sprint=sprint["id"], assigned="demo", due=past, description="why")
    api.task("Soon", sprint=sprint["id"], due=later)
    user = board().open_sprint(sprint)
    plain, late, soon = (user.card(name) for name in ("Plain", "Late", "Soon"))
    expect(late.locator(".assignee")).to_have_text("DE")
    expect(late.locator(".assignee")).to_have_attribute("title", "Assigned to demo")
    expect(late.locator(".due")).to_have_text(f"Overdue since {past}")  # in words, not a colour
    expect(late.get_by_role("img", name="Has a description")).to_be_visible()
    expect(soon.locator(".due")).to_have_text(f"Due {later}")
    for card in (plain, soon):
        expect(card.locator(".assignee, .has-description")).to_have_count(0)
    expect(user.column("Not Started").locator(".count")).to_have_text("3")
    expect(user.column("Backlog").locator(".count")).to_have_attribute(
        "aria-label", re.compile("tasks$")
    )
    for card in (plain, late):
        card.get_by_role("button", name="Move to...").click()
        items = user.page.get_by_role("menuitem")
        expect(items).to_have_count(len(COLUMNS))
        assert items.all_inner_texts() == COLUMNS
        user.page.keyboard.press("Escape")


def test_a_move_the_api_refuses_puts_the_card_back_and_says_why(stack, api, board):
    pk = stack.past_sprint("Already over", 2)
    sprint = api.call("GET", f"/api/sprints/{pk}/")
    task = api.task("Too late for that sprint")
    user = board().open_sprint(sprint)
    user.expect_status(400)
    user.card("Too late for that sprint").drag_to(user.column("In Development").locator("h4"))
    expect(user.page.get_by_text("Cannot assign tasks to past sprints.").first).to_be_visible()
    expect(user.card("Too late for that sprint", "Backlog")).to_be_visible()
    expect(user.card("Too late for that sprint", "In Development")).to_have_count(0)
    assert api.get_task(task["id"])["sprint"] is None


def test_names_and_descriptions_with_html_show_as_text(stack, api, board):
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User;"
        f"User.objects.create_user('mallory', password='m', first_name={XSS!r})",
    )
    sprint = api.sprint(f"Sprint {XSS}", description=f"About {XSS}")
    api.task(XSS, sprint=sprint["id"], description=f"<b>{XSS}</b>")
    user = board(logged_in=False).open()
    user.login("mallory", "m")
    page = user.page
    expect(page.locator("header")).to_contain_text(re.compile(f"mallory|{re.escape(XSS)}"))
    expect(page.locator("a.sprint").filter(has_text=f"Sprint {XSS}")).to_be_visible()
    user.open_sprint(sprint)
    expect(page.locator("p.description")).to_have_text(f"About {XSS}")
    card = user.card(XSS, "Not Started")
    expect(card).to_contain_text(XSS)
    card.click()
    expect(page.locator(".task-detail [data-field=name]")).to_have_text(XSS)
    expect(page.locator(".task-detail [data-field=description]")).to_have_text(f"<b>{XSS}</b>")
    expect(page.locator("img[src=x], .tasks b")).to_have_count(0)  # header included
    page.wait_for_timeout(300)  # a dialog would have opened by now; the board fixture checks


def new_user_token(stack, username, full_name=""):
    """Create a user with an API token behind the API's back; return the token."""
    first, _, last = full_name.partition(" ")
    user = f"User.objects.create_user({username!r}, first_name={first!r}, last_name={last!r})"
    output = stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User;"
        "from board.models import Token;"
        f"print('token', Token.objects.create(user={user}).key)",
    )
    return re.search(r"^token (\w+)$", output, re.MULTILINE).group(1)


def status_with(api, token, path="/api/sprints/"):
    """The status code of a GET of an API path with a token."""
    headers = {"Authorization": f"Token {token}"}
    return requests.get(f"{api.url}{path}", headers=headers, timeout=10).status_code


def test_logout_ends_the_token_on_the_server_and_a_reload_keeps_the_login_form(api, board):
    user = board(logged_in=False).open()
    user.login()  # a session of its own: logout deletes its token on the server
    page = user.page
    expect(page.get_by_role("heading", name="Your Sprints")).to_be_visible()
    copy = page.evaluate("localStorage.apiToken")  # what an attacker lifted from the laptop
    assert status_with(api, copy) == 200
    with page.expect_response(lambda response: "/api/logout" in response.url) as answer:
        page.get_by_role("link", name="Logout").click()
    assert answer.value.status == 204
    expect(page.get_by_label("Username")).to_be_visible()
    assert page.evaluate("localStorage.apiToken") is None
    assert status_with(api, copy) == 401
    assert status_with(api, api.token) == 200  # demo's other session goes on
    page.reload()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_role("link", name="Logout")).to_have_count(0)
    expect(page.get_by_role("heading", name="Your Sprints")).to_have_count(0)


def test_a_sprint_with_600_tasks_two_api_pages_shows_all_600_cards(stack, api, board):
    sprint = api.sprint("Big sprint")
    names = [f"Bulk task {n:03}" for n in range(1, 601)]  # pages hold at most 500
    stack.bulk_tasks(sprint["id"], names)
    user = board().open_sprint(sprint)
    cards = user.column("Not Started").locator(".task-item")
    expect(cards).to_have_count(600, timeout=15000)
    texts = " ".join(cards.all_inner_texts())
    assert set(re.findall(r"Bulk task \d+", texts)) == set(names)


def asked_once_before_the_scripts_ran(user, asked, urls):
    """Assert the page asked for each of urls once, and before its scripts had run (from the
    page's head: DOMContentLoaded is where the board starts)."""
    assert [asked.count(url) for url in urls] == [1] * len(urls), asked
    started = user.page.evaluate(
        """() => Object.fromEntries(performance.getEntriesByType('resource')
            .map(entry => [entry.name, entry.startTime]))"""
    )
    scripts_run = user.page.evaluate(
        "performance.getEntriesByType('navigation')[0].domContentLoadedEventStart"
    )
    assert all(started[url] < scripts_run for url in urls), (started, scripts_run)


def test_the_first_lists_are_asked_for_once_each_while_the_scripts_load(stack, api, board):
    sprint = api.sprint("Asked early")
    api.task("Early card", sprint=sprint["id"])
    api_root = f"{stack.scrum.url}/api"
    user = board()
    asked = []
    user.page.on("request", lambda request: asked.append(request.url))
    user.open()
    expect(user.page.locator("a.sprint").filter(has_text="Asked early")).to_be_visible()
    recent = (date.today() - timedelta(days=7)).isoformat()
    asked_once_before_the_scripts_ran(
        user, asked, [f"{api_root}/sprints/?page_size=500&end_min={recent}"]
    )

    lists = [
        f"{api_root}/tasks/?page_size=500&sprint={sprint['id']}",
        f"{api_root}/tasks/?page_size=500&backlog=True",
        f"{api_root}/sprints/{sprint['id']}",
    ]
    for address in (f"sprint/{sprint['id']}", f"sprint/0{sprint['id']}"):
        user.page.goto("about:blank")
        asked.clear()
        user.open(address)  # a new page load, as a bookmark opens it
        expect(user.column("Not Started").get_by_text("Early card")).to_be_visible()
        asked_once_before_the_scripts_ran(user, asked, lists)


def test_a_revoked_token_brings_back_the_login_form_with_a_message(stack, api, board):
    token = new_user_token(stack, "eve")
    sprint = api.sprint("Revoked")
    user = board(token=token)
    user.expect_status(401)
    user.open()
    page = user.page
    link = page.locator("a.sprint").filter(has_text="Revoked")
    expect(link).to_be_visible()
    stack.sql("DELETE FROM board_token WHERE key = ?", token)
    revoked = {"Authorization": f"Token {token}"}
    assert requests.get(f"{api.url}/api/sprints/", headers=revoked, timeout=5).status_code == 401
    link.click()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.locator("#login .error")).to_be_visible()
    expect(page.locator("#login .error")).not_to_be_empty()
    assert page.evaluate("localStorage.apiToken") is None
    page.reload()
    expect(page.get_by_label("Username")).to_be_visible()
    assert sprint


def test_an_idle_token_brings_back_the_login_form_with_a_message(stack, api, board):
    token = new_user_token(stack, "idle")
    sprint = api.sprint("Unused for weeks")
    user = board(token=token)
    user.expect_status(401)
    user.open()
    page = user.page
    link = page.locator("a.sprint").filter(has_text="Unused for weeks")
    expect(link).to_be_visible()
    stack.sql("UPDATE board_token SET last_used = '2000-01-01 00:00:00' WHERE key = ?", token)
    link.click()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.locator("#login .error")).to_have_text(
        "Your session has ended. Please log in again."
    )
    assert page.evaluate("localStorage.apiToken") is None
    assert status_with(api, token, f"/api/sprints/{sprint['id']}/") == 401
    assert stack.sql("SELECT key FROM board_token WHERE key = ?", token) == []  # deleted


def test_a_bookmarked_sprint_opened_with_a_revoked_token_shows_the_login(stack, api, board):
    sprint = api.sprint("Revoked before the load")
    user = board(token="0" * 40)
    user.expect_status(401)
    user.open(f"sprint/{sprint['id']}")
    expect(user.page.locator("#login .error")).to_have_text(
        "Your session has ended. Please log in again."
    )
    user.login()
    expect(user.page.get_by_role("heading", name="Revoked before the load")).to_be_visible()


def test_the_page_sends_a_csp_that_forbids_inline_script(stack, board):
    response = requests.get(stack.scrum.url + "/", timeout=5)
    assert response.status_code == 200
    policy = content_security_policy(response.headers["Content-Security-Policy"])
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts and "'unsafe-inline'" not in scripts and "*" not in scripts, policy
    assert "'unsafe-inline'" not in policy.get("script-src-attr", [])
    connect = policy.get("connect-src", policy.get("default-src"))
    watercooler = [f"{scheme}://127.0.0.1:{stack.wc_port}" for scheme in ("ws", "http")]
    allowed = {"'self'", stack.scrum.url, *watercooler}
    assert connect and set(connect) <= allowed, policy

    user = board().open()  # an attacker's markup that got into the page runs nothing
    user.expect_console("Content Security Policy")
    user.expect_status(404)
    page = user.page
    expect(page.get_by_role("heading", name="Your Sprints")).to_be_visible()
    page.evaluate(
        """() => {
            const holder = document.createElement('div');
            holder.innerHTML = '<img src="x" onerror="window.pwned = 1">';
            document.body.append(holder);
            const script = document.createElement('script');
            script.textContent = 'window.pwned = 2';
            document.body.append(script);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None


def test_the_apis_docs_and_browsable_pages_work_under_the_baseline_csp(stack, board):
    for path in ("/api/docs/", "/api/", "/api/schema/", "/health"):
        response = requests.get(stack.scrum.url + path, headers={"Accept": "text/html"}, timeout=5)
        assert not missing_security_headers(response), (path, missing_security_headers(response))
    reader = board(logged_in=False)  # a CSP violation is a console error: the board fails
    reader.expect_status(404)  # the browser's /favicon.ico
    reader.page.goto("/api/docs/")
    expect(reader.page.get_by_text("/api/tasks/{id}/move/").first).to_be_visible()
    reader.page.goto("/api/")
    expect(reader.page.get_by_role("heading", name="Root")).to_be_visible()
    expect(reader.page.locator("a[href$='/api/sprints/']").first).to_be_visible()


def test_an_empty_due_date_and_assignee_take_exactly_what_is_typed(api, board):
    sprint = api.sprint("Empty fields")
    task = api.task("Fill me", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    user.card("Fill me").click()
    details = user.page.locator(".task-detail")
    due = (date.today() + timedelta(days=3)).isoformat()
    for field, typed in (("due", due), ("assigned", "demo")):
        element = details.locator(f"[data-field={field}]")
        element.click()
        user.page.keyboard.type(typed)  # into the empty field, as a user does: no select-all
        expect(details.get_by_role("button", name="Save")).to_be_visible()  # before leaving it
    details.get_by_role("button", name="Save").click()
    expect(details.get_by_role("button", name="Save")).to_be_hidden()
    stored = api.get_task(task["id"])
    assert (stored["due"], stored["assigned"]) == (due, "demo")


def test_spaces_typed_in_a_name_are_stored_as_spaces(api, board):
    sprint = api.sprint("Spaces")
    task = api.task("Spaced", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    user.card("Spaced").click()
    user.edit_field("name", "two  spaces and a trailing one ")
    user.page.locator(".task-detail").get_by_role("button", name="Save").click()
    stored = api.wait_task(task["id"], lambda t: t["name"] != "Spaced")
    assert stored["name"] == "two  spaces and a trailing one"
    assert "\u00a0" not in stored["name"]


@pytest.mark.parametrize("leave", ["Close", "Escape"])
def test_closing_the_details_saves_an_unsaved_edit(api, board, leave):
    sprint = api.sprint(f"Unsaved, {leave}")
    task = api.task("Half done", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    user.card("Half done").click()
    details = user.page.locator(".task-detail")
    name = details.locator("[data-field=name]")
    name.click()
    user.page.keyboard.press("ControlOrMeta+a")
    user.page.keyboard.type(f"Finished by {leave}")
    if leave == "Close":
        details.get_by_role("button", name="Close").click()
    else:
        user.page.keyboard.press("Escape")
    expect(details).to_have_count(0)
    expect(user.card(f"Finished by {leave}", "Not Started")).to_be_visible()
    assert api.get_task(task["id"])["name"] == f"Finished by {leave}"


def test_the_filter_shows_my_tasks_an_assignees_or_matching_words_and_the_url_keeps_it(api, board):
    sprint = api.sprint("Filtered")
    api.task("Mine to write", sprint=sprint["id"], assigned="demo")
    api.task("Nobody's login page", sprint=sprint["id"], description="the LOGIN form")
    api.task("Backlog chore")
    user = board().open_sprint(sprint)
    page = user.page
    names = ["Mine to write", "Nobody's login page", "Backlog chore"]

    def shown():
        return [name for name in names if user.card(name).is_visible()]

    expect(user.card("Backlog chore")).to_be_visible()
    page.get_by_label("Only my tasks").check()
    wait_until(shown, lambda now: now == ["Mine to write"])
    assert shown() == ["Mine to write"]
    expect(page).to_have_url(re.compile(r"\?mine=1$"))
    page.get_by_label("Only my tasks").uncheck()
    page.get_by_label("Find").fill("login")  # any case, in the name or the description
    wait_until(shown, lambda now: now == ["Nobody's login page"])
    assert shown() == ["Nobody's login page"]
    page.get_by_label("Find").fill("form")  # only in the description
    wait_until(shown, lambda now: now == ["Nobody's login page"])
    page.get_by_label("Find").fill("")
    page.get_by_label("Assigned to").select_option("demo")
    wait_until(shown, lambda now: now == ["Mine to write"])
    expect(page).to_have_url(re.compile(r"\?assigned=demo$"))
    page.get_by_label("Find").fill("write")
    expect(page).to_have_url(re.compile(r"#sprint/\d+\?assigned=demo&q=write$"))
    shared = page.url
    other = board()
    other.page.goto(shared)  # a bookmarked or shared link opens the same view
    expect(other.card("Mine to write")).to_be_visible()
    expect(other.page.get_by_label("Find")).to_have_value("write")
    expect(other.page.get_by_label("Assigned to")).to_have_value("demo")
    for name in names[1:]:
        expect(other.card(name)).to_be_hidden()
    api.task("To write later, matching", sprint=sprint["id"], assigned="demo")
    api.task("To write later, not matching", sprint=sprint["id"])
    expect(other.card("To write later, matching")).to_be_visible()  # live cards are filtered too
    expect(other.card("To write later, not matching")).to_be_hidden()


def answer_deletes_late(route):
    """Pass a request to the API, holding a DELETE's answer long enough for its announcement."""
    response = route.fetch()
    if route.request.method == "DELETE":
        time.sleep(0.5)
    route.fulfill(response=response)


def test_a_move_and_a_delete_can_be_undone_from_their_notice_for_everyone(api, board):
    sprint = api.sprint("Undo")
    first = api.task("Undo first", sprint=sprint["id"])
    api.task("Undo second", sprint=sprint["id"], description="kept", assigned="demo")
    user = board().open_sprint(sprint)
    other = board().open_sprint(sprint)
    notice = user.page.locator(".undo-notice")
    user.move_with_menu("Undo first", "In Testing")
    expect(notice).to_contain_text('Moved "Undo first" to In Testing.')
    expect(other.card("Undo first", "In Testing")).to_be_visible()
    notice.get_by_role("button", name="Undo").click()
    # the undo is a move of its own: its answer (and notice) may come after its announcement
    expect(notice).to_contain_text('Moved "Undo first" to Not Started.')
    for each in (user, other):
        each.wait_for_order("Not Started", ["Undo first", "Undo second"])
    stored = api.wait_task(first["id"], lambda t: t["status"] == 1)
    assert (stored["status"], stored["order"], stored["started"]) == (1, 0, None)
    user.card("Undo second").click()
    # the delete's answer comes after its announcement: the notice must not depend on the order
    user.page.route("**/api/tasks/**", answer_deletes_late)
    user.delete_open_task()
    expect(notice).to_contain_text('Deleted "Undo second".')
    expect(other.card("Undo second")).to_have_count(0)
    notice.get_by_role("button", name="Undo").click()
    for each in (user, other):
        each.wait_for_order("Not Started", ["Undo first", "Undo second"])
    (again,) = api.tasks(search="Undo second")
    assert (again["description"], again["assigned"], again["sprint"]) == (
        "kept",
        "demo",
        sprint["id"],
    )
    expect(notice.get_by_role("button", name="Undo")).to_have_count(0)


def test_keyboard_shortcuts_add_find_and_move_cards_and_question_mark_lists_them(api, board):
    sprint = api.sprint("Shortcuts")
    task = api.task("Moved by brackets", sprint=sprint["id"])
    user = board().open_sprint(sprint)
    page, keys = user.page, user.page.keyboard
    shortcuts = page.get_by_role("region", name="Keyboard shortcuts")
    expect(shortcuts).to_be_hidden()
    keys.press("?")
    expect(shortcuts).to_be_visible()
    expect(shortcuts).to_contain_text("move the focused card")
    keys.press("?")
    expect(shortcuts).to_be_hidden()
    user.card("Moved by brackets").focus()
    keys.press("]")
    expect(user.card("Moved by brackets", "In Development")).to_be_focused()
    keys.press("[")
    expect(user.card("Moved by brackets", "Not Started")).to_be_focused()
    keys.press("[")
    expect(user.card("Moved by brackets", "Backlog")).to_be_focused()
    assert api.wait_task(task["id"], lambda t: t["sprint"] is None)["sprint"] is None
    keys.press("[")  # no column left of the backlog: nothing happens
    keys.press("/")
    expect(page.get_by_label("Find")).to_be_focused()
    keys.type("n")  # typed into the box, not a shortcut
    expect(page.get_by_label("Find")).to_have_value("n")
    page.locator("h2").click()
    keys.press("n")
    expect(user.column("Backlog").get_by_label("Task Name")).to_be_focused()


def test_who_is_viewing_the_sprint_shows_live_and_a_dragged_card_says_who_holds_it(
    stack, api, board
):
    sprint = api.sprint("Together")
    api.task("Shared card", sprint=sprint["id"])
    demo = board().open_sprint(sprint)
    viewers = demo.page.get_by_label("Viewing now").locator("abbr")
    expect(viewers).to_have_text(["DU"])  # Demo User: you
    expect(viewers.first).to_have_attribute("title", "You (Demo User)")
    token = new_user_token(stack, "carol", "Carol Clark")
    carol = board(token=token, username="carol").open_sprint(sprint)
    expect(viewers).to_have_text(["DU", "CC"])  # you first, then the others
    expect(viewers.nth(1)).to_have_attribute("title", "Carol Clark (carol)")
    expect(carol.page.get_by_label("Viewing now").locator("abbr")).to_have_text(["CC", "DU"])
    card = carol.card("Shared card")
    transfer = carol.page.evaluate_handle("() => new DataTransfer()")
    card.dispatch_event("dragstart", {"dataTransfer": transfer})  # demo sees who holds it
    held = demo.card("Shared card").locator(".holder")
    expect(held).to_have_text("Held by CC")
    expect(held).to_have_attribute("title", "Held by Carol Clark")
    card.dispatch_event("dragend", {"dataTransfer": transfer})
    expect(held).to_have_count(0)
    carol.close()
    expect(viewers).to_have_text(["DU"])  # carol left


def test_a_double_click_on_create_adds_one_task(api, board):
    sprint = api.sprint("Double click on Create")
    user = board().open_sprint(sprint)
    posts, release = user.hold_first("POST", "/api/tasks/")
    column = user.column("Backlog")
    column.get_by_role("button", name="Add Task").click()
    column.get_by_label("Task Name").fill("Added once")
    with user.page.expect_request(lambda request: request.method == "POST"):
        column.get_by_role("button", name="Create").dblclick()
    column.get_by_label("Task Name").press("Enter")  # and Enter, while the first is out
    expect(column.get_by_role("button", name="Create")).to_be_disabled()
    release()
    expect(user.card("Added once", "Backlog")).to_be_visible()
    added = {"name": "Added once", "description": "", "sprint": None, "status": 1}
    assert [post.post_data_json for post in posts] == [added]
    assert len(api.tasks(search="Added once")) == 1


def test_a_double_click_on_create_adds_one_sprint(api, board):
    user = board().open()
    posts, release = user.hold_first("POST", "/api/sprints/")
    page = user.page
    page.get_by_role("button", name="Add Sprint").click()
    page.get_by_label("Sprint Name").fill("Created once")
    page.get_by_label("End Date").fill((date.today() + timedelta(days=30)).isoformat())
    with page.expect_request(lambda request: request.method == "POST"):
        page.get_by_role("button", name="Create").dblclick()
    release()
    expect(page.get_by_role("heading", name="Created once")).to_be_visible()
    assert len(posts) == 1
    assert api.call("GET", "/api/sprints/", params={"search": "Created once"})["count"] == 1
