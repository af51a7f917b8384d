"""API views (book ch. 4): sprints, tasks and users, plus moves, carry-over, burndown, ETags
and the versions boards converge on.

Every write runs in one transaction, rolled back whole when it is refused; its announcements
to the watercooler go out after the commit (hooks.py), each with the change it made (the
scopes' new versions, the columns' new order). Tasks and sprints carry an ETag; a write with
a stale If-Match gets 412.
"""

import json

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.http import JsonResponse
from django.views.defaults import page_not_found
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from . import columns, hooks, tokens
from .filters import BOARD_ORDER, SprintFilter, SprintTasks, TaskFilter, task_rows
from .limits import JSONParser
from .logins import LoginThrottle
from .models import Backlog, Sprint, Task, Token, etag
from .renderers import FastJSONRenderer
from .serializers import (
    BurndownSerializer,
    CarryOverSerializer,
    MoveSerializer,
    SprintSerializer,
    TaskSerializer,
    UserSerializer,
    channel_url,
)

User = get_user_model()
LOCKED_ACTIONS = frozenset({"update", "partial_update", "destroy"})
TAGGED_ACTIONS = frozenset({"retrieve", "create", "update", "partial_update"})
MOVE_ATTEMPTS = 5
SPRINT_PAGE = frozenset({"sprint", "page", "page_size"})  # a board's list parameters


class ThrottledObtainAuthToken(ObtainAuthToken):
    """POST username + password, get a new token (tokens.issue); wrong passwords count as
    failed logins."""

    parser_classes = (FormParser, MultiPartParser, JSONParser)
    permission_classes = (AllowAny,)

    def post(self, request, *args, **kwargs):
        throttle = LoginThrottle()
        throttle.check(request)
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except exceptions.ValidationError:
            data = request.data if isinstance(request.data, dict) else {}
            throttle.record_failure(data.get("username"))
            raise
        throttle.record_success()
        return Response({"token": tokens.issue(serializer.validated_data["user"]).key})


class LogoutView(APIView):
    """POST with a token: the token is deleted, so no copy of it works any more."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request, *args, **kwargs):
        if isinstance(request.auth, Token):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The object changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def etag_matches(header, tag, weak=False):
    """Return whether an If-Match (strong comparison: a W/ tag never matches) or If-None-Match
    (weak=True) header value names this ETag, or is *."""
    tags = {value.strip() for value in header.split(",")}
    if weak:
        tags = {value.removeprefix("W/") for value in tags}
    return "*" in tags or tag in tags


def not_found(request, exception=None):
    """Return handler404's answer: JSON under /api/ (a path no route matches, such as
    /api/tasks/1.5/), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def server_error(request, *args, **kwargs):
    """Return handler500's answer: JSON for API clients instead of Django's HTML page (the
    error itself is logged with its traceback, see LOGGING in scrum.py)."""
    return JsonResponse({"detail": "Server error."}, status=500)


def announce(method, model, pk, data=None, **described):
    """Tell the watercooler about a change once this request's transaction commits; return
    the change announced.

    The body is the object's representation (a DELETE's: its id) plus "change", described by
    hooks.change(**described), encoded as the API's answers are (the same bytes as DRF's
    encoder): a move between two columns of 1,000 tasks announces 2,000 ids, 0.11 ms of DRF's
    encoding against 0.02.
    """
    body = {**(data if data is not None else {"id": pk}), "change": hooks.change(**described)}
    hooks.announce(method, model, pk, FastJSONRenderer().render(body))
    return body["change"]


def in_transaction(handler):
    """Return the handler run in a transaction, rolled back whole when it answers an error:
    nothing of a refused write stays, not even a version."""

    def write(request, *args, **kwargs):
        with transaction.atomic():
            response = handler(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
            return response

    return write


class BoardViewSet(viewsets.ModelViewSet):
    """A model viewset with transactional writes, ETags and watercooler announcements."""

    hook_model = None
    locked_actions = LOCKED_ACTIONS  # those whose object get_object() locks
    # for the schema (schema.py): the actions that honour If-Match, If-None-Match, answer
    # with an ETag, and may answer 409
    conditional_actions = LOCKED_ACTIONS
    cached_actions = frozenset({"retrieve"})
    tagged_actions = TAGGED_ACTIONS
    conflict_actions = frozenset()
    written = None  # the object this request created or changed, for its ETag header

    def dispatch(self, request, *args, **kwargs):
        """Run a write's handler in one transaction. Authentication stays outside it: a
        refused write rolls back, and the failed login it counted must stay counted."""
        method = request.method.lower()
        if request.method not in SAFE_METHODS and hasattr(self, method):
            setattr(self, method, in_transaction(getattr(self, method)))
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in self.locked_actions:
            return queryset.select_for_update(of=("self",))
        return queryset

    def get_object(self):
        instance = super().get_object()
        if self.action in self.locked_actions:
            self.check_if_match(instance)
        return instance

    def check_if_match(self, instance):
        """Refuse with 412 a write whose If-Match names another version of the object."""
        header = self.request.headers.get("If-Match")
        if header and not etag_matches(header, etag(instance)):
            raise PreconditionFailed()

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        tag = etag(instance)
        if etag_matches(request.headers.get("If-None-Match", ""), tag, weak=True):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        return Response(self.get_serializer(instance).data, headers={"ETag": tag})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.written is not None and response.status_code < 300:
            response["ETag"] = etag(self.written)
        return response

    def perform_create(self, serializer):
        self.written = serializer.save()
        announce("POST", self.hook_model, self.written.pk, self.announced(serializer.data))

    def perform_update(self, serializer):
        self.written = serializer.save()
        announce("PUT", self.hook_model, self.written.pk, self.announced(serializer.data))

    def announced(self, data):
        """Return the object's JSON as every socket gets it."""
        return data

    def perform_destroy(self, instance):
        pk = instance.pk
        instance.delete()
        announce("DELETE", self.hook_model, pk)


class SprintViewSet(BoardViewSet):
    """Sprints ordered by end date."""

    queryset = Sprint.objects.order_by("end")
    serializer_class = SprintSerializer
    filterset_class = SprintFilter
    search_fields = ("name",)
    ordering_fields = ("end", "name")
    hook_model = "sprint"
    cached_actions = frozenset({"retrieve", "versions"})
    tagged_actions = TAGGED_ACTIONS | {"versions"}
    conflict_actions = frozenset({"destroy"})

    def announced(self, data):
        """Return the sprint's JSON with a channel link naming nobody: every socket gets it,
        and the viewer in the writer's link is the writer's own."""
        return {**data, "links": {**data["links"], "channel": channel_url(data["id"])}}

    def perform_destroy(self, instance):
        count = instance.task_set.count()
        if count:
            raise Conflict(
                f"The sprint still has {count} task(s); carry them over or delete them first."
            )
        super().perform_destroy(instance)

    @extend_schema(
        request=CarryOverSerializer,
        responses=inline_serializer("CarryOver", {"moved": TaskSerializer(many=True)}),
    )
    @action(detail=True, methods=["post"], url_path="carry-over")
    def carry_over(self, request, pk=None):
        """Move this sprint's unfinished tasks to another sprint or (to: null) the backlog."""
        sprint = self.get_object()
        serializer = CarryOverSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        moved, versions = columns.carry_over(sprint, serializer.validated_data["to"])
        data = TaskSerializer(moved, many=True, context=self.get_serializer_context()).data
        for item in data:  # boards refetch; the book's client follows each task
            announce("PUT", "task", item["id"], item, versions=versions, refetch=True)
        return Response({"moved": data})

    @extend_schema(
        responses=inline_serializer(
            "Versions",
            {
                "sprint": serializers.IntegerField(),
                "version": serializers.IntegerField(help_text="of the sprint's tasks"),
                "backlog": serializers.IntegerField(help_text="of the backlog's tasks"),
            },
        )
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def versions(self, request, pk=None):
        """Return the versions of the sprint's tasks and of the backlog's, with the ETag
        "<version>-<backlog>" (If-None-Match naming it: 304)."""
        found = scope_versions(pk)
        if "sprint" not in found:
            raise exceptions.NotFound()
        tag = f'"{found["version"]}-{found["backlog"]}"'
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if etag_matches(request.headers.get("If-None-Match", ""), tag, weak=True):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(found, headers=headers)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "start",
                OpenApiTypes.DATE,
                description="First day (default: the sprint's start, else 13 days before end)",
            )
        ],
        responses=BurndownSerializer,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def burndown(self, request, pk=None):
        """Open tasks at the end of each day from the start to the end of the sprint."""
        sprint = self.get_object()
        start = serializers.DateField(required=False, allow_null=True)
        try:
            first = start.run_validation(request.query_params.get("start") or None)
        except exceptions.ValidationError as error:
            raise exceptions.ValidationError({"start": error.detail}) from None
        return Response(BurndownSerializer(columns.burndown(sprint, first)).data)


# The backlog's version and a sprint's (NULL for a sprint that does not exist), in one row.
VERSIONS = "SELECT (SELECT version FROM {} WHERE id = %s), (SELECT version FROM {} WHERE id = %s)"
VERSIONS = VERSIONS.format(
    *(connection.ops.quote_name(m._meta.db_table) for m in (Backlog, Sprint))
)


def scope_versions(sprint=None):
    """Return {"backlog": M}, with "sprint" and its "version" too when `sprint` (an id, as
    the URL or query gives it) names a sprint that exists: one query.

    Written in SQL: every list and every check of a board reads it, and building the ORM's
    query (a subquery under Coalesce) cost more than the database's answer (a list of 100
    tasks through Django's test client on SQLite: 2.6 ms a request instead of 3.0).
    """
    text = str(sprint)  # ASCII digits only: "²" is a digit to str.isdigit, not to int()
    whole = text.isascii() and text.isdecimal() and int(text) < 2**63
    number = int(text) if whole else None
    with connection.cursor() as cursor:
        cursor.execute(VERSIONS, [Backlog.BACKLOG, number])
        backlog, version = cursor.fetchone()
    if version is None:
        return {"backlog": backlog or 0}
    return {"sprint": number, "version": version, "backlog": backlog or 0}


MOVING_WRITE = (
    "A new sprint, status or order means a move, as POST /api/tasks/{id}/move/ would make it: "
    "the task takes that place in its column (order clamped into it, -1 the top), the tasks "
    "of both columns shift, and a new status brings its started/completed dates."
)


SCRUM_VERSIONS = OpenApiParameter(
    "Scrum-Versions",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    response=["200"],
    description='The versions the page is at least as new as, JSON: {"backlog": n}, with '
    '"sprint" and its "version" when ?sprint= names one.',
)


@extend_schema_view(
    list=extend_schema(parameters=[SCRUM_VERSIONS]),
    update=extend_schema(description=f"Replace the task. {MOVING_WRITE}"),
    partial_update=extend_schema(description=f"Change some of the task's fields. {MOVING_WRITE}"),
)
class TaskViewSet(BoardViewSet):
    """Tasks in board order; a write that changes a task's sprint, status or order moves it."""

    queryset = Task.objects.order_by(*BOARD_ORDER)
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    search_fields = ("name", "description")
    ordering_fields = ("name", "order", "started", "due", "completed")
    hook_model = "task"
    locked_actions = frozenset()  # a task is locked with its columns (columns.lock_task)
    conditional_actions = LOCKED_ACTIONS | {"move"}
    tagged_actions = TAGGED_ACTIONS | {"move"}
    conflict_actions = LOCKED_ACTIONS | {"move"}

    def get_queryset(self):
        """Lists fetch named rows with the assignee's username (building model objects would
        be most of a page's cost), in the order of the board_task_list index, which reads a
        page of a long sprint without sorting it; single tasks, which may be written, are
        model objects."""
        queryset = super().get_queryset()
        if self.action == "list":
            return task_rows(queryset)
        return queryset.select_related("assigned")

    def list(self, request, *args, **kwargs):
        """The page, with the versions its rows are at least as new as (read first) in the
        Scrum-Versions header: a board loads its lists and the versions in one go."""
        versions = scope_versions(request.query_params.get("sprint"))
        if "sprint" in versions and request.query_params.keys() <= SPRINT_PAGE:
            response = self.sprint_page(versions["sprint"])
        else:
            response = super().list(request, *args, **kwargs)
            if not response.data["results"]:
                self.check_sprint_exists()
        response["Scrum-Versions"] = json.dumps(versions, separators=(",", ":"))
        return response

    def sprint_page(self, sprint):
        """A board's request for a sprint that exists (?sprint=N, a page and its size at
        most), paginated as every list: its rows read by SprintTasks' queries, compiled once
        (the filter set and the queryset built for each request were half its CPU time)."""
        page = self.paginate_queryset(SprintTasks(sprint))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def check_sprint_exists(self):
        """400 for an unknown ?sprint= (asked only when nothing matched, saving a query)."""
        sprint = self.request.query_params.get("sprint")
        if sprint and not Sprint.objects.filter(pk=sprint).exists():
            raise exceptions.ValidationError({"sprint": [f"Sprint {sprint} does not exist."]})

    def perform_create(self, serializer):
        """A new task takes its place in its column: `order` is its position there (default:
        the end, clamped into the column), and the tasks after it move down."""
        position = serializer.validated_data.pop("order", None)
        task = Task(**serializer.validated_data)
        versions, changed = columns.add(task, position)
        serializer.instance = self.written = task
        announce("POST", "task", task.pk, serializer.data, versions=versions, columns=changed)

    def update(self, request, *args, **kwargs):
        """Save a PUT or PATCH; a new sprint, status or order means a move (columns.update):
        the book's own clients save a drop that way."""
        partial = kwargs.pop("partial", False)
        read = self.get_object()
        target = self.validated(read, partial).get("sprint", columns.KEEP)

        def write(task):
            return columns.update(task, self.validated(task, partial))

        task, versions, changed = self.write_locked(read.pk, target, write)
        self.written = task
        data = self.get_serializer(task).data
        announce("PUT", "task", task.pk, data, versions=versions, columns=changed)
        return Response(data)

    def destroy(self, request, *args, **kwargs):
        """Delete the task; the tasks after it in its column move up."""
        pk = self.get_object().pk
        _, versions, changed = self.write_locked(pk, columns.KEEP, columns.delete)
        announce("DELETE", "task", pk, versions=versions, columns=changed)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def validated(self, task, partial):
        """Return this request's data validated against a task as stored."""
        serializer = self.get_serializer(task, data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def write_locked(self, pk, target, write):
        """Return (task, versions, write(task)) for a task locked with its columns and their
        versions bumped (columns.lock_task), checked against If-Match.

        When another write moves the task between reading and locking it, its savepoint is
        rolled back (releasing the locks) and the write retried.
        """
        for _ in range(MOVE_ATTEMPTS):
            try:
                with transaction.atomic():  # a savepoint: rolling back releases its locks
                    task, versions = columns.lock_task(pk, target)
                    self.check_if_match(task)
                    return task, versions, write(task)
            except columns.Moved:
                continue
            except Task.DoesNotExist:
                raise exceptions.NotFound() from None
        raise Conflict("The task keeps being moved by others; reload it and try again.")

    @extend_schema(
        request=MoveSerializer,
        responses=inline_serializer(
            "MoveResult",
            {
                "task": TaskSerializer(),
                "changed": TaskSerializer(many=True, help_text="the moved task"),
                "change": serializers.JSONField(help_text="as announced: versions, columns"),
            },
        ),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def move(self, request, pk=None):
        """Move the task to a column and position; shifts both columns atomically.

        Sets started/completed by the status; returns the task (also as the one item of
        "changed", where clients of the renumbering moves found it) and the change announced to
        the watercooler (the scopes' new versions and the columns' new order).
        """
        serializer = MoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        target = data.get("sprint", columns.KEEP)

        def write(task):
            return columns.move(task, data["status"], target, data.get("position"))

        task, versions, changed = self.write_locked(self.get_object().pk, target, write)
        self.written = task
        moved = self.get_serializer(task).data
        change = announce("PUT", "task", task.pk, moved, versions=versions, columns=changed)
        return Response({"task": moved, "changed": [moved], "change": change})


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """Users, looked up by username; read-only through the API."""

    lookup_field = User.USERNAME_FIELD
    lookup_value_regex = "[^/\\x00]+"  # no username holds a NUL (PostgreSQL cannot compare one)
    queryset = User.objects.order_by(User.USERNAME_FIELD)
    serializer_class = UserSerializer
    search_fields = (User.USERNAME_FIELD,)
    ordering_fields = (User.USERNAME_FIELD,)
