"""Live reload: a page open in the browser follows every saved source by itself (runserver)."""

import sys

import pytest
import requests
from harness import Service, runserver


@pytest.fixture
def live(start, site):
    return start(runserver("prototypes.py", site))


def edit(site, name, old, new):
    path = site / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


# address opened: file saved, text replaced, by, the element that shows it, its new text
EDITS = {
    "/login/": ("pages/login.html", "Please sign in", "Welcome back", "h2", "Welcome back"),
    "/": ("sitebuilder/templates/base.html", "Prototypes</a>", "Inc.</a>", ".navbar-brand", "Inc."),
    "/pricing/": ("pages/pricing.html", '"Starter"', '"Solo"', ".panel-title", "Solo"),
}


@pytest.mark.browser
@pytest.mark.parametrize("address", EDITS, ids=["page", "template", "context-block"])
def test_the_open_page_reloads_itself_when_a_source_is_saved(page, live, site, address):
    from playwright.sync_api import expect

    name, old, new, selector, text = EDITS[address]
    page.goto(live.url + address)
    shown = page.locator(selector).first
    expect(shown).not_to_contain_text(text)
    edit(site, name, old, new)
    expect(shown).to_contain_text(text, timeout=2000)  # the test never reloads the page


@pytest.mark.browser
def test_the_open_page_reloads_itself_when_a_style_is_saved(page, live, site):
    from playwright.sync_api import expect

    page.goto(live.url + "/contact/")
    body = page.locator("body")
    expect(body).not_to_have_css("border-top-color", "rgb(1, 2, 3)")
    edit(site, "sitebuilder/static/css/site.css", "body {", "body { border-top: 7px solid #010203;")
    expect(body).to_have_css("border-top-color", "rgb(1, 2, 3)", timeout=2000)


def test_only_the_live_server_adds_the_reload_script(live, site, prototypes):
    assert "/__reload__/" in requests.get(live.url + "/pricing/", timeout=10).text
    prototypes("build")
    built = [path for path in (site / "_build").rglob("*") if path.is_file()]
    assert len(built) > 20
    assert not [path for path in built if b"__reload__" in path.read_bytes()]


def test_the_reload_endpoint_answers_a_new_fingerprint_on_a_save(live, site):
    version = requests.get(live.url + "/__reload__/", timeout=10).text
    assert requests.get(live.url + "/__reload__/?since=other", timeout=10).text == version
    (site / "pages" / "new.html").write_text("<p>New</p>")  # a new page is a change too
    assert requests.get(live.url + f"/__reload__/?since={version}", timeout=30).text != version


def test_without_threads_the_reload_endpoint_never_holds_up_the_server(start, site):
    command = [sys.executable, "prototypes.py", "runserver", "--noreload", "--nothreading"]
    live = start(Service([*command, "127.0.0.1:{port}"], site))
    version = requests.get(live.url + "/__reload__/", timeout=10).text
    # A waiting poll would keep this one-thread server from answering anything else.
    assert requests.get(live.url + f"/__reload__/?since={version}", timeout=10).text == version
    assert requests.get(live.url + "/pricing/", timeout=10).status_code == 200
