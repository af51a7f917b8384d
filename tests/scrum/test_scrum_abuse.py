"""A hostile logged-in user against gunicorn: oversized text, bodies and JSON, dates at the end
of the calendar, and password guesses sent all at once. Each gets a JSON answer, never a 500."""

import requests
from test_scrum_http import SPRINT_END, token_session

NAME, DESCRIPTION = 100, 10_000  # the limits scrum/README.md states
HOOK_MAX_SIZE = 1024 * 1024  # the largest announcement the watercooler accepts


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
    page = api.get(tasks, params={"page_size": 100_000, "sprint": sprint["id"]})
    assert page.status_code == 200 and len(page.json()["results"]) == 3
    assert len(page.content) < 3 * 70_000


def test_the_boards_forms_hold_no_more_than_the_api_takes(scrum_server):
    page = requests.get(f"{scrum_server().url}/").text
    assert page.count(f'name="name" maxlength="{NAME}"') == 2  # new sprint, new task
    assert page.count(f'name="description" maxlength="{DESCRIPTION}"') == 2
