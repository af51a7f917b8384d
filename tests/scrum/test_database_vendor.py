"""The pass runs on the database it is named after (tests/scrum/variants.txt), configured as
scrum.py configures it."""

import os
from datetime import date, timedelta

import pytest
from board.models import Sprint, Task, Token
from conftest import ON_POSTGRES
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

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


@pytest.mark.skipif(not ON_POSTGRES, reason="prepared statements are PostgreSQL's")
@pytest.mark.django_db
def test_the_task_lists_queries_are_prepared_on_postgresql():
    """After a few requests the server runs the token's lookup and the sprint's page from
    prepared statements, with the request's values bound apart from the SQL (scrum.py's
    database()), and every answer is still the same."""
    user = get_user_model().objects.create_user("preparer")
    sprint = Sprint.objects.create(name="Prepared", end=date.today() + timedelta(days=7))
    for order in range(3):
        Task.objects.create(name=f"Task {order}", sprint=sprint, order=order)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    answers = {api.get(f"/api/tasks/?sprint={sprint.pk}").content for _ in range(7)}
    assert len(answers) == 1 and b'"count":3' in answers.pop()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('FROM "board_token"' in sql and '"key" = $1' in sql for sql in prepared), prepared
    assert any('FROM "board_task"' in sql and '"sprint_id" = $1' in sql for sql in prepared)
