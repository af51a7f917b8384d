"""What users of the popular placeholder services take for granted (issue 12), through a real
gunicorn with every image decoded: square and ratio sizes, CSS colour names, bundled fonts and
weights, AVIF, and the format negotiated from the Accept header."""

import io
import sys
import xml.etree.ElementTree as ET

import pytest
import requests
from harness import ROOT, gunicorn
from PIL import Image, ImageChops

PLACEHOLDER = ROOT / "placeholder"
sys.path.insert(0, str(PLACEHOLDER))
import placeholder  # noqa: E402  (for the fonts' coverage only)

BROWSER = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"  # Chromium's <img>
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


@pytest.fixture(scope="module")
def server():
    service = gunicorn("placeholder", PLACEHOLDER, {"PLACEHOLDER_NEGOTIATE": "on"}).start()
    yield service
    service.stop()


def fetch(server, path, accept="*/*", **headers):
    return requests.get(server.url + path, headers={"Accept": accept, **headers}, timeout=60)


def decode(response):
    assert response.status_code == 200, response.text[:300]
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def ink(image, background=BLACK):
    """Bounding box of everything that is not the background."""
    rgb = image.convert("RGB")
    return ImageChops.difference(rgb, Image.new("RGB", rgb.size, background)).getbbox()


def close(actual, expected, tolerance):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def bad_request(server, path):
    """The reason of a 400, asserting it is the service's own plain one."""
    response = fetch(server, path)
    assert response.status_code == 400, path
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith("Invalid Image Request: ")
    assert "ETag" not in response.headers
    return response.text


@pytest.mark.parametrize(
    "path,size,pillow_format",
    [
        ("/image/300/", (300, 300), "PNG"),
        ("/image/300", (300, 300), "PNG"),
        ("/image/300.png", (300, 300), "PNG"),
        ("/image/300.jpg", (300, 300), "JPEG"),
        ("/image/300@2x/", (600, 600), "PNG"),
        ("/image/300@2x.gif", (600, 600), "GIF"),
        ("/image/1/", (1, 1), "PNG"),
    ],
)
def test_square_shorthand(server, path, size, pillow_format):
    image = decode(fetch(server, path))
    assert (image.format, image.size) == (pillow_format, size)
    assert image.convert("RGB").getpixel((0, 0)) == BLACK


def test_square_is_the_same_image_as_its_full_size(server):
    square, full = fetch(server, "/image/300/"), fetch(server, "/image/300x300/")
    assert square.headers["ETag"] == full.headers["ETag"]
    assert square.content == full.content


@pytest.mark.parametrize(
    "path,size",
    [
        ("/image/640x16:9/", (640, 360)),
        ("/image/16:9x360/", (640, 360)),
        ("/image/16:9x360.png", (640, 360)),
        ("/image/200x16:9/", (200, 113)),  # 112.5 rounds up
        ("/image/100x4:3@2x.png", (200, 150)),
        ("/image/1:1x250/", (250, 250)),
        ("/image/2000x1:1/", (2000, 2000)),
    ],
)
def test_aspect_ratio_sizes(server, path, size):
    image = decode(fetch(server, path))
    assert image.size == size
    left, top, right, bottom = ink(image)  # the default text, centred
    assert abs((left + right) / 2 - size[0] / 2) <= 1
    assert abs((top + bottom) / 2 - size[1] / 2) <= 1


def test_ratio_is_the_same_image_as_the_size_it_works_out_to(server):
    ratio, plain = fetch(server, "/image/640x16:9/"), fetch(server, "/image/640x360/")
    assert ratio.headers["ETag"] == plain.headers["ETag"]
    assert ratio.content == plain.content  # its default text is "640 X 360"


@pytest.mark.parametrize(
    "path,reason",
    [
        ("/image/16:9x16:9/", "one side must be a number of pixels"),
        ("/image/16:9/", "one side must be a number of pixels"),
        ("/image/640x0:9/", "whole numbers from 1"),
        ("/image/640x16:0/", "whole numbers from 1"),
        ("/image/2000x1:2/", "height: Ensure this value is less than or equal to 2000"),
        ("/image/1x1:10000/", "height: Ensure this value is less than or equal to 2000"),
        ("/image/1000x1:99999999999999999999999999/", "height: Ensure"),
        ("/image/1x99999999999999999999:1/", "height: Ensure this value is greater"),
        ("/image/2000x1:1@3x/", "4000 pixels"),
    ],
)
def test_bad_ratios_are_400s(server, path, reason):
    assert reason in bad_request(server, path)


@pytest.mark.parametrize(
    "path", ["/image/16:x9/", "/image/:9x100/", "/image/1:2:3x4/", "/image/x/"]
)
def test_malformed_ratio_paths_are_404(server, path):
    assert fetch(server, path).status_code == 404


@pytest.mark.parametrize(
    "query,background,text",
    [
        ("bg=rebeccapurple", (102, 51, 153), WHITE),
        ("bg=RebeccaPurple&fg=gold", (102, 51, 153), (255, 215, 0)),
        ("bg=navy&fg=f80", (0, 0, 128), (255, 136, 0)),
        ("bg=ff8800&fg=%23000080", (255, 136, 0), (0, 0, 128)),  # hex with and without #
        ("bg=white&fg=black", WHITE, BLACK),
    ],
)
def test_css_colour_names_and_hex(server, query, background, text):
    image = decode(fetch(server, f"/image/400x300.png?{query}")).convert("RGB")
    assert image.getpixel((0, 0)) == background
    assert image.getpixel((200, 150)) == text


def test_colour_name_is_the_same_image_as_its_hex(server):
    named = fetch(server, "/image/200x100/?bg=rebeccapurple&fg=white")
    hexed = fetch(server, "/image/200x100/?bg=663399&fg=fff")
    assert named.headers["ETag"] == hexed.headers["ETag"]
    assert named.content == hexed.content


def test_transparent_is_a_colour_name(server):
    image = decode(fetch(server, "/image/400x300.png?bg=transparent&fg=red")).convert("RGBA")
    assert image.getpixel((0, 0))[3] == 0
    assert image.getpixel((200, 150)) == (255, 0, 0, 255)
    assert "transparency" in bad_request(server, "/image/40x30.jpg?bg=transparent")


def test_unknown_colour_name_lists_the_accepted_names(server):
    reason = bad_request(server, "/image/100x100/?fg=reddish")
    assert reason.startswith("Invalid Image Request: fg: unknown colour 'reddish'")
    names = reason.split("CSS colour name: ", 1)[1].split(", ")
    assert len(names) == 149  # the 148 CSS names and transparent
    assert {"rebeccapurple", "aliceblue", "transparent", "yellowgreen"} <= set(names)
    assert names == sorted(names)


def test_hex_like_colour_keeps_the_short_hex_reason(server):
    reason = bad_request(server, "/image/100x100/?bg=%2312345")
    assert "bg: a colour is 3, 4, 6 or 8 hex digits" in reason
    assert len(reason) < 200


FONTS = ["default", "sans", "serif", "mono", "cjk"]


def text_pixels(server, query):
    return decode(fetch(server, f"/image/400x200.png?text=Rag%20Qy&{query}")).tobytes()


def test_every_font_draws_differently(server):
    drawn = {font: text_pixels(server, f"font={font}") for font in FONTS}
    assert len(set(drawn.values())) == len(FONTS)
    assert drawn["default"] == text_pixels(server, "")  # font=default is the book's font


@pytest.mark.parametrize("font", ["sans", "serif", "mono"])
def test_bold_has_more_ink_than_regular(server, font):
    def ink_pixels(weight):
        path = f"/image/600x200.png?text=Hamburg&font={font}&weight={weight}"
        image = decode(fetch(server, path)).convert("L")
        return sum(count for count, value in image.getcolors() if value > 128)

    assert ink_pixels("bold") > 1.15 * ink_pixels("regular")


def test_weight_regular_is_the_same_image_as_no_weight(server):
    plain = fetch(server, "/image/300x100/?font=serif")
    regular = fetch(server, "/image/300x100/?font=serif&weight=regular")
    assert plain.headers["ETag"] == regular.headers["ETag"]


CJK = "%E4%BD%A0%E5%A5%BD%20%E3%81%93%E3%82%93%E3%81%AB%E3%81%A1%E3%81%AF%20%ED%95%9C%EA%B5%AD"


def test_cjk_text_is_drawn_by_the_cjk_font(server):
    """Chinese, Japanese and Korean (with Latin) in font=cjk, and in the default font too,
    which falls back to it: the same pixels, drawn (not boxes: two texts differ)."""
    chosen = decode(fetch(server, f"/image/600x200.png?font=cjk&text={CJK}%20ABC"))
    fallback = decode(fetch(server, f"/image/600x200.png?text={CJK}%20ABC"))
    assert chosen.tobytes() == fallback.tobytes()
    left, top, right, bottom = ink(chosen)
    assert right - left > 300
    other = decode(fetch(server, "/image/600x200.png?font=cjk&text=%E4%B8%AD%E6%96%87"))
    assert (
        other.tobytes()
        != decode(fetch(server, "/image/600x200.png?font=cjk&text=%E4%BD%A0%E5%A5%BD")).tobytes()
    )


def missing_from(font, other="sans"):
    """A character the sans font draws and ``font`` does not (its cmap, read by fontTools)."""
    sans = placeholder.COVERAGE[(other, "regular")]
    return min(c for c in sans - placeholder.COVERAGE[(font, "regular")] if c.isprintable())


@pytest.mark.parametrize("font", ["serif", "mono", "cjk"])
def test_glyph_coverage_is_checked_per_font(server, font):
    character = missing_from(font)
    encoded = requests.utils.quote(character)
    reason = bad_request(server, f"/image/200x100/?font={font}&text={encoded}")
    assert f"font={font} can draw U+{ord(character):04X}" in reason
    assert fetch(server, f"/image/200x100/?font=sans&text={encoded}").status_code == 200


@pytest.mark.parametrize(
    "query,reason",
    [
        ("font=comic", "font: unknown font; use one of default, sans, serif, mono, cjk"),
        ("weight=light&font=sans", "weight: unknown weight; use regular or bold"),
        ("weight=bold", "the default font has only regular"),
        ("font=cjk&weight=bold", "font=cjk has only regular"),
        ("text=%E0%A4%85", "no bundled font can draw U+0905"),
        ("text=%C9%90%E4%B8%AD", "no bundled font draws all of this text"),  # IPA and CJK
    ],
)
def test_font_errors(server, query, reason):
    assert reason in bad_request(server, f"/image/200x100/?{query}")


def test_svg_names_the_font_family_and_weight(server):
    response = fetch(server, "/image/300x100.svg?font=serif&weight=bold&text=Hi")
    text = ET.fromstring(response.content).find("{http://www.w3.org/2000/svg}text")
    assert text.get("font-family").startswith("DejaVu Serif")
    assert text.get("font-weight") == "bold"
    mono = ET.fromstring(fetch(server, "/image/300x100.svg?font=mono").content)
    assert (
        mono.find("{http://www.w3.org/2000/svg}text")
        .get("font-family")
        .startswith("DejaVu Sans Mono")
    )


@pytest.mark.parametrize(
    "path", ["/image/300x200.avif", "/image/300x200/?format=avif", "/image/300x200/?format=AVIF"]
)
def test_avif(server, path):
    response = fetch(server, path + ("&" if "?" in path else "?") + "bg=1e6f9f&fg=ffd54a")
    assert response.headers["Content-Type"] == "image/avif"
    assert "Vary" not in response.headers  # the URL names its format
    image = decode(response)
    assert (image.format, image.size) == ("AVIF", (300, 200))
    rgb = image.convert("RGB")
    assert close(rgb.getpixel((0, 0)), (0x1E, 0x6F, 0x9F), 3)  # lossy, flat areas within 3
    assert close(rgb.getpixel((150, 100)), (0xFF, 0xD5, 0x4A), 12)


def test_avif_with_alpha_and_retina(server):
    image = decode(fetch(server, "/image/200x100@2x.avif?bg=transparent&fg=0f0"))
    assert image.size == (400, 200)
    rgba = image.convert("RGBA")
    assert rgba.getpixel((0, 0))[3] == 0
    assert close(rgba.getpixel((200, 100)), (0, 255, 0, 255), 8)


def test_avif_size_is_bounded_like_webp(server):
    assert decode(fetch(server, "/image/2000x2000.avif")).size == (2000, 2000)
    assert "avif is at most 4000000 pixels" in bad_request(server, "/image/2000x2000@2x.avif")


@pytest.mark.parametrize(
    "accept,content_type",
    [
        (BROWSER, "image/avif"),
        ("image/webp,*/*", "image/webp"),
        ("image/webp, image/avif", "image/avif"),  # AVIF first whatever the order
        ("image/avif;q=0, image/webp", "image/webp"),  # q=0 refuses it
        ("IMAGE/AVIF", "image/avif"),
        ("*/*", "image/png"),
        ("image/*", "image/png"),
        ("image/png", "image/png"),
        ("text/html", "image/png"),
        ("garbage;;;, ,", "image/png"),
        (None, "image/png"),
    ],
)
def test_format_is_negotiated_only_for_explicit_types(server, accept, content_type):
    session = requests.Session()
    del session.headers["Accept"]
    headers = {"Accept": accept} if accept is not None else {}
    response = session.get(server.url + "/image/240x120/?bg=navy", headers=headers, timeout=60)
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Vary"] == "Accept"
    image = decode(response)
    assert image.size == (240, 120)
    assert close(image.convert("RGB").getpixel((0, 0)), (0, 0, 128), 3)


def test_negotiated_formats_have_their_own_etag_cache_entry_and_304(server):
    path = "/image/250x125/?text=negotiate%20me"
    png, avif = fetch(server, path), fetch(server, path, BROWSER)
    assert (png.headers["X-Cache"], avif.headers["X-Cache"]) == ("MISS", "MISS")
    assert png.headers["ETag"] != avif.headers["ETag"]
    assert (
        avif.headers["ETag"]
        == fetch(server, "/image/250x125.avif?text=negotiate%20me").headers["ETag"]
    )
    assert fetch(server, path, BROWSER).headers["X-Cache"] == "HIT"
    revalidated = fetch(server, path, BROWSER, **{"If-None-Match": avif.headers["ETag"]})
    assert revalidated.status_code == 304
    assert revalidated.headers["Vary"] == "Accept"
    stale = fetch(server, path, BROWSER, **{"If-None-Match": png.headers["ETag"]})
    assert stale.status_code == 200  # the PNG's ETag does not validate the AVIF
    assert decode(stale).format == "AVIF"


def test_negotiation_falls_back_to_png_beyond_the_avif_and_webp_limit(server):
    response = fetch(server, "/image/2000x1500@2x/?text=", BROWSER)
    assert response.headers["Content-Type"] == "image/png"
    assert decode(response).size == (4000, 3000)


@pytest.mark.parametrize(
    "path", ["/image/240x120.png", "/image/240x120/?format=png", "/image/240x120.webp"]
)
def test_urls_naming_a_format_do_not_vary(server, path):
    response = fetch(server, path, BROWSER)
    assert "Vary" not in response.headers
    assert response.headers["Content-Type"] != "image/avif"


def test_negotiation_can_be_turned_off(start):
    service = start(gunicorn("placeholder", PLACEHOLDER, {"PLACEHOLDER_NEGOTIATE": "off"}))
    response = fetch(service, "/image/240x120/", BROWSER)
    assert response.headers["Content-Type"] == "image/png"
    assert "Vary" not in response.headers
    assert decode(response).size == (240, 120)
    assert decode(fetch(service, "/image/240x120.avif")).format == "AVIF"  # still by name


def test_home_page_shows_every_feature(server):
    page = fetch(server, "/", "text/html").text
    for example in [
        "/image/100/",
        "/image/200x16:9/",
        "bg=rebeccapurple",
        "font=serif",
        "font=mono",
        "font=sans",
        "weight=bold",
        "font=cjk",
        "/image/200x100.avif",
    ]:
        assert f"{server.url}{example}" in page or example in page, example
    for font in FONTS:
        assert f"<option>{font}</option>" in page
    assert "<option>avif</option>" in page
    assert '<script src="/static/builder.js" defer></script>' in page
    assert "<script>" not in page  # no inline script
    script = requests.get(server.url + "/static/builder.js", timeout=10)
    assert script.status_code == 200
    assert "javascript" in script.headers["Content-Type"]
    assert "http" not in script.text  # no external asset


def test_home_page_examples_are_the_size_they_say(server):
    """Each example <img> (as a browser asks for it) decodes to its width and height."""
    page = fetch(server, "/", "text/html").text
    examples = page.split('<img src="')[2:]  # after the book's example
    assert len(examples) == len(placeholder.HOME_OPTIONS)
    for example in examples:
        url = example.split('"', 1)[0].replace("&amp;", "&")
        width = int(example.split('width="', 1)[1].split('"', 1)[0])
        height = int(example.split('height="', 1)[1].split('"', 1)[0])
        response = fetch(server, url.removeprefix(server.url), BROWSER)
        if response.headers["Content-Type"] == "image/svg+xml":
            assert ET.fromstring(response.content).get("width") == str(width)
        else:
            scale = 2 if "@2x" in url else 1
            assert decode(response).size == (width * scale, height * scale), url
