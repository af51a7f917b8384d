"""`python prototypes.py build`: the static site, its assets, errors and incremental builds."""

import http.client
import json
import os
import pty
import re
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from harness import ROOT, Service, runserver

BOOK_PAGES = {"index": "index.html", "pricing": "pricing/index.html"}
BOOK_PAGES |= {"login": "login/index.html", "contact": "contact/index.html"}
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+?)['"]?\s*\)""")
VENDORED = ROOT / "sitebuilder" / "sitebuilder" / "static" / "vendor" / "package.json"


def pages_in(build):
    return sorted(p.relative_to(build).as_posix() for p in build.rglob("index.html"))


def test_builds_every_book_page_at_its_url(site, prototypes):
    result = prototypes("build")
    build = site / "_build"
    assert pages_in(build) == sorted(BOOK_PAGES.values())
    assert "4 pages rendered" in result.stdout
    pricing = (build / "pricing" / "index.html").read_text()
    assert "<title>Rapid Prototypes - Pricing</title>" in pricing
    assert '<meta name="description" content="Product Pricing Plans">' in pricing
    assert '<meta name="keywords" content="products, pricing, buy me">' in pricing
    assert '<li class="active"><a href="/pricing/">Pricing</a></li>' in pricing
    index = (build / "index.html").read_text()
    assert "<h1>Welcome!</h1>" in index and '<body id="index">' in index


def test_assets_are_hashed_bundled_minified_and_all_resolve(site, prototypes):
    prototypes("build")
    build = site / "_build"
    for page in BOOK_PAGES.values():
        html = (build / page).read_text()
        assets = ASSET.findall(html)
        # One compressed CSS bundle and one JS bundle, named by their content.
        assert len(assets) == 2, assets
        assert re.fullmatch(r"/static/CACHE/css/output\.[0-9a-f]{12}\.css", assets[0])
        assert re.fullmatch(r"/static/CACHE/js/output\.[0-9a-f]{12}\.js", assets[1])
        for asset in assets:
            assert (build / asset.lstrip("/")).is_file(), f"{page}: {asset}"
    css_path = build / ASSET.findall((build / "index.html").read_text())[0].lstrip("/")
    css = css_path.read_text()
    assert ".jumbotron{padding-top:40px}" in css  # site.css, minified into the bundle
    versions = json.loads(VENDORED.read_text())["dependencies"]
    assert f"Bootstrap v{versions['bootstrap']}" in css
    fonts = CSS_URL.findall(css)
    assert fonts, "Bootstrap's glyphicon fonts are referenced"
    for reference in fonts:
        path = urlsplit(reference).path
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", path), reference  # hashed name
        assert (build / path.lstrip("/")).is_file(), reference
    js = (build / ASSET.findall((build / "index.html").read_text())[1].lstrip("/")).read_text()
    assert "jQuery" in js and "Bootstrap's JavaScript requires jQuery" in js
    jquery, bootstrap = f"jQuery v{versions['jquery']}", f"Bootstrap v{versions['bootstrap']}"
    assert js.index(jquery) < js.index(bootstrap)  # jQuery loads first


def test_built_site_served_over_http_resolves_everything(site, prototypes, start):
    prototypes("build")
    preview = start(Service([sys.executable, "prototypes.py", "preview", "127.0.0.1:{port}"], site))
    seen = set()
    for page in ["/", "/pricing/", "/login/", "/contact/"]:
        response = requests.get(preview.url + page, timeout=10)
        assert response.status_code == 200
        assets = ASSET.findall(response.text)
        assert len(assets) == 2, page  # the CSS bundle and the JS bundle
        for asset in assets:
            fetched = requests.get(preview.url + asset, timeout=10)
            assert fetched.status_code == 200, asset
            if asset.endswith(".css"):
                for reference in CSS_URL.findall(fetched.text):
                    seen.add(urlsplit(urljoin(asset, reference)).path)
    assert len(seen) == 5  # Bootstrap's glyphicons: eot, woff2, woff, ttf and svg
    for font in seen:
        assert requests.get(preview.url + font, timeout=10).status_code == 200, font
    missing = requests.get(preview.url + "/no/such/page/", timeout=10)
    assert missing.status_code == 404 and "Page not found" in missing.text


def test_sitemap_and_404_page(site, prototypes):
    prototypes("build", SITE_URL="https://prototypes.example.com/")
    build = site / "_build"
    namespace = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ET.parse(build / "sitemap.xml").getroot()
    locations = [loc.text for loc in root.findall("sm:url/sm:loc", namespace)]
    assert locations == [
        "https://prototypes.example.com/",
        "https://prototypes.example.com/contact/",
        "https://prototypes.example.com/login/",
        "https://prototypes.example.com/pricing/",
    ]
    dates = [lastmod.text for lastmod in root.findall("sm:url/sm:lastmod", namespace)]
    assert len(dates) == len(locations)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", date) for date in dates)
    not_found = (build / "404.html").read_text()
    assert "Page not found" in not_found and ASSET.findall(not_found)


def test_single_page_build_leaves_the_others_alone(site, prototypes, snapshot):
    prototypes("build")
    before = snapshot(site / "_build")
    for name in ("pricing", "contact"):
        page = site / "pages" / f"{name}.html"
        page.write_text(page.read_text().replace("</div>", "<p>EDITED</p></div>", 1))
    result = prototypes("build", "pricing")
    assert "1 page rendered" in result.stdout
    after = snapshot(site / "_build")
    assert "EDITED" in (site / "_build" / "pricing" / "index.html").read_text()
    changed = {name for name in after if after[name] != before.get(name)}
    # sitemap.xml changes only when the edit moved pricing's <lastmod> to another day (the
    # pages of a checkout made yesterday)
    assert changed - {"sitemap.xml"} == {"pricing/index.html"}

    def other_urls(files):
        return [line for line in files["sitemap.xml"][0].splitlines() if b"/pricing/<" not in line]

    assert other_urls(after) == other_urls(before)
    assert after["contact/index.html"] == before["contact/index.html"]
    assert after["index.html"] == before["index.html"]


def test_unknown_page_names_fail(site, prototypes, snapshot):
    prototypes("build")
    before = snapshot(site / "_build")
    result = prototypes("build", "pricing", "nope", "docs/gone", check=False)
    assert result.returncode != 0
    assert "Invalid pages: nope, docs/gone" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(site / "_build") == before


def break_page(site, name, old, new):
    page = site / "pages" / name
    text = page.read_text()
    assert old in text
    page.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("page", "old", "new", "message"),
    [
        (
            "pricing.html",
            '"Storage"]},',
            '"Storage"]}',
            "pages/pricing.html, line 7: invalid JSON in {% block context %}: "
            "Expecting ',' delimiter",
        ),
        (
            "login.html",
            '<div class="checkbox">',
            '<div class="checkbox">{% if remember %}',
            "pages/login.html, line 8: Unclosed tag on line 8: 'if'",
        ),
        (
            "contact.html",
            "<h2>Contact us</h2>",
            "<h2>{% bogus %}</h2>",
            "pages/contact.html, line 3: Invalid block tag on line 3: 'bogus'",
        ),
        (
            "contact.html",
            "<h2>Contact us</h2>",
            "<h2>{% url 'page' 'a' 'b' %}</h2>",
            "pages/contact.html, line 3: NoReverseMatch",
        ),
        (  # a filter that fits once does not make its misuse fit (the check is made once)
            "contact.html",
            "<h2>Contact us</h2>",
            "<h2>{{ title|title }} {{ title|title:'x' }}</h2>",
            "pages/contact.html, line 3: title requires 1 arguments, 2 provided",
        ),
        (
            "index.html",
            "{% url 'page' 'contact' %}",
            "/contcat/",
            'pages/index.html: broken link "/contcat/"',
        ),
        (
            "index.html",
            "<h1>Welcome!</h1>",
            '<h1>Welcome!</h1><img src="/static/img/missing.png">',
            'pages/index.html: broken link "/static/img/missing.png"',
        ),
    ],
    ids=["json", "unclosed-tag", "unknown-tag", "render-error", "filter", "link", "asset"],
)
def test_errors_name_the_page_and_keep_the_previous_build(
    site, prototypes, snapshot, page, old, new, message
):
    prototypes("build")
    before = snapshot(site / "_build")
    break_page(site, page, old, new)
    for args in [("build",), ("build", "--force"), ("build", page.removesuffix(".html"))]:
        result = prototypes(*args, check=False)
        assert result.returncode != 0, args
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert snapshot(site / "_build") == before, args
    assert sorted(p.name for p in site.iterdir()) == [
        "._build.sitebuilder.json",
        "_build",
        "observability.py",
        "pages",
        "prototypes.py",
        "sitebuilder",
    ]


def test_a_failed_first_build_leaves_no_output(site, prototypes):
    break_page(site, "pricing.html", '"Storage"]},', '"Storage"]}')
    result = prototypes("build", check=False)
    assert result.returncode != 0 and "pages/pricing.html, line 7" in result.stderr
    assert sorted(p.name for p in site.iterdir()) == [
        "observability.py",
        "pages",
        "prototypes.py",
        "sitebuilder",
    ]


def test_every_error_is_reported_at_once(site, prototypes):
    break_page(site, "pricing.html", '"Storage"]},', '"Storage"]}')
    break_page(site, "contact.html", "<h2>Contact us</h2>", "<h2>{% bogus %}</h2>")
    result = prototypes("build", check=False)
    assert "pages/pricing.html, line 7" in result.stderr
    assert "pages/contact.html, line 3" in result.stderr


def test_markdown_and_nested_pages_are_built(site, prototypes):
    docs = site / "pages" / "docs"
    docs.mkdir()
    (docs / "intro.md").write_text(
        "title: Getting started\ndescription: Start here\nkeywords: docs, intro\n\n"
        "# Introduction\n\nRead [the setup](../setup/) and [pricing](/pricing/).\n"
    )
    (docs / "setup.html").write_text("<p>Setup</p><a href=\"{% url 'page' 'docs/intro' %}\">x</a>")
    prototypes("build")
    build = site / "_build"
    intro = (build / "docs" / "intro" / "index.html").read_text()
    assert "<title>Rapid Prototypes - Getting started</title>" in intro
    assert '<meta name="description" content="Start here">' in intro
    assert '<meta name="keywords" content="docs, intro">' in intro
    assert "<h1>Introduction</h1>" in intro
    assert re.search(r'<link rel="stylesheet" href="/static/CACHE/css/output\.\w+\.css"', intro)
    setup = (build / "docs" / "setup" / "index.html").read_text()
    assert '<a href="/docs/intro/">x</a>' in setup
    sitemap = (build / "sitemap.xml").read_text()
    assert "/docs/intro/</loc>" in sitemap and "/docs/setup/</loc>" in sitemap
    (docs / "intro.md").write_text("# Intro\n\n[gone](../missing/)\n")
    result = prototypes("build", check=False)
    assert 'pages/docs/intro.md: broken link "/docs/missing/"' in result.stderr


def test_clashing_and_unservable_page_names_fail(site, prototypes):
    (site / "pages" / "pricing.md").write_text("# Pricing again")
    result = prototypes("build", check=False)
    assert "pages/pricing.md: pages/pricing.html is the same page" in result.stderr
    (site / "pages" / "pricing.md").unlink()
    (site / "pages" / "my page.html").write_text("<p>x</p>")
    result = prototypes("build", check=False)
    assert result.returncode != 0 and "pages/my page.html: a page name" in result.stderr


def test_incremental_build_skips_unchanged_pages(site, prototypes, snapshot):
    prototypes("build")
    build = site / "_build"
    before = snapshot(build)
    result = prototypes("build")
    assert "4 pages: 0 rendered, 4 unchanged; static files unchanged" in result.stdout
    assert snapshot(build) == before  # not a byte, not a modification time changed

    (site / "pages" / "login.html").touch()  # same content: still not rendered
    assert "0 rendered, 4 unchanged" in prototypes("build").stdout
    break_page(site, "login.html", "Please sign in", "Sign in, please")
    assert "1 rendered, 3 unchanged" in prototypes("build").stdout
    after = snapshot(build)
    assert "Sign in, please" in (build / "login" / "index.html").read_text()
    for page in ("index.html", "pricing/index.html", "contact/index.html"):
        assert after[page] == before[page], page

    (site / "pages" / "extra.html").write_text('<a href="/login/">in</a>')
    assert "5 pages: 1 rendered, 4 unchanged" in prototypes("build").stdout
    (site / "pages" / "extra.html").unlink()
    assert "4 pages: 0 rendered, 4 unchanged, 1 removed" in prototypes("build").stdout
    assert not (build / "extra").exists()


def test_a_page_whose_output_was_deleted_is_rendered_again(site, prototypes):
    prototypes("build")
    (site / "_build" / "pricing" / "index.html").unlink()
    (site / "_build" / "index.html").unlink()
    assert "4 pages: 2 rendered, 2 unchanged" in prototypes("build").stdout
    assert "Pricing" in (site / "_build" / "pricing" / "index.html").read_text()
    assert (site / "_build" / "index.html").is_file()


def test_layout_change_rebuilds_everything(site, prototypes):
    prototypes("build")
    css = site / "sitebuilder" / "static" / "css" / "site.css"
    css.write_text(css.read_text() + "\n.brand-new { color: red; }\n")
    result = prototypes("build")
    assert "4 pages rendered; static files collected" in result.stdout
    index = (site / "_build" / "index.html").read_text()
    bundle = site / "_build" / ASSET.findall(index)[0].lstrip("/")
    assert ".brand-new{color:red}" in bundle.read_text()
    base = site / "sitebuilder" / "templates" / "base.html"
    base.write_text(base.read_text().replace("Rapid Prototypes</a>", "Prototypes Inc.</a>"))
    assert "4 pages rendered" in prototypes("build").stdout
    assert "Prototypes Inc.</a>" in (site / "_build" / "pricing" / "index.html").read_text()


def test_deleting_a_linked_page_breaks_the_build(site, prototypes, snapshot):
    prototypes("build")
    before = snapshot(site / "_build")
    (site / "pages" / "contact.html").unlink()
    result = prototypes("build", check=False)
    assert 'pages/index.html: broken link "/contact/"' in result.stderr
    assert 'pages/pricing.html: broken link "/contact/"' in result.stderr
    assert snapshot(site / "_build") == before


def test_parallel_and_serial_builds_are_identical(site, prototypes, tmp_path):
    for n in range(60):
        (site / "pages" / f"p{n:02d}.html").write_text(
            f'{{% block context %}}{{"n": {n}}}{{% endblock %}}<p>Page {{{{ n }}}}</p>'
            f'<a href="../p{(n + 1) % 60:02d}/">next</a>'
        )
    prototypes("build", "--jobs", "1", "--output", str(tmp_path / "serial"))
    prototypes("build", "--jobs", "2", "--output", str(tmp_path / "parallel"))
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    pages = pages_in(serial)
    assert len(pages) == 64 and pages == pages_in(parallel)
    for page in pages:
        if page != "index.html":  # {% lorem %} and {% now %} are the same, but be exact
            assert (serial / page).read_bytes() == (parallel / page).read_bytes(), page
    assert "<p>Page 41</p>" in (parallel / "p41" / "index.html").read_text()


def test_built_pages_are_what_the_live_server_serves(site, prototypes, start):
    (site / "pages" / "links.html").write_text(
        """{% load static %}{% url 'page' 'pricing' as pricing %}
<a href="{{ pricing }}">Plans</a> <a href="{% url 'page' 'contact' %}">Ask</a>
<img src="{% static 'css/site.css' %}"> <a href="../login/">Sign in</a>"""
    )
    prototypes("build")
    build = site / "_build"
    live = start(runserver("prototypes.py", site, {"DEBUG": "off"}))
    for page in [*BOOK_PAGES.values(), "links/index.html"]:
        url = live.url + "/" + page.removesuffix("index.html")
        assert requests.get(url, timeout=10).content == (build / page).read_bytes(), page
    assert '<a href="/pricing/">Plans</a>' in (build / "links" / "index.html").read_text()
    assets = ASSET.findall((build / "index.html").read_text())
    assert len(assets) == 2
    for asset in assets:  # the built bundles, served by runserver with DEBUG off
        served = requests.get(live.url + asset, timeout=10)
        assert served.content == (build / asset[1:]).read_bytes(), asset
    for path in ["/static/../../prototypes.py", "/static/%2e%2e/%2e%2e/prototypes.py"]:
        connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
        connection.request("GET", path)  # sent as is
        response = connection.getresponse()
        assert response.status == 404 and b"settings.configure" not in response.read()


def test_static_of_a_context_path_follows_each_page(site, prototypes):
    # In the layout every page shares, {% static %} of a quoted path renders once per build;
    # of a variable, for each page.
    base = site / "sitebuilder" / "templates" / "base.html"
    tags = "{% if asset %}<p>{% static asset %}</p>{% endif %}<p>{% static 'css/site.css' %}</p>"
    base.write_text(base.read_text().replace("{% block content %}", tags + "{% block content %}"))
    for name, asset in [("style", "css/site.css"), ("script", "vendor/jquery/jquery.min.js")]:
        (site / "pages" / f"{name}.html").write_text(
            f'{{% block context %}}{{"asset": "{asset}"}}{{% endblock %}}<h1>{name}</h1>'
        )
    prototypes("build", "style", "script")
    found = {
        name: re.findall(r"<p>(.*?)</p>", (site / "_build" / name / "index.html").read_text())
        for name in ["style", "script"]
    }
    assert re.fullmatch(r"/static/css/site\.[0-9a-f]{12}\.css", found["style"][0])
    assert re.fullmatch(r"/static/vendor/jquery/jquery\.min\.[0-9a-f]{12}\.js", found["script"][0])
    assert found["style"][1] == found["script"][1] == found["style"][0]


def test_output_option_and_refusing_foreign_folders(site, prototypes, tmp_path):
    target = tmp_path / "public" / "site"
    prototypes("build", "--output", str(target))
    assert pages_in(target) == sorted(BOOK_PAGES.values())
    assert not (site / "_build").exists()
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("precious")
    result = prototypes("build", "--output", str(foreign), check=False)
    assert result.returncode != 0 and "was not made by build" in result.stderr
    assert (foreign / "thesis.txt").read_text() == "precious"
    result = prototypes("build", "--output", str(foreign / "thesis.txt"), check=False)
    assert result.returncode != 0 and "is a file, not a folder" in result.stderr
    assert (foreign / "thesis.txt").read_text() == "precious"


@pytest.mark.parametrize("case", ["below a file", "name too long"])
def test_an_output_folder_that_cannot_be_made_is_a_clear_error(prototypes, tmp_path, case):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("precious")
    target = blocker / "site" if case == "below a file" else tmp_path / ("o" * 300)
    result = prototypes("build", "--output", str(target), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    reason = "File exists" if case == "below a file" else "File name too long"
    assert f"{blocker if case == 'below a file' else target}: {reason}" in result.stderr
    assert "Build failed." in result.stderr and blocker.read_text() == "precious"


def test_build_output_is_as_readable_as_any_new_folder(site, prototypes, tmp_path):
    prototypes("build")
    reference = tmp_path / "made-by-hand"
    reference.mkdir()  # the user's umask decides, not the temporary folder's 0700
    assert (site / "_build").stat().st_mode == reference.stat().st_mode


def test_the_404_page_links_are_checked_too(site, prototypes):
    template = site / "sitebuilder" / "templates" / "404.html"
    template.write_text(template.read_text().replace("{% url 'homepage' %}", "/home/"))
    result = prototypes("build", check=False)
    assert result.returncode != 0 and '404.html: broken link "/home/"' in result.stderr


def test_a_lost_static_folder_is_collected_again(site, prototypes):
    prototypes("build")
    shutil.rmtree(site / "_build" / "static")
    assert "4 pages rendered; static files collected" in prototypes("build").stdout
    assets = ASSET.findall((site / "_build" / "index.html").read_text())
    assert len(assets) == 2
    assert all((site / "_build" / asset.lstrip("/")).is_file() for asset in assets)


def test_progress_line_on_a_terminal(site):
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "prototypes.py", "build"], cwd=site, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the build closed its end
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    os.close(controller)
    text = output.decode()
    assert "\rRendering pages: 4/4" in text
    assert "Built _build: 4 pages rendered" in text


@pytest.mark.parametrize(
    "args",
    [
        ("index", "--output", "pages"),
        ("build", "--output", "pages"),
        ("pricing", "--output", "sitebuilder/templates"),
        ("--output", "sitebuilder/static"),
        ("--output", "sitebuilder/static/css/new"),
        ("--output", "pages/docs"),
        ("--output", "."),
        ("--force", "--output", "sitebuilder"),
    ],
)
def test_a_build_never_writes_into_the_sources(site, prototypes, snapshot, args):
    args = [arg for arg in args if arg != "build"]
    before = snapshot(site)
    result = prototypes("build", *args, check=False)
    assert result.returncode == 1
    assert "a source folder of the site; choose another --output" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(site) == before  # not a byte, not a modification time


def test_a_named_build_never_writes_into_a_foreign_folder(site, prototypes, tmp_path):
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "index.html").write_text("precious")
    result = prototypes("build", "index", "--output", str(foreign), check=False)
    assert result.returncode == 1 and "was not made by build" in result.stderr
    assert [p.name for p in foreign.iterdir()] == ["index.html"]
    assert (foreign / "index.html").read_text() == "precious"


def test_a_failed_named_build_on_a_clean_checkout_changes_nothing(site, prototypes):
    (site / "pages" / "broken.html").write_text("<p>{% bogus %}</p>")
    result = prototypes("build", "broken", check=False)
    assert result.returncode == 1 and "pages/broken.html, line 1" in result.stderr
    assert sorted(p.name for p in site.iterdir()) == [
        "observability.py",
        "pages",
        "prototypes.py",
        "sitebuilder",
    ]
    (site / "pages" / "broken.html").unlink()
    assert "1 page rendered" in prototypes("build", "pricing").stdout
    assert "4 pages: 3 rendered, 1 unchanged" in prototypes("build").stdout
    assert "4 pages rendered" in prototypes("build", "--force").stdout


def test_a_failed_named_build_with_a_new_layout_leaves_the_static_files(site, prototypes, snapshot):
    prototypes("build")
    before = snapshot(site / "_build")
    css = site / "sitebuilder" / "static" / "css" / "site.css"
    css.write_text(css.read_text() + "\n.brand-new { color: red; }\n")
    break_page(site, "pricing.html", "</div>", "{% bogus %}</div>")
    result = prototypes("build", "pricing", check=False)
    assert result.returncode == 1 and "pages/pricing.html" in result.stderr
    assert snapshot(site / "_build") == before
    break_page(site, "pricing.html", "{% bogus %}", "")
    assert "1 page rendered; static files collected" in prototypes("build", "pricing").stdout
    after = snapshot(site / "_build")
    assert {name for name in before if name not in after} == set()  # old pages keep theirs
    assert after["index.html"] == before["index.html"]
    pricing = (site / "_build" / "pricing" / "index.html").read_text()
    bundle = site / "_build" / ASSET.findall(pricing)[0].lstrip("/")
    assert ".brand-new{color:red}" in bundle.read_text()


def test_force_recovers_a_folder_build_made(site, prototypes):
    prototypes("build")
    shutil.rmtree(site / "_build" / "static")
    (site / "_build" / "index.html").unlink()
    (site / "._build.sitebuilder.json").write_text('{"version": 1, "pages": []}')
    assert "4 pages rendered" in prototypes("build", "--force").stdout
    assert pages_in(site / "_build") == sorted(BOOK_PAGES.values())


def test_a_user_folder_in_place_of_a_deleted_build_is_not_replaced(site, prototypes):
    prototypes("build")
    shutil.rmtree(site / "_build")
    (site / "_build").mkdir()
    (site / "_build" / "notes.txt").write_text("mine")
    result = prototypes("build", check=False)
    assert result.returncode == 1 and "was not made by build" in result.stderr
    assert [p.name for p in (site / "_build").iterdir()] == ["notes.txt"]
    assert "was not made by build" in prototypes("build", "--force", check=False).stderr
    assert (site / "_build" / "notes.txt").read_text() == "mine"


def test_the_build_state_is_not_published(site, prototypes):
    prototypes("build")
    published = [p.name for p in (site / "_build").rglob("*")]
    assert len(published) > 20 and not [name for name in published if "sitebuilder" in name]
    assert (site / "._build.sitebuilder.json").is_file()
    assert "0 rendered, 4 unchanged" in prototypes("build").stdout


def test_the_summary_counts_each_page_once(site, prototypes):
    prototypes("build")
    assert "Built _build: 1 page rendered;" in prototypes("build", "pricing", "pricing").stdout
    result = prototypes("build", "pricing", "pages/pricing.html", "login")
    assert "Built _build: 2 pages rendered;" in result.stdout


@pytest.mark.parametrize(
    ("name", "source", "key", "line"),
    [
        (
            "notes.html",
            '{% block context %}{\n"title": "Notes",\n"markdown": "<b>x</b>"\n}',
            "markdown",
            3,
        ),
        ("notes.html", '{% block context %}{"page": "x"}', "page", 1),
        ("notes.html", '\n\n{% block context %}\n{\n  "slug": "x"\n}\n', "slug", 5),
        ("notes.html", '{% block context %}{"body_id": "x"}', "body_id", 1),
        ("notes.md", "title: Notes\nmarkdown: x\n\n# Body\n", "markdown", 2),
        ("notes.md", "title: Notes\ndescription: d\nslug: x\n\n# Body\n", "slug", 3),
    ],
)
def test_reserved_context_names_are_refused(site, prototypes, name, source, key, line):
    if name.endswith(".html"):
        source += "{% endblock %}<p>Body</p>"
    (site / "pages" / name).write_text(source)
    result = prototypes("build", check=False)
    assert result.returncode == 1
    assert f"pages/{name}, line {line}: '{key}' is a name the layout sets" in result.stderr


def test_a_context_block_inside_a_tag_is_an_error(site, prototypes):
    (site / "pages" / "notes.html").write_text(
        '<p>Notes</p>\n{% if True %}\n{% block context %}{"title": "x"}{% endblock %}\n'
        "{% endif %}\n"
    )
    result = prototypes("build", check=False)
    assert result.returncode == 1
    assert "pages/notes.html, line 3: {% block context %} must be at the top level" in (
        result.stderr
    )


def test_unquoted_links_are_checked(site, prototypes):
    (site / "pages" / "plain.html").write_text(
        "<a href=/pricing/>ok</a> <a class=x href=../nowhere/>bad</a> <img src=/static/no.png>"
    )
    result = prototypes("build", check=False)
    assert result.returncode == 1
    assert 'pages/plain.html: broken link "/nowhere/"' in result.stderr
    assert 'pages/plain.html: broken link "/static/no.png"' in result.stderr
    assert '"/pricing/"' not in result.stderr


def test_links_no_file_can_have_are_reported_broken(site, prototypes):
    """A NUL (%00) or a name longer than the file system allows is a broken link, not a
    traceback."""
    long_name = "x" * 300
    (site / "pages" / "odd.html").write_text(
        f'<a href="/a%00b/">nul</a> <img src="/static/{long_name}.png">'
    )
    result = prototypes("build", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert 'pages/odd.html: broken link "/a\x00b/"' in result.stderr
    assert f'pages/odd.html: broken link "/static/{long_name}.png"' in result.stderr


def test_links_are_found_in_any_case_after_any_text(site, prototypes):
    """Attribute names in any case; values keep theirs, also after letters that lowercase to
    more than one character (İ)."""
    (site / "pages" / "shout.html").write_text(
        '<p>İstanbul İzmir</p><A HREF="/Nowhere/">x</A> <IMG class=x Src=/static/İ.png>'
        '<a data-href="/skipped/" href="/pricing/">'
    )
    result = prototypes("build", check=False)
    assert result.returncode == 1
    assert 'pages/shout.html: broken link "/Nowhere/"' in result.stderr
    assert 'pages/shout.html: broken link "/static/İ.png"' in result.stderr
    assert "skipped" not in result.stderr and '"/pricing/"' not in result.stderr


def test_non_ascii_page_names_are_percent_encoded_in_the_sitemap(site, prototypes, start):
    (site / "pages" / "café.html").write_text("<p>Menu</p>")
    prototypes("build", SITE_URL="https://example.com")
    sitemap = (site / "_build" / "sitemap.xml").read_text()
    assert "<loc>https://example.com/caf%C3%A9/</loc>" in sitemap
    assert "Menu" in (site / "_build" / "café" / "index.html").read_text()
    preview = start(Service([sys.executable, "prototypes.py", "preview", "127.0.0.1:{port}"], site))
    assert "<p>Menu</p>" in requests.get(preview.url + "/caf%C3%A9/", timeout=10).text


def test_a_folders_index_page_is_built_at_the_folders_url(site, prototypes, start):
    docs = site / "pages" / "docs"
    docs.mkdir()
    (docs / "index.html").write_text("<p>All the docs</p><a href=\"{% url 'page' 'docs' %}\">x</a>")
    (docs / "intro.md").write_text("# Intro\n\n[back](../)\n")
    prototypes("build")
    build = site / "_build"
    assert pages_in(build) == sorted(
        [*BOOK_PAGES.values(), "docs/index.html", "docs/intro/index.html"]
    )
    assert '<body id="docs">' in (build / "docs" / "index.html").read_text()
    assert "/docs/</loc>" in (build / "sitemap.xml").read_text()
    preview = start(Service([sys.executable, "prototypes.py", "preview", "127.0.0.1:{port}"], site))
    assert "<p>All the docs</p>" in requests.get(preview.url + "/docs/", timeout=10).text
    (site / "pages" / "docs.html").write_text("<p>Again</p>")
    result = prototypes("build", check=False)
    assert "pages/docs.html: pages/docs/index.html is the same page" in result.stderr


def test_the_books_load_webdesign_still_works(site, prototypes):
    (site / "pages" / "book.html").write_text("{% load webdesign %}<p>{% lorem 3 w %}</p>")
    prototypes("build")
    assert "<p>lorem ipsum dolor</p>" in (site / "_build" / "book" / "index.html").read_text()


def symlinked_pages(site, tmp_path):
    """pages/shared -> ../shared (inside the project), pages/outside and pages/leak.html
    (outside it), and a loop shared/again -> . ."""
    shared = site / "shared"
    shared.mkdir()
    (shared / "guide.html").write_text("<p>The guide</p>")
    (shared / "again").symlink_to(".")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.html").write_text("<p>SECRET-9a1</p>")
    (site / "pages" / "shared").symlink_to("../shared")
    (site / "pages" / "outside").symlink_to(outside)
    (site / "pages" / "leak.html").symlink_to(outside / "secret.html")


SYMLINKED = {"/shared/guide/": 200, "/outside/secret/": 404, "/leak/": 404}
SYMLINKED |= {"/shared/again/guide/": 404}


def test_symlinked_pages_inside_the_project_are_built(site, prototypes, tmp_path):
    symlinked_pages(site, tmp_path)
    prototypes("build")
    build = site / "_build"
    assert pages_in(build) == sorted([*BOOK_PAGES.values(), "shared/guide/index.html"])
    for path, status in SYMLINKED.items():
        assert (build / path.strip("/") / "index.html").is_file() == (status == 200), path


def test_symlinked_pages_live_agree_with_the_build(site, tmp_path, start):
    symlinked_pages(site, tmp_path)
    live = start(runserver("prototypes.py", site))
    for path, status in SYMLINKED.items():
        response = requests.get(live.url + path, timeout=10)
        assert response.status_code == status, path
        assert "SECRET-9a1" not in response.text


def preview_fails(site, address):
    """The error `preview ADDRESS` exits with: status 1, one line, no traceback."""
    result = subprocess.run(
        [sys.executable, "prototypes.py", "preview", address],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, address
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, address
    return result.stderr


def test_preview_refuses_a_busy_or_impossible_port(site, prototypes):
    prototypes("build")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert "Address already in use" in preview_fails(site, f"127.0.0.1:{port}")
    for address in ("70000", "127.0.0.1:0", "localhost:http", "²"):  # ²: a digit to isdigit()
        assert "is not an address:port or a port" in preview_fails(site, address)


def test_preview_lists_no_folders(site, prototypes, start):
    prototypes("build")
    preview = start(Service([sys.executable, "prototypes.py", "preview", "127.0.0.1:{port}"], site))
    for path in ["/static/", "/static/CACHE/", "/.sitebuilder.json"]:
        response = requests.get(preview.url + path, timeout=10)
        assert response.status_code == 404, path
        assert "Page not found" in response.text and "Directory listing" not in response.text
