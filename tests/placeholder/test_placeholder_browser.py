"""The SVG as a browser draws it: headless Chromium, compared with the server's PNG."""

import io
import sys
import time

import pytest
import requests
from harness import ROOT, Service, gunicorn
from PIL import Image, ImageChops

PLACEHOLDER = ROOT / "placeholder"
IMAGES = [
    (600, 200, ""),
    (300, 300, "text=Hello%0Aworld"),
    (800, 200, "text=Gr%C3%BC%C3%9Fe%20aus%20Django"),
    (400, 100, "text=WWWiii"),
]


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


def wait_for(page, expression, timeout=10):
    """Wait until a JavaScript expression is true on the page. Not page.wait_for_function:
    its polling evaluates strings with eval, which the home page's CSP refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)


def builder_state(page):
    """(shown URL, the preview's natural size once it has loaded, the error shown)."""
    wait_for(
        page,
        "(() => { const i = document.getElementById('builder-image');"
        " return i.complete && (i.naturalWidth > 0 ||"
        " document.getElementById('builder-error').textContent !== ''); })()",
    )
    url = page.text_content("#builder-url")
    size = page.evaluate(
        "() => { const i = document.getElementById('builder-image');"
        " return [i.naturalWidth, i.naturalHeight]; }"
    )
    return url, tuple(size), page.text_content("#builder-error")


@pytest.mark.browser
def test_url_builder_shows_the_url_and_the_image_as_you_type(browser, server):
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    types = {}
    page.on("response", lambda r: types.__setitem__(r.url, r.headers.get("content-type")))
    try:
        page.goto(server.url + "/")
        url, size, error = builder_state(page)
        assert url == f"{server.url}/image/640x16:9/?bg=rebeccapurple&fg=fff"
        assert (size, error) == ((640, 360), "")
        assert types[url] == "image/avif"  # negotiated: Chromium's Accept names AVIF first
        shot = Image.open(io.BytesIO(page.locator("#builder-image").screenshot()))
        corner = shot.convert("RGB").getpixel((2, 2))
        assert all(abs(a - b) <= 3 for a, b in zip(corner, (102, 51, 153), strict=True))

        page.fill("#builder [name=width]", "300")
        page.fill("#builder [name=height]", "")
        page.fill("#builder [name=text]", "Hi there")
        page.select_option("#builder [name=font]", "serif")
        page.check("#builder [name=bold]")
        page.select_option("#builder [name=format]", "gif")
        page.select_option("#builder [name=retina]", "2")
        wait_for(page, "document.getElementById('builder-image').naturalWidth === 600")
        url, size, error = builder_state(page)
        query = "bg=rebeccapurple&fg=fff&text=Hi%20there&font=serif&weight=bold"
        assert url == f"{server.url}/image/300@2x.gif?{query}"
        assert (size, error) == ((600, 600), "")
        assert page.get_attribute("#builder-link", "href") == url
        image = Image.open(io.BytesIO(requests.get(url, timeout=30).content))
        assert (image.format, image.size) == ("GIF", (600, 600))
        assert image.convert("RGB").getpixel((0, 0)) == (102, 51, 153)

        page.fill("#builder [name=width]", "3000")
        wait_for(page, "document.getElementById('builder-error').textContent !== ''")
        assert "width: Ensure this value is less than or equal to 2000" in page.text_content(
            "#builder-error"
        )
    finally:
        page.close()


# A page of another site that draws a placeholder into a canvas, reads its pixels, and
# fetches an image's bytes: what CORS allows only for public images.
FOREIGN_PAGE = """<!doctype html><canvas id="canvas" width="20" height="10"></canvas><script>
async function use(base) {
  const image = new Image();
  image.crossOrigin = "anonymous";
  image.src = base + "/image/20x10.png?bg=ff0000";
  await image.decode();
  const context = document.getElementById("canvas").getContext("2d");
  context.drawImage(image, 0, 0);
  const pixel = Array.from(context.getImageData(5, 5, 1, 1).data);
  const svg = await (await fetch(base + "/image/20x10.svg")).text();
  return {pixel, svg: svg.slice(0, 4)};
}
</script>"""


@pytest.mark.browser
def test_a_page_on_another_site_can_read_an_image_into_a_canvas_and_fetch_it(
    browser, server, tmp_path
):
    (tmp_path / "index.html").write_text(FOREIGN_PAGE)
    command = [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
    with Service(command, tmp_path) as site:
        page = browser.new_page()
        try:
            page.goto(site.url + "/index.html")
            used = page.evaluate("base => use(base)", server.url)
        finally:
            page.close()
    assert used == {"pixel": [255, 0, 0, 255], "svg": "<svg"}
