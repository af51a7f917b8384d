"""Representations of sprints, tasks and users, with the book's links and validation rules."""

from datetime import date, timedelta
from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.signing import TimestampSigner
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse
from rest_framework.validators import UniqueValidator

from .columns import MAX_ORDER, dates_for
from .models import Sprint, Task, Token

User = get_user_model()
FURTHEST_END = timedelta(days=10 * 366)  # a sprint ends within ten years of today
LONGEST_SPRINT = 366  # days from a sprint's start to its end (its burndown's 367 days)
STATUS_LABELS = dict(Task.STATUS_CHOICES)

LINKS_SCHEMA = {
    "type": "object",
    "readOnly": True,
    "additionalProperties": {"type": "string", "format": "uri", "nullable": True},
}


def api_root(request):
    """Return the absolute URL of /api/ for this request, computed once per request."""
    if not hasattr(request, "scrum_api_root"):
        request.scrum_api_root = reverse("api-root", request=request)
    return request.scrum_api_root


def iso_date(value):
    """Return a date as ISO 8601 text, or None."""
    return value.isoformat() if value else None


TASK_FIELDS = (  # a task's representation, in order
    "id",
    "name",
    "description",
    "sprint",
    "status",
    "status_display",
    "order",
    "assigned",
    "started",
    "due",
    "completed",
    "links",
)
# a task as lists read it (filters.task_rows): the representation's values in this order,
# the assignee's username among them
TASK_ROW = (
    "id",
    "name",
    "description",
    "sprint_id",
    "status",
    "order",
    "assigned_username",
    "started",
    "due",
    "completed",
)


def assignee(task):
    """Return the assigned user's username, or None."""
    return task.assigned.get_username() if task.assigned_id else None


def task_row(task):
    """Return a Task's values as a list row (TASK_ROW)."""
    return (
        task.id,
        task.name,
        task.description,
        task.sprint_id,
        task.status,
        task.order,
        assignee(task),
        task.started,
        task.due,
        task.completed,
    )


def channel_url(sprint_pk, request=None):
    """Return the signed websocket URL browsers use for a sprint (the DESIGN.md protocol);
    for a signed-in request, with ?viewer= naming its user (the sprint's other viewers see
    who is there) and its login (the watercooler closes the socket when the login ends)."""
    scheme = "wss" if settings.WATERCOOLER_SECURE else "ws"
    signer = TimestampSigner(key=settings.WATERCOOLER_SECRET, salt="watercooler.channel")
    url = f"{scheme}://{settings.WATERCOOLER_PUBLIC}/socket?channel={signer.sign(str(sprint_pk))}"
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return url  # URL-safe
    name = user.get_full_name() or user.get_username()
    viewer = {"s": sprint_pk, "u": user.get_username(), "n": name}
    if isinstance(request.auth, Token):
        viewer["k"] = request.auth.session
    signer = TimestampSigner(key=settings.WATERCOOLER_SECRET, salt="watercooler.viewer")
    return f"{url}&viewer={signer.sign_object(viewer)}"  # sign_object's output is URL-safe too


class TextField(serializers.CharField):
    """Text that must be sent as text: DRF's CharField would take a JSON number as its digits,
    where the schema says string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BoardSerializer(serializers.ModelSerializer):
    """A model serializer whose text fields take only text."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: TextField,
        models.TextField: TextField,
    }


class SprintSerializer(BoardSerializer):
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
        extra_kwargs = {  # said as a user would say them
            "start": {"error_messages": {"invalid": "Start date must be a date (YYYY-MM-DD)."}},
            "end": {
                "error_messages": {
                    "required": "End date is required.",
                    "null": "End date is required.",
                    "invalid": "End date is required, as a date (YYYY-MM-DD).",
                },
                "validators": [
                    UniqueValidator(Sprint.objects.all(), "Another sprint already ends that day.")
                ],
            },
        }

    @extend_schema_field(LINKS_SCHEMA)
    def get_links(self, obj):
        """Return the sprint's links: itself, its tasks and its websocket channel."""
        request = self.context["request"]
        root = api_root(request)
        return {
            "self": f"{root}sprints/{obj.pk}/",
            "tasks": f"{root}tasks/?{urlencode({'sprint': obj.pk})}",
            "channel": channel_url(obj.pk, request),
        }

    def validate_end(self, value):
        """Return a new end date that is neither past nor more than ten years away."""
        changed = self.instance is None or self.instance.end != value
        if changed and value < date.today():
            raise serializers.ValidationError("End date cannot be in the past.")
        if changed and value > date.today() + FURTHEST_END:
            raise serializers.ValidationError("End date must be within ten years from today.")
        return value

    def validate_wip_limits(self, value):
        """Return {"<status>": limit} for the statuses given a limit of 1 to 999 (null or
        nothing: no limit)."""
        if not isinstance(value, dict):
            raise serializers.ValidationError('WIP limits are {"<status>": most tasks}.')
        limits = {}
        for status, limit in value.items():
            if str(status) not in {str(choice) for choice, _ in Task.STATUS_CHOICES}:
                raise serializers.ValidationError(f"{status!r} is not a status (1 to 4).")
            if limit is None or limit == "":
                continue
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 999:
                raise serializers.ValidationError("A WIP limit is a number of tasks, 1 to 999.")
            limits[str(status)] = limit
        return limits

    def validate(self, attrs):
        """Give a new sprint today as its first day (a year before its end if it ends
        later), and refuse a start after the end or more than a year before it (a burndown
        covers a year at most)."""
        if self.instance is None and not attrs.get("start") and "end" in attrs:
            longest = attrs["end"] - timedelta(days=LONGEST_SPRINT)
            attrs["start"] = max(min(date.today(), attrs["end"]), longest)
        start = attrs.get("start", getattr(self.instance, "start", None))
        end = attrs.get("end", getattr(self.instance, "end", None))
        if start and end and start > end:
            raise serializers.ValidationError({"start": ["Start date must not be after the end."]})
        if start and end and (end - start).days > LONGEST_SPRINT:
            raise serializers.ValidationError({"start": ["A sprint lasts a year at most."]})
        return attrs


class UsernameField(serializers.SlugRelatedField):
    """A user by username; one with a NUL, which PostgreSQL cannot even compare, is unknown
    (as on SQLite) rather than a server error."""

    default_error_messages = {"does_not_exist": "No user called {value}."}

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


def check_dates(status, started, completed):
    """Refuse started and completed dates that do not fit the status or each other."""
    if started and status == Task.STATUS_TODO:
        raise serializers.ValidationError("Started date cannot be set for not started tasks.")
    if completed and status != Task.STATUS_DONE:
        raise serializers.ValidationError("Completed date cannot be set for uncompleted tasks.")
    if status != Task.STATUS_TODO and not started:
        raise serializers.ValidationError("A started task needs its started date.")
    if status == Task.STATUS_DONE and not completed:
        raise serializers.ValidationError("A completed task needs its completed date.")
    if started and completed and completed < started:
        raise serializers.ValidationError("Completed date cannot be before started date.")


class TaskSerializer(BoardSerializer):
    assigned = UsernameField(
        slug_field=User.USERNAME_FIELD,
        required=False,
        allow_null=True,
        queryset=User.objects.all(),
    )
    status_display = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = TASK_FIELDS
        # an order is a position in the column, clamped into it (-1: the top)
        extra_kwargs = {
            "order": {
                "min_value": -MAX_ORDER - 1,
                "max_value": MAX_ORDER,
                "help_text": "Position in its column (0: the top), clamped into it; "
                "changing it moves the task there.",
            },
            "sprint": {"help_text": "null: the backlog. Changing it moves the task there."},
            "status": {"help_text": "Its column. Changing it moves the task there."},
            "due": {"error_messages": {"invalid": "Due date must be a date (YYYY-MM-DD)."}},
        }

    def get_status_display(self, obj) -> str:
        """Return the status's label."""
        return STATUS_LABELS[obj.status]

    def to_representation(self, instance):
        """Return the fields of TASK_FIELDS from a Task or, in lists, a row of its values
        (TASK_ROW): listing 100 tasks is the board's hot path, and DRF's generic
        field-by-field walk costs several times the database work."""
        row = task_row(instance) if isinstance(instance, Task) else instance
        pk, name, description, sprint, status, order, assigned, started, due, completed = row
        return {
            "id": pk,
            "name": name,
            "description": description,
            "sprint": sprint,
            "status": status,
            "status_display": STATUS_LABELS[status],
            "order": order,
            "assigned": assigned,
            "started": iso_date(started),
            "due": iso_date(due),
            "completed": iso_date(completed),
            "links": self.task_links(pk, sprint, assigned),
        }

    @cached_property
    def api_url(self):
        """Return /api/ for this request; one serializer renders every row of a list."""
        return api_root(self.context["request"])

    def task_links(self, pk, sprint, assigned):
        """Return a task's links: itself, its sprint and its assignee."""
        root = self.api_url
        return {
            "self": f"{root}tasks/{pk}/",
            "sprint": f"{root}sprints/{sprint}/" if sprint else None,
            "assigned": f"{root}users/{assigned}/" if assigned else None,
        }

    @extend_schema_field(LINKS_SCHEMA)
    def get_links(self, obj):
        """The links field, for the schema (to_representation writes it)."""
        return self.task_links(obj.id, obj.sprint_id, assignee(obj))

    def validate_sprint(self, value):
        """Return the sprint, refusing a past one for a new task."""
        if self.instance is None and value and value.end < date.today():
            raise serializers.ValidationError("Cannot add tasks to past sprints.")
        return value

    def validate(self, attrs):
        """Return attrs checked against the book's rules; a new status brings its dates."""
        sprint = self.current(attrs, "sprint")
        status = self.current(attrs, "status", Task.STATUS_TODO)
        if not sprint and status != Task.STATUS_TODO:
            raise serializers.ValidationError('Backlog tasks must have "Not Started" status.')
        if self.instance is None:
            self.give_dates(attrs, status)
        elif status != self.instance.status:
            self.follow_status(attrs, status)
        check_dates(status, self.current(attrs, "started"), self.current(attrs, "completed"))
        return attrs

    def give_dates(self, attrs, status):
        """Give a new task the dates a move would give it, unless they were sent."""
        today = date.today()
        if status != Task.STATUS_TODO and not attrs.get("started"):
            attrs["started"] = today
        if status == Task.STATUS_DONE and not attrs.get("completed"):
            attrs["completed"] = today

    def follow_status(self, attrs, status):
        """Give a task changing status the dates a move gives it: those sent or stored when
        they fit the status, else today's or none (the book's client sends them either way)."""
        started = attrs.get("started") or self.instance.started
        completed = attrs.get("completed") or self.instance.completed
        attrs["started"], attrs["completed"] = dates_for(status, started, completed, date.today())

    def current(self, attrs, name, default=None):
        """Return the value a field will have after this write (partial updates keep stored
        values)."""
        if name in attrs:
            return attrs[name]
        return getattr(self.instance, name) if self.instance is not None else default


class UserSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(source="get_full_name", read_only=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ("id", User.USERNAME_FIELD, "full_name", "is_active", "links")

    @extend_schema_field(LINKS_SCHEMA)
    def get_links(self, obj):
        """Return the user's links: itself and its tasks."""
        root = api_root(self.context["request"])
        username = obj.get_username()
        return {
            "self": f"{root}users/{username}/",
            "tasks": f"{root}tasks/?{urlencode({'assigned': username})}",
        }


class MoveSerializer(serializers.Serializer):
    """Where to move a task: its new column (status, sprint) and position in that column."""

    status = serializers.ChoiceField(choices=Task.STATUS_CHOICES)
    sprint = serializers.PrimaryKeyRelatedField(
        queryset=Sprint.objects.all(),
        required=False,
        allow_null=True,
        help_text="Target sprint; null for the backlog; omitted: the task's current sprint.",
    )
    position = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_ORDER,
        help_text="0-based position in the target column; omitted: the end of the column.",
    )


class CarryOverSerializer(serializers.Serializer):
    """Where a sprint's unfinished tasks go: another sprint, or the backlog (null)."""

    to = serializers.PrimaryKeyRelatedField(queryset=Sprint.objects.all(), allow_null=True)


class BurndownDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    open = serializers.IntegerField()


class BurndownSerializer(serializers.Serializer):
    sprint = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField()
    total = serializers.IntegerField()
    days = BurndownDaySerializer(many=True)
