"""Prepared statements (scrum.py's database(): on PostgreSQL psycopg prepares a statement that
a connection runs five times) kept working through a migration.

Once a migration changes the type of a column that a prepared statement returns (a longer
name, say), PostgreSQL refuses to run it ("cached plan must not change result type"), and
psycopg would send it again on every request until the connection closes, a minute later.
Outside a transaction the statement is run again once the connection's prepared statements are
dropped, so nobody sees the change. Inside one, which the error has aborted, that request
fails; the rollback drops the prepared statements (psycopg does), so the next ones succeed.
"""

from django.db.backends.signals import connection_created
from django.db.utils import NotSupportedError
from django.dispatch import receiver

CHANGED_RESULT = "cached plan must not change result type"


@receiver(connection_created)
def watch_prepared_statements(sender, connection, **kwargs):
    """Run every statement of a new PostgreSQL connection through replan()."""
    if connection.vendor == "postgresql" and replan not in connection.execute_wrappers:
        connection.execute_wrappers.append(replan)


def replan(execute, sql, params, many, context):
    """Run a statement; if a migration changed what it returns since it was prepared, drop
    the prepared statements and run it again (a single statement outside a transaction: it
    was refused before it ran)."""
    try:
        return execute(sql, params, many, context)
    except NotSupportedError as exc:
        if CHANGED_RESULT not in str(exc) or many or context["connection"].in_atomic_block:
            raise
        context["cursor"].execute("DEALLOCATE ALL")  # psycopg forgets its own names too
        return execute(sql, params, many, context)
