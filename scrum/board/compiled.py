"""Querysets compiled by the ORM once per process and run as plain SQL on the hot paths (a
token's lookup on every request, the board's sprint list). Compiling a queryset on every
request cost as much as running it; the SQL and the converters are the same for every
connection to the database."""

from django.db import connection


class CompiledQuery:
    """A queryset's SQL, the names of its columns and their converters (SQLite's dates)."""

    def __init__(self, queryset, params):
        """Compile queryset, whose parameters must be params: the placeholders that rows()
        fills in with each request's values."""
        compiler = queryset.query.get_compiler(connection.alias)
        self.sql, found = compiler.as_sql()
        assert found == params, (found, params)
        self.compiler = compiler
        self.columns = tuple(alias for _, _, alias in compiler.select)
        self.converters = compiler.get_converters([column for column, _, _ in compiler.select])

    def rows(self, params, after=""):
        """The rows of the query with these parameters (and SQL after it, e.g. a LIMIT), their
        values converted as the ORM would."""
        with connection.cursor() as cursor:
            cursor.execute(f"{self.sql}{after}", params)
            rows = cursor.fetchall()
        if self.converters:
            return list(self.compiler.apply_converters(rows, self.converters))
        return rows
