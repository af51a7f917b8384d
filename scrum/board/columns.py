"""Board columns (a sprint or the backlog, and a status): scope versions, locking and moves.

Every transaction that changes tasks first locks the scopes it touches, always in the same
order (the backlog's row, then sprint rows by primary key), bumping each one's version by one
in the statement that locks it, and only then locks the tasks. So concurrent writes queue up
instead of deadlocking or losing positions, and each scope's versions strictly increase in
commit order, one number per transaction. On SQLite, IMMEDIATE transactions (see scrum.py)
serialize writers anyway.

Columns are numbered densely (orders 0..n-1). A move, an insertion or a deletion shifts the
tasks between two positions with one UPDATE, so it costs a statement and a read of the
column's ids (which its announcement carries), never a Python object per task. A column
numbered otherwise (written around the API) is renumbered the first time a write reads it.
An order never outgrows the field's range (MAX_ORDER, the same on every database).
"""

from datetime import date, timedelta

from django.db import connection
from django.db.models import Count, F, Max
from rest_framework.exceptions import ValidationError

from .models import Backlog, Sprint, Task

DATE_FIELDS = ("started", "completed")
KEEP = object()  # move(): leave the task in its current sprint
MAX_ORDER = 32767  # the largest order a SmallIntegerField holds (PostgreSQL smallint)


def bump(sprint_ids):
    """Lock the scopes (sprint ids; None: the backlog) in the global lock order, bump each
    one's version and return the new versions as [{"sprint": id or None, "version": n}]."""
    scopes = sorted(sprint_ids, key=lambda pk: -1 if pk is None else pk)
    return [{"sprint": pk, "version": next_version(pk)} for pk in scopes]


def next_version(sprint_id):
    """Return a scope's version plus one, stored by an UPDATE that locks its row."""
    model = Backlog if sprint_id is None else Sprint
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(model._meta.db_table)} "
            "SET version = version + 1 WHERE id = %s RETURNING version",
            [Backlog.BACKLOG if sprint_id is None else sprint_id],
        )
        row = cursor.fetchone()
    if row:
        return row[0]
    if sprint_id is None:  # the row went with a flushed table: the backlog starts again
        Backlog.objects.get_or_create(pk=Backlog.BACKLOG)
        return next_version(None)
    raise ValidationError({"sprint": [f"Sprint {sprint_id} does not exist."]})


def column_ids(sprint_id, status):
    """Return the ids of a column's tasks in board order, numbering the column densely first
    if it is not."""
    tasks = Task.objects.filter(sprint_id=sprint_id, status=status).order_by("order", "id")
    rows = list(tasks.values_list("id", "order"))
    misnumbered = [Task(pk=pk, order=n) for n, (pk, order) in enumerate(rows) if order != n]
    Task.objects.bulk_update(misnumbered, ["order"], batch_size=1000)
    return [pk for pk, _ in rows]


def column_order(sprint_id, status, ids):
    """Return a column's order as announced: {"sprint", "status", "ids"}."""
    return {"sprint": sprint_id, "status": status, "ids": ids}


def shift(sprint_id, status, start, stop, by):
    """Add `by` to the orders start <= order < stop (stop None: to the end) of a column."""
    tasks = Task.objects.filter(sprint_id=sprint_id, status=status, order__gte=start)
    if stop is not None:
        tasks = tasks.filter(order__lt=stop)
    tasks.update(order=F("order") + by)


def clamp(position, size):
    """Return a position in a column of `size` other tasks (None: the end)."""
    return size if position is None else max(0, min(position, size))


def check_room(size):
    """Refuse a task more in a column of `size` tasks when it is full (MAX_ORDER + 1)."""
    if size > MAX_ORDER:
        raise ValidationError({"order": [f"A column holds at most {MAX_ORDER + 1} tasks."]})


def dates_for(status, started, completed, today):
    """Return the (started, completed) dates of a task in status: set on entering a column,
    cleared on going back."""
    if status == Task.STATUS_TODO:
        return None, None
    return started or today, (completed or today) if status == Task.STATUS_DONE else None


def apply_dates(task, today):
    """Make a task's started/completed dates follow its status (dates_for)."""
    task.started, task.completed = dates_for(task.status, task.started, task.completed, today)


def check_target(task, sprint, status, today):
    """Apply the book's rules for a task's new place, with its messages."""
    if sprint != task.sprint:
        if task.status == Task.STATUS_DONE:
            raise ValidationError({"sprint": ["Cannot change the sprint of a completed task."]})
        if sprint and sprint.end < today:
            raise ValidationError({"sprint": ["Cannot assign tasks to past sprints."]})
    if sprint is None and status != Task.STATUS_TODO:
        raise ValidationError(
            {"non_field_errors": ['Backlog tasks must have "Not Started" status.']}
        )


class Moved(Exception):
    """The task changed place between reading it and locking its columns; retry afresh."""


def lock_task(pk, target=KEEP):
    """Lock a task with its source and target scopes, in the global lock order, bumping the
    scopes' versions; return (task, versions).

    The task's sprint is read before locking (locking the task first would invert the lock
    order); if another write moved it meanwhile, Moved is raised: roll back to a savepoint,
    which releases these locks and versions, and call again.
    """
    current = Task.objects.filter(pk=pk).values_list("sprint_id", flat=True)
    if not current:
        raise Task.DoesNotExist
    versions = bump({current[0], current[0] if target is KEEP else target and target.pk})
    task = Task.objects.select_for_update(of=("self",))
    task = task.select_related("sprint", "assigned").get(pk=pk)
    if task.sprint_id != current[0]:
        raise Moved
    return task, versions


def move(task, status, sprint=KEEP, position=None, today=None):
    """Move a locked task (lock_task) to (sprint, status) at position and save it with all its
    fields; return the new order of each column it changed.

    sprint None is the backlog, KEEP the task's own sprint; position None is the end of the
    column, and any other position is clamped into it. Call inside the transaction that
    locked the task.
    """
    today = today or date.today()
    sprint = task.sprint if sprint is KEEP else sprint
    check_target(task, sprint, status, today)
    source = (task.sprint_id, task.status)
    target = (sprint.pk if sprint else None, status)
    leaving = column_ids(*source)
    old = leaving.index(task.pk)
    leaving.remove(task.pk)
    if target == source:
        arriving = leaving
        new = clamp(position, len(arriving))
        if new < old:
            shift(*source, new, old, +1)
        elif new > old:
            shift(*source, old + 1, new + 1, -1)
    else:
        shift(*source, old + 1, None, -1)
        arriving = column_ids(*target)
        check_room(len(arriving))
        new = clamp(position, len(arriving))
        shift(*target, new, None, +1)
    arriving.insert(new, task.pk)
    task.sprint, task.status, task.order = sprint, status, new
    apply_dates(task, today)
    task.save()
    changed = [column_order(*target, arriving)]
    return changed if target == source else [column_order(*source, leaving), *changed]


def update(task, data, today=None):
    """Apply a PUT/PATCH's validated fields to a locked task (lock_task) and save it; return
    the new order of the columns it changed.

    A new sprint, status or order means a move (move(): the order is the position, clamped
    into the column, by default the end of a new column; the dates follow the status). Within
    its column, a task whose order goes up lands just before the task that held that order,
    as in the book's client, which then raises that task's order and those after it: its
    PUTs, sent together and handled in any order, end in the order the drop meant.
    """
    data = dict(data)
    sprint = data.pop("sprint", task.sprint)
    status = data.pop("status", task.status)
    position = data.pop("order", None)
    for name, value in data.items():
        setattr(task, name, value)
    same_column = (sprint, status) == (task.sprint, task.status)
    if same_column and position in (None, task.order):
        task.save()
        return []
    if same_column and position > task.order:
        position -= 1  # the tasks after it move up one when it leaves its place
    return move(task, status, sprint, position, today)


def delete(task):
    """Delete a locked task (lock_task), closing its gap; return its column's new order."""
    place = (task.sprint_id, task.status)
    ids = column_ids(*place)
    old = ids.index(task.pk)
    ids.remove(task.pk)
    task.delete()
    shift(*place, old + 1, None, -1)
    return [column_order(*place, ids)]


def add(task, position=None):
    """Save a new task at position in its column (None: the end; clamped into it); return its
    scope's new version and, when tasks after it moved down, its column's new order. Call
    inside a transaction.

    Appending to a column numbered 0..n-1 (the usual case) costs one aggregate query, not a
    read of the whole column."""
    versions = bump({task.sprint_id})
    place = (task.sprint_id, task.status)
    tasks = Task.objects.filter(sprint_id=task.sprint_id, status=task.status)
    size, last = tasks.aggregate(size=Count("pk"), last=Max("order")).values()
    if (position is None or position >= size) and size <= MAX_ORDER and last in (None, size - 1):
        task.order = size
        task.save()
        return versions, []
    ids = column_ids(*place)
    check_room(len(ids))
    task.order = clamp(position, len(ids))
    shift(*place, task.order, None, +1)
    task.save()
    if task.order == len(ids):
        return versions, []
    ids.insert(task.order, task.pk)
    return versions, [column_order(*place, ids)]


def carry_over(source, target, today=None):
    """Move a sprint's unfinished tasks to the end of another sprint's columns or the
    backlog; return them and the scopes' new versions."""
    today = today or date.today()
    if target is not None and target.pk == source.pk:
        raise ValidationError({"to": ["Cannot carry a sprint over to itself."]})
    if target is not None and target.end < today:
        raise ValidationError({"to": ["Cannot assign tasks to past sprints."]})
    target_id = target.pk if target else None
    versions = bump({source.pk, target_id})
    unfinished = Task.objects.filter(sprint=source).exclude(status=Task.STATUS_DONE)
    moved = list(unfinished.select_related("assigned").order_by("status", "order", "id"))
    sizes = {}
    for task in moved:
        task.sprint = target
        if target is None:
            task.status = Task.STATUS_TODO
            apply_dates(task, today)
        if task.status not in sizes:
            sizes[task.status] = len(column_ids(target_id, task.status))
        check_room(sizes[task.status])
        task.order = sizes[task.status]
        sizes[task.status] += 1
    Task.objects.bulk_update(moved, ["sprint", "status", "order", *DATE_FIELDS])
    return moved, versions


def two_weeks_before(end):
    """Return the first day of the two weeks ending on `end` (never before the calendar's
    first day)."""
    return date.fromordinal(max(1, end.toordinal() - 13))


def burndown(sprint, start=None):
    """Return the open tasks at the end of each day from start (default: the sprint's first
    day, else two weeks before the end) to the sprint's end, which may be the calendar's last
    day."""
    start = start or sprint.start or two_weeks_before(sprint.end)
    if start > sprint.end:
        raise ValidationError({"start": ["Start must not be after the sprint's end."]})
    length = (sprint.end - start).days + 1
    if length > 367:
        raise ValidationError({"start": ["A burndown covers at most a year."]})
    completed = list(Task.objects.filter(sprint=sprint).values_list("completed", flat=True))
    days = []
    for day in (start + timedelta(days=n) for n in range(length)):
        still_open = sum(1 for done in completed if done is None or done > day)
        days.append({"date": day, "open": still_open})
    return {
        "sprint": sprint.pk,
        "start": start,
        "end": sprint.end,
        "total": len(completed),
        "days": days,
    }
