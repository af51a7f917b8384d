"""The scrum API in-process (DRF test client): auth, resources, links, filters, rules, ETags."""

import base64
import json
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from board.models import Sprint, Task, Token
from conftest import SECRET
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.signing import TimestampSigner
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
User = get_user_model()
TODAY = date.today()
TODO, IN_PROGRESS, TESTING, DONE = 1, 2, 3, 4


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user():
    return User.objects.create_user("alice", password="s3cret", first_name="Alice", last_name="A")


@pytest.fixture
def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def sprint():
    return Sprint.objects.create(name="Current", end=TODAY + timedelta(days=7))


@pytest.fixture
def past_sprint():
    return Sprint.objects.create(name="Old", end=TODAY - timedelta(days=7))


def task(name="Task", **fields):
    return Task.objects.create(name=name, **fields)


def errors(response):
    """Every message of a 400 answer, flattened."""
    assert response.status_code == 400, response.content
    return [message for value in response.json().values() for message in value]


# Authentication -------------------------------------------------------------------------


def test_everything_below_the_root_needs_a_user(user, sprint):
    client = APIClient()
    root = client.get("/api/")  # the board discovers the API before anyone logs in
    assert root.status_code == 200
    assert set(root.json()) == {"sprints", "tasks", "users"}
    for path in ["/api/sprints/", f"/api/sprints/{sprint.pk}/", "/api/tasks/", "/api/users/"]:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response["WWW-Authenticate"].startswith("Basic")
    assert client.post("/api/", {}).status_code == 405  # the root is read-only


def test_basic_auth(user):
    client = APIClient()
    good = base64.b64encode(b"alice:s3cret").decode()
    assert client.get("/api/", HTTP_AUTHORIZATION=f"Basic {good}").status_code == 200
    bad = base64.b64encode(b"alice:wrong").decode()
    assert client.get("/api/", HTTP_AUTHORIZATION=f"Basic {bad}").status_code == 401


def test_token_auth(user):
    client = APIClient()
    response = client.post("/api/token/", {"username": "alice", "password": "s3cret"})
    assert response.status_code == 200
    token = response.json()["token"]
    assert client.get("/api/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    refused = client.get("/api/", HTTP_AUTHORIZATION="Token nonsense")
    assert (refused.status_code, refused.json()) == (401, {"detail": "Invalid token."})
    assert refused["WWW-Authenticate"] == 'Basic realm="api"'


def test_a_token_reads_its_user_in_one_query(api, user):
    with CaptureQueriesContext(connection) as captured:
        assert api.get("/api/").status_code == 200
    (query,) = captured.captured_queries
    assert "board_token" in query["sql"] and "JOIN" in query["sql"]
    user.is_active = False
    user.save()
    refused = api.get("/api/")
    assert (refused.status_code, refused.json()) == (401, {"detail": "User inactive or deleted."})


def test_a_token_records_its_use_at_most_once_a_minute(user, sprint):
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    def writes():
        """The statements of one GET that write to the tokens' table."""
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/api/sprints/{sprint.pk}/").status_code == 200
        return [q["sql"] for q in captured if "UPDATE" in q["sql"] and "board_token" in q["sql"]]

    assert writes() == []  # just created: its use is recorded already
    assert writes() == []
    a_while_ago = token.last_used - timedelta(minutes=2)
    Token.objects.filter(pk=token.pk).update(last_used=a_while_ago)
    assert len(writes()) == 1
    assert Token.objects.get(pk=token.pk).last_used > a_while_ago
    assert writes() == []


def test_token_refuses_wrong_password(user):
    response = APIClient().post("/api/token", {"username": "alice", "password": "guess"})
    assert response.status_code == 400
    assert "Unable to log in" in str(response.json())


def test_token_is_throttled_against_guessing(user):
    client = APIClient()
    codes = [
        client.post("/api/token/", {"username": "alice", "password": f"guess{n}"}).status_code
        for n in range(12)
    ]
    assert codes[:10] == [400] * 10
    assert codes[10:] == [429, 429]


def test_root_lists_the_resources_with_links_ending_in_a_slash(api):
    assert api.get("/api/").json() == {
        "sprints": "http://testserver/api/sprints/",
        "tasks": "http://testserver/api/tasks/",
        "users": "http://testserver/api/users/",
    }


def test_paths_work_with_and_without_trailing_slash(api, sprint):
    for path in ["/api/tasks", "/api/tasks/", f"/api/sprints/{sprint.pk}", "/api/users/alice"]:
        assert api.get(path).status_code == 200, path
    response = api.post("/api/tasks", {"name": "No slash"}, format="json")
    assert response.status_code == 201


# Sprints --------------------------------------------------------------------------------


def test_sprint_links_and_signed_channel(api, sprint):
    body = api.get(f"/api/sprints/{sprint.pk}/").json()
    assert body["links"]["self"] == f"http://testserver/api/sprints/{sprint.pk}/"
    assert body["links"]["tasks"] == f"http://testserver/api/tasks/?sprint={sprint.pk}"
    channel = urlsplit(body["links"]["channel"])
    assert channel.geturl().startswith("ws://127.0.0.1:9/socket?channel=")
    query = parse_qs(channel.query)
    signer = TimestampSigner(key=SECRET, salt="watercooler.channel")
    assert signer.unsign(query["channel"][0], max_age=1800) == str(sprint.pk)
    viewer = TimestampSigner(key=SECRET, salt="watercooler.viewer")  # who reads it: presence
    user = User.objects.get(username="alice")
    login = user.api_tokens.get()  # named by a digest: the link never holds the token
    expected = {"s": sprint.pk, "u": "alice", "n": user.get_full_name() or "alice"}
    assert viewer.unsign_object(query["viewer"][0], max_age=1800) == {
        **expected,
        "k": login.session,
    }
    assert login.key not in body["links"]["channel"]


def test_sprint_end_cannot_be_in_the_past(api):
    past = (TODAY - timedelta(days=1)).isoformat()
    response = api.post("/api/sprints/", {"name": "Late", "end": past}, format="json")
    assert errors(response) == ["End date cannot be in the past."]
    ok = api.post("/api/sprints/", {"name": "Now", "end": TODAY.isoformat()}, format="json")
    assert ok.status_code == 201


def test_past_sprint_can_be_renamed_keeping_its_end(api, past_sprint):
    response = api.patch(f"/api/sprints/{past_sprint.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"


def test_sprint_end_is_unique(api, sprint):
    response = api.post("/api/sprints/", {"end": sprint.end.isoformat()}, format="json")
    assert response.status_code == 400
    assert "end" in response.json()


def test_sprint_with_tasks_cannot_be_deleted(api, sprint):
    task(sprint=sprint)
    response = api.delete(f"/api/sprints/{sprint.pk}/")
    assert response.status_code == 409
    assert "carry them over" in response.json()["detail"]
    Task.objects.all().delete()
    assert api.delete(f"/api/sprints/{sprint.pk}/").status_code == 204


def test_sprint_filters(api):
    for days in (1, 10, 20):
        Sprint.objects.create(name=f"S{days}", end=TODAY + timedelta(days=days))
    low, high = (TODAY + timedelta(days=5)).isoformat(), (TODAY + timedelta(days=15)).isoformat()
    names = lambda query: [s["name"] for s in api.get(f"/api/sprints/?{query}").json()["results"]]  # noqa: E731
    assert names(f"end_min={low}") == ["S10", "S20"]
    assert names(f"end_max={high}") == ["S1", "S10"]
    assert names(f"end_min={low}&end_max={high}") == ["S10"]
    assert names("search=S2") == ["S20"]
    assert names("ordering=-end") == ["S20", "S10", "S1"]
    assert api.get("/api/sprints/?end_min=someday").status_code == 400


# Tasks: representation and rules ---------------------------------------------------------


def test_task_representation_and_links(api, user, sprint):
    created = task(name="Write", sprint=sprint, status=IN_PROGRESS, assigned=user, started=TODAY)
    body = api.get(f"/api/tasks/{created.pk}/").json()
    assert body == {
        "id": created.pk,
        "name": "Write",
        "description": "",
        "sprint": sprint.pk,
        "status": IN_PROGRESS,
        "status_display": "In Progress",
        "order": 0,
        "assigned": "alice",
        "started": TODAY.isoformat(),
        "due": None,
        "completed": None,
        "links": {
            "self": f"http://testserver/api/tasks/{created.pk}/",
            "sprint": f"http://testserver/api/sprints/{sprint.pk}/",
            "assigned": "http://testserver/api/users/alice/",
        },
    }


def test_backlog_task_links_are_null(api):
    body = api.get(f"/api/tasks/{task().pk}/").json()
    assert body["links"]["sprint"] is None
    assert body["links"]["assigned"] is None


def test_status_labels(api, sprint):
    labels = {}
    for status in (TODO, IN_PROGRESS, TESTING, DONE):
        created = task(sprint=sprint, status=status)
        labels[status] = api.get(f"/api/tasks/{created.pk}/").json()["status_display"]
    assert labels == {1: "Not Started", 2: "In Progress", 3: "Testing", 4: "Done"}


def test_new_tasks_go_to_the_end_of_their_column(api, sprint):
    orders = [
        api.post("/api/tasks/", {"name": n, "sprint": sprint.pk}, format="json").json()["order"]
        for n in "abc"
    ]
    assert orders == [0, 1, 2]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": IN_PROGRESS}, 'Backlog tasks must have "Not Started" status.'),
        ({"started": TODAY.isoformat()}, "Started date cannot be set for not started tasks."),
        (
            {"sprint": "SPRINT", "status": IN_PROGRESS, "completed": TODAY.isoformat()},
            "Completed date cannot be set for uncompleted tasks.",
        ),
        ({"status": 7}, '"7" is not a valid choice.'),
        ({"assigned": "nobody"}, "No user called nobody."),
        ({"due": "next week"}, "Due date must be a date (YYYY-MM-DD)."),
    ],
)
def test_task_validation_messages(api, sprint, fields, message):
    """Each refusal says what is wrong in a user's words (the board shows them as they are)."""
    fields = {k: sprint.pk if v == "SPRINT" else v for k, v in fields.items()}
    response = api.post("/api/tasks/", {"name": "T", **fields}, format="json")
    assert errors(response) == [message]


def test_cannot_add_tasks_to_past_sprints(api, past_sprint):
    response = api.post("/api/tasks/", {"name": "T", "sprint": past_sprint.pk}, format="json")
    assert errors(response) == ["Cannot add tasks to past sprints."]


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize(
    ("change", "place", "dates"),
    [
        ({"status": IN_PROGRESS}, ("sprint", IN_PROGRESS, ["x", "second"]), (TODAY, None)),
        ({"order": 0}, ("sprint", TODO, ["second", "first", "third"]), (None, None)),
        ({"order": -1}, ("sprint", TODO, ["second", "first", "third"]), (None, None)),
        ({"order": 99}, ("sprint", TODO, ["first", "third", "second"]), (None, None)),
        ({"sprint": "OTHER"}, ("other", TODO, ["y", "second"]), (None, None)),
        ({"sprint": None}, (None, TODO, ["second"]), (None, None)),
        ({"status": DONE, "order": 0}, ("sprint", DONE, ["second"]), (TODAY, TODAY)),
    ],
)
def test_generic_writes_of_a_tasks_place_move_it(api, sprint, method, change, place, dates):
    """PATCH/PUT of sprint, status or order means a move: the order is a position clamped
    into the column (by default the end of a new one), the dates follow the status and the
    column left stays dense."""
    other = Sprint.objects.create(end=TODAY + timedelta(days=30))
    sprints = {"sprint": sprint, "other": other, None: None}
    change = {k: other.pk if v == "OTHER" else v for k, v in change.items()}
    task("first", sprint=sprint)
    second = task("second", sprint=sprint, order=1)
    task("third", sprint=sprint, order=2)
    task("x", sprint=sprint, status=IN_PROGRESS, started=TODAY)
    task("y", sprint=other)
    path = f"/api/tasks/{second.pk}/"
    body = change if method == "patch" else {**api.get(path).json(), **change}
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 200, response.content
    in_sprint, status, names = place
    assert [name for name, _ in column(sprints[in_sprint], status)] == names
    assert [order for _, order in column(sprints[in_sprint], status)] == list(range(len(names)))
    left = column(sprint, TODO)
    assert [order for _, order in left] == list(range(len(left)))
    second.refresh_from_db()
    assert (second.started, second.completed) == dates
    assert response.json()["order"] == second.order


def test_full_update_may_repeat_the_place(api, user, sprint):
    existing = task(sprint=sprint, status=TESTING, started=TODAY)
    body = api.get(f"/api/tasks/{existing.pk}/").json()
    payload = {**body, "name": "Renamed", "assigned": "alice"}
    response = api.put(f"/api/tasks/{existing.pk}/", payload, format="json")
    assert response.status_code == 200
    existing.refresh_from_db()
    assert (existing.name, existing.status, existing.assigned) == ("Renamed", TESTING, user)


def test_partial_update_is_checked_against_stored_values(api, sprint):
    doing = task(sprint=sprint, status=IN_PROGRESS, started=TODAY)
    path = f"/api/tasks/{doing.pk}/"
    done_today = {"completed": TODAY.isoformat()}
    assert errors(api.patch(path, done_today, format="json")) == [
        "Completed date cannot be set for uncompleted tasks."
    ]
    assert errors(api.patch(path, {"started": None}, format="json")) == [
        "A started task needs its started date."
    ]


def test_completed_before_started_is_refused(api, sprint):
    done = task(sprint=sprint, status=DONE, started=TODAY, completed=TODAY)
    early = (TODAY - timedelta(days=3)).isoformat()
    response = api.patch(f"/api/tasks/{done.pk}/", {"completed": early}, format="json")
    assert errors(response) == ["Completed date cannot be before started date."]
    new = {"name": "T", "sprint": sprint.pk, "status": DONE, "completed": early}
    assert errors(api.post("/api/tasks/", new, format="json")) == [
        "Completed date cannot be before started date."
    ]
    new["started"] = (TODAY - timedelta(days=5)).isoformat()
    assert api.post("/api/tasks/", new, format="json").status_code == 201


def test_new_tasks_get_the_dates_of_their_status(api, sprint):
    doing = api.post(
        "/api/tasks/", {"name": "T", "sprint": sprint.pk, "status": IN_PROGRESS}, format="json"
    ).json()
    assert (doing["started"], doing["completed"]) == (TODAY.isoformat(), None)
    done = api.post(
        "/api/tasks/", {"name": "T", "sprint": sprint.pk, "status": DONE}, format="json"
    ).json()
    assert (done["started"], done["completed"]) == (TODAY.isoformat(), TODAY.isoformat())


def test_a_new_task_takes_its_position_and_the_column_stays_dense(api, sprint):
    task("a", sprint=sprint)
    task("b", sprint=sprint, order=1)
    response = api.post("/api/tasks/", {"name": "c", "sprint": sprint.pk, "order": 0})
    assert response.status_code == 201
    assert response.json()["order"] == 0
    assert column(sprint, TODO) == [("c", 0), ("a", 1), ("b", 2)]
    last = api.post("/api/tasks/", {"name": "d", "sprint": sprint.pk, "order": 999})
    assert last.json()["order"] == 3
    assert column(sprint, TODO)[-1] == ("d", 3)


def test_order_never_overflows_the_field(api, sprint):
    """A column already at order 32767 (PostgreSQL's smallint limit): the next task is
    numbered densely, an order below the column is its top, and orders beyond the field's
    range are refused alike on both databases."""
    task("last", sprint=sprint, order=32767)
    response = api.post("/api/tasks/", {"name": "next", "sprint": sprint.pk}, format="json")
    assert response.status_code == 201
    assert column(sprint, TODO) == [("last", 0), ("next", 1)]
    top = api.post("/api/tasks/", {"name": "top", "sprint": sprint.pk, "order": -1})
    assert top.json()["order"] == 0
    assert column(sprint, TODO) == [("top", 0), ("last", 1), ("next", 2)]
    for order, message in [
        (32768, "Ensure this value is less than or equal to 32767."),
        (-32769, "Ensure this value is greater than or equal to -32768."),
        (99999, "Ensure this value is less than or equal to 32767."),
    ]:
        too_far = {"name": "far", "sprint": sprint.pk, "order": order}
        assert errors(api.post("/api/tasks/", too_far, format="json")) == [message]


def test_a_full_column_takes_no_more_tasks(api, sprint):
    Task.objects.bulk_create(
        (Task(name="T", sprint=sprint, order=n) for n in range(32768)), batch_size=4000
    )
    response = api.post("/api/tasks/", {"name": "one too many", "sprint": sprint.pk})
    assert errors(response) == ["A column holds at most 32768 tasks."]
    assert Task.objects.count() == 32768


def test_nul_characters_are_client_errors_on_every_database(api, user):
    """PostgreSQL cannot compare a string holding NUL; SQLite can: both answer the same."""
    assert api.get("/api/users/%00/").status_code == 404
    assert api.get("/api/users/alice%00/").status_code == 404
    response = api.post("/api/tasks/", {"name": "T", "assigned": "alice\x00"}, format="json")
    assert errors(response) == ["No user called alice\x00."]
    basic = base64.b64encode(b"alice\x00:s3cret").decode()
    assert APIClient().get("/api/", HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 401


def test_users_are_read_only_and_looked_up_by_username(api, user):
    body = api.get("/api/users/alice/").json()
    assert body == {
        "id": user.pk,
        "username": "alice",
        "full_name": "Alice A",
        "is_active": True,
        "links": {
            "self": "http://testserver/api/users/alice/",
            "tasks": "http://testserver/api/tasks/?assigned=alice",
        },
    }
    assert api.post("/api/users/", {"username": "mallory"}).status_code == 405
    assert api.delete("/api/users/alice/").status_code == 405
    User.objects.create_user("bob")
    names = [u["username"] for u in api.get("/api/users/?search=bo").json()["results"]]
    assert names == ["bob"]


# Filters, ordering, pagination, hostile parameters -----------------------------------------


def test_task_filters(api, user, sprint):
    other = Sprint.objects.create(end=TODAY + timedelta(days=30))
    a = task("Alpha docs", sprint=sprint, status=IN_PROGRESS, assigned=user, started=TODAY)
    b = task("Beta", sprint=sprint, description="docs too")
    c = task("Gamma", sprint=other)
    d = task("Delta")

    def ids(query):
        return {t["id"] for t in api.get(f"/api/tasks/?{query}").json()["results"]}

    assert ids(f"sprint={sprint.pk}") == {a.pk, b.pk}
    assert ids(f"sprint={other.pk}") == {c.pk}
    assert ids("status=2") == {a.pk}
    assert ids("assigned=alice") == {a.pk}
    assert ids("backlog=true") == {d.pk}
    assert ids("backlog=false") == {a.pk, b.pk, c.pk}
    assert ids("backlog=TRUE") == ids("backlog=1") == {d.pk}
    assert ids("backlog=") == {a.pk, b.pk, c.pk, d.pk}
    assert ids("search=docs") == {a.pk, b.pk}
    unknown = api.get(f"/api/tasks/?sprint={other.pk + 1000}")
    assert unknown.status_code == 400
    assert unknown.json() == {"sprint": [f"Sprint {other.pk + 1000} does not exist."]}
    empty = Sprint.objects.create(end=TODAY + timedelta(days=40))
    assert ids(f"sprint={empty.pk}") == set()
    names = [t["name"] for t in api.get("/api/tasks/?ordering=-name").json()["results"]]
    assert names == ["Gamma", "Delta", "Beta", "Alpha docs"]


def test_pagination(api, sprint):
    Task.objects.bulk_create(Task(name=f"T{n}", sprint=sprint, order=n) for n in range(630))
    first = api.get("/api/tasks/").json()
    assert first["count"] == 630
    assert len(first["results"]) == 25
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert len(api.get("/api/tasks/?page_size=100").json()["results"]) == 100
    assert len(api.get("/api/tasks/?page_size=500").json()["results"]) == 500
    last = api.get("/api/tasks/?page_size=500&page=2").json()
    assert len(last["results"]) == 130
    assert last["count"] == 630
    assert last["next"] is None
    assert api.get("/api/tasks/?page_size=500&page=last").json()["results"] == last["results"]
    assert api.get(f"/api/tasks/?sprint={sprint.pk}&status=4").json()["count"] == 0


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/tasks/abc/", 404),
        ("/api/tasks/99999999999999999999999/", 404),
        ("/api/tasks/-1/", 404),
        ("/api/sprints/abc/burndown/", 404),
        ("/api/users/nobody/", 404),
        ("/api/tasks/?sprint=abc", 400),
        ("/api/tasks/?sprint=99999999999999999999999", 400),
        ("/api/tasks/?sprint=0", 400),
        ("/api/tasks/?status=9", 400),
        ("/api/tasks/?assigned=nobody", 400),
        ("/api/tasks/?ordering=password", 400),
        ("/api/tasks/?ordering=assigned__password", 400),
        ("/api/users/?ordering=password", 400),
        ("/api/tasks/?page=99999999", 404),
        ("/api/tasks/?page=abc", 404),
        ("/api/tasks/?page=99999999999999999999999", 404),
        ("/api/tasks/?page=%C2%B2", 404),
        ("/api/tasks/?page_size=-5", 400),
        ("/api/tasks/?page_size=0", 400),
        ("/api/tasks/?page_size=ten", 400),
        ("/api/sprints/?end_max=2024-13-45", 400),
        ("/api/sprints/?end_min=2024-02-30", 400),
        ("/api/tasks/?backlog=maybe", 400),
        ("/api/tasks/?backlog=yes please", 400),
        ("/api/tasks/?status=doing", 400),
        ("/api/tasks/?sprint=1.5", 400),
        ("/api/tasks/?sprint=%C2%B2", 400),  # "²": a digit to str.isdigit, not to int()
        ("/api/tasks/?sprint=%D9%A3", 400),  # an Arabic-Indic 3
        ("/api/sprints/%C2%B2/versions/", 404),
    ],
)
def test_hostile_query_parameters_are_client_errors(api, path, status):
    task()
    response = api.get(path)
    assert response.status_code == status, response.content
    assert "Traceback" not in response.content.decode()


def test_listing_costs_a_constant_number_of_queries(api, sprint):
    users = [User.objects.create_user(f"user{n}") for n in range(10)]

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = api.get(f"/api/tasks/?sprint={sprint.pk}&page_size=100")
        assert response.status_code == 200
        body = response.json()
        counted = [query["sql"].startswith("SELECT COUNT(") for query in captured]
        return len(captured), any(counted), body["count"], len(body["results"]), body["next"]

    task(sprint=sprint, assigned=users[0])
    # token lookup, the scopes' versions (read before the rows: the Scrum-Versions header) and
    # one page of tasks joined to users, one row more than the page holds: when they all fit,
    # they are the count
    assert queries() == (3, False, 1, 1, None)
    Task.objects.bulk_create(
        Task(name=f"T{n}", sprint=sprint, status=1 + n % 4, assigned=users[n % 10])
        for n in range(99)
    )
    assert queries() == (3, False, 100, 100, None)  # a full page, and nothing after it
    Task.objects.bulk_create(
        Task(name=f"T{n}", sprint=sprint, status=1 + n % 4, assigned=users[n % 10])
        for n in range(99, 150)
    )
    count, counted, total, listed, following = queries()
    # the count comes with the page's rows: as many queries for 151 tasks as for 1
    assert (count, counted, total, listed) == (3, False, 151, 100)
    assert following.endswith(f"page=2&page_size=100&sprint={sprint.pk}")


SPRINT_PAGES = [
    "",
    "&page_size=3",
    "&page_size=3&page=2",
    "&page=3&page_size=3",
    "&page_size=3&page=last",
    "&page_size=500",
    "&page_size=3&page=4",  # past the end: 404
    "&page=0",
    "&page=two",
    "&page=1.0",
    "&page_size=0",  # 400
    "&page_size=501",
]


@pytest.mark.parametrize("pages", SPRINT_PAGES)
def test_a_boards_sprint_list_answers_as_every_other_list(api, sprint, pages):
    """?sprint=N with a page and its size, the board's own request, is read by queries
    compiled once; it answers as the same request through the filter set (an empty search
    sends it there): rows, order, dates, assignees, counts, links and refusals."""
    users = [User.objects.create_user(f"user{n}") for n in range(3)]
    other = Sprint.objects.create(name="Other", end=TODAY + timedelta(days=9))
    for n in range(8):
        status = 1 + n % 4
        task(
            name=f"T{n}",
            description=f"Task number {n}",
            sprint=sprint,
            status=status,
            order=(n * 5) % 8,  # not the ids' order
            assigned=users[n % 3] if n % 4 else None,
            started=TODAY - timedelta(days=n) if status > 1 else None,
            due=TODAY + timedelta(days=n) if n % 3 else None,
            completed=TODAY if status == 4 else None,
        )
    task(name="Elsewhere", sprint=other)
    task(name="Backlog")
    board = api.get(f"/api/tasks/?sprint={sprint.pk}{pages}")
    general = api.get(f"/api/tasks/?sprint={sprint.pk}{pages}&search=")
    assert board.status_code == general.status_code, board.content
    expected = general.content.decode().replace("&search=", "").replace("search=&", "")
    assert board.json() == json.loads(expected)
    assert board.get("Scrum-Versions") == general.get("Scrum-Versions")


def test_a_boards_list_of_an_empty_sprint_is_an_empty_page(api, sprint):
    body = api.get(f"/api/tasks/?sprint={sprint.pk}&page_size=100").json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


# ETags -----------------------------------------------------------------------------------


def test_detail_carries_an_etag_and_honours_if_none_match(api, sprint):
    response = api.get(f"/api/sprints/{sprint.pk}/")
    tag = response["ETag"]
    assert tag.startswith('"')
    again = api.get(f"/api/sprints/{sprint.pk}/", HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 304


def test_stale_if_match_is_refused_with_412(api, sprint):
    existing = task(name="Original", sprint=sprint)
    tag = api.get(f"/api/tasks/{existing.pk}/")["ETag"]
    changed = api.patch(
        f"/api/tasks/{existing.pk}/", {"name": "Colleague"}, format="json", HTTP_IF_MATCH=tag
    )
    assert changed.status_code == 200
    assert changed["ETag"] != tag
    stale = api.patch(
        f"/api/tasks/{existing.pk}/", {"name": "Mine"}, format="json", HTTP_IF_MATCH=tag
    )
    assert stale.status_code == 412
    existing.refresh_from_db()
    assert existing.name == "Colleague"
    assert api.delete(f"/api/tasks/{existing.pk}/", HTTP_IF_MATCH=tag).status_code == 412
    fresh = changed["ETag"]
    assert api.delete(f"/api/tasks/{existing.pk}/", HTTP_IF_MATCH=fresh).status_code == 204


def test_if_match_uses_the_strong_comparison(api, sprint):
    """A weak validator never matches If-Match (RFC 9110); If-None-Match compares weakly."""
    existing = task(name="Original", sprint=sprint)
    path = f"/api/tasks/{existing.pk}/"
    tag = api.get(path)["ETag"]
    weak = api.patch(path, {"name": "Mine"}, format="json", HTTP_IF_MATCH=f"W/{tag}")
    assert weak.status_code == 412
    moved = api.post(f"{path}move/", {"status": 2}, format="json", HTTP_IF_MATCH=f"W/{tag}")
    assert moved.status_code == 412
    assert Task.objects.get(pk=existing.pk).name == "Original"
    assert api.get(path, HTTP_IF_NONE_MATCH=f"W/{tag}").status_code == 304
    assert api.patch(path, {"name": "Mine"}, format="json", HTTP_IF_MATCH=tag).status_code == 200


def test_sprint_if_match(api, sprint):
    tag = api.get(f"/api/sprints/{sprint.pk}/")["ETag"]
    path = f"/api/sprints/{sprint.pk}/"
    assert api.patch(path, {"name": "A"}, format="json", HTTP_IF_MATCH=tag).status_code == 200
    assert api.patch(path, {"name": "B"}, format="json", HTTP_IF_MATCH=tag).status_code == 412
    assert api.patch(path, {"name": "C"}, format="json", HTTP_IF_MATCH="*").status_code == 200


# Moves, carry-over, burndown -------------------------------------------------------------


def column(sprint, status):
    return list(
        Task.objects.filter(sprint=sprint, status=status)
        .order_by("order")
        .values_list("name", "order")
    )


def test_move_reorders_within_a_column(api, sprint):
    a, b, c = (task(n, sprint=sprint, order=i) for i, n in enumerate("abc"))
    response = api.post(f"/api/tasks/{c.pk}/move/", {"status": TODO, "position": 0}, format="json")
    assert response.status_code == 200
    assert column(sprint, TODO) == [("c", 0), ("a", 1), ("b", 2)]
    body = response.json()
    assert body["task"]["order"] == 0
    assert body["changed"] == [body["task"]]  # the others' order is in change.columns
    assert body["change"]["columns"] == [
        {"sprint": sprint.pk, "status": TODO, "ids": [c.pk, a.pk, b.pk]}
    ]
    assert body["change"]["versions"] == [{"sprint": sprint.pk, "version": 1}]
    assert response["ETag"]


def test_move_across_columns_renumbers_both_and_sets_dates(api, sprint):
    for i, n in enumerate("abc"):
        task(n, sprint=sprint, order=i)
    x = task("x", sprint=sprint, status=IN_PROGRESS, started=TODAY - timedelta(days=2))
    b = Task.objects.get(name="b")
    response = api.post(f"/api/tasks/{b.pk}/move/", {"status": IN_PROGRESS, "position": 0})
    assert response.status_code == 200
    assert column(sprint, TODO) == [("a", 0), ("c", 1)]
    assert column(sprint, IN_PROGRESS) == [("b", 0), ("x", 1)]
    b.refresh_from_db()
    assert (b.started, b.completed) == (TODAY, None)
    api.post(f"/api/tasks/{b.pk}/move/", {"status": DONE}, format="json")
    b.refresh_from_db()
    assert (b.started, b.completed, b.order) == (TODAY, TODAY, 0)
    x_before = Task.objects.get(pk=x.pk).started
    assert x_before == TODAY - timedelta(days=2)
    api.post(f"/api/tasks/{b.pk}/move/", {"status": TODO, "position": 99}, format="json")
    b.refresh_from_db()
    assert (b.started, b.completed) == (None, None)
    assert column(sprint, TODO) == [("a", 0), ("c", 1), ("b", 2)]


def test_move_between_sprints_and_backlog(api, sprint):
    other = Sprint.objects.create(end=TODAY + timedelta(days=30))
    moving = task("m", sprint=sprint, status=IN_PROGRESS, started=TODAY)
    to_backlog = api.post(
        f"/api/tasks/{moving.pk}/move/", {"status": 2, "sprint": None}, format="json"
    )
    assert errors(to_backlog) == ['Backlog tasks must have "Not Started" status.']
    response = api.post(
        f"/api/tasks/{moving.pk}/move/", {"status": TODO, "sprint": None}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["task"]["sprint"] is None
    response = api.post(
        f"/api/tasks/{moving.pk}/move/", {"status": TESTING, "sprint": other.pk}, format="json"
    )
    assert response.json()["task"]["sprint"] == other.pk
    assert column(other, TESTING) == [("m", 0)]


def test_move_follows_the_books_rules(api, sprint, past_sprint):
    moving = task(sprint=sprint)
    to_past = api.post(
        f"/api/tasks/{moving.pk}/move/", {"status": 1, "sprint": past_sprint.pk}, format="json"
    )
    assert errors(to_past) == ["Cannot assign tasks to past sprints."]
    done = task(sprint=sprint, status=DONE, started=TODAY, completed=TODAY)
    other = Sprint.objects.create(end=TODAY + timedelta(days=30))
    away = api.post(f"/api/tasks/{done.pk}/move/", {"status": 4, "sprint": other.pk})
    assert errors(away) == ["Cannot change the sprint of a completed task."]
    path = f"/api/tasks/{moving.pk}/move/"
    assert api.post(path, {"status": 9}).status_code == 400
    assert api.post(path, {"status": 1, "position": -1}).status_code == 400
    assert api.post("/api/tasks/99999/move/", {"status": 1}).status_code == 404


def test_move_honours_if_match(api, sprint):
    moving = task(sprint=sprint)
    stale = '"0000"'
    response = api.post(
        f"/api/tasks/{moving.pk}/move/", {"status": 2}, format="json", HTTP_IF_MATCH=stale
    )
    assert response.status_code == 412
    assert Task.objects.get(pk=moving.pk).status == TODO


def test_carry_over_to_next_sprint_and_backlog(api, sprint):
    nxt = Sprint.objects.create(name="Next", end=TODAY + timedelta(days=21))
    task("todo", sprint=sprint)
    task("doing", sprint=sprint, status=IN_PROGRESS, started=TODAY)
    task("done", sprint=sprint, status=DONE, started=TODAY, completed=TODAY)
    task("already", sprint=nxt)
    response = api.post(f"/api/sprints/{sprint.pk}/carry-over/", {"to": nxt.pk}, format="json")
    assert response.status_code == 200
    assert {t["name"] for t in response.json()["moved"]} == {"todo", "doing"}
    assert column(nxt, TODO) == [("already", 0), ("todo", 1)]
    assert column(nxt, IN_PROGRESS) == [("doing", 0)]
    assert column(sprint, DONE) == [("done", 0)]
    response = api.post(f"/api/sprints/{nxt.pk}/carry-over/", {"to": None}, format="json")
    assert response.status_code == 200
    backlog = Task.objects.filter(sprint=None)
    assert set(backlog.values_list("name", "status")) == {
        ("already", TODO),
        ("todo", TODO),
        ("doing", TODO),
    }
    assert not backlog.exclude(started=None).exists()


def test_carry_over_renumbers_the_target_columns(api, sprint):
    nxt = Sprint.objects.create(name="Next", end=TODAY + timedelta(days=21))
    task("there", sprint=nxt, order=32767)
    task("todo", sprint=sprint)
    response = api.post(f"/api/sprints/{sprint.pk}/carry-over/", {"to": nxt.pk}, format="json")
    assert response.status_code == 200
    assert [t["name"] for t in response.json()["moved"]] == ["todo"]
    assert column(nxt, TODO) == [("there", 0), ("todo", 1)]


def test_carry_over_rules(api, sprint, past_sprint):
    to_past = api.post(f"/api/sprints/{sprint.pk}/carry-over/", {"to": past_sprint.pk})
    assert errors(to_past) == ["Cannot assign tasks to past sprints."]
    to_self = api.post(f"/api/sprints/{sprint.pk}/carry-over/", {"to": sprint.pk})
    assert errors(to_self) == ["Cannot carry a sprint over to itself."]
    assert api.post(f"/api/sprints/{sprint.pk}/carry-over/", {}).status_code == 400


def test_burndown(api):
    sprint = Sprint.objects.create(end=TODAY + timedelta(days=2))
    task(sprint=sprint, status=DONE, started=TODAY, completed=TODAY - timedelta(days=1))
    task(sprint=sprint, status=DONE, started=TODAY, completed=TODAY + timedelta(days=1))
    task(sprint=sprint)
    start = (TODAY - timedelta(days=2)).isoformat()
    body = api.get(f"/api/sprints/{sprint.pk}/burndown/?start={start}").json()
    assert body["total"] == 3
    assert [day["open"] for day in body["days"]] == [3, 2, 2, 1, 1]
    assert body["days"][0]["date"] == start
    default = api.get(f"/api/sprints/{sprint.pk}/burndown/").json()
    assert len(default["days"]) == 14
    late = (TODAY + timedelta(days=5)).isoformat()
    assert api.get(f"/api/sprints/{sprint.pk}/burndown/?start={late}").status_code == 400
    assert api.get(f"/api/sprints/{sprint.pk}/burndown/?start=soon").status_code == 400


def test_a_new_sprint_starts_today_and_its_burndown_from_its_first_day(api):
    end = (TODAY + timedelta(days=14)).isoformat()
    made = api.post("/api/sprints/", {"name": "Fresh", "end": end})
    assert made.status_code == 201 and made.json()["start"] == TODAY.isoformat()
    days = api.get(f"/api/sprints/{made.json()['id']}/burndown/").json()["days"]
    assert (days[0]["date"], days[-1]["date"], len(days)) == (TODAY.isoformat(), end, 15)
    planned = (TODAY + timedelta(days=3)).isoformat()
    later = {"name": "Planned", "start": planned, "end": (TODAY + timedelta(days=9)).isoformat()}
    assert api.post("/api/sprints/", later).json()["start"] == planned


MESSAGE_AFTER = "Start date must not be after the end."


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "End date is required."),
        ({"end": None}, "End date is required."),
        ({"end": ""}, "End date is required, as a date (YYYY-MM-DD)."),
        ({"end": "soon"}, "End date is required, as a date (YYYY-MM-DD)."),
        ({"end": "SPRINT"}, "Another sprint already ends that day."),
        (
            {"end": str(TODAY + timedelta(days=30)), "start": "monday"},
            "Start date must be a date (YYYY-MM-DD).",
        ),
    ],
)
def test_sprint_validation_messages(api, sprint, fields, message):
    fields = {k: sprint.end.isoformat() if v == "SPRINT" else v for k, v in fields.items()}
    response = api.post("/api/sprints/", {"name": "S", **fields}, format="json")
    assert errors(response) == [message]


@pytest.mark.parametrize(
    "start, end, message",
    [
        (5, 4, MESSAGE_AFTER),
        (-300, 100, "A sprint lasts a year at most."),
    ],
)
def test_a_sprints_start_after_its_end_or_a_year_before_it_is_refused(api, start, end, message):
    dates = {
        name: (TODAY + timedelta(days=n)).isoformat()
        for name, n in (("start", start), ("end", end))
    }
    refused = api.post("/api/sprints/", {"name": "Odd", **dates})
    assert (refused.status_code, refused.json()) == (400, {"start": [message]})
    sprint = Sprint.objects.create(end=TODAY + timedelta(days=20), start=TODAY + timedelta(days=5))
    earlier = api.patch(
        f"/api/sprints/{sprint.pk}/", {"end": (TODAY + timedelta(days=2)).isoformat()}
    )
    assert (earlier.status_code, earlier.json()) == (400, {"start": [MESSAGE_AFTER]})


@pytest.mark.parametrize(
    ("limits", "answer"),
    [
        ({"2": 3, "3": 2}, {"2": 3, "3": 2}),
        ({2: 5, "1": None, "3": ""}, {"2": 5}),  # null or empty: no limit
        ({"7": 3}, "'7' is not a status (1 to 4)."),
        ({"2": 0}, "A WIP limit is a number of tasks, 1 to 999."),
        ({"2": "3"}, "A WIP limit is a number of tasks, 1 to 999."),
        ({"2": True}, "A WIP limit is a number of tasks, 1 to 999."),
        ([3, 2], 'WIP limits are {"<status>": most tasks}.'),
    ],
)
def test_a_sprints_wip_limits_are_statuses_with_a_number_of_tasks(api, sprint, limits, answer):
    response = api.patch(f"/api/sprints/{sprint.pk}/", {"wip_limits": limits}, format="json")
    if isinstance(answer, dict):
        assert response.status_code == 200 and response.json()["wip_limits"] == answer
        sprint.refresh_from_db()
        assert sprint.wip_limits == answer
    else:
        assert errors(response) == [answer]


def test_archived_sprints_are_kept_listed_and_filtered(api, sprint):
    shelved = Sprint.objects.create(name="Shelved", end=TODAY + timedelta(days=9), archived=True)
    assert api.get(f"/api/sprints/{sprint.pk}/").json()["archived"] is False
    every = [s["id"] for s in api.get("/api/sprints/").json()["results"]]
    assert {sprint.pk, shelved.pk} <= set(every)  # the book's list still has every sprint
    only = api.get("/api/sprints/?archived=true").json()["results"]
    assert [s["id"] for s in only] == [shelved.pk]
    assert shelved.pk not in [
        s["id"] for s in api.get("/api/sprints/?archived=false").json()["results"]
    ]
    assert api.get("/api/sprints/?archived=maybe").status_code == 400


# Demo data, schema, root page ------------------------------------------------------------


def test_seed_demo_is_idempotent():
    call_command("seed_demo")
    call_command("seed_demo")
    demo = User.objects.get(username="demo")
    assert demo.check_password("test")
    sprint = Sprint.objects.get()
    assert sprint.end >= TODAY
    statuses = set(Task.objects.filter(sprint=sprint).values_list("status", flat=True))
    assert statuses == {TODO, IN_PROGRESS, TESTING, DONE}
    assert Task.objects.count() == 9


def test_openapi_schema_and_local_docs():
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/tasks/{id}/move/" in schema["paths"]
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs
    assert "https://" not in docs and "http://" not in docs.replace("http://testserver", "")


def test_the_board_page_configures_the_client_and_forbids_inline_script(settings):
    response = APIClient().get("/")
    page = response.content.decode()
    assert "<title>Scrum Board</title>" in page
    assert '"apiRoot": "/api/"' in page and '"apiLogin": "/api/token"' in page
    scripts = re.findall(r'<script src="/static/board/(\S+)"', page)
    assert scripts == [
        "js/app.js",
        "vendor/jquery.min.js",
        "vendor/underscore-min.js",
        "vendor/backbone-min.js",
        "js/socket.js",
        "js/models.js",
        "js/live.js",
        "js/views/base.js",
        "js/views/home.js",
        "js/burndown.js",
        "js/views/sprint.js",
        "js/router.js",
    ]
    assert not re.search(r"\son[a-z]+=|\sstyle=|<script>|https?://", page)
    header = response["Content-Security-Policy"]
    policy = dict(part.strip().split(" ", 1) for part in header.split(";"))
    assert policy["script-src"] == "'self' 'unsafe-eval'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == f"'self' ws://{settings.WATERCOOLER_SERVER}"
    assert policy["frame-ancestors"] == "'none'"


def test_the_board_page_carries_the_api_roots_links():
    """The board asks for its lists without asking the root first: the page has the links."""
    client = APIClient()
    page = client.get("/").content.decode()
    carried = json.loads(
        re.search(r'id="api-links" type="application/json">(.*?)</script>', page)[1]
    )
    answered = client.get("/api/").json()
    assert carried == {name: urlsplit(url).path for name, url in answered.items()}
    assert set(carried) == {"sprints", "tasks", "users"}


def test_move_to_the_same_place_closes_gaps_without_duplicates(api, sprint):
    for order, name in ((0, "a"), (1, "b"), (5, "c")):
        task(name, sprint=sprint, order=order)
    a = Task.objects.get(name="a")
    api.post(f"/api/tasks/{a.pk}/move/", {"status": TODO, "position": 0}, format="json")
    assert column(sprint, TODO) == [("a", 0), ("b", 1), ("c", 2)]


def test_browsable_api_renders_every_resource(api, user, sprint):
    task(sprint=sprint, assigned=user)
    for path in ["/api/", "/api/tasks/", f"/api/sprints/{sprint.pk}/", "/api/users/alice/"]:
        response = api.get(path, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, path
        assert "Django REST framework" in response.content.decode()
