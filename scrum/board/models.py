"""Sprints and tasks of the scrum board (the book's models, on the swappable user model), and
the version of each scope of tasks (a sprint's, the backlog's) that boards converge on, and
the API tokens of logged-in clients (one per login)."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

NAME_LENGTH = 100  # characters of a sprint's or a task's name
DESCRIPTION_LENGTH = 10_000  # characters of a description: a few pages of text


class Sprint(models.Model):
    """A development iteration, identified by its end date."""

    name = models.CharField(max_length=NAME_LENGTH, blank=True, default="")
    description = models.TextField(max_length=DESCRIPTION_LENGTH, blank=True, default="")
    end = models.DateField(unique=True)
    # its first day (the API gives the day it was created when none is sent); null for
    # sprints made before it was kept, whose burndown covers the two weeks before the end
    start = models.DateField(null=True, blank=True)
    # a column's work-in-progress limit: {"<status>": most tasks}, for the columns that have one
    archived = models.BooleanField(default=False, db_default=False)  # off the home page's list
    wip_limits = models.JSONField(
        default=dict, db_default=models.Value({}, models.JSONField()), blank=True
    )
    # of its tasks; a database default too, for rows written around Django
    version = models.PositiveBigIntegerField(default=0, db_default=0, editable=False)

    def __str__(self):
        return self.name or f"Sprint ending {self.end}"


class Backlog(models.Model):
    """The backlog's one row (pk BACKLOG): the version of the tasks without a sprint."""

    BACKLOG = 1

    version = models.PositiveBigIntegerField(default=0, db_default=0)

    def __str__(self):
        return f"Backlog (version {self.version})"


class Task(models.Model):
    """A unit of work, in a sprint or in the backlog (no sprint)."""

    STATUS_TODO = 1
    STATUS_IN_PROGRESS = 2
    STATUS_TESTING = 3
    STATUS_DONE = 4

    STATUS_CHOICES = (
        (STATUS_TODO, "Not Started"),
        (STATUS_IN_PROGRESS, "In Progress"),
        (STATUS_TESTING, "Testing"),
        (STATUS_DONE, "Done"),
    )

    name = models.CharField(max_length=NAME_LENGTH)
    description = models.TextField(max_length=DESCRIPTION_LENGTH, blank=True, default="")
    # no index of its own: the (sprint, status, order) index serves every lookup by sprint,
    # and a move rewrites the index entries of every task it shifts
    sprint = models.ForeignKey(
        Sprint, blank=True, null=True, on_delete=models.PROTECT, db_index=False
    )
    status = models.SmallIntegerField(choices=STATUS_CHOICES, default=STATUS_TODO)
    order = models.SmallIntegerField(default=0)
    assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    started = models.DateField(blank=True, null=True)
    due = models.DateField(blank=True, null=True)
    completed = models.DateField(blank=True, null=True)

    class Meta:
        indexes = [
            models.Index(fields=["sprint", "status", "order"]),  # a column, in order: moves
            models.Index(fields=["sprint", "order", "id"], name="board_task_list"),  # lists
        ]

    def __str__(self):
        return self.name


def etag(instance):
    """Return a strong validator for a task or sprint: a digest of its stored field values.

    A sprint's version counts its tasks' changes, not its own: it is left out, so that a
    task's change does not fail an If-Match on the sprint.
    """
    fields = [f for f in instance._meta.concrete_fields if f.name != "version"]
    values = [str(getattr(instance, field.attname)) for field in fields]
    return '"{}"'.format(hashlib.sha256("\0".join(values).encode()).hexdigest()[:32])


def new_token_key():
    """Return a fresh random token key: 40 hexadecimal digits, as DRF's tokens have."""
    return secrets.token_hex(20)


class Token(models.Model):
    """An API token: one per login (a user may hold several, one per device), deleted by
    logout and refused once unused for longer than settings.TOKEN_IDLE_DAYS (tokens.py)."""

    key = models.CharField(max_length=40, primary_key=True, default=new_token_key)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="api_tokens", on_delete=models.CASCADE
    )
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Token of {self.user} (last used {self.last_used:%Y-%m-%d %H:%M})"

    @property
    def session(self):
        """Return this login's name for the watercooler: a digest, never the key itself."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:24]
