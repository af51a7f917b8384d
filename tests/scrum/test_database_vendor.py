"""The pass runs on the database it is named after (tests/scrum/variants.txt)."""

import os

import pytest
from django.db import connection

VENDORS = {"postgres": "postgresql", "sqlite": "sqlite"}


@pytest.mark.django_db
def test_runs_on_the_database_of_this_pass():
    expected = VENDORS[os.environ.get("SCRUM_TEST_DATABASE", "sqlite")]
    assert connection.vendor == expected
    with connection.cursor() as cursor:  # a real query, answered by that database
        cursor.execute(
            "SELECT version()" if expected == "postgresql" else "SELECT sqlite_version()"
        )
        assert cursor.fetchone()[0]
