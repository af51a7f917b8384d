"""The table of the database cache (CACHE_TABLE in scrum.py), where every worker counts
failed logins; created whichever cache is configured, so dropping REDIS_URL later works."""

from django.core.management import call_command
from django.db import migrations

TABLE = "scrum_cache"


def create(apps, schema_editor):
    call_command("createcachetable", TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("board", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
