"""Convergence in-process: scope versions, the versions endpoint, announcements with their
change, and the book's own clients saving drops with PUT."""

import itertools
import json
from datetime import date, timedelta

import pytest
from board.models import Backlog, Sprint, Task, Token
from conftest import as_announced
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
TODAY = date.today()
TODO, IN_PROGRESS, TESTING, DONE = 1, 2, 3, 4


@pytest.fixture
def api():
    client = APIClient()
    alice = get_user_model().objects.create_user("alice")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    return client


@pytest.fixture
def sprint():
    return Sprint.objects.create(name="Current", end=TODAY + timedelta(days=7))


@pytest.fixture
def other():
    return Sprint.objects.create(name="Next", end=TODAY + timedelta(days=21))


@pytest.fixture
def announced(settings, listener, django_capture_on_commit_callbacks):
    """announced(write) -> (write's result, [(method, path, body)] it announced, signatures
    checked), through a real HTTP listener standing in for the watercooler."""
    settings.WATERCOOLER_SERVER = listener.address

    def run(write, expected=1):
        before = len(listener.requests)
        with django_capture_on_commit_callbacks(execute=True):
            result = write()
        found = listener.announcements(before + expected)[before:]
        return result, found

    return run


def versions(*sprints):
    """Return the stored versions: each sprint's, then the backlog's."""
    found = [Sprint.objects.get(pk=s.pk).version for s in sprints]
    return (*found, Backlog.objects.get().version)


def names(sprint, status):
    """Return a column's task names in order, checking that it is numbered densely."""
    rows = Task.objects.filter(sprint=sprint, status=status).order_by("order", "id")
    pairs = list(rows.values_list("name", "order"))
    assert [order for _, order in pairs] == list(range(len(pairs))), pairs
    return [name for name, _ in pairs]


def make(sprint, *names_, status=TODO, **fields):
    """Create tasks at the end of a column (no announcement); return them."""
    start = Task.objects.filter(sprint=sprint, status=status).count()
    return [
        Task.objects.create(name=n, sprint=sprint, status=status, order=start + i, **fields)
        for i, n in enumerate(names_)
    ]


# Versions ---------------------------------------------------------------------------------


def test_every_write_bumps_each_scope_it_touches_once(api, sprint, other):
    """Create, rename, move within and across scopes, delete, carry-over: +1 per transaction
    for every scope touched, nothing for the others."""
    assert versions(sprint, other) == (0, 0, 0)
    created = api.post("/api/tasks/", {"name": "a", "sprint": sprint.pk}, format="json").json()
    assert versions(sprint, other) == (1, 0, 0)
    api.patch(f"/api/tasks/{created['id']}/", {"name": "renamed"}, format="json")
    assert versions(sprint, other) == (2, 0, 0)
    api.patch(f"/api/tasks/{created['id']}/", {"name": "renamed"}, format="json")
    assert versions(sprint, other) == (3, 0, 0)  # a write that changes nothing still counts
    api.post(f"/api/tasks/{created['id']}/move/", {"status": TESTING}, format="json")
    assert versions(sprint, other) == (4, 0, 0)
    api.post(f"/api/tasks/{created['id']}/move/", {"status": TODO, "sprint": None}, format="json")
    assert versions(sprint, other) == (5, 0, 1)
    api.put(f"/api/tasks/{created['id']}/", {"name": "renamed", "sprint": other.pk}, format="json")
    assert versions(sprint, other) == (5, 1, 2)
    backlog = api.post("/api/tasks/", {"name": "b"}, format="json").json()
    assert versions(sprint, other) == (5, 1, 3)
    api.delete(f"/api/tasks/{backlog['id']}/")
    assert versions(sprint, other) == (5, 1, 4)
    api.post(f"/api/sprints/{other.pk}/carry-over/", {"to": sprint.pk}, format="json")
    assert versions(sprint, other) == (6, 2, 4)


def test_a_refused_write_takes_no_version(api, sprint):
    task = make(sprint, "a")[0]
    path = f"/api/tasks/{task.pk}/"
    assert api.patch(path, {"name": "x"}, HTTP_IF_MATCH='"stale"').status_code == 412
    assert api.post(f"{path}move/", {"status": 2, "sprint": None}, format="json").status_code == 400
    assert api.patch(path, {"status": DONE, "completed": "1999-01-01"}).status_code == 400
    done = make(sprint, "done", status=DONE, started=TODAY, completed=TODAY)[0]
    later = Sprint.objects.create(end=TODAY + timedelta(days=30))
    moved_away = api.patch(f"/api/tasks/{done.pk}/", {"sprint": later.pk}, format="json")
    assert moved_away.json() == {"sprint": ["Cannot change the sprint of a completed task."]}
    assert versions(sprint, later) == (0, 0, 0)


def test_the_versions_endpoint_answers_with_an_etag_and_304(api, sprint):
    path = f"/api/sprints/{sprint.pk}/versions/"
    response = api.get(path)
    assert response.status_code == 200
    assert response.json() == {"sprint": sprint.pk, "version": 0, "backlog": 0}
    assert response["ETag"] == '"0-0"'
    assert response["Cache-Control"] == "no-cache"
    unchanged = api.get(path, HTTP_IF_NONE_MATCH='"0-0"')
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    api.post("/api/tasks/", {"name": "in the backlog"}, format="json")
    api.post("/api/tasks/", {"name": "in the sprint", "sprint": sprint.pk}, format="json")
    changed = api.get(path, HTTP_IF_NONE_MATCH='"0-0"')
    assert changed.status_code == 200
    assert changed.json() == {"sprint": sprint.pk, "version": 1, "backlog": 1}
    assert changed["ETag"] == '"1-1"'
    assert api.get(path, HTTP_IF_NONE_MATCH='"1-1"').status_code == 304
    assert api.get("/api/sprints/99999/versions/").status_code == 404
    assert api.get("/api/sprints/abc/versions/").status_code == 404
    assert APIClient().get(path).status_code == 401


def test_every_task_list_says_which_versions_its_rows_are_at_least_as_new_as(api, sprint):
    make(sprint, "a", "b")
    api.post("/api/tasks/", {"name": "in the backlog"}, format="json")
    api.post("/api/tasks/", {"name": "in the sprint", "sprint": sprint.pk}, format="json")

    def listed(**params):
        response = api.get("/api/tasks/", params)
        assert response.status_code == 200
        return json.loads(response["Scrum-Versions"])

    assert listed(sprint=sprint.pk, page_size=1) == {
        "sprint": sprint.pk,
        "version": 1,
        "backlog": 1,
    }
    assert listed(backlog="True") == {"backlog": 1}
    assert listed() == {"backlog": 1}
    for unknown in (99999, "9" * 30):
        assert api.get("/api/tasks/", {"sprint": unknown}).status_code == 400


def test_the_sprint_shows_its_version_and_keeps_its_etag(api, sprint):
    before = api.get(f"/api/sprints/{sprint.pk}/")
    assert before.json()["version"] == 0
    api.post("/api/tasks/", {"name": "a", "sprint": sprint.pk}, format="json")
    after = api.get(f"/api/sprints/{sprint.pk}/")
    assert after.json()["version"] == 1
    assert after["ETag"] == before["ETag"]  # task changes do not fail an edit's If-Match
    edit = api.patch(
        f"/api/sprints/{sprint.pk}/", {"name": "B"}, format="json", HTTP_IF_MATCH=before["ETag"]
    )
    assert edit.status_code == 200
    assert api.post(f"/api/sprints/{sprint.pk}/", {"version": 99}).status_code == 405
    api.patch(f"/api/sprints/{sprint.pk}/", {"version": 99}, format="json")
    assert Sprint.objects.get(pk=sprint.pk).version == 1  # read-only


# Announcements ----------------------------------------------------------------------------


def test_a_move_in_a_column_of_1000_is_one_announcement(api, sprint, announced):
    tasks = Task.objects.bulk_create(
        Task(name=f"T{n}", sprint=sprint, status=TODO, order=n) for n in range(1000)
    )
    last = tasks[-1]
    response, found = announced(
        lambda: api.post(f"/api/tasks/{last.pk}/move/", {"status": TODO, "position": 0})
    )
    assert response.status_code == 200
    [(method, path, body)] = found
    assert (method, path, body["order"]) == ("PUT", f"/task/{last.pk}", 0)
    ids = [last.pk, *(t.pk for t in tasks[:-1])]
    assert body["change"]["columns"] == [{"sprint": sprint.pk, "status": TODO, "ids": ids}]
    assert body["change"]["versions"] == [{"sprint": sprint.pk, "version": 1}]
    stored = Task.objects.filter(sprint=sprint).order_by("order").values_list("pk", "order")
    assert list(stored) == [(pk, n) for n, pk in enumerate(ids)]


def test_a_move_across_scopes_announces_both_columns_and_versions(api, sprint, announced):
    a, b, c = make(sprint, "a", "b", "c")
    (backlog,) = make(None, "x")
    response, [(_, _, body)] = announced(
        lambda: api.post(
            f"/api/tasks/{b.pk}/move/", {"status": TODO, "sprint": None}, format="json"
        )
    )
    assert response.status_code == 200
    assert body["sprint"] is None
    assert body["change"]["versions"] == [
        {"sprint": None, "version": 1},
        {"sprint": sprint.pk, "version": 1},
    ]
    assert body["change"]["columns"] == [
        {"sprint": sprint.pk, "status": TODO, "ids": [a.pk, c.pk]},
        {"sprint": None, "status": TODO, "ids": [backlog.pk, b.pk]},
    ]
    assert response.json()["change"] == body["change"]


def test_a_delete_keeps_the_column_dense_and_announces_its_order(api, sprint, announced):
    a, b, c, d = make(sprint, "a", "b", "c", "d")
    response, [(method, path, body)] = announced(lambda: api.delete(f"/api/tasks/{b.pk}/"))
    assert response.status_code == 204
    assert not response.has_header("ETag")  # nothing left to validate
    assert (method, path) == ("DELETE", f"/task/{b.pk}")
    assert body["id"] == b.pk
    assert body["change"]["columns"] == [
        {"sprint": sprint.pk, "status": TODO, "ids": [a.pk, c.pk, d.pk]}
    ]
    assert body["change"]["versions"] == [{"sprint": sprint.pk, "version": 1}]
    assert names(sprint, TODO) == ["a", "c", "d"]


def test_an_insertion_announces_the_task_and_its_columns_order(api, sprint, announced):
    a, b = make(sprint, "a", "b")
    response, [(method, _, body)] = announced(
        lambda: api.post("/api/tasks/", {"name": "c", "sprint": sprint.pk, "order": 1})
    )
    assert (method, body["name"], body["order"]) == ("POST", "c", 1)
    ids = [a.pk, response.json()["id"], b.pk]
    assert body["change"]["columns"] == [{"sprint": sprint.pk, "status": TODO, "ids": ids}]
    response, [(_, _, body)] = announced(
        lambda: api.post("/api/tasks/", {"name": "d", "sprint": sprint.pk})
    )
    assert "columns" not in body["change"]  # appended: no other task moved
    assert body["change"]["versions"] == [{"sprint": sprint.pk, "version": 2}]


def test_a_rename_is_announced_with_its_version(api, sprint, announced):
    (a,) = make(sprint, "a")
    response, [(method, _, body)] = announced(
        lambda: api.patch(f"/api/tasks/{a.pk}/", {"name": "renamed"}, format="json")
    )
    change = body.pop("change")
    assert (method, body) == ("PUT", response.json())
    assert set(change) == {"id", "versions"}
    assert change["versions"] == [{"sprint": sprint.pk, "version": 1}]


def test_a_carry_over_announces_each_task_and_asks_boards_to_refetch(api, sprint, other, announced):
    make(sprint, "a", "b")
    make(other, "there")
    response, found = announced(
        lambda: api.post(f"/api/sprints/{sprint.pk}/carry-over/", {"to": other.pk}), expected=2
    )
    assert response.status_code == 200
    assert [(m, body["name"], body["order"]) for m, _, body in found] == [
        ("PUT", "a", 1),
        ("PUT", "b", 2),
    ]
    for _, _, body in found:
        assert body["change"]["refetch"] is True
        assert body["change"]["versions"] == [
            {"sprint": sprint.pk, "version": 1},
            {"sprint": other.pk, "version": 1},
        ]
    assert names(other, TODO) == ["there", "a", "b"]


def test_sprint_announcements_carry_a_change_id(api, announced):
    end = (TODAY + timedelta(days=3)).isoformat()
    response, [(method, _, body)] = announced(
        lambda: api.post("/api/sprints/", {"end": end}, format="json")
    )
    assert method == "POST"
    assert set(body.pop("change")) == {"id"}
    assert as_announced(body) == as_announced(response.json())  # the writer's viewer: not sent


def test_a_column_numbered_around_the_api_is_renumbered_by_its_next_write(api, sprint):
    for order, name in ((3, "a"), (3, "b"), (9, "c")):
        Task.objects.create(name=name, sprint=sprint, order=order)
    c = Task.objects.get(name="c")
    response = api.post(f"/api/tasks/{c.pk}/move/", {"status": TODO, "position": 1})
    assert response.status_code == 200
    assert names(sprint, TODO) == ["a", "c", "b"]


# The book's own clients ---------------------------------------------------------------------


def book_save(api, task, **changes):
    """Save as the book's Backbone client does: PUT of the whole task with the changes."""
    body = {**task, **changes}
    response = api.put(f"/api/tasks/{task['id']}/", body, format="json")
    assert response.status_code == 200, response.content
    task.update(response.json())
    return task


def column_json(api, sprint, status):
    """Return a column's tasks as the book's client holds them (its collection's JSON)."""
    query = f"sprint={sprint.pk}&status={status}" if sprint else f"backlog=true&status={status}"
    return {t["name"]: t for t in api.get(f"/api/tasks/?{query}&page_size=100").json()["results"]}


def book_move_fields(task, status, sprint, order):
    """Return what the book's moveTo() sends: place, order and the dates it computes."""
    fields = {"status": status if sprint else TODO, "sprint": sprint, "order": order}
    if fields["status"] == IN_PROGRESS or (fields["status"] > 2 and not task["started"]):
        fields["started"] = TODAY.isoformat()
    elif fields["status"] < 2 and task["started"]:
        fields["started"] = None
    if fields["status"] == DONE:
        fields["completed"] = TODAY.isoformat()
    elif task["completed"]:
        fields["completed"] = None
    return fields


@pytest.mark.parametrize("moved_first", [False, True])
def test_the_books_drop_on_a_card(api, sprint, moved_first):
    """Chapter 6/8: dropping x on card c saves every card from c on with order + 1 (in turn),
    and x with c's order; whichever comes first, the column ends as the user dropped it."""
    make(sprint, "a", "b", "c", "d", "e", "f")
    make(sprint, "x", status=IN_PROGRESS, started=TODAY)
    cards = column_json(api, sprint, TODO)
    x = column_json(api, sprint, IN_PROGRESS)["x"]
    order = cards["c"]["order"]
    after = [card for card in cards.values() if card["order"] >= order]
    saves = [(card, {"order": order + i + 1}) for i, card in enumerate(after)]
    drop = (x, book_move_fields(x, TODO, sprint.pk, order))
    for task, changes in [drop, *saves] if moved_first else [*saves, drop]:
        book_save(api, task, **changes)
    assert names(sprint, TODO) == ["a", "b", "x", "c", "d", "e", "f"]
    assert names(sprint, IN_PROGRESS) == []
    stored = Task.objects.get(name="x")
    assert (stored.started, stored.completed) == (None, None)


@pytest.mark.parametrize("dragged, target", [("b", "e"), ("a", "f"), ("e", "b"), ("f", "a")])
def test_the_books_drop_on_a_card_of_the_same_column_in_any_order(api, sprint, dragged, target):
    """Chapter 6/8 within one column, down or up: its PUTs go out together, so the server may
    handle them in any order; every order ends as the user dropped (just before the target)."""
    names_before = ["a", "b", "c", "d", "e", "f"]
    expected = [n for n in names_before if n != dragged]
    expected.insert(expected.index(target), dragged)
    sent = 1 + sum(n != dragged for n in names_before[names_before.index(target) :])
    for number, handled in enumerate(itertools.permutations(range(min(3, sent)))):
        Task.objects.all().delete()
        make(sprint, *names_before)
        cards = column_json(api, sprint, TODO)
        order = cards[target]["order"]
        after = [c for c in cards.values() if c["order"] >= order and c["name"] != dragged]
        saves = [(card, {"order": order + i + 1}) for i, card in enumerate(after)]
        drop = (cards[dragged], {"order": order})
        requests = [drop, *saves]
        firsts = [requests[i] for i in handled]  # the first (up to) three in every order
        for task, changes in firsts + [r for r in requests if r not in firsts]:
            book_save(api, task, **changes)
        assert names(sprint, TODO) == expected, (number, handled)


def test_the_books_drop_on_a_column(api, sprint):
    """Chapter 6/8: dropping on a column's free space saves order = lowest order - 1 (-1 for
    a column numbered from 0, 0 for an empty one): the top of the column."""
    make(sprint, "a", "b")
    (x,) = make(sprint, "x", status=TESTING, started=TODAY)
    x = column_json(api, sprint, TESTING)["x"]
    book_save(api, x, **book_move_fields(x, TODO, sprint.pk, -1))
    assert names(sprint, TODO) == ["x", "a", "b"]
    book_save(api, x, **book_move_fields(x, DONE, sprint.pk, 0))
    assert names(sprint, DONE) == ["x"]
    stored = Task.objects.get(name="x")
    assert (stored.started, stored.completed) == (TODAY, TODAY)
    book_save(api, x, **book_move_fields(x, IN_PROGRESS, sprint.pk, -1))
    stored.refresh_from_db()
    assert (stored.status, stored.started, stored.completed) == (IN_PROGRESS, TODAY, None)


def test_the_books_drop_on_the_backlog(api, sprint):
    make(None, "waiting")
    (x,) = make(sprint, "x", status=IN_PROGRESS, started=TODAY)
    x = column_json(api, sprint, IN_PROGRESS)["x"]
    book_save(api, x, **book_move_fields(x, TODO, None, -1))
    assert names(None, TODO) == ["x", "waiting"]
    stored = Task.objects.get(name="x")
    assert (stored.sprint, stored.status, stored.started) == (None, TODO, None)


def test_the_books_session_starts_a_task_with_put(api, sprint):
    """Chapter 4: the whole task PUT back with status 2 and a started date, form-encoded."""
    (first,) = make(sprint, "First task")
    make(sprint, "doing", status=IN_PROGRESS, started=TODAY)
    task = api.get(f"/api/tasks/{first.pk}/").json()
    started = (TODAY - timedelta(days=1)).isoformat()
    form = {k: v for k, v in {**task, "status": 2, "started": started}.items() if v is not None}
    form.pop("links")
    response = api.put(f"/api/tasks/{first.pk}/", form)
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["started"]) == (2, started)
    assert names(sprint, IN_PROGRESS) == ["First task", "doing"]  # its order, 0, kept
    assert names(sprint, TODO) == []
