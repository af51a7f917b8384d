"""bench_scrum's helpers and its floor's output (issue 19); no timing is asserted."""

import datetime
import json
import sys
from pathlib import Path

import pytest
from rest_framework.utils.urls import remove_query_param, replace_query_param

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_scrum  # noqa: E402
import scrum_floor  # noqa: E402

TASK = {"id": 7, "name": "Task 7", "links": {"self": "ORIGIN/api/tasks/7/"}}
TASK_FIELDS = ("id", "name", "description", "sprint", "status", "status_display", "order")
TASK_FIELDS += ("assigned", "started", "due", "completed", "links")  # scrum's serializer's
PAGE = {"count": 100, "next": None, "previous": None, "results": [TASK] * 100}


def answers(**changed):
    """Every contender's (status, body, Scrum-Versions) as the API's, with some changed."""
    same = {name: (200, PAGE, '{"backlog":0}') for name in bench_scrum.CONTENDERS}
    return {**same, **changed}


def test_equal_answers_have_no_differences():
    assert bench_scrum.differences(answers(), 100) == []


def test_a_contender_that_fails_or_answers_another_body_or_header_is_named():
    assert bench_scrum.differences(answers(ninja=(401, {}, None)), 100) == ["ninja: status 401"]
    other = {**PAGE, "results": [{**TASK, "name": "other"}] * 100}
    assert bench_scrum.differences(answers(floor=(200, other, None)), 100) == [
        "floor: a different body from the API's"
    ]
    assert bench_scrum.differences(answers(ninja=(200, PAGE, '{"backlog":1}')), 100) == [
        "ninja: Scrum-Versions '{\"backlog\":1}', the API '{\"backlog\":0}'"
    ]


def test_the_floor_needs_no_scrum_versions_header_but_every_page_must_be_full():
    assert bench_scrum.differences(answers(floor=(200, PAGE, None)), 100) == []
    assert bench_scrum.differences(answers(), 1_000) == ["list: 100 tasks, a page of 100"]


def test_the_contenders_of_a_size_take_turns_at_going_first():
    orders = [bench_scrum.rotated(list(bench_scrum.CONTENDERS), turn) for turn in range(4)]
    assert [order[0] for order in orders] == ["floor", "ninja", "list", "floor"]
    assert all(sorted(order) == sorted(bench_scrum.CONTENDERS) for order in orders)


def test_ratios_are_taken_round_by_round():
    assert bench_scrum.ratios([2.0, 6.0], [1.0, 2.0]) == [2.0, 3.0]
    with pytest.raises(ValueError):
        bench_scrum.ratios([1.0], [1.0, 2.0])


@pytest.mark.parametrize("page", [1, 2, 3])
def test_the_floors_page_links_are_drf_s(page):
    url = "http://h/api/tasks/?sprint=4&page_size=100" + (f"&page={page}" if page > 1 else "")
    query = {"sprint": ["4"], "page_size": ["100"], "page": [str(page)]}
    base = "http://h/api/tasks/"
    assert scrum_floor.page_link(base, query, page + 1) == replace_query_param(
        url, "page", page + 1
    )
    if page > 1:  # DRF's previous link to the first page drops page
        previous = replace_query_param(url, "page", page - 1)
        drf = remove_query_param(url, "page") if page == 2 else previous
        assert scrum_floor.page_link(base, query, page - 1) == drf


class Cursor:
    """Stands in for a psycopg cursor: remembers the parameters, returns the given rows."""

    def __init__(self, rows):
        self.rows, self.params = rows, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, params):
        self.params = params

    def fetchall(self):
        return self.rows


def test_the_floor_writes_the_apis_json_for_its_rows(monkeypatch):
    due = datetime.date(2026, 12, 24)
    rows = [
        (1, "A", "", 4, 2, 0, "ann", None, due, None, 250),
        (2, "B", "x", 4, 1, 1, None, None, None, None, 250),
    ]
    cursor = Cursor(rows)
    monkeypatch.setattr(scrum_floor, "cursor", lambda: cursor)
    environ = {
        "QUERY_STRING": "sprint=4&page_size=2&page=3",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "h:8",
    }
    page = json.loads(scrum_floor.body(environ))
    assert cursor.params == {"sprint": 4, "limit": 2, "offset": 4}
    assert page["count"] == 250
    assert page["next"] == "http://h:8/api/tasks/?page=4&page_size=2&sprint=4"
    assert page["previous"] == "http://h:8/api/tasks/?page=2&page_size=2&sprint=4"
    assert page["results"][0] == {
        "id": 1,
        "name": "A",
        "description": "",
        "sprint": 4,
        "status": 2,
        "status_display": "In Progress",
        "order": 0,
        "assigned": "ann",
        "started": None,
        "due": "2026-12-24",
        "completed": None,
        "links": {
            "self": "http://h:8/api/tasks/1/",
            "sprint": "http://h:8/api/sprints/4/",
            "assigned": "http://h:8/api/users/ann/",
        },
    }
    assert page["results"][1]["links"]["assigned"] is None
    assert list(page["results"][0]) == list(TASK_FIELDS)  # the API's order


def test_cpu_is_counted_since_the_first_reading_and_split_by_kind():
    before = {("server", 1): 5.0, ("database", 2): 1.0, ("database", 3): 2.0}
    after = {("server", 1): 5.5, ("database", 2): 1.25, ("database", 4): 0.5}  # 3 ended, 4 new
    assert bench_scrum.cpu_spent(before, after) == 1.25
    assert bench_scrum.cpu_spent(before, after, ["database"]) == 0.75
