"""Images from a real gunicorn, decoded back with Pillow: sizes, formats, colours, text, errors,
ETags, 304s and cache headers."""

import io
import xml.etree.ElementTree as ET

import pytest
import requests
from harness import ROOT, gunicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

PLACEHOLDER = ROOT / "placeholder"
YEAR = "public, max-age=31536000, immutable"
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


@pytest.fixture(scope="module")
def server():
    service = gunicorn("placeholder", PLACEHOLDER).start()
    yield service
    service.stop()


def fetch(server, path, **kwargs):
    return requests.get(server.url + path, timeout=30, **kwargs)


def decode(response):
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def ink_box(image, background):
    """Bounding box of every pixel that is not the background colour."""
    rgb = image.convert("RGB")
    return ImageChops.difference(rgb, Image.new("RGB", rgb.size, background)).getbbox()


@pytest.mark.parametrize("width,height", [(200, 100), (2000, 2000), (1, 1), (37, 999), (640, 480)])
def test_book_url_is_a_black_png_of_exactly_that_size(server, width, height):
    response = fetch(server, f"/image/{width}x{height}/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    image = decode(response)
    assert image.format == "PNG"
    assert image.size == (width, height)
    assert image.convert("RGB").getpixel((0, 0)) == BLACK
    assert image.convert("RGB").getpixel((width - 1, height - 1)) == BLACK


@pytest.mark.parametrize("width,height", [(200, 100), (640, 480), (2000, 2000)])
def test_white_text_is_centred(server, width, height):
    image = decode(fetch(server, f"/image/{width}x{height}/")).convert("RGB")
    assert image.getpixel((width // 2, height // 2)) == WHITE  # the crossing of the "X"
    left, top, right, bottom = ink_box(image, BLACK)
    assert abs((left + right) / 2 - width / 2) <= 1
    assert abs((top + bottom) / 2 - height / 2) <= 1
    assert WHITE in {colour for _, colour in image.getcolors(256)}


def test_text_scales_with_the_image(server):
    small = ink_box(decode(fetch(server, "/image/200x200/?text=Hi")), BLACK)
    large = ink_box(decode(fetch(server, "/image/2000x2000/?text=Hi")), BLACK)
    small_height, large_height = small[3] - small[1], large[3] - large[1]
    assert small_height >= 20  # the book's 10-pixel bitmap font would be about 11 high
    assert 8 <= large_height / small_height <= 12


def test_text_is_left_out_when_it_does_not_fit(server):
    image = decode(fetch(server, "/image/8x8/"))
    assert image.convert("RGB").getcolors() == [(64, BLACK)]


FORMATS = [
    ("png", "image/png", "PNG"),
    ("jpeg", "image/jpeg", "JPEG"),
    ("jpg", "image/jpeg", "JPEG"),
    ("gif", "image/gif", "GIF"),
    ("webp", "image/webp", "WEBP"),
]


@pytest.mark.parametrize("name,content_type,pillow_format", FORMATS)
@pytest.mark.parametrize("how", ["extension", "parameter"])
def test_raster_formats(server, name, content_type, pillow_format, how):
    path = f"/image/300x200.{name}" if how == "extension" else f"/image/300x200/?format={name}"
    response = fetch(server, path + ("&" if "?" in path else "?") + "bg=1e6f9f&fg=ffd54a")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    image = decode(response)
    assert image.format == pillow_format
    assert image.size == (300, 200)
    rgb = image.convert("RGB")
    # JPEG is lossy: flat areas stay within 2, text edges ring more; the others are exact
    corner, text = (2, 10) if pillow_format == "JPEG" else (0, 0)
    assert close(rgb.getpixel((0, 0)), (0x1E, 0x6F, 0x9F), corner)
    assert close(rgb.getpixel((150, 100)), (0xFF, 0xD5, 0x4A), text)


def close(actual, expected, tolerance):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_svg(server):
    response = fetch(server, "/image/300x200.svg?bg=f80&fg=00000080&text=a%3Cb%20%26%20c")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    svg = ET.fromstring(response.content)  # well-formed: the text is escaped
    assert svg.get("width") == "300" and svg.get("height") == "200"
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert svg.find("svg:rect", ns).get("fill") == "#ff8800"
    text = svg.find("svg:text", ns)
    assert text.get("fill") == "#000000" and float(text.get("fill-opacity")) == pytest.approx(
        0.5, abs=0.01
    )
    assert "".join(text.itertext()) == "a<b & c"


@pytest.mark.parametrize(
    "query,background,text",
    [
        ("bg=f80&fg=00f", (255, 136, 0), (0, 0, 255)),
        ("bg=%23FF8800&fg=%230000FF", (255, 136, 0), (0, 0, 255)),
        ("bg=123456", (0x12, 0x34, 0x56), WHITE),
        ("fg=c0ffee", BLACK, (0xC0, 0xFF, 0xEE)),
    ],
)
def test_colours(server, query, background, text):
    image = decode(fetch(server, f"/image/400x300/?{query}")).convert("RGB")
    assert image.getpixel((0, 0)) == background
    assert image.getpixel((200, 150)) == text


def test_png_with_alpha(server):
    image = decode(fetch(server, "/image/400x300.png?bg=ff000040&fg=0000ff")).convert("RGBA")
    assert image.getpixel((0, 0)) == (255, 0, 0, 0x40)
    assert image.getpixel((200, 150)) == (0, 0, 255, 255)


def test_webp_with_alpha(server):
    image = decode(fetch(server, "/image/400x300.webp?bg=0000&fg=0f0")).convert("RGBA")
    assert image.getpixel((0, 0))[3] == 0
    assert image.getpixel((200, 150)) == (0, 255, 0, 255)


def test_gif_with_transparent_background(server):
    image = decode(fetch(server, "/image/400x300.gif?bg=ffffff00&fg=000"))
    assert image.info["transparency"] == image.getpixel((0, 0))
    assert image.convert("RGB").getpixel((200, 150)) == BLACK


def test_custom_utf8_text(server):
    default = fetch(server, "/image/400x300/")
    custom = fetch(server, "/image/400x300/?text=Gr%C3%BC%C3%9Fe%0Azwei%20Zeilen")
    assert custom.status_code == 200
    assert custom.content != default.content
    assert custom.headers["ETag"] != default.headers["ETag"]
    left, top, right, bottom = ink_box(decode(custom), BLACK)
    assert bottom - top > 60  # two lines


@pytest.mark.parametrize(
    "pair", [("%C3%BC", "%C3%B6"), ("%CE%B1", "%D0%B6"), ("%C3%9F", "%E2%82%AC")]
)
def test_non_ascii_text_has_real_glyphs(server, pair):
    """ü and ö (α and ж, ß and €) differ: a font without them would draw the same box."""
    first, second = (fetch(server, f"/image/200x200/?text={text}") for text in pair)
    assert first.status_code == second.status_code == 200
    assert decode(first).tobytes() != decode(second).tobytes()


def test_empty_text_gives_a_plain_image(server):
    image = decode(fetch(server, "/image/400x300/?text=&bg=abc")).convert("RGB")
    assert image.getcolors() == [(400 * 300, (0xAA, 0xBB, 0xCC))]


@pytest.mark.parametrize("factor", [2, 3])
def test_retina(server, factor):
    plain = decode(fetch(server, "/image/300x100.png"))
    retina = decode(fetch(server, f"/image/300x100@{factor}x.png"))
    assert retina.size == (300 * factor, 100 * factor)
    plain_box, retina_box = ink_box(plain, BLACK), ink_box(retina, BLACK)
    plain_height, retina_height = plain_box[3] - plain_box[1], retina_box[3] - retina_box[1]
    assert retina_height == pytest.approx(plain_height * factor, rel=0.15)


def test_retina_without_extension(server):
    assert decode(fetch(server, "/image/30x10@2x/")).size == (60, 20)


@pytest.mark.parametrize(
    "path,reason",
    [
        ("/image/0x100/", "width"),
        ("/image/100x0/", "height"),
        ("/image/2001x100/", "width"),
        ("/image/100x2001/", "height"),
        ("/image/99999999999999999999999x1/", "width"),
        ("/image/100x100/?bg=1234567", "bg: a colour is 3, 4, 6 or 8 hex digits"),
        ("/image/100x100/?fg=12345", "fg"),
        ("/image/100x100.bmp", "unknown format"),
        ("/image/100x100/?format=tiff", "unknown format"),
        ("/image/100x100.png?format=gif", "different formats"),
        ("/image/100x100/?text=" + "x" * 101, "text"),
        ("/image/100x100/?text=%00", "text"),
        ("/image/100x100/?text=%1B%5B31m", "printable"),
        ("/image/100x100@0x/", "retina"),
        ("/image/100x100@4x/", "retina"),
        ("/image/100x100@1000000x.png", "retina"),
        ("/image/2000x2000@3x/", "4000 pixels"),
        ("/image/100x100.jpg?bg=0008", "transparency"),
        ("/image/100x100.gif?bg=00000080", "all or nothing"),
        ("/image/2000x2000@2x.webp", "webp is at most 4000000 pixels"),
        ("/image/1000x1001@2x.webp", "webp is at most 4000000 pixels"),
        ("/image/100x100/?text=%E0%A4%85", "no bundled font can draw U+0905"),
        ("/image/100x100/?text=%E4%B8%AD&font=serif", "font=serif can draw U+4E2D"),
        ("/image/100x100/?text=%FF", "not valid UTF-8"),
        ("/image/100x100/?text=ok&bg=%C3%28", "not valid UTF-8"),
    ],
)
def test_malformed_requests_are_short_plain_400s(server, path, reason):
    response = fetch(server, path)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith("Invalid Image Request")
    assert reason in response.text
    assert len(response.text) < 200
    assert "Cache-Control" not in response.headers
    assert "ETag" not in response.headers


@pytest.mark.parametrize(
    "path",
    ["/image/axb/", "/image/100x/", "/image/-1x10/", "/image/10x10/extra/", "/image/", "/nope"],
)
def test_paths_that_are_not_digits_x_digits_are_404(server, path):
    assert fetch(server, path).status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/image/10x10/", "/"])
def test_other_methods_are_405(server, method, path):
    response = requests.request(method, server.url + path, timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"


def test_cache_headers_and_304(server):
    first = fetch(server, "/image/123x45/")
    assert first.headers["Cache-Control"] == YEAR
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = fetch(server, "/image/123x45/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == YEAR
    other = fetch(server, "/image/123x45/", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.content == first.content


@pytest.mark.parametrize(
    "header,value,status",
    [
        ("If-Match", "ETAG", 200),
        ("If-Match", '"something-else"', 412),
        ("If-None-Match", "*", 304),
        ("If-None-Match", 'W/"x", ETAG', 304),  # a list, and weak comparison
        ("If-Modified-Since", "Tue, 01 Dec 2026 00:00:00 GMT", 200),  # no Last-Modified
        ("If-Unmodified-Since", "Tue, 01 Dec 2026 00:00:00 GMT", 412),
    ],
)
def test_every_conditional_header_is_answered(server, header, value, status):
    """Images answer If-Match, If-None-Match and the date conditions as Django's
    get_conditional_response() does for a resource with an ETag and no Last-Modified."""
    etag = fetch(server, "/image/124x45/").headers["ETag"]
    response = fetch(server, "/image/124x45/", headers={header: value.replace("ETAG", etag)})
    assert response.status_code == status
    assert response.headers["ETag"] == etag
    assert (response.content != b"") == (status == 200)


@pytest.mark.parametrize(
    "precondition",
    [{"If-Match": '"something-else"'}, {"If-Unmodified-Since": "Tue, 01 Dec 2026 00:00:00 GMT"}],
)
def test_a_failed_precondition_wins_over_a_matching_etag(server, precondition):
    etag = fetch(server, "/image/125x45/").headers["ETag"]
    response = fetch(server, "/image/125x45/", headers={"If-None-Match": etag, **precondition})
    assert response.status_code == 412


def test_a_conditional_request_for_an_invalid_image_is_400(server):
    headers = {"If-Modified-Since": "Tue, 01 Dec 2026 00:00:00 GMT"}
    response = fetch(server, "/image/0x45/", headers=headers)
    assert response.status_code == 400
    assert "ETag" not in response.headers


def test_second_request_is_served_from_the_cache(server):
    path = "/image/321x54/?text=cache%20me"
    assert fetch(server, path).headers["X-Cache"] == "MISS"
    assert fetch(server, path).headers["X-Cache"] == "HIT"


def test_etag_covers_every_parameter(server):
    variants = [
        "/image/200x100/",
        "/image/201x100/",
        "/image/200x101/",
        "/image/200x100@2x/",
        "/image/200x100.gif",
        "/image/200x100/?bg=111",
        "/image/200x100/?fg=eee",
        "/image/200x100/?fg=eeeeeefe",
        "/image/200x100/?text=hi",
        "/image/200x100/?text=",
    ]
    etags = [fetch(server, path).headers["ETag"] for path in variants]
    assert len(set(etags)) == len(variants)


@pytest.mark.parametrize(
    "same",
    [
        "/image/200x100",
        "/image/200x100.png",
        "/image/200x100@1x/",
        "/image/200x100/?format=PNG",
        "/image/200x100/?bg=000&fg=FFFFFF",
        "/image/200x100/?text=200%20X%20100",
        "/image/200x100/?v=2",  # unknown parameters (cache busters) are ignored
    ],
)
def test_equivalent_urls_share_the_etag(server, same):
    assert fetch(server, same).headers["ETag"] == fetch(server, "/image/200x100/").headers["ETag"]


def test_jpg_and_jpeg_are_the_same_image(server):
    jpg, jpeg = fetch(server, "/image/90x60.jpg"), fetch(server, "/image/90x60/?format=jpeg")
    assert jpg.headers["ETag"] == jpeg.headers["ETag"]
    assert jpg.content == jpeg.content


def test_head_has_the_headers_of_get_and_no_body(server):
    get = fetch(server, "/image/222x111.webp")
    head = requests.head(server.url + "/image/222x111.webp", timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    for header in ("Content-Type", "Content-Length", "ETag", "Cache-Control"):
        assert head.headers[header] == get.headers[header]


def test_home_page_explains_and_shows_examples(server):
    response = fetch(server, "/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert f'src="{server.url}/image/50x50/"' in page  # absolute, from reverse()
    sources = [part.split('"', 1)[0] for part in page.split('<img src="')[1:]]
    assert len(sources) == 17  # the book's example and sixteen options
    for source in sources:
        image = requests.get(source.replace("&amp;", "&"), timeout=30)
        assert image.status_code == 200, source
        assert image.headers["Content-Type"].startswith("image/")
    stylesheet = page.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    css = requests.get(server.url + stylesheet, timeout=10)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert "font-family" in css.text


@settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    width=st.integers(-1, 300) | st.sampled_from([2000, 2001]),
    height=st.integers(-1, 300) | st.sampled_from([2000, 2001]),
    retina=st.sampled_from(["", "@0x", "@1x", "@2x", "@3x", "@9x"]),
    suffix=st.sampled_from(
        ["", "/", ".png", ".JPG", ".gif", ".webp", ".avif", ".svg", ".bmp", ".png/"]
    ),
    query=st.dictionaries(
        st.sampled_from(["bg", "fg", "text", "format", "v"]),
        st.text(max_size=110) | st.from_regex(r"\A#?[0-9a-fA-F]{3,8}\Z"),
        max_size=4,
    ),
)
def test_any_input_is_an_image_or_a_clear_error(server, width, height, retina, suffix, query):
    response = fetch(server, f"/image/{width}x{height}{retina}{suffix}", params=query)
    assert response.status_code in (200, 400, 404), response.text[:300]
    if response.status_code == 400:
        assert response.text.startswith("Invalid Image Request")
    if response.status_code == 200:
        scale = int(retina[1:-1]) if retina else 1
        if response.headers["Content-Type"] == "image/svg+xml":
            size = ET.fromstring(response.content).get("width")
            assert size == str(width * scale)
        else:
            assert decode(response).size == (width * scale, height * scale)
