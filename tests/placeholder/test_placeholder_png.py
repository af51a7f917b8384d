"""placeholder writes its PNGs itself (issue 13): decoded by Pillow and by Chromium they must
be exactly the pictures Pillow's own encoder gave before, for every size, colour and text."""

import base64
import io
import struct
import sys
import zlib

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
    (30, 12),  # so low that the text band is the whole image
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


def old_palette(bg, fg):
    """The palette as placeholder computed it before (floats, rounded)."""
    return [round(b + (f - b) * i / 255) for i in range(256) for b, f in zip(bg, fg, strict=True)]


def pillow_png(width, height, bg, fg, text, face):
    """What placeholder sent before it wrote PNGs itself: Pillow's PNG of the same mask."""
    ink = placeholder.text_ink(text, width, height, face)
    image = placeholder.text_mask(width, height, ink)
    if bg[3] == fg[3] == 255:
        image.putpalette(old_palette(bg[:3], fg[:3]), "RGB")
    else:
        image.putpalette(old_palette(bg, fg), "RGBA")
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=placeholder.PNG_COMPRESS_LEVEL)
    return out.getvalue(), image


def ours(width, height, bg, fg, text, face):
    return placeholder.render_raster(width, height, "png", bg, fg, text, face)


def chunks(png):
    """[(kind, data)] of a PNG, each chunk's CRC checked."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        found.append((kind, data))
        at += 12 + length
    return found


def decode(png):
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def assert_same_picture(width, height, bg, fg, text, face):
    """Same chunks but IDAT, IDAT inflating (adler32 checked) to exactly the mask's scanlines
    with filter 0, and the same pixels, palette and transparency through Pillow's decoder."""
    theirs, mask = pillow_png(width, height, bg, fg, text, face)
    mine = ours(width, height, bg, fg, text, face)
    kinds = [kind for kind, _ in chunks(mine)]
    assert kinds[-2:] == [b"IDAT", b"IEND"]  # Pillow splits its IDAT, so compare the others
    assert chunks(mine)[:-2] == [c for c in chunks(theirs) if c[0] not in (b"IDAT", b"IEND")]
    inflater = zlib.decompressobj()
    raw = inflater.decompress(b"".join(data for kind, data in chunks(mine) if kind == b"IDAT"))
    assert inflater.eof and not inflater.unused_data
    rows = mask.tobytes()
    assert raw == b"".join(b"\0" + rows[y * width : (y + 1) * width] for y in range(height)), (
        "scanlines differ"
    )
    a, b = decode(mine), decode(theirs)
    assert (a.format, a.mode, a.size) == ("PNG", "P", (width, height))
    assert a.palette.tobytes() == b.palette.tobytes()
    assert a.info.get("transparency") == b.info.get("transparency")
    assert a.tobytes() == b.tobytes()
    assert a.convert("RGBA").tobytes() == b.convert("RGBA").tobytes()


@pytest.mark.parametrize("bg,fg", COLOURS)
@pytest.mark.parametrize("width,height", SIZES)
def test_png_is_the_picture_pillow_wrote(width, height, bg, fg):
    assert_same_picture(width, height, bg, fg, f"{width} X {height}", None)


@pytest.mark.parametrize("text,font", TEXTS)
@pytest.mark.parametrize("width,height", [(300, 200), (30, 12), (41, 640)])
def test_png_is_the_picture_pillow_wrote_for_any_text_and_font(width, height, text, font):
    text = text.format(w=width, h=height)
    face = placeholder.font_face(text, font, "regular")
    assert_same_picture(width, height, *COLOURS[3], text, face)


channel = st.integers(0, 255)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 700),
    height=st.integers(1, 700),
    bg=st.tuples(channel, channel, channel, channel),
    fg=st.tuples(channel, channel, channel, channel),
    text=st.text("aZ09 Xg|\n", max_size=12),
)
def test_png_is_the_picture_pillow_wrote_for_random_images(width, height, bg, fg, text):
    assert_same_picture(width, height, bg, fg, text, None)


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
def test_chromium_draws_the_served_png_as_pillows(browser, server, width, height, query, bg, fg):
    """The server's PNG and Pillow's PNG of the same picture, both drawn on a canvas."""
    theirs, _ = pillow_png(width, height, bg, fg, f"{width} X {height}", None)
    page = browser.new_page()
    try:
        page.goto(server.url + "/")  # the same origin as the image, so the canvas is readable
        served, pillows = page.evaluate(
            CANVAS_PIXELS,
            [
                f"/image/{width}x{height}.png{query}",
                "data:image/png;base64," + base64.b64encode(theirs).decode(),
            ],
        )
    finally:
        page.close()
    assert len(base64.b64decode(served)) == width * height * 4
    assert served == pillows
    if not query:  # opaque: the canvas holds the exact colours
        assert base64.b64decode(served) == decode(theirs).convert("RGBA").tobytes()
