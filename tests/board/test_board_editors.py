"""Two people with the same task's details open in two browsers.

Saves carry If-Match: a save that touches a field someone else changed since it was read is
not made over theirs; the board shows both values and the user keeps one. A save of other
fields goes through on its own, and an open panel follows what others save.
"""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def open_details(board, sprint, name):
    user = board().open_sprint(sprint)
    expect(user.page.locator("#live-status")).to_have_attribute("data-state", "live")
    user.card(name).click()
    details = user.page.locator(".task-detail")
    expect(details).to_be_visible()
    return user, details


def save(details):
    details.get_by_role("button", name="Save").click()


def test_an_open_panel_follows_other_peoples_saves_and_saves_its_own_fields(api, board):
    sprint = api.sprint("Two editors, two fields")
    task = api.task("Shared task", sprint=sprint["id"], description="first words")
    ann, ann_details = open_details(board, sprint, "Shared task")
    bob, bob_details = open_details(board, sprint, "Shared task")
    ann.edit_field("name", "Renamed by Ann")
    save(ann_details)
    expect(bob_details.locator("[data-field=name]")).to_have_text("Renamed by Ann")
    bob.expect_status(412)  # Bob's save was of a version before Ann's: made again on hers
    bob.edit_field("description", "Bob's words")
    save(bob_details)
    expect(bob_details.get_by_role("button", name="Save")).to_be_hidden()
    expect(bob_details.locator(".conflict")).to_have_count(0)
    stored = api.get_task(task["id"])
    assert (stored["name"], stored["description"]) == ("Renamed by Ann", "Bob's words")
    expect(ann_details.locator("[data-field=description]")).to_have_text("Bob's words")


def test_typing_in_a_field_survives_a_live_change_of_another(api, board):
    sprint = api.sprint("Typing through a change")
    task = api.task("Typed task", sprint=sprint["id"])
    ann, details = open_details(board, sprint, "Typed task")
    name = details.locator("[data-field=name]")
    name.click()
    ann.page.keyboard.press("ControlOrMeta+a")
    ann.page.keyboard.type("Half-typed")
    api.call("PATCH", f"/api/tasks/{task['id']}/", json={"assigned": "demo"})
    expect(details.locator("[data-field=assigned]")).to_have_text("demo")
    expect(name).to_have_text("Half-typed")
    expect(name).to_be_focused()


@pytest.mark.parametrize("choice", ["Keep mine", "Take theirs"])
def test_saving_over_someone_elses_change_of_the_same_field_asks_whose_to_keep(api, board, choice):
    sprint = api.sprint(f"Same field, {choice}")
    task = api.task("Contested", sprint=sprint["id"])
    ann, ann_details = open_details(board, sprint, "Contested")
    bob, bob_details = open_details(board, sprint, "Contested")
    ann.edit_field("name", "Ann's name")
    bob.edit_field("name", "Bob's name")
    save(bob_details)
    expect(bob_details.get_by_role("button", name="Save")).to_be_hidden()
    ann.expect_status(412)
    expect(ann_details.locator("[data-field=name]")).to_have_text("Ann's name")  # unsaved
    save(ann_details)
    conflict = ann_details.locator(".conflict")
    expect(conflict).to_be_visible()
    expect(conflict.locator(".theirs")).to_have_text("Bob's name")
    expect(conflict.locator(".mine")).to_have_text("Ann's name")
    assert api.get_task(task["id"])["name"] == "Bob's name"  # nothing overwritten unasked
    conflict.get_by_role("button", name=choice).click()
    kept = "Ann's name" if choice == "Keep mine" else "Bob's name"
    expect(conflict).to_have_count(0)
    expect(ann_details.get_by_role("button", name="Save")).to_be_hidden()
    for details in (ann_details, bob_details):
        expect(details.locator("[data-field=name]")).to_have_text(kept)
    assert api.get_task(task["id"])["name"] == kept


@pytest.mark.parametrize("typed_meanwhile", ["", "Typed while saving"])
def test_closing_during_a_save_waits_for_it_and_saves_what_was_typed_meanwhile(
    api, board, typed_meanwhile
):
    """Close while a save is in flight: one save of each edit, each on the version before."""
    sprint = api.sprint(f"Closed mid-save {typed_meanwhile}")
    task = api.task("In flight", sprint=sprint["id"])
    ann, details = open_details(board, sprint, "In flight")
    patches, release = ann.hold_first("PATCH", f"/api/tasks/{task['id']}/")
    ann.edit_field("name", "Saved first")
    with ann.page.expect_request(lambda request: request.method == "PATCH"):
        save(details)
    if typed_meanwhile:
        ann.edit_field("description", typed_meanwhile)
    details.get_by_role("button", name="Close").click()
    expect(details).to_be_visible()  # not closed before its save is answered
    assert [patch.post_data_json for patch in patches] == [{"name": "Saved first"}]
    release()
    expect(details).to_have_count(0)
    second = [{"description": typed_meanwhile}] if typed_meanwhile else []
    assert [patch.post_data_json for patch in patches] == [{"name": "Saved first"}, *second]
    versions = {patch.headers.get("if-match") for patch in patches}
    assert len(versions) == len(patches)  # each on the one before
    stored = api.get_task(task["id"])
    assert (stored["name"], stored["description"]) == ("Saved first", typed_meanwhile)
