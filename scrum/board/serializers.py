"""Representations of sprints, tasks and users, with the book's links and validation rules."""

from datetime import date
from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.signing import TimestampSigner
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from .models import Sprint, Task

User = get_user_model()
STATUS_LABELS = dict(Task.STATUS_CHOICES)

LINKS_SCHEMA = {
    "type": "object",
    "readOnly": True,
    "additionalProperties": {"type": "string", "format": "uri", "nullable": True},
}


def api_root(request):
    """Absolute URL of /api/ for this request, computed once per request."""
    if not hasattr(request, "scrum_api_root"):
        request.scrum_api_root = reverse("api-root", request=request)
    return request.scrum_api_root


def iso_date(value):
    return value.isoformat() if value else None


TASK_ROW = (  # the columns to_representation reads, for lists fetched as named rows
    "id",
    "name",
    "description",
    "sprint_id",
    "status",
    "order",
    "assigned_id",
    "assigned_username",
    "started",
    "due",
    "completed",
)


def assignee(task):
    """The assigned user's username (read from the list query's annotation when present)."""
    if not task.assigned_id:
        return None
    if hasattr(task, "assigned_username"):
        return task.assigned_username
    return task.assigned.get_username()


def channel_url(sprint_pk):
    """The signed websocket URL browsers use for a sprint (the DESIGN.md protocol)."""
    scheme = "wss" if settings.WATERCOOLER_SECURE else "ws"
    signer = TimestampSigner(key=settings.WATERCOOLER_SECRET, salt="watercooler.channel")
    token = signer.sign(str(sprint_pk))
    return f"{scheme}://{settings.WATERCOOLER_PUBLIC}/socket?channel={token}"  # URL-safe


class SprintSerializer(serializers.ModelSerializer):
    links = serializers.SerializerMethodField()

    class Meta:
        model = Sprint
        fields = ("id", "name", "description", "end", "links")

    @extend_schema_field(LINKS_SCHEMA)
    def get_links(self, obj):
        root = api_root(self.context["request"])
        return {
            "self": f"{root}sprints/{obj.pk}/",
            "tasks": f"{root}tasks/?{urlencode({'sprint': obj.pk})}",
            "channel": channel_url(obj.pk),
        }

    def validate_end(self, value):
        changed = self.instance is None or self.instance.end != value
        if changed and value < date.today():
            raise serializers.ValidationError("End date cannot be in the past.")
        return value


class TaskSerializer(serializers.ModelSerializer):
    assigned = serializers.SlugRelatedField(
        slug_field=User.USERNAME_FIELD,
        required=False,
        allow_null=True,
        queryset=User.objects.all(),
    )
    status_display = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = (
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

    def get_status_display(self, obj) -> str:
        return STATUS_LABELS[obj.status]

    def to_representation(self, instance):
        """The fields of Meta.fields, built directly: listing 100 tasks is the board's hot
        path, and DRF's generic field-by-field walk costs several times the database work.
        instance is a Task or, in lists, a row with the same attribute names (TASK_ROW)."""
        assigned = assignee(instance)
        return {
            "id": instance.id,
            "name": instance.name,
            "description": instance.description,
            "sprint": instance.sprint_id,
            "status": instance.status,
            "status_display": STATUS_LABELS[instance.status],
            "order": instance.order,
            "assigned": assigned,
            "started": iso_date(instance.started),
            "due": iso_date(instance.due),
            "completed": iso_date(instance.completed),
            "links": self.task_links(instance.id, instance.sprint_id, assigned),
        }

    @cached_property
    def api_url(self):
        """/api/ for this request; one serializer renders every row of a list."""
        return api_root(self.context["request"])

    def task_links(self, pk, sprint_id, assigned):
        root = self.api_url
        return {
            "self": f"{root}tasks/{pk}/",
            "sprint": f"{root}sprints/{sprint_id}/" if sprint_id else None,
            "assigned": f"{root}users/{assigned}/" if assigned else None,
        }

    @extend_schema_field(LINKS_SCHEMA)
    def get_links(self, obj):
        return self.task_links(obj.id, obj.sprint_id, assignee(obj))

    def validate_sprint(self, value):
        if self.instance is not None and value != self.instance.sprint:
            if self.instance.status == Task.STATUS_DONE:
                raise serializers.ValidationError("Cannot change the sprint of a completed task.")
            if value and value.end < date.today():
                raise serializers.ValidationError("Cannot assign tasks to past sprints.")
        elif self.instance is None and value and value.end < date.today():
            raise serializers.ValidationError("Cannot add tasks to past sprints.")
        return value

    def validate(self, attrs):
        sprint = self.current(attrs, "sprint")
        status = self.current(attrs, "status", Task.STATUS_TODO)
        if not sprint and status != Task.STATUS_TODO:
            raise serializers.ValidationError('Backlog tasks must have "Not Started" status.')
        if self.current(attrs, "started") and status == Task.STATUS_TODO:
            raise serializers.ValidationError("Started date cannot be set for not started tasks.")
        if self.current(attrs, "completed") and status != Task.STATUS_DONE:
            raise serializers.ValidationError("Completed date cannot be set for uncompleted tasks.")
        return attrs

    def current(self, attrs, name, default=None):
        """The value a field will have after this write (partial updates keep stored values)."""
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
        max_value=32767,
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
