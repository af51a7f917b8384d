"""The API's bytes equal those of plain DRF: generic serializer fields, the stock JSONRenderer.

The task list is the board's hot path, so its representation and rendering are hand-tuned;
these tests rebuild every list and detail answer the slow, obvious way and compare the bytes,
over tasks with and without dates, sprints and assignees, and with awkward names.
"""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from board.models import Sprint, Task, Token, etag
from board.renderers import FastJSONRenderer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.signing import TimestampSigner
from django.db.models import Q
from django.utils.translation import gettext_lazy
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient
from rest_framework.utils.urls import remove_query_param, replace_query_param

pytestmark = pytest.mark.django_db
User = get_user_model()
TODAY = date.today()
AWKWARD = ['Quote " back\\slash', "Zoë ✓ 🚀", "line\u2028sep\u2029para", "<b>&amp;</b>", "\x01\t\n"]


def api_url(request, path=""):
    return f"{request.build_absolute_uri('/api/')}{path}"


class ReferenceTask(serializers.ModelSerializer):
    assigned = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status_display = serializers.CharField(source="get_status_display")
    links = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = (
            *("id", "name", "description", "sprint", "status", "status_display", "order"),
            *("assigned", "started", "due", "completed", "links"),
        )

    def get_links(self, task):
        request = self.context["request"]
        return {
            "self": api_url(request, f"tasks/{task.pk}/"),
            "sprint": api_url(request, f"sprints/{task.sprint_id}/") if task.sprint else None,
            "assigned": api_url(request, f"users/{task.assigned.username}/")
            if task.assigned
            else None,
        }


class ReferenceSprint(serializers.ModelSerializer):
    links = serializers.SerializerMethodField()

    class Meta:
        model = Sprint
        fields = (
            "id",
            "name",
            "description",
            "start",
            "end",
            "archived",
            "wip_limits",
            "version",
            "links",
        )

    def get_links(self, sprint):
        request = self.context["request"]
        return {
            "self": api_url(request, f"sprints/{sprint.pk}/"),
            "tasks": api_url(request, f"tasks/?sprint={sprint.pk}"),
            "channel": self.context["channels"][sprint.pk],
        }


class ReferenceUser(serializers.ModelSerializer):
    full_name = serializers.CharField(source="get_full_name")
    links = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ("id", "username", "full_name", "is_active", "links")

    def get_links(self, user):
        request = self.context["request"]
        return {
            "self": api_url(request, f"users/{user.username}/"),
            "tasks": api_url(request, f"tasks/?{urlencode({'assigned': user.username})}"),
        }


@pytest.fixture
def board():
    """Users, sprints and tasks covering every shape a task's representation takes."""
    zoe = User.objects.create_user("zoë", first_name="Zoë", last_name="Ünal")
    bob = User.objects.create_user("bob.smith@x", is_active=False)
    sprints = [
        Sprint.objects.create(name=name, description=name * 2, end=TODAY + timedelta(days=n))
        for n, name in enumerate(["", *AWKWARD])
    ]
    users = [None, zoe, bob]
    for n in range(40):
        status = 1 + n % 4
        in_sprint = n % 5 != 0 or status != 1
        Task.objects.create(
            name=f"{AWKWARD[n % len(AWKWARD)]} {n}",
            description=AWKWARD[n % 3] if n % 2 else "",
            sprint=sprints[n % len(sprints)] if in_sprint or status != 1 else None,
            status=status if in_sprint else 1,
            order=n,
            assigned=users[n % 3],
            started=TODAY - timedelta(days=n) if status > 1 else None,
            due=TODAY + timedelta(days=n) if n % 3 else None,
            completed=TODAY if status == 4 else None,
        )
    Task.objects.create(name="backlog", status=1)
    return sprints


@pytest.fixture
def api():
    client = APIClient()
    alice = User.objects.create_user("alice")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    return client


def reference(response, serializer, objects, many=False, **context):
    """What plain DRF renders for these objects, paginated like the response when many."""
    request = response.wsgi_request
    data = serializer(objects, many=many, context={"request": request, **context}).data
    return JSONRenderer().render(data)


def page(response, serializer, queryset, page_size, number=1, **context):
    """A page of the list as plain DRF's PageNumberPagination would answer it."""
    request = response.wsgi_request
    items = list(queryset)
    first = (number - 1) * page_size
    url = request.build_absolute_uri()
    previous = None
    if number == 2:
        previous = remove_query_param(url, "page")  # DRF's link to page 1 has no page=
    elif number > 2:
        previous = replace_query_param(url, "page", number - 1)
    more = first + page_size < len(items)
    data = {
        "count": len(items),
        "next": replace_query_param(url, "page", number + 1) if more else None,
        "previous": previous,
        "results": serializer(
            items[first : first + page_size], many=True, context={"request": request, **context}
        ).data,
    }
    return JSONRenderer().render(data)


def channels(body):
    """sprint id -> its channel link, each checked to be the signed websocket URL."""
    signer = TimestampSigner(key=settings.WATERCOOLER_SECRET, salt="watercooler.channel")
    found = {}
    for item in body if isinstance(body, list) else [body]:
        link = urlsplit(item["links"]["channel"])
        assert (link.scheme, link.netloc, link.path) == (
            "ws",
            settings.WATERCOOLER_PUBLIC,
            "/socket",
        )
        assert signer.unsign(parse_qs(link.query)["channel"][0]) == str(item["id"])
        found[item["id"]] = item["links"]["channel"]
    return found


TASKS = Task.objects.select_related("assigned").order_by("order", "id")


@pytest.mark.parametrize(
    "query",
    [
        "sprint={sprint}&page_size=500",
        "sprint={sprint}",
        "page_size=100",
        "page_size=7",
        "page_size=7&page=2",
        "page_size=7&page=3",
        "backlog=true",
        "assigned=zoë",
        "status=4&page_size=3&page=2",
        "ordering=-name&page_size=500",
        "search=🚀",
    ],
)
def test_task_lists_equal_plain_drf(api, board, query):
    sprint = board[2]
    path = f"/api/tasks/?{query.format(sprint=sprint.pk)}"
    response = api.get(path)
    assert response.status_code == 200, response.content
    params = response.wsgi_request.GET
    queryset = TASKS.all()
    if "sprint" in params:
        queryset = queryset.filter(sprint=sprint)
    if "backlog" in params:
        queryset = queryset.filter(sprint=None)
    if "assigned" in params:
        queryset = queryset.filter(assigned__username=params["assigned"])
    if "status" in params:
        queryset = queryset.filter(status=params["status"])
    if "ordering" in params:
        queryset = queryset.order_by(params["ordering"])  # names are unique
    if "search" in params:
        term = params["search"]
        queryset = queryset.filter(Q(name__icontains=term) | Q(description__icontains=term))
    assert queryset.exists()
    size, number = int(params.get("page_size", 25)), int(params.get("page", 1))
    expected = page(response, ReferenceTask, queryset, size, number)
    assert response.content == expected


def test_task_details_equal_plain_drf(api, board):
    for task in TASKS.all():
        response = api.get(f"/api/tasks/{task.pk}/")
        assert response.content == reference(response, ReferenceTask, task)
        assert response["ETag"] == etag(task)


def test_sprints_and_users_equal_plain_drf(api, board):
    sprints = Sprint.objects.order_by("end")
    response = api.get("/api/sprints/?page_size=100")
    found = channels(response.json()["results"])
    assert response.content == page(response, ReferenceSprint, sprints, 100, channels=found)
    for sprint in sprints:
        response = api.get(f"/api/sprints/{sprint.pk}/")
        expected = reference(response, ReferenceSprint, sprint, channels=channels(response.json()))
        assert response.content == expected
    users = User.objects.order_by("username")
    response = api.get("/api/users/")
    assert response.content == page(response, ReferenceUser, users, 25)
    for user in users:
        response = api.get(f"/api/users/{user.username}/")
        assert response.content == reference(response, ReferenceUser, user)


@pytest.mark.parametrize(
    "data",
    [
        {"text": AWKWARD, "all": "".join(map(chr, range(0x80))), "ok": [True, False, None]},
        {"ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**70], "nested": {"a": {"b": []}}},
        {1: "non-string key"},
        {"when": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "day": TODAY, "at": time(1)},
        {"lazy": gettext_lazy("This field is required."), "error": ErrorDetail("Bad", "x")},
        {"decimal": Decimal("1.50"), "set": {1}, "bytes": b"raw", "uuid": uuid.UUID(int=7)},
        [[[[["deep"]]]]] * 3,
        "plain string",
        None,
    ],
)
@pytest.mark.parametrize("accept", [None, "application/json", "application/json; indent=4"])
def test_fast_renderer_writes_drfs_bytes(data, accept):
    expected = JSONRenderer().render(data, accept)
    assert FastJSONRenderer().render(data, accept) == expected
