"""Every PNG is the exact picture asked for: decoded by Pillow and by Chromium, each pixel is
the background and text colours blended by the text's ink, for every size, colour and text."""

import base64
import io
import sys

import pytest
from harness import ROOT, gunicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

PLACEHOLDER = ROOT / "placeholder"
sys.path.insert(0, str(PLACEHOLDER))
import placeholder  # noqa: E402

OPAQUE = ((0, 0, 0, 255), (255, 255, 255, 255))
COLOURS = [
    OPAQUE,
    ((30, 111, 159, 255), (255, 213, 74, 255)),
    ((255, 0, 0, 64), (0, 0, 255, 255)),  # translucent background
    ((0, 0, 0, 0), (12, 200, 7, 128)),  # transparent background, translucent text
    ((30, 111, 159, 255), (255, 213, 74, 0)),  # transparent text
]
SIZES = [
    (1, 1),
    (7, 3),
    (13, 5),
    (50, 50),
    (200, 100),
    (333, 77),  # widths that are no multiple of 8
    (30, 12),  # so low that the text covers every row
    (999, 17),
    (9, 1000),
    (2000, 1),
    (1, 2000),
    (640, 480),
    (2000, 2000),
    (4000, 4000),  # 2000x2000@2x, the largest
]
TEXTS = [("{w} X {h}", "default"), ("", "default"), ("Grüße\naus Django", "serif")]
TEXTS += [("g|ÅjÉ", "mono"), ("你好", "cjk"), ("  ", "sans")]


def expected_picture(width, height, bg, fg, text, face):
    """The RGBA picture, worked out apart from the encoder: each channel of each pixel is the
    rounded linear blend from bg (no ink) to fg (full ink)."""
    ink = placeholder.text_mask(width, height, placeholder.text_ink(text, width, height, face))
    channels = [
        ink.point([(255 * b + (f - b) * value + 127) // 255 for value in range(256)])
        for b, f in zip(bg, fg, strict=True)
    ]
    return Image.merge("RGBA", channels)


def decode(png):
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def assert_exact_picture(width, height, bg, fg, text, face):
    """A palette PNG (with alpha only when a colour is translucent) of exactly the picture."""
    png = placeholder.render_raster(width, height, "png", bg, fg, text, face)
    image = decode(png)
    assert (image.format, image.mode, image.size) == ("PNG", "P", (width, height))
    assert ("transparency" in image.info) == (min(bg[3], fg[3]) < 255)
    expected = expected_picture(width, height, bg, fg, text, face)
    assert image.convert("RGBA").tobytes() == expected.tobytes()


@pytest.mark.parametrize("bg,fg", COLOURS)
@pytest.mark.parametrize("width,height", SIZES)
def test_png_is_the_exact_picture(width, height, bg, fg):
    assert_exact_picture(width, height, bg, fg, f"{width} X {height}", None)


@pytest.mark.parametrize("text,font", TEXTS)
@pytest.mark.parametrize("width,height", [(300, 200), (30, 12), (41, 640)])
def test_png_is_the_exact_picture_for_any_text_and_font(width, height, text, font):
    text = text.format(w=width, h=height)
    face = placeholder.font_face(text, font, "regular")
    assert_exact_picture(width, height, *COLOURS[3], text, face)


channel = st.integers(0, 255)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 700),
    height=st.integers(1, 700),
    bg=st.tuples(channel, channel, channel, channel),
    fg=st.tuples(channel, channel, channel, channel),
    text=st.text("aZ09 Xg|\n", max_size=12),
)
def test_png_is_the_exact_picture_for_random_images(width, height, bg, fg, text):
    assert_exact_picture(width, height, bg, fg, text, None)


@pytest.fixture(scope="module")
def server():
    service = gunicorn("placeholder", PLACEHOLDER).start()
    yield service
    service.stop()


CANVAS_PIXELS = """async (sources) => {
  const pixels = [];
  for (const source of sources) {
    const image = new Image();
    image.src = source;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let text = "";
    for (let at = 0; at < data.length; at += 0x8000)
      text += String.fromCharCode.apply(null, data.subarray(at, at + 0x8000));
    pixels.push(btoa(text));
  }
  return pixels;
}"""


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1, 1), (13, 5), (333, 77), (640, 480)])
@pytest.mark.parametrize("query,bg,fg", [("", *OPAQUE), ("?bg=ff000040&fg=00f", *COLOURS[2])])
def test_chromium_draws_the_served_png_as_the_exact_picture(
    browser, server, width, height, query, bg, fg
):
    """The served palette PNG and a truecolour RGBA PNG of the expected picture, both drawn on
    a canvas (whose premultiplied alpha rounds translucent pixels alike)."""
    expected = expected_picture(width, height, bg, fg, f"{width} X {height}", None)
    reference = io.BytesIO()
    expected.save(reference, "PNG")
    page = browser.new_page()
    try:
        page.goto(server.url + "/")  # the same origin as the image, so the canvas is readable
        served, truecolour = page.evaluate(
            CANVAS_PIXELS,
            [
                f"/image/{width}x{height}.png{query}",
                "data:image/png;base64," + base64.b64encode(reference.getvalue()).decode(),
            ],
        )
    finally:
        page.close()
    assert len(base64.b64decode(served)) == width * height * 4
    assert served == truecolour
    if not query:  # opaque: the canvas holds the exact colours
        assert base64.b64decode(served) == expected.tobytes()
