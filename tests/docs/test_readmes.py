"""The documentation is tested like the code: every shell example in every README runs
against real servers (examples.py says how), every picture and local link resolves, the
vendored versions are the ones package.json names, and the version follows the changelog."""

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from examples import (
    SERVICES,
    Addresses,
    ExampleFailed,
    blocks,
    checkout,
    dry_compose,
    is_shell,
    pages,
    run_page,
)
from harness import BIN, ROOT

SERVICE_SECTIONS = ["Limits"]  # every service's page has these, besides run/deploy/scale
RUN = re.compile(r"^## (Run it|Use it|Work on pages live)$", re.MULTILINE)
DEPLOY = re.compile(
    r"^## (Deploy it|Configure and deploy it|The generated project's README)$", re.MULTILINE
)
SCALE = re.compile(r"^## Scale it$|workers \(`--workers", re.MULTILINE)


def stand_ins(request, page):
    """Addresses for a page, with throwaway Redis and PostgreSQL when its examples need them."""
    text = page.read_text()
    redis = request.getfixturevalue("redis_url") if "redis://" in text else None
    postgres = request.getfixturevalue("postgres_url") if "postgres://" in text else None
    return Addresses(redis, postgres)


def shell_pages():
    return [p for p in pages() if any(is_shell(info) for info, _ in blocks(p.read_text()))]


@pytest.mark.parametrize("page", shell_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shell_example_runs(request, tmp_path, page):
    folder = page.parent.name if page.parent != ROOT else None
    copied = set(SERVICES) if folder in {None, "docs"} else {folder}
    top = checkout(tmp_path / "checkout", copied)
    addresses = stand_ins(request, page)
    (top / "Procfile").write_text(addresses((ROOT / "Procfile").read_text()))
    count = run_page(page, top, addresses)
    print(f"{page.relative_to(ROOT)}: {count} commands")
    assert count > 0


def test_the_generated_projects_readme_runs(tmp_path):
    """project_template's README makes a project as it says; that project's README runs too."""
    subprocess.run(
        [BIN / "django-admin", "startproject", "foo", f"--template={ROOT / 'project_template'}"]
        + ["--name", "README.md"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    readme = tmp_path / "foo" / "README.md"
    assert "python foo.py runserver" in readme.read_text()
    assert run_page(readme, tmp_path / "foo", Addresses(), activated=True) >= 5


def local_links(page):
    """(target, anchor, is_picture) of every link of a page to a file of the project."""
    text = re.sub(r"^( *)```.*?^\1```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    for bang, target in re.findall(r"(!?)\[[^\]]*\]\(([^)\s]+)\)", text):
        if not re.match(r"^[a-z]+:", target):
            path, _, anchor = target.partition("#")
            yield (page.parent / path if path else page), anchor, bool(bang)


def anchors(page):
    """GitHub's anchors for a Markdown page's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_picture_and_local_link_resolves(page):
    for target, anchor, picture in local_links(page):
        assert target.exists(), f"{page} links to missing {target}"
        if picture:
            assert target.suffix in {".png", ".svg", ".jpg", ".gif"}, target
            assert target.stat().st_size > 0, target
        if anchor:
            assert target.suffix == ".md", f"{page}: an anchor into {target}"
            assert anchor in anchors(target), f"{page}: no #{anchor} in {target}"


def test_a_missing_picture_fails(tmp_path):
    page = tmp_path / "README.md"
    page.write_text("# Title\n\n![the board](docs/nowhere.png)\n")
    with pytest.raises(AssertionError, match="missing"):
        test_every_picture_and_local_link_resolves(page)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_its_page(service):
    page = (ROOT / service / "README.md").read_text()
    assert page.startswith("<!-- {% comment %}") or page.startswith(f"# {service}\n")
    assert "../README.md" in page, "links back to the map"
    assert RUN.search(page) and DEPLOY.search(page) and SCALE.search(page), service
    for section in SERVICE_SECTIONS:
        assert f"\n## {section}\n" in page, f"{service}: no {section} section"


def test_the_top_readme_is_a_map():
    page = (ROOT / "README.md").read_text()
    assert len(page.splitlines()) < 250
    for service in SERVICES:
        assert f"]({service}/README.md)" in page
    assert "DESIGN.md" not in page


def test_the_configuration_table_is_what_run_suites_keeps_out_of_the_tests():
    """A variable in the top README's table is dropped from the shell's environment by
    tests/run_suites.py (CONTRIBUTING's house rule), and the other way round."""
    from run_suites import SERVICE_SETTINGS

    text = (ROOT / "README.md").read_text().partition("\n## Configuration\n")[2]
    table = re.findall(r"^\| ([A-Z][A-Z0-9_]+)\b[^|]*\|", text.partition("\n## ")[0], re.M)
    assert sorted(table) == sorted(SERVICE_SETTINGS)


def test_no_page_points_outside_the_repository():
    for page in pages():
        assert "../shared/" not in page.read_text(), page


def vendored_version(path):
    match = re.search(r"v(\d+\.\d+\.\d+)", path.read_text(errors="replace")[:600])
    return match and match[1]


@pytest.mark.parametrize(
    "folder, files",
    [
        (
            "sitebuilder/sitebuilder/static/vendor",
            {"bootstrap": "bootstrap/css/bootstrap.min.css", "jquery": "jquery/jquery.min.js"},
        ),
        ("scrum/board/static/board/vendor", {"jquery": "jquery.min.js"}),
    ],
)
def test_vendored_files_are_the_versions_package_json_names(folder, files):
    names = json.loads((ROOT / folder / "package.json").read_text())["dependencies"]
    for name, file in files.items():
        assert vendored_version(ROOT / folder / file) == names[name], file
    licences = [str(p.relative_to(ROOT / folder)) for p in (ROOT / folder).glob("**/*LICENSE*")]
    for name in files:
        assert any(name in licence for licence in licences), f"{folder}: no licence for {name}"


def test_the_version_follows_the_changelog():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d\d-\d\d$", changelog(), re.M)
    assert releases and project["version"] == releases[0]
    assert changelog().index("## [Unreleased]") < changelog().index(f"## [{releases[0]}]")
    assert project["license"] == "BSD-3-Clause" and project["license-files"] == ["LICENSE"]
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()


def changelog():
    return (ROOT / "CHANGELOG.md").read_text()


def test_the_screenshots_the_pages_show_are_the_ones_make_screenshots_takes():
    shown = {
        target.name
        for page in pages()
        for target, _, picture in local_links(page)
        if picture and target.parent == ROOT / "docs"
    }
    taken = set(re.findall(r'"(\w[\w-]*\.png)"', (ROOT / "docs" / "screenshots.py").read_text()))
    assert shown <= taken, f"shown but never taken again: {shown - taken}"
    assert taken <= {p.name for p in Path(ROOT / "docs").glob("*.png")}


def page_with(tmp_path, text):
    page = tmp_path / "README.md"
    page.write_text(text)
    return page


def test_a_command_that_fails_fails_the_page(tmp_path):
    page = page_with(tmp_path, "```sh\ntrue\nls no-such-file\n```\n")
    with pytest.raises(ExampleFailed, match="exit status 2: ls no-such-file"):
        run_page(page, tmp_path, Addresses())


def test_without_the_virtualenv_a_service_does_not_start(tmp_path):
    """The trap the pages warn about: a fresh shell has no Django."""
    top = checkout(tmp_path / "checkout", {"hello"})
    page = page_with(tmp_path, "```sh\ncd hello\npython hello.py runserver 8003\n```\n")
    with pytest.raises(ExampleFailed, match="No module named 'django'|command not found"):
        run_page(page, top, Addresses())


def test_a_status_other_than_the_comments_fails_and_files_are_written(tmp_path):
    (tmp_path / "site").mkdir()
    text = (
        "```html file=site/page.html\n<p>hi</p>\n```\n\n"
        "```sh\ncd site\npython -m http.server 8001 --bind 127.0.0.1\n"
        "curl -s http://127.0.0.1:8001/page.html | grep '<p>hi</p>'\n"
        "curl -i http://127.0.0.1:8001/missing   # 404\n"
        "curl -o x.png http://127.0.0.1:8001/page.html\n```\n"
    )
    with pytest.raises(ExampleFailed, match="content type 'text/html', not image/png"):
        run_page(page_with(tmp_path, text), tmp_path, Addresses())
    wrong = text.replace("# 404", "# 200").replace("curl -o x.png", "curl -o x.html")
    with pytest.raises(ExampleFailed, match="answered 404, not 200"):
        run_page(page_with(tmp_path, wrong), tmp_path, Addresses())


def test_compose_commands_are_checked_against_the_compose_file_and_the_image():
    good = "docker compose run --rm scrum python scrum/scrum.py seed_demo"
    assert dry_compose(None, good) == (0, "")
    assert dry_compose(None, "docker compose run --rm scrum python scrum.py seed_demo")[0] == 1
    assert dry_compose(None, "docker compose up --wait --scale watercoolr=4")[0] == 1


def test_make_targets_must_exist(tmp_path):
    top = checkout(tmp_path / "checkout", set())
    page = page_with(tmp_path, "```sh\nmake test\nmake no-such-target\n```\n")
    with pytest.raises(ExampleFailed, match="make no-such-target"):
        run_page(page, top, Addresses())
