"""API views (book ch. 4): sprints, tasks and users, plus moves, carry-over, burndown, ETags.

Every write runs in one transaction; its announcements to the watercooler go out after the
commit (hooks.py). Tasks and sprints carry an ETag; a write with a stale If-Match gets 412.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Window
from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from . import columns, hooks
from .filters import SprintFilter, TaskFilter
from .logins import LoginThrottle
from .models import Sprint, Task, etag
from .serializers import (
    TASK_ROW,
    BurndownSerializer,
    CarryOverSerializer,
    MoveSerializer,
    SprintSerializer,
    TaskSerializer,
    UserSerializer,
)

User = get_user_model()
LOCKED_ACTIONS = {"update", "partial_update", "destroy"}
MOVE_ATTEMPTS = 5


class ThrottledObtainAuthToken(ObtainAuthToken):
    """POST username + password, get a token; wrong passwords count as failed logins."""

    def post(self, request, *args, **kwargs):
        throttle = LoginThrottle()
        throttle.check(request)
        try:
            return super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            data = request.data if isinstance(request.data, dict) else {}
            throttle.record_failure(data.get("username"))
            raise


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The object changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def etag_matches(header, tag, weak=False):
    """Whether an If-Match (strong comparison: a W/ tag never matches) or If-None-Match
    (weak=True) header value names this ETag, or is *."""
    tags = {value.strip() for value in header.split(",")}
    if weak:
        tags = {value.removeprefix("W/") for value in tags}
    return "*" in tags or tag in tags


def server_error(request, *args, **kwargs):
    """handler500: JSON for API clients instead of Django's HTML page (the error itself is
    logged with its traceback, see LOGGING in scrum.py)."""
    return JsonResponse({"detail": "Server error."}, status=500)


class BoardViewSet(viewsets.ModelViewSet):
    """A model viewset with transactional writes, ETags and watercooler announcements."""

    hook_model = None
    written = None  # the object this request created or changed, for its ETag header

    def dispatch(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in LOCKED_ACTIONS:
            return queryset.select_for_update(of=("self",))
        return queryset

    def get_object(self):
        instance = super().get_object()
        if self.action in LOCKED_ACTIONS:
            self.check_if_match(instance)
        return instance

    def check_if_match(self, instance):
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

    def announce(self, method, pk, data=None):
        """Tell the watercooler about a change, once this request's transaction commits."""
        body = None if data is None else JSONRenderer().render(data)
        hooks.announce(method, self.hook_model, pk, body)

    def perform_create(self, serializer):
        self.written = serializer.save()
        self.announce("POST", self.written.pk, serializer.data)

    def perform_update(self, serializer):
        self.written = serializer.save()
        self.announce("PUT", self.written.pk, serializer.data)

    def perform_destroy(self, instance):
        pk = instance.pk
        instance.delete()
        self.announce("DELETE", pk)

    def announce_tasks(self, tasks):
        """Serialize changed tasks and announce each; returns their representations."""
        data = TaskSerializer(tasks, many=True, context=self.get_serializer_context()).data
        for item in data:
            hooks.announce("PUT", "task", item["id"], JSONRenderer().render(item))
        return data


class SprintViewSet(BoardViewSet):
    """Sprints ordered by end date."""

    queryset = Sprint.objects.order_by("end")
    serializer_class = SprintSerializer
    filterset_class = SprintFilter
    search_fields = ("name",)
    ordering_fields = ("end", "name")
    hook_model = "sprint"

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
        moved, others = columns.carry_over(sprint, serializer.validated_data["to"])
        self.announce_tasks(others)
        return Response({"moved": self.announce_tasks(moved)})

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "start", OpenApiTypes.DATE, description="First day (default: 13 days before end)"
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


class TaskViewSet(BoardViewSet):
    """Tasks in board order; their place (sprint, status, order) changes only by a move."""

    queryset = Task.objects.order_by("order", "id")
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    search_fields = ("name", "description")
    ordering_fields = ("name", "order", "started", "due", "completed")
    hook_model = "task"

    def get_queryset(self):
        """Lists fetch named rows with the assignee's username and the list's total (building
        model objects would be most of a page's cost); single tasks, which may be written,
        are model objects."""
        queryset = super().get_queryset()
        if self.action == "list":
            return queryset.annotate(
                assigned_username=F(f"assigned__{User.USERNAME_FIELD}"),
                list_total=Window(Count("*")),  # read by the pagination instead of a count query
            ).values_list(*TASK_ROW, "list_total", named=True)
        return queryset.select_related("assigned")

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        if not response.data["results"]:
            self.check_sprint_exists()
        return response

    def check_sprint_exists(self):
        """400 for an unknown ?sprint= (asked only when nothing matched, saving a query)."""
        sprint = self.request.query_params.get("sprint")
        if sprint and not Sprint.objects.filter(pk=sprint).exists():
            raise exceptions.ValidationError({"sprint": [f"Sprint {sprint} does not exist."]})

    def perform_create(self, serializer):
        """A new task takes its place in its column: `order` is its position there (default:
        the end), and the tasks after it move down (each is announced)."""
        position = serializer.validated_data.pop("order", None)
        task = Task(**serializer.validated_data)
        others = columns.add(task, position)
        serializer.instance = self.written = task
        self.announce("POST", task.pk, serializer.data)
        self.announce_tasks(others)

    @extend_schema(
        request=MoveSerializer,
        responses=inline_serializer(
            "MoveResult", {"task": TaskSerializer(), "changed": TaskSerializer(many=True)}
        ),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def move(self, request, pk=None):
        """Move the task to a column and position; renumbers both columns atomically.

        Sets started/completed by the status; returns the task and every task whose place
        changed (each is announced to the watercooler).
        """
        serializer = MoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        target = data.get("sprint", columns.KEEP)
        pk = self.get_object().pk
        for _ in range(MOVE_ATTEMPTS):
            try:
                with transaction.atomic():  # a savepoint: rolling back releases its locks
                    task = columns.lock_task(pk, target)
                    self.check_if_match(task)
                    changed = columns.move(task, data["status"], target, data.get("position"))
                break
            except columns.Moved:
                continue
            except Task.DoesNotExist:
                raise exceptions.NotFound() from None
        else:
            raise Conflict("The task keeps being moved by others; reload it and try again.")
        self.written = task
        changed_data = self.announce_tasks(changed)
        moved = next(item for item in changed_data if item["id"] == task.pk)
        return Response({"task": moved, "changed": changed_data})


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """Users, looked up by username; read-only through the API."""

    lookup_field = User.USERNAME_FIELD
    lookup_value_regex = "[^/\\x00]+"  # no username holds a NUL (PostgreSQL cannot compare one)
    queryset = User.objects.order_by(User.USERNAME_FIELD)
    serializer_class = UserSerializer
    search_fields = (User.USERNAME_FIELD,)
    ordering_fields = (User.USERNAME_FIELD,)
