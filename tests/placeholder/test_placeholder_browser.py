"""The SVG as a browser draws it: headless Chromium, compared with the server's PNG."""

import io

import pytest
import requests
from harness import ROOT, gunicorn, require_program
from PIL import Image, ImageChops

PLACEHOLDER = ROOT / "placeholder"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
IMAGES = [
    (600, 200, ""),
    (300, 300, "text=Hello%0Aworld"),
    (800, 200, "text=Gr%C3%BC%C3%9Fe%20aus%20Django"),
    (400, 100, "text=WWWiii"),
]


@pytest.fixture(scope="module")
def browser():
    chromium = require_program("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server():
    service = gunicorn("placeholder", PLACEHOLDER).start()
    yield service
    service.stop()


def ink_width(image):
    """Width of everything that is not the black background."""
    rgb = image.convert("RGB")
    left, _, right, _ = ImageChops.difference(rgb, Image.new("RGB", rgb.size)).getbbox()
    return right - left


def svg_in_chromium(browser, url, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.set_content(f'<body style="margin:0"><img id="svg" src="{url}"></body>')
        page.wait_for_function("document.getElementById('svg').complete")
        shot = page.screenshot(clip={"x": 0, "y": 0, "width": width, "height": height})
    finally:
        page.close()
    return Image.open(io.BytesIO(shot))


@pytest.mark.browser
@pytest.mark.parametrize("width,height,query", IMAGES)
def test_svg_text_is_as_wide_as_the_png_text(browser, server, width, height, query):
    png = requests.get(f"{server.url}/image/{width}x{height}.png?{query}", timeout=30)
    drawn = svg_in_chromium(
        browser, f"{server.url}/image/{width}x{height}.svg?{query}", width, height
    )
    raster = Image.open(io.BytesIO(png.content))
    assert drawn.size == raster.size == (width, height)
    assert ink_width(drawn) == pytest.approx(ink_width(raster), rel=0.04)
