"""Stateless placeholder-image server (Lightweight Django, chapter 2), in one module.

    python placeholder.py runserver          # development server on :8000
    gunicorn placeholder                     # production, configured from the environment

GET /image/<width>x<height>/ is a PNG of that size, black with white "<width> X <height>".
Optional: @2x/@3x (retina), an extension or ?format= (png, jpeg, gif, webp, svg), ?bg= and
?fg= colours (hex RGB/RRGGBB, plus alpha as RGBA/RRGGBBAA) and ?text= (empty: no text).
Images are a pure function of their URL: the ETag is computed from the validated parameters
before anything is rendered, rendered images are kept in the Django cache (Redis when
REDIS_URL is set, else a bounded local-memory cache) and may be cached by clients for a year.

DEBUG (on/off), SECRET_KEY (random per start when unset), ALLOWED_HOSTS (comma list),
REDIS_URL and HTTPS (on: behind a TLS proxy, trust its X-Forwarded-Proto) come from the
environment.
"""

import functools
import hashlib
import io
import logging
import math
import os
import sys
import time
from html import escape
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent
DEBUG = os.environ.get("DEBUG", "on").lower() in {"on", "true", "1", "yes"}
SECRET_KEY = os.environ.get("SECRET_KEY") or get_random_secret_key()
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").replace(",", " ").split()
REDIS_URL = os.environ.get("REDIS_URL")
HTTPS = os.environ.get("HTTPS", "off").lower() in {"on", "true", "1", "yes"}

# Memory bound of the local-memory cache, per process: at most CACHE_ENTRIES images of at
# most MAX_CACHED_BYTES each (larger renders are served but not kept), so <= 64 MiB of image
# bytes; LocMemCache culls a third of the entries whenever the limit is reached.
CACHE_ENTRIES = 512
MAX_CACHED_BYTES = 128 * 1024
CACHE_SECONDS = 24 * 60 * 60
# A Redis that is down or hangs costs one request at most REDIS_SOCKET_SECONDS (connect, then
# read), after which the cache is skipped for CACHE_BACKOFF_SECONDS.
REDIS_SOCKET_SECONDS = 0.5
CACHE_BACKOFF_SECONDS = 5
if REDIS_URL:
    IMAGE_CACHE = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "placeholder",
        "TIMEOUT": CACHE_SECONDS,
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_SECONDS,
            "socket_timeout": REDIS_SOCKET_SECONDS,
        },
    }
else:
    IMAGE_CACHE = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "TIMEOUT": CACHE_SECONDS,
        "OPTIONS": {"MAX_ENTRIES": CACHE_ENTRIES},
    }

settings.configure(
    DEBUG=DEBUG,
    SECRET_KEY=SECRET_KEY,
    ALLOWED_HOSTS=ALLOWED_HOSTS,
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        f"{__name__}.head_without_body",
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.middleware.common.CommonMiddleware",
    ],
    INSTALLED_APPS=["django.contrib.staticfiles"],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [BASE_DIR / "templates"],
        }
    ],
    STATICFILES_DIRS=[BASE_DIR / "static"],
    STATIC_URL="/static/",
    # WhiteNoise serves static files under gunicorn too; the folder is scanned once at start.
    WHITENOISE_USE_FINDERS=True,
    WHITENOISE_AUTOREFRESH=False,
    CACHES={"default": IMAGE_CACHE},
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None,
)

from django import forms  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.validators import RegexValidator  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path, re_path, reverse  # noqa: E402
from django.views.decorators.http import etag, require_safe  # noqa: E402
from fontTools.ttLib import TTFont  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

log = logging.getLogger("placeholder")

MAX_SIZE = 2000  # the book's limit on width and height
MAX_PIXELS_PER_SIDE = 4000  # after the retina factor: bounds the memory of one render
# libwebp's lossless encoder needs about 20 bytes a pixel (360 MB at 4000x4000), the others at
# most 5: a WebP is at most 2000x2000 pixels, so that no render needs more than about 90 MB.
MAX_WEBP_PIXELS = 2000 * 2000
MAX_TEXT = 100
VALIDATED_URLS = 1024  # memoized validations; URLs are at most ~4 KB (gunicorn's limit)
IMMUTABLE = f"public, max-age={365 * 24 * 60 * 60}, immutable"
RENDER_VERSION = "1"  # part of every ETag and cache key: bump it when rendering changes
FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
}
ALIASES = {"jpg": "jpeg"}
COLOUR = RegexValidator(
    r"^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$",
    "a colour is 3, 4, 6 or 8 hex digits (RGB, RGBA, RRGGBB or RRGGBBAA)",
)
PNG_COMPRESS_LEVEL = 3  # zlib level: 3 is 2x faster than the default 6 for a few more bytes
TEXT_WIDTH, TEXT_HEIGHT = 0.8, 0.5  # the text fills at most this share of the image
MIN_FONT_SIZE = 6  # below this the text does not fit legibly and is left out
REFERENCE_SIZE = 100  # font size at which text is measured before scaling
WIDE_FONT = BASE_DIR / "fonts" / "DejaVuSans.ttf"
WIDE_FONT_CHARACTERS = frozenset(map(chr, TTFont(WIDE_FONT, lazy=True).getBestCmap()))
SVG_FONTS = "Aileron, DejaVu Sans, Helvetica, Arial, sans-serif"


def parse_colour(value):
    """'#f80', 'ff8800' or 'ff880080' as an (r, g, b, a) tuple."""
    digits = value.lstrip("#")
    if len(digits) <= 4:
        digits = "".join(d * 2 for d in digits)
    if len(digits) == 6:
        digits += "ff"
    return tuple(int(digits[i : i + 2], 16) for i in range(0, 8, 2))


class Spec(NamedTuple):
    """The canonical parameters of one image: equal specs are the same image."""

    width: int
    height: int
    scale: int
    format: str
    bg: tuple
    fg: tuple
    text: str


class ImageForm(forms.Form):
    """Every parameter of an image, validated; ``spec`` is the canonical result."""

    width = forms.IntegerField(min_value=1, max_value=MAX_SIZE)
    height = forms.IntegerField(min_value=1, max_value=MAX_SIZE)
    retina = forms.IntegerField(min_value=1, max_value=3, required=False)
    extension = forms.CharField(required=False)
    format = forms.CharField(required=False)
    bg = forms.CharField(required=False, validators=[COLOUR])
    fg = forms.CharField(required=False, validators=[COLOUR])
    text = forms.CharField(required=False, strip=False, max_length=MAX_TEXT)

    def clean_text(self):
        text = self.cleaned_data["text"]
        if any(not (c.isprintable() or c == "\n") for c in text):
            raise forms.ValidationError("text may contain only printable characters and newlines")
        missing = sorted(set(text) - WIDE_FONT_CHARACTERS - {"\n"})
        if missing:
            code_points = ", ".join(f"U+{ord(c):04X}" for c in missing[:3])
            raise forms.ValidationError(
                f"no bundled font can draw {code_points}; the fonts cover Latin, Greek, "
                "Cyrillic and common symbols"
            )
        return text

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        chosen = {ALIASES.get(f.lower(), f.lower()) for f in (data["extension"], data["format"])}
        chosen.discard("")
        if len(chosen) > 1:
            raise forms.ValidationError("the extension and ?format= name different formats")
        image_format = chosen.pop() if chosen else "png"
        if image_format not in FORMATS:
            raise forms.ValidationError(
                f"unknown format {image_format!r}; use one of {', '.join(FORMATS)}"
            )
        scale = data["retina"] or 1
        if max(data["width"], data["height"]) * scale > MAX_PIXELS_PER_SIDE:
            raise forms.ValidationError(
                f"at most {MAX_PIXELS_PER_SIDE} pixels per side after the retina factor"
            )
        if image_format == "webp" and data["width"] * data["height"] * scale**2 > MAX_WEBP_PIXELS:
            raise forms.ValidationError(
                f"webp is at most {MAX_WEBP_PIXELS} pixels (2000x2000) after the retina factor; "
                "use png or jpeg for bigger images"
            )
        bg = parse_colour(data["bg"] or "000")
        fg = parse_colour(data["fg"] or "fff")
        if image_format == "jpeg" and min(bg[3], fg[3]) < 255:
            raise forms.ValidationError("jpeg has no transparency; use png, webp, gif or svg")
        if image_format == "gif" and {bg[3], fg[3]} - {0, 255}:
            raise forms.ValidationError("gif transparency is all or nothing (alpha 00 or ff)")
        text = self.data.get("text")  # absent: the book's "W X H"; empty: no text
        text = f"{data['width']} X {data['height']}" if text is None else data["text"]
        data["spec"] = Spec(data["width"], data["height"], scale, image_format, bg, fg, text)
        return data


@functools.lru_cache(maxsize=VALIDATED_URLS)
def check(width, height, retina, extension, query):
    """Validate one image URL with ImageForm: (spec, etag, None) or (None, None, reason).

    The answer is a pure function of the URL, so it is memoized: a repeated URL skips the
    form, which is most of the work of serving a cached image. The ETag is a digest of the
    canonical parameters, known before (and without) rendering.
    """
    try:
        params = query_parameters(query)
    except ValueError as error:
        return None, None, str(error)
    form = ImageForm(
        {
            "width": width,
            "height": height,
            "retina": retina,
            "extension": extension or "",
            **{name: params[name] for name in ("format", "bg", "fg", "text") if name in params},
        }
    )
    if not form.is_valid():
        return None, None, invalid_reason(form)
    spec = form.cleaned_data["spec"]
    digest = hashlib.blake2b(repr((RENDER_VERSION, spec)).encode(), digest_size=16)
    return spec, digest.hexdigest(), None


def query_parameters(query):
    """The query string (WSGI's latin-1 str) as a dict of its last values, strictly decoded."""
    try:
        pairs = parse_qsl(
            query.encode("latin-1").decode(),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    except UnicodeError:
        raise ValueError("the query string is not valid UTF-8") from None
    except ValueError:
        raise ValueError("too many query parameters") from None
    return dict(pairs)


def invalid_reason(form):
    """The form's errors as one short line: 'width: Ensure this value is ...'."""
    return "; ".join(
        (f"{field}: " if field != "__all__" else "") + " ".join(errors)
        for field, errors in form.errors.items()
    )


def check_request(request, width, height, retina=None, extension=None):
    """check() for this request's URL (the book's route passes ints, the other strings)."""
    query = request.META.get("QUERY_STRING", "")
    return check(str(width), str(height), retina, extension, query)


def image_etag(request, **url):
    return check_request(request, **url)[1]


@functools.lru_cache(maxsize=128)
def font(size, ascii_only):
    """A scalable font at ``size`` pixels: Pillow's default (Aileron) covers ASCII only, so
    other text gets DejaVu Sans (Latin, Greek, Cyrillic and common symbols; from Debian's
    fonts-dejavu-core, licence beside it)."""
    if ascii_only:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(WIDE_FONT, size)


MEASURE = ImageDraw.Draw(Image.new("L", (1, 1)))


def fit_text(text, width, height):
    """(font, ink box) of the largest text that fits, or None when it cannot fit legibly."""
    if not text.strip():
        return None
    ascii_only = text.isascii()
    reference = font(REFERENCE_SIZE, ascii_only)
    left, top, right, bottom = MEASURE.textbbox((0, 0), text, font=reference)
    if right <= left or bottom <= top:  # nothing with an extent, e.g. lone combining marks
        return None
    scale = min(TEXT_WIDTH * width / (right - left), TEXT_HEIGHT * height / (bottom - top))
    size = int(REFERENCE_SIZE * scale)
    if size < MIN_FONT_SIZE:
        return None
    fitted = font(size, ascii_only)
    return fitted, MEASURE.textbbox((0, 0), text, font=fitted, align="center")


def text_mask(text, width, height):
    """An 'L' image: 0 is background, 255 is text, values between are anti-aliased edges.

    The text is drawn on a small canvas first, so that its actual ink (not the font's
    metrics) is centred to the pixel.
    """
    mask = Image.new("L", (width, height), 0)
    fitted = fit_text(text, width, height)
    if fitted:
        text_font, (left, top, right, bottom) = fitted
        canvas = Image.new("L", (math.ceil(right - left) + 2, math.ceil(bottom - top) + 2), 0)
        ImageDraw.Draw(canvas).text(
            (1 - left, 1 - top), text, fill=255, font=text_font, align="center"
        )
        ink = canvas.getbbox()
        if ink:
            glyphs = canvas.crop(ink)
            mask.paste(glyphs, ((width - glyphs.width) // 2, (height - glyphs.height) // 2))
    return mask


def blend_palette(bg, fg):
    """256 RGBA entries from exactly ``bg`` (index 0) to exactly ``fg`` (index 255)."""
    return [round(b + (f - b) * i / 255) for i in range(256) for b, f in zip(bg, fg, strict=True)]


def render_raster(width, height, image_format, bg, fg, text):
    """Encoded raster image bytes.

    The text is drawn once into an 8-bit mask whose values index a palette blended from bg
    to fg, so PNG and GIF are written as palette images (a third of the bytes of RGB, no
    colour conversion) while every pixel keeps the exact requested colours.
    """
    image = text_mask(text, width, height)
    image.putpalette(blend_palette(bg, fg), "RGBA")  # the mask becomes a "P" image
    opaque = bg[3] == fg[3] == 255
    out = io.BytesIO()
    if image_format == "png":
        if opaque:
            image.putpalette(blend_palette(bg[:3], fg[:3]), "RGB")  # no tRNS chunk
        image.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif image_format == "gif":
        transparent = 0 if bg[3] == 0 else 255 if fg[3] == 0 else None
        image.putpalette(blend_palette(bg[:3], fg[:3]), "RGB")
        options = {} if transparent is None else {"transparency": transparent}
        image.save(out, "GIF", **options)
    elif image_format == "webp":
        image = image.convert("RGB" if opaque else "RGBA")
        image.save(out, "WEBP", lossless=True, method=0)
    else:
        image.convert("RGB").save(out, "JPEG", quality=95, subsampling=0)
    return out.getvalue()


def svg_colour(attribute, rgba):
    """fill="#rrggbb" plus an opacity attribute when the colour is translucent."""
    r, g, b, a = rgba
    opacity = f' {attribute}-opacity="{a / 255:.3g}"' if a < 255 else ""
    return f'{attribute}="#{r:02x}{g:02x}{b:02x}"{opacity}'


def svg_length(text_font, line):
    """textLength of one line: the raster's width, whatever font the browser has."""
    if not line:
        return ""
    return f' textLength="{text_font.getlength(line):.1f}" lengthAdjust="spacingAndGlyphs"'


def render_svg(width, height, bg, fg, text):
    """The same picture as SVG text, sized with the raster's font metrics."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<rect width="100%" height="100%" {svg_colour("fill", bg)}/>',
    ]
    fitted = fit_text(text, width, height)
    if fitted:
        lines = text.split("\n")
        first_dy = f"{-0.6 * (len(lines) - 1):.1f}em"  # the block of lines is centred
        spans = "".join(
            f'<tspan x="50%" dy="{first_dy if number == 0 else "1.2em"}"'
            f"{svg_length(fitted[0], line)}>{escape(line)}</tspan>"
            for number, line in enumerate(lines)
        )
        parts.append(
            f'<text x="50%" y="50%" font-family="{SVG_FONTS}" '
            f'font-size="{fitted[0].size}" text-anchor="middle" dominant-baseline="central" '
            f"{svg_colour('fill', fg)}>{spans}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts).encode()


def render_image(spec):
    """Encoded bytes of the image that ``spec`` describes."""
    width, height = spec.width * spec.scale, spec.height * spec.scale
    if spec.format == "svg":
        return render_svg(width, height, spec.bg, spec.fg, spec.text)
    return render_raster(width, height, spec.format, spec.bg, spec.fg, spec.text)


class ImageCache:
    """The Django cache as a mere speed-up: after a failure it is skipped for
    CACHE_BACKOFF_SECONDS, and an outage logs one warning line (and one when it is over)."""

    def __init__(self):
        self.down = False
        self.retry_at = 0.0

    def _call(self, operation, *args):
        if time.monotonic() < self.retry_at:
            return None
        try:
            result = operation(*args)
        except Exception as error:  # any backend failure: render without the cache
            self.retry_at = time.monotonic() + CACHE_BACKOFF_SECONDS
            if not self.down:
                log.warning(
                    "image cache unavailable (%s: %s); rendering without it, retrying every %ss",
                    type(error).__name__,
                    error,
                    CACHE_BACKOFF_SECONDS,
                )
            self.down = True
            return None
        if self.down:
            log.warning("image cache available again")
            self.down = False
        return result

    def get(self, key):
        return self._call(cache.get, key)

    def set(self, key, content):
        self._call(cache.set, key, content)


image_cache = ImageCache()


def cached_render(key, spec):
    """(image bytes, 'HIT' or 'MISS'); a cache that is down costs a render, never an error."""
    content = image_cache.get(key)
    if content is not None:
        return content, "HIT"
    content = render_image(spec)
    if len(content) <= MAX_CACHED_BYTES:
        image_cache.set(key, content)
    return content, "MISS"


def immutable(view):
    """Images (and their 304s) never change for a URL: cacheable by anyone for a year."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code in (200, 304):
            response["Cache-Control"] = IMMUTABLE
        return response

    return wrapper


@require_safe
@immutable
@etag(image_etag)
def placeholder(request, **url):
    spec, key, reason = check_request(request, **url)
    if spec is None:
        return HttpResponseBadRequest(
            "Invalid Image Request: " + reason, content_type="text/plain; charset=utf-8"
        )
    if request.method == "HEAD":
        return head_response("image:" + key, spec)
    content, cache_status = cached_render("image:" + key, spec)
    response = HttpResponse(content, content_type=FORMATS[spec.format])
    response["X-Cache"] = cache_status
    return response


def head_response(key, spec):
    """GET's headers without rendering: the length only when the image is in the cache."""
    content = image_cache.get(key)
    response = StreamingHttpResponse((), content_type=FORMATS[spec.format])
    if content is not None:
        response["Content-Length"] = len(content)
    response["X-Cache"] = "MISS" if content is None else "HIT"
    return response


HOME_OPTIONS = [  # (what it shows, width, height, path suffix after the size, query)
    ("the book's image", 200, 100, "/", ""),
    ("colours (background, text)", 200, 100, "/", "?bg=1e6f9f&fg=ffd54a"),
    ("custom text, two lines", 200, 100, "/", "?text=Hello%0Aworld"),
    ("translucent background", 200, 100, ".png", "?bg=ff000040&fg=222"),
    ("format by extension", 200, 100, ".webp", ""),
    ("format by parameter", 200, 100, "/", "?format=svg"),
    ("retina (twice the pixels)", 200, 100, "@2x.png", ""),
]


@require_safe
def home(request):
    """How to use the service, with absolute example URLs built by reverse()."""
    book_url = reverse("placeholder", args=(50, 50))
    options = []
    for what, width, height, suffix, query in HOME_OPTIONS:
        size_path = reverse("placeholder", args=(width, height)).removesuffix("/")
        url = request.build_absolute_uri(size_path + suffix + query)
        options.append({"what": what, "url": url, "width": width, "height": height})
    context = {"example": request.build_absolute_uri(book_url), "options": options}
    return render(request, "home.html", context)


def head_without_body(get_response):
    """Middleware: a HEAD gets GET's headers and no body, which gunicorn would drop with a
    warning (image HEADs render nothing at all, see head_response)."""

    def middleware(request):
        response = get_response(request)
        if request.method == "HEAD" and not response.streaming and response.content:
            response["Content-Length"] = len(response.content)
            response.content = b""
        return response

    return middleware


IMAGE_PATH = (
    r"^image/(?P<width>[0-9]+)x(?P<height>[0-9]+)"
    r"(?:@(?P<retina>[0-9]+)x)?(?:\.(?P<extension>[A-Za-z0-9]+))?/?$"
)
urlpatterns = [
    path("image/<int:width>x<int:height>/", placeholder, name="placeholder"),  # the book's URL
    re_path(IMAGE_PATH, placeholder),
    re_path(r"^$", home, name="home"),
]

application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
