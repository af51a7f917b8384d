"""`python prototypes.py runserver`: the book's pages served live through page.html."""

import datetime
import http.client
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from harness import free_port, runserver


@pytest.fixture
def live(start, site):
    return start(runserver("prototypes.py", site))


def get(live, path):
    response = requests.get(live.url + path, timeout=10)
    return response.status_code, response.text


def meta(html, name):
    return re.search(rf'<meta name="{name}" content="([^"]*)">', html).group(1)


def active_nav(html):
    return re.findall(r'<li class="active"><a href="([^"]*)">', html)


def test_index_is_the_books_landing_page(live):
    status, html = get(live, "/")
    assert status == 200
    assert "<title>Rapid Prototypes - Index</title>" in html
    assert '<body id="index">' in html
    assert '<div class="jumbotron">' in html and "<h1>Welcome!</h1>" in html
    assert "<h2>About</h2>" in html and "<h2>Contact</h2>" in html
    assert html.count("Lorem ipsum dolor sit amet") >= 3  # {% lorem %} in each column
    assert f"&copy; Company {datetime.date.today().year}" in html  # {% now 'Y' %}
    assert active_nav(html) == ["/"]
    assert meta(html, "description") == "Rapid prototypes of the site"  # base.html's default
    assert meta(html, "keywords") == "prototype, mockup"


def test_pricing_is_driven_by_its_context_block(live):
    status, html = get(live, "/pricing/")
    assert status == 200
    assert "<title>Rapid Prototypes - Pricing</title>" in html
    assert '<body id="pricing">' in html
    assert meta(html, "description") == "Product Pricing Plans"
    assert meta(html, "keywords") == "products, pricing, buy me"
    assert "block context" not in html and '"plans"' not in html  # the JSON is removed
    plans = re.findall(r'<h3 class="panel-title">([^<]+)</h3>', html)
    assert plans == ["Starter", "Team", "Enterprise"]
    assert re.findall(r'<p class="price">([^<]+)</p>', html) == ["$9", "$29", "$99"]
    # Starter has 2 of the 4 features, Team 3, Enterprise all 4.
    assert html.count("glyphicon-ok") == 9 and html.count("glyphicon-remove") == 3
    assert active_nav(html) == ["/pricing/"]


@pytest.mark.parametrize(
    ("slug", "marker"),
    [("login", "Please sign in"), ("contact", "Contact us")],
)
def test_login_and_contact_pages(live, slug, marker):
    status, html = get(live, f"/{slug}/")
    assert status == 200
    assert f"<title>Rapid Prototypes - {slug.capitalize()}</title>" in html
    assert f'<body id="{slug}">' in html
    assert marker in html and "<form" in html
    assert active_nav(html) == [f"/{slug}/"]


def test_live_pages_load_the_separate_vendored_files(live):
    _, html = get(live, "/")
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" in assets
    assert "/static/vendor/jquery/jquery.min.js" in assets
    assert "/static/vendor/bootstrap/js/bootstrap.min.js" in assets
    for asset in assets:
        assert requests.get(live.url + asset, timeout=10).status_code == 200, asset
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html


def test_edits_show_up_without_a_restart(live, site):
    page = site / "pages" / "login.html"
    page.write_text(page.read_text().replace("Please sign in", "Welcome back"))
    assert "Welcome back" in get(live, "/login/")[1]


def test_markdown_and_nested_pages(live, site):
    (site / "pages" / "docs").mkdir()
    (site / "pages" / "docs" / "intro.md").write_text(
        "title: Getting started\ndescription: Start here\nkeywords: docs, intro\n\n"
        "# Introduction\n\nSee the *pricing* page.\n"
    )
    (site / "pages" / "docs" / "setup.html").write_text("<p>Setup steps</p>")
    status, html = get(live, "/docs/intro/")
    assert status == 200
    assert "<title>Rapid Prototypes - Getting started</title>" in html
    assert meta(html, "description") == "Start here"
    assert "<h1>Introduction</h1>" in html and "<em>pricing</em>" in html
    assert '<body id="docs-intro">' in html
    status, html = get(live, "/docs/setup/")
    assert status == 200 and "<p>Setup steps</p>" in html
    assert "<title>Rapid Prototypes - Setup</title>" in html


def test_unknown_page_is_404(live):
    assert get(live, "/nope/")[0] == 404
    assert get(live, "/pricing/nope/")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../prototypes.py/",
        "/..%2fprototypes/",
        "/%2e%2e/prototypes/",
        "/%2e%2e%2fprototypes/",
        "/docs/../../prototypes/",
        "/..%2f..%2fetc%2fpasswd/",
        "/%2fetc%2fpasswd/",
        "/_secret/",
        "/.hidden/",
    ],
)
def test_paths_escaping_pages_are_404(live, site, path):
    for name in ("pages/_secret.html", "pages/.hidden.html", "prototypes.html"):
        (site / name).write_text("NOT-A-PAGE-7f3a")
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    connection.request("GET", path)  # sent as is, no client-side normalising
    response = connection.getresponse()
    body = response.read().decode()
    assert response.status == 404
    assert "NOT-A-PAGE-7f3a" not in body and "root:x:0:0" not in body


STATIC_TRAVERSALS = [
    "/static/../prototypes.py",
    "/static/../pages.py",
    "/static/../../prototypes.py",
    "/static/css/../../pages.py",
    "/static/%2e%2e/pages.py",
    "/static/%2E%2E/%2E%2E/prototypes.py",
    "/static/..%2fpages.py",
    "/static/%2e%2e%2f%2e%2e%2fprototypes.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/..\\pages.py",
    "/static/..%5c..%5cprototypes.py",
    "/static/%00",
    "/static/css/site.css%00.py",
    "/static/\x00/../pages.py",
]


def raw_get(port, path):
    """Status and body of a GET of path sent byte for byte (no client-side normalising)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        connection.sendall(request.encode("latin-1"))
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("debug", ["on", "off"])
def test_static_paths_escaping_the_static_files_are_404(start, site, prototypes, debug):
    if debug == "off":
        prototypes("build")  # with DEBUG off the live server serves the build's static files
    live = start(runserver("prototypes.py", site, {"DEBUG": debug}))
    secrets = [site / "prototypes.py", site / "sitebuilder" / "pages.py", Path("/etc/passwd")]
    lines = [next(ln for ln in path.read_bytes().splitlines() if len(ln) > 20) for path in secrets]
    answers = {path: raw_get(live.port, path) for path in STATIC_TRAVERSALS}
    assert {path: status for path, (status, _) in answers.items() if status not in {400, 404}} == {}
    for path, (_, body) in answers.items():
        assert not any(line in body for line in lines), path
    assert get(live, "/pricing/")[0] == 200  # and the server is fine


@pytest.mark.parametrize("path", ["/" + "a" * 300 + "/", "/" + "/".join(["b" * 200] * 25) + "/"])
def test_a_very_long_page_address_is_404(live, path):
    assert get(live, path)[0] == 404
    assert get(live, "/pricing/")[0] == 200  # and the server is fine


def test_a_folders_index_page_is_served_at_the_folders_url(live, site):
    (site / "pages" / "docs").mkdir()
    (site / "pages" / "docs" / "index.html").write_text("<p>All the docs</p>")
    status, html = get(live, "/docs/")
    assert status == 200 and "<p>All the docs</p>" in html and '<body id="docs">' in html
    assert get(live, "/docs/index/")[0] == 404  # one address per page, as in the build


def test_non_ascii_page_names(live, site):
    (site / "pages" / "café.html").write_text("<p>Menu</p>")
    status, html = get(live, "/caf%C3%A9/")
    assert status == 200 and "<p>Menu</p>" in html


def test_the_books_load_webdesign_still_works(live, site):
    (site / "pages" / "book.html").write_text("{% load webdesign %}<p>{% lorem 3 w %}</p>")
    status, html = get(live, "/book/")
    assert status == 200 and "<p>lorem ipsum dolor</p>" in html


def test_debug_off_without_a_build_refuses_to_start(site):
    result = subprocess.run(
        [sys.executable, "prototypes.py", "runserver", "--noreload", f"127.0.0.1:{free_port()}"],
        cwd=site,
        env={**os.environ, "DEBUG": "off"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "run `python prototypes.py build` first, or run with DEBUG on" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["runserver", "--noreload"], ["build"]])
def test_a_bad_debug_value_is_a_clear_start_up_error(prototypes, command):
    result = prototypes(*command, check=False, DEBUG="maybe")
    assert (result.returncode, result.stderr) == (
        3,
        "sitebuilder: DEBUG must be on or off, not 'maybe'\n",
    )
