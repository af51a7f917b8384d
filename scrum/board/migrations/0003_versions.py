"""Scope versions: Sprint.version, the Backlog's one row, and every column numbered densely
(moves shift orders in bulk, which needs columns numbered 0..n-1)."""

from itertools import groupby

from django.db import migrations, models


def create_backlog_and_renumber(apps, schema_editor):
    apps.get_model("board", "Backlog").objects.get_or_create(pk=1)
    Task = apps.get_model("board", "Task")
    tasks = Task.objects.order_by("sprint_id", "status", "order", "id")
    renumbered = []
    for _, column in groupby(tasks.only("sprint_id", "status", "order"), key=place):
        for position, task in enumerate(column):
            if task.order != position:
                task.order = position
                renumbered.append(task)
    Task.objects.bulk_update(renumbered, ["order"], batch_size=1000)


def place(task):
    """Return the column a task is in: (sprint id, status)."""
    return task.sprint_id, task.status


class Migration(migrations.Migration):
    dependencies = [("board", "0002_cache_table")]

    operations = [
        migrations.AddField(
            model_name="sprint",
            name="version",
            field=models.PositiveBigIntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.CreateModel(
            name="Backlog",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.PositiveBigIntegerField(default=0, db_default=0)),
            ],
        ),
        migrations.RunPython(create_backlog_and_renumber, migrations.RunPython.noop),
    ]
