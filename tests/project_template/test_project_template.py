"""startproject --template=project_template: the generated one-file project, run for real."""

import os
import re
import secrets
import subprocess
import sys

import pytest
import requests
from harness import BIN, ROOT, gunicorn, json_entries, runserver, with_failing_view

TEMPLATE = ROOT / "project_template"
HTTPS_ONLY_WARNINGS = {"security.W004", "security.W008", "security.W016"}  # as the README says
VERBATIM = ["templates/base.html", "templates/index.html", "static/site.css"]


def startproject(name, where):
    subprocess.run(
        [
            BIN / "django-admin",
            "startproject",
            name,
            f"--template={TEMPLATE}",
            "--name",
            "README.md",
        ],
        cwd=where,
        check=True,
        capture_output=True,
    )
    return where / name


def baked_key(project):
    source = (project / f"{project.name}.py").read_text()
    return re.search(r'os\.environ\.get\("SECRET_KEY", "([^"]+)"\)', source).group(1)


def deploy_check(project, **env):
    environment = {**os.environ, "DEBUG": "off", "SECRET_KEY": secrets.token_urlsafe(50), **env}
    return subprocess.run(
        [sys.executable, f"{project.name}.py", "check", "--deploy"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return startproject("foo", tmp_path_factory.mktemp("generated"))


def test_creates_one_module_named_after_the_project(project):
    assert (project / "foo.py").is_file()
    assert not (project / "project_name.py-tpl").exists()
    assert not list(project.rglob("*-tpl"))


def test_renders_no_leftover_template_syntax(project):
    source = (project / "foo.py").read_text()
    assert not re.search(r"\{\{|\}\}|\{%|%\}", source)
    assert '"project_name": "foo"' in source
    compile(source, "foo.py", "exec")


def test_files_that_are_not_python_come_out_intact(project):
    for name in VERBATIM:
        assert (project / name).read_bytes() == (TEMPLATE / name).read_bytes(), name
    assert (project / ".gitignore").is_file()


def test_the_readme_names_the_generated_module_and_leaves_out_the_templates_own_page(project):
    readme = (project / "README.md").read_text()
    assert readme.startswith("<!--  -->\n# foo: a one-file Django project\n")
    assert "python foo.py runserver" in readme and "gunicorn foo\n" in readme
    assert not re.search(r"\{\{|\}\}|\{%|%\}|<name>|project_template", readme)


def test_two_projects_get_different_secret_keys(project, tmp_path):
    other = startproject("bar", tmp_path)
    assert baked_key(project) != baked_key(other)
    assert len(baked_key(other)) >= 50


@pytest.mark.parametrize("server", [runserver, gunicorn], ids=["runserver", "gunicorn"])
def test_generated_project_serves_its_page_and_static_files(start, project, server):
    service = start(server("foo.py" if server is runserver else "foo", project))
    page = requests.get(service.url + "/")
    assert page.status_code == 200
    assert "Hello World" in page.text
    assert "foo is running" in page.text
    css = requests.get(service.url + "/static/site.css")
    assert css.status_code == 200
    assert css.text == (TEMPLATE / "static/site.css").read_text()


def test_static_files_are_served_by_gunicorn_with_debug_off(start, project):
    env = {"DEBUG": "off", "SECRET_KEY": secrets.token_urlsafe(50)}
    service = start(gunicorn("foo", project, env))
    assert requests.get(service.url + "/static/site.css").status_code == 200
    missing = requests.get(service.url + "/nope")
    assert missing.status_code == 404
    assert "Traceback" not in missing.text


def test_deploy_check_warns_only_about_what_https_fixes(project):
    result = deploy_check(project)
    warnings = set(re.findall(r"\((security\.W\d+)\)", result.stderr + result.stdout))
    assert result.returncode == 0, result.stderr
    assert warnings == HTTPS_ONLY_WARNINGS


def test_deploy_check_passes_with_https_on(project):
    result = deploy_check(project, HTTPS="on")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert result.stderr == ""


def test_baked_in_key_is_flagged_by_the_deploy_check(project):
    result = deploy_check(project, SECRET_KEY="", HTTPS="on")
    assert "security.W009" in result.stderr + result.stdout


def test_https_on_redirects_plain_http(start, project):
    env = {"DEBUG": "off", "SECRET_KEY": secrets.token_urlsafe(50), "HTTPS": "on"}
    service = start(gunicorn("foo", project, env))
    response = requests.get(service.url + "/", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://")


def test_allowed_hosts_entries_are_stripped(start, project):
    env = {"DEBUG": "off", "SECRET_KEY": secrets.token_urlsafe(50)}
    env["ALLOWED_HOSTS"] = "localhost, foo.example.com "
    service = start(gunicorn("foo", project, env))
    for host in ("localhost", "foo.example.com"):
        response = requests.get(service.url + "/", headers={"Host": host})
        assert response.status_code == 200, host
        assert "foo is running" in response.text
    assert requests.get(service.url + "/", headers={"Host": "evil.test"}).status_code == 400


def test_https_on_behind_a_tls_proxy_serves_instead_of_redirecting_forever(start, project):
    """The proxy terminates TLS and says so in X-Forwarded-Proto; gunicorn is told not to act
    on it itself (as behind a proxy on another host), so that Django must."""
    env = {"DEBUG": "off", "SECRET_KEY": secrets.token_urlsafe(50), "HTTPS": "on"}
    extra = ["--forwarded-allow-ips", "192.0.2.1"]
    service = start(gunicorn("foo", project, env, extra=extra))
    proxied = requests.get(
        service.url + "/", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False
    )
    assert proxied.status_code == 200
    assert "foo is running" in proxied.text
    assert proxied.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    plain = requests.get(service.url + "/", allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")


def test_a_server_error_is_logged_with_debug_off(start, project, tmp_path):
    with_failing_view(tmp_path, "foo")
    extra = ("--pythonpath", tmp_path, "--access-logfile", "-")
    service = start(
        gunicorn("broken", project, {"DEBUG": "off", "LOG_FORMAT": "json"}, extra=extra)
    )
    assert requests.get(service.url + "/boom", timeout=10).status_code == 500
    service.stop()
    entries = json_entries(service.output())
    error = next(entry for entry in entries if entry["logger"] == "django.request")
    assert (error["service"], error["message"]) == ("foo", "Internal Server Error: /boom")
    assert "RuntimeError: a bug in a view" in error["error"]


def test_a_flag_neither_on_nor_off_stops_the_start_with_its_name(project):
    result = deploy_check(project, HTTPS="maybe")
    assert result.returncode != 0
    assert "foo: HTTPS must be on or off, not 'maybe'" in result.stderr
