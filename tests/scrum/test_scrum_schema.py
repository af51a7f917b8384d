"""The API's own description (/api/schema/): what it documents, and schemathesis holding the
server to it over real HTTP with every check, on the run's database."""

import collections
import os
import re
import subprocess

import pytest
from board.models import Token
from conftest import SECRET, manage
from django.contrib.auth import get_user_model
from harness import BIN
from rest_framework.test import APIClient

HERE = os.path.dirname(__file__)
PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "scrum-test-key-Hd7Kp3Xv9Qw2Nb5Tz8"}
# Bounded for `make test` on two cores: examples per operation, one seed, no example database
SCHEMATHESIS_OPTIONS = [
    "--checks=all",
    "--phases=examples,coverage,fuzzing,stateful",
    "--max-examples=25",
    "--seed=1",
    "--generation-database=none",
    "--request-timeout=20",
    "--workers=1",
    "--no-color",
    "--exclude-path=/api/logout/",  # it would delete the token the run works with
]


@pytest.fixture
def schema():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def api(db):
    user = get_user_model().objects.create_user("schema-tester", password="s3cret")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def parameter(operation, name):
    return next(p for p in operation["parameters"] if p["name"] == name)


def test_the_schema_documents_errors_etags_and_bounds(schema):
    paths = schema["paths"]
    put = paths["/api/tasks/{id}/"]["put"]
    assert {"200", "400", "401", "404", "409", "412", "429"} <= set(put["responses"])
    assert parameter(put, "If-Match")["in"] == "header"
    assert "ETag" in put["responses"]["200"]["headers"]
    assert "Retry-After" in put["responses"]["429"]["headers"]
    assert "move" in put["description"]
    assert {"200", "304"} <= set(paths["/api/tasks/{id}/"]["get"]["responses"])
    assert "412" in paths["/api/tasks/{id}/move/"]["post"]["responses"]
    assert "409" in paths["/api/sprints/{id}/"]["delete"]["responses"]
    assert "304" in paths["/api/sprints/{id}/versions/"]["get"]["responses"]
    listing = paths["/api/tasks/"]["get"]
    assert "Scrum-Versions" in listing["responses"]["200"]["headers"]
    page_size = parameter(listing, "page_size")["schema"]
    assert (page_size["minimum"], page_size["maximum"]) == (1, 500)
    assert "429" in paths["/api/token/"]["post"]["responses"]
    for name in ("Task", "Sprint"):
        fields = schema["components"]["schemas"][name]["properties"]
        assert fields["name"]["maxLength"] == 100
        assert fields["description"]["maxLength"] == 10000


def test_a_path_no_route_matches_is_a_json_404(api):
    response = api.get("/api/sprints/1.5/versions/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_search_with_a_nul_is_refused_by_name(api):
    response = api.get("/api/tasks/?search=a%00b")
    assert response.status_code == 400
    assert list(response.json()) == ["search"]


def test_a_name_sent_as_a_number_is_refused(api):
    response = api.post("/api/tasks/", {"name": 12345}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["name"]


def test_a_page_size_over_500_is_refused(api):
    response = api.get("/api/tasks/?page_size=501")
    assert response.status_code == 400
    assert response.json() == {"page_size": ["A whole number from 1 to 500."]}


def test_schemathesis_finds_no_failure_with_every_check(scrum_server, server_database, tmp_path):
    """Every check on (stateful links included) against gunicorn; no failure allowed."""
    create = (
        "from django.contrib.auth.models import User; from board.models import Token;"
        "print('token', Token.objects.create(user=User.objects.create_user('fuzz')).key)"
    )
    made = manage(server_database, "shell", "-c", create).stdout
    token = re.search(r"^token (\w+)$", made, re.MULTILINE).group(1)
    environment = {**PRODUCTION, "WATERCOOLER_SECRET": SECRET, "NUM_PROXIES": "1"}
    server = scrum_server(environment, extra=("--access-logfile", "-"))
    command = [BIN / "schemathesis", "--config-file", os.path.join(HERE, "schemathesis.toml")]
    command += ["run", f"{server.url}/api/schema/", *SCHEMATHESIS_OPTIONS]
    command += ["--header", f"Authorization: Token {token}"]
    hooks = os.path.join(HERE, "schemathesis_hooks.py")
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "SCHEMATHESIS_HOOKS": hooks},
    )
    statuses = collections.Counter(re.findall(r'gunicorn\.access: .*?" (\d{3}) ', server.output()))
    print(f"schemathesis: {sum(statuses.values())} requests, by status {dict(statuses)}")
    print(result.stdout[result.stdout.find("SUMMARY") :])
    assert result.returncode == 0, result.stdout[-6000:] + server.output()[-3000:]
    assert " passed" in result.stdout and "generated" in result.stdout
    assert sum(statuses.values()) > 500
