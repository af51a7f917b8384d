"""Take the READMEs' screenshots again: docs/board.png, docs/board-phone.png,
docs/placeholder.png and docs/sitebuilder.png.

Starts scrum + watercooler on seed_demo's data (tests/boardstack.Stack), placeholder under
gunicorn, and a fresh sitebuilder build served by its `preview` command, each on a free
127.0.0.1 port with databases, build and logs in one temporary folder; opens each page in
Debian's headless Chromium at 1280x800 (the sprint page also on a 390 px wide phone, by touch)
and saves it as a small palette PNG. Every process it
starts is stopped, whatever happens. Runs give the same pictures, except the board's dates,
which follow today's (seed_demo's sprint ends a week from now).

    .venv/bin/python docs/screenshots.py [--output DIR]    # default: docs/
"""

import argparse
import io
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests
from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from boardstack import Stack  # noqa: E402
from harness import Service, gunicorn, launch_chromium  # noqa: E402

VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
TIMEOUT_MS = 20000
PLACEHOLDER_SHOWN_AT = "127.0.0.1:8001"  # the README's address, in the page's example URLs
BUILT_PAGE = "pricing/"  # no lorem ipsum, no year: the same picture on every run
SHOTS = ["board.png", "board-phone.png", "placeholder.png", "sitebuilder.png"]


def new_page(browser, **device):
    """A page in a fresh context at VIEWPORT, or as the device says (PHONE)."""
    context = browser.new_context(**(device or {"viewport": VIEWPORT}))
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def save(png, path):
    """Write a screenshot as a 256-colour palette PNG (flat UI colours survive it)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


def open_sprint(browser, stack, **device):
    """A page logged in as the demo user, on the demo sprint, live."""
    sprints = stack.api.call("GET", "/api/sprints/")["results"]
    sprint = next(each for each in sprints if each["name"] == "Demo sprint")
    page = new_page(browser, **device)
    page.goto(f"{stack.scrum.url}/#sprint/{sprint['id']}")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("test")
    page.get_by_role("button", name="Login").click()
    page.locator("#live-status", has_text="Live").wait_for()
    page.locator(".burndown-chart").wait_for()
    return page


def shoot_board(browser, folder, path, phone_path):
    """The demo sprint with cards in every column and one task's details open; then the same
    sprint on a phone: one column at a time, its tabs above it."""
    stack = Stack(folder)
    try:
        stack.start()
        page = open_sprint(browser, stack)
        page.locator(".task-item", has_text="Burndown chart").click()
        page.locator(".task-detail").wait_for()
        save(page.screenshot(), path)
        page.context.close()
        page = open_sprint(browser, stack, **PHONE)
        page.locator(".task-item:visible").first.wait_for()
        save(page.screenshot(), phone_path)
        page.context.close()
    finally:
        stack.stop()


def shown_at(route, server):
    """Answer a request for PLACEHOLDER_SHOWN_AT from the real server, with that Host."""
    request = route.request
    url = request.url.replace(PLACEHOLDER_SHOWN_AT, server, 1)
    headers = {**request.headers, "host": PLACEHOLDER_SHOWN_AT}
    answer = requests.request(request.method, url, headers=headers, timeout=10)
    decoded = {"content-encoding", "content-length"}  # requests has already decoded the body
    kept = {k: v for k, v in answer.headers.items() if k.lower() not in decoded}
    route.fulfill(status=answer.status_code, headers=kept, body=answer.content)


def shoot_placeholder(browser, path):
    """placeholder's home page, as seen at the README's address (so its URLs read :8001)."""
    with gunicorn("placeholder", ROOT / "placeholder") as server:
        page = new_page(browser)
        server_at = server.url.removeprefix("http://")
        page.context.route(f"http://{PLACEHOLDER_SHOWN_AT}/**", lambda r: shown_at(r, server_at))
        page.goto(f"http://{PLACEHOLDER_SHOWN_AT}/", wait_until="networkidle")
        save(page.screenshot(), path)
        page.context.close()


def shoot_sitebuilder(browser, folder, path):
    """A page of a fresh build of the prototype, served the way a static host would."""
    site = folder / "site"
    build = [sys.executable, "prototypes.py", "build", "--output", site]
    subprocess.run(build, cwd=ROOT / "sitebuilder", check=True, capture_output=True)
    preview = [sys.executable, "prototypes.py", "preview", "--output", site, "127.0.0.1:{port}"]
    with Service(preview, ROOT / "sitebuilder") as server:
        page = new_page(browser)
        page.goto(f"{server.url}/{BUILT_PAGE}", wait_until="networkidle")
        save(page.screenshot(), path)
        page.context.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs", help="default: docs/")
    output = parser.parse_args().output
    output.mkdir(parents=True, exist_ok=True)
    with ExitStack() as running:
        folder = Path(running.enter_context(tempfile.TemporaryDirectory(prefix="screenshots-")))
        tempfile.tempdir = str(folder)  # harness.Service's logs go there too, and go with it
        running.callback(setattr, tempfile, "tempdir", None)
        browser = launch_chromium(running.enter_context(sync_playwright()))
        running.callback(browser.close)
        shoot_board(browser, folder, output / "board.png", output / "board-phone.png")
        shoot_placeholder(browser, output / "placeholder.png")
        shoot_sitebuilder(browser, folder, output / "sitebuilder.png")
    for name in SHOTS:
        print(f"{output / name}: {(output / name).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
