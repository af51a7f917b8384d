"""Board columns (a sprint or the backlog, and a status): locking, moves and renumbering.

Every write that renumbers a column first locks the columns it touches, always in the same
order, so concurrent moves queue up instead of losing or duplicating positions: the backlog
(which has no row to lock) through a transaction-level advisory lock, then the sprint rows
in primary-key order, and only then the tasks. On SQLite, IMMEDIATE transactions (see
scrum.py) already serialize writers, so there is nothing more to lock.

Every write that changes a column renumbers it densely (orders 0..n-1), so an order never
outgrows the column's size nor the field's range (MAX_ORDER, the same on every database).
"""

from datetime import date, timedelta

from django.db import connection
from django.db.models import Count, Max
from rest_framework.exceptions import ValidationError

from .models import Sprint, Task

BACKLOG_LOCK = 0x5C2B  # advisory lock key standing in for the backlog's missing row
DATE_FIELDS = ("started", "completed")
KEEP = object()  # move(): leave the task in its current sprint
MAX_ORDER = 32767  # the largest order a SmallIntegerField holds (PostgreSQL smallint)


def lock_columns(sprint_ids):
    """Lock the sprints (None: the backlog) whose columns this transaction will renumber."""
    if connection.vendor != "postgresql":
        return
    if None in sprint_ids:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BACKLOG_LOCK])
    ids = sorted(pk for pk in sprint_ids if pk is not None)
    # NO KEY UPDATE: tasks being inserted or re-pointed at a locked sprint (their foreign
    # key check takes KEY SHARE) need not wait for the lock.
    sprints = Sprint.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    list(sprints.values("pk"))


def column(sprint_id, status, exclude=None):
    """The tasks of one column in board order, optionally without one task."""
    tasks = Task.objects.filter(sprint_id=sprint_id, status=status).select_related("assigned")
    tasks = tasks.order_by("order", "id")
    return list(tasks.exclude(pk=exclude)) if exclude else list(tasks)


def apply_dates(task, today):
    """The started/completed rules: set on entering a column, cleared on going back."""
    if task.status == Task.STATUS_TODO:
        task.started = None
    else:
        task.started = task.started or today
    task.completed = (task.completed or today) if task.status == Task.STATUS_DONE else None


def check_target(task, sprint, status, today):
    """The book's rules for a task's new place, with its messages."""
    if sprint != task.sprint:
        if task.status == Task.STATUS_DONE:
            raise ValidationError({"sprint": ["Cannot change the sprint of a completed task."]})
        if sprint and sprint.end < today:
            raise ValidationError({"sprint": ["Cannot assign tasks to past sprints."]})
    if sprint is None and status != Task.STATUS_TODO:
        raise ValidationError(
            {"non_field_errors": ['Backlog tasks must have "Not Started" status.']}
        )


def renumber(tasks, changed):
    """Give tasks the orders 0..n-1; record those whose order changed."""
    if len(tasks) > MAX_ORDER + 1:
        raise ValidationError({"order": [f"A column holds at most {MAX_ORDER + 1} tasks."]})
    for position, task in enumerate(tasks):
        if task.order != position:
            task.order = position
            changed[task.pk] = task


class Moved(Exception):
    """The task changed place between reading it and locking its columns; retry afresh."""


def lock_task(pk, target=KEEP):
    """Lock a task with its source and target columns, in the global lock order.

    The task's sprint is read before locking (locking the task first would invert the lock
    order); if another move changed it meanwhile, Moved is raised: roll back to a savepoint,
    which releases these locks, and call again.
    """
    current = Task.objects.filter(pk=pk).values_list("sprint_id", flat=True)
    if not current:
        raise Task.DoesNotExist
    lock_columns({current[0], current[0] if target is KEEP else target and target.pk})
    task = Task.objects.select_for_update(of=("self",))
    task = task.select_related("sprint", "assigned").get(pk=pk)
    if task.sprint_id != current[0]:
        raise Moved
    return task


def move(task, status, sprint=KEEP, position=None, today=None):
    """Move a locked task (lock_task) to (sprint, status) at position; returns every task changed.

    sprint None is the backlog, KEEP the task's own sprint; position None is the end of the
    column. Call inside the transaction that locked the task.
    """
    today = today or date.today()
    sprint = task.sprint if sprint is KEEP else sprint
    check_target(task, sprint, status, today)
    changed = {task.pk: task}
    if (task.sprint, task.status) != (sprint, status):  # close the gap in the column it leaves
        renumber(column(task.sprint_id, task.status, exclude=task.pk), changed)
    task.sprint, task.status = sprint, status
    apply_dates(task, today)
    target = column(task.sprint_id, status, exclude=task.pk)
    insert(target, task, position)
    task.order = -1  # always rewritten by renumber
    renumber(target, changed)
    task.save(update_fields=["order", "sprint", "status", *DATE_FIELDS])
    Task.objects.bulk_update([t for t in changed.values() if t is not task], ["order"])
    return sorted(changed.values(), key=lambda t: (t.status, t.order, t.pk))


def insert(tasks, task, position):
    """Put task into a column's list at position (None or past the end: at the end)."""
    tasks.insert(len(tasks) if position is None else min(position, len(tasks)), task)


def add(task, position=None):
    """Save a new task at position in its column, renumbering the column; returns the other
    tasks whose order changed. Call inside a transaction.

    Appending to a column numbered 0..n-1 (the usual case) costs one aggregate query, not a
    read of the whole column."""
    lock_columns({task.sprint_id})
    tasks = Task.objects.filter(sprint_id=task.sprint_id, status=task.status)
    size, last = tasks.aggregate(size=Count("pk"), last=Max("order")).values()
    if (position is None or position >= size) and size <= MAX_ORDER and last in (None, size - 1):
        task.order = size
        task.save()
        return []
    tasks = column(task.sprint_id, task.status)
    insert(tasks, task, position)
    task.order = -1  # always rewritten by renumber
    changed = {}
    renumber(tasks, changed)
    task.save()
    others = [t for t in changed.values() if t is not task]
    Task.objects.bulk_update(others, ["order"])
    return others


def carry_over(source, target, today=None):
    """Move a sprint's unfinished tasks to the end of another sprint's columns or the backlog;
    returns them and the tasks already there whose order changed."""
    today = today or date.today()
    if target is not None and target.pk == source.pk:
        raise ValidationError({"to": ["Cannot carry a sprint over to itself."]})
    if target is not None and target.end < today:
        raise ValidationError({"to": ["Cannot assign tasks to past sprints."]})
    target_id = target.pk if target else None
    lock_columns({source.pk, target_id})
    unfinished = Task.objects.filter(sprint=source).exclude(status=Task.STATUS_DONE)
    moved = list(unfinished.select_related("assigned").order_by("status", "order", "id"))
    arriving = {}
    for task in moved:
        task.sprint = target
        if target is None:
            task.status = Task.STATUS_TODO
            apply_dates(task, today)
        arriving.setdefault(task.status, []).append(task)
    changed = {}
    for status, tasks in arriving.items():
        renumber(column(target_id, status) + tasks, changed)
    Task.objects.bulk_update(moved, ["sprint", "status", "order", *DATE_FIELDS])
    others = [task for task in changed.values() if task not in moved]
    Task.objects.bulk_update(others, ["order"])
    return moved, others


def burndown(sprint, start=None):
    """Open tasks at the end of each day from start (default: two weeks) to the sprint's end."""
    start = start or sprint.end - timedelta(days=13)
    if start > sprint.end:
        raise ValidationError({"start": ["Start must not be after the sprint's end."]})
    if (sprint.end - start).days > 366:
        raise ValidationError({"start": ["A burndown covers at most a year."]})
    completed = list(Task.objects.filter(sprint=sprint).values_list("completed", flat=True))
    days = []
    day = start
    while day <= sprint.end:
        still_open = sum(1 for done in completed if done is None or done > day)
        days.append({"date": day, "open": still_open})
        day += timedelta(days=1)
    return {
        "sprint": sprint.pk,
        "start": start,
        "end": sprint.end,
        "total": len(completed),
        "days": days,
    }
