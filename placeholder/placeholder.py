"""Stateless placeholder-image server (Lightweight Django, chapter 2), in one module.

    python placeholder.py runserver          # development server on :8000
    gunicorn placeholder                     # production, configured from the environment

GET /image/<width>x<height>/ is a PNG of that size, black with white "<width> X <height>";
/image/<side>/ is a square, and one side may be a ratio (640x16:9, 16:9x360).
Optional: @2x/@3x (retina), an extension or ?format= (png, jpeg, gif, webp, avif, svg; without
either, AVIF or WebP when the Accept header names it), ?bg= and ?fg= colours (hex RGB/RRGGBB,
plus alpha as RGBA/RRGGBBAA, or CSS names), ?text= (empty: no text), ?font= and ?weight=.
Images are a pure function of their URL: the ETag is computed from the validated parameters
before anything is rendered, rendered images are kept in Django's Redis cache when REDIS_URL is
set, else in a bounded least-recently-used cache per process, and may be cached by clients for
a year.

DEBUG (on/off), SECRET_KEY (random per start when unset), ALLOWED_HOSTS (comma list),
REDIS_URL, HTTPS (on: behind a TLS proxy, trust its X-Forwarded-Proto, send HSTS) and
PLACEHOLDER_NEGOTIATE (off: no content negotiation, for CDNs that ignore Vary) come from the
environment. Images are public: any origin may read them (Access-Control-Allow-Origin: *).
GET /health answers 200 while the process can serve ("degraded" while Redis is down).
"""

import collections
import functools
import hashlib
import io
import logging
import math
import os
import re
import sys
import threading
import time
from html import escape
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.management.utils import get_random_secret_key
from observability import (
    BOOT_ERROR,
    env_flag,
    log_format,
    logging_config,
    request_timer,
    share_metrics_folder,
)

# ---- Settings: from the environment --------------------------------------------------------------


BASE_DIR = Path(__file__).resolve().parent
DEBUG = env_flag("placeholder", "DEBUG", True)
# Parts of values that are published (examples, dev-only defaults), so never secret.
PLACEHOLDER_SECRETS = ("change-me", "changeme", "change_me", "dev-only", "django-insecure")


def unsafe_secret(value):
    """Why a secret is unfit for production (too short, too few characters, a placeholder)."""
    if len(value) < 32:
        return "is shorter than 32 characters"
    if len(set(value)) < 5:
        return "has fewer than 5 different characters"
    if any(placeholder in value.lower() for placeholder in PLACEHOLDER_SECRETS):
        return "is a published placeholder"
    return None


SECRET_KEY = os.environ.get("SECRET_KEY") or get_random_secret_key()
if not DEBUG and (problem := unsafe_secret(SECRET_KEY)):
    print(f"placeholder: SECRET_KEY {problem} (refusing to start with DEBUG off)", file=sys.stderr)
    sys.exit(BOOT_ERROR)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").replace(",", " ").split()
REDIS_URL = os.environ.get("REDIS_URL")
HTTPS = env_flag("placeholder", "HTTPS", False)
NEGOTIATE = env_flag("placeholder", "PLACEHOLDER_NEGOTIATE", True)
LOG_FORMAT = log_format("placeholder")
METRICS = env_flag("placeholder", "METRICS", False)
if METRICS:
    share_metrics_folder("placeholder")


# Memory bound of the image cache without Redis, per process: at most CACHE_ENTRIES images of
# at most MAX_CACHED_BYTES each (larger renders are served but not kept), so <= 64 MiB of image
# bytes; when it is full, the least recently used image is dropped.
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
else:  # Django's default; images are kept in LocalImages, not in Django's cache
    IMAGE_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}

settings.configure(
    DEBUG=DEBUG,
    SECRET_KEY=SECRET_KEY,
    ALLOWED_HOSTS=ALLOWED_HOSTS,
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        *([f"{__name__}.measured"] if METRICS else []),
        f"{__name__}.head_without_body",
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        f"{__name__}.PolicyBuiltOnce",  # django-csp's
    ],
    CONTENT_SECURITY_POLICY={  # the home page's script and CSS, its example images
        "DIRECTIVES": {
            "default-src": ["'self'"],
            "img-src": ["'self'", "data:"],
            "frame-ancestors": ["'none'"],
            "base-uri": ["'self'"],
            "form-action": ["'self'"],
        }
    },
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
    SECURE_HSTS_SECONDS=31536000 if HTTPS else 0,
    LOGGING=logging_config("placeholder", LOG_FORMAT),
)

from csp.constants import HEADER as CSP_HEADER  # noqa: E402
from csp.middleware import CSPMiddleware  # noqa: E402
from csp.utils import build_policy  # noqa: E402
from django import forms  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.validators import RegexValidator  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import (  # noqa: E402
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.request import MediaType  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path, re_path, reverse  # noqa: E402
from django.utils.cache import get_conditional_response  # noqa: E402
from django.views.decorators.http import require_safe  # noqa: E402
from fontTools.ttLib import TTFont  # noqa: E402
from PIL import Image, ImageColor, ImageDraw, ImageFont, features  # noqa: E402
from prometheus_client import Counter  # noqa: E402  (after share_metrics_folder())
from prometheus_client.django import PrometheusDjangoView  # noqa: E402

log = logging.getLogger("placeholder")


# ---- Limits, formats and fonts -------------------------------------------------------------------

# Prometheus text at /metrics with METRICS=on; under gunicorn the sum of every worker's.
RENDERS = Counter("placeholder_renders", "Images rendered, by format", ["format"])
CACHE_LOOKUPS = Counter("placeholder_cache_lookups", "Image cache lookups, by result", ["result"])

MAX_SIZE = 2000  # the book's limit on width and height
MAX_PIXELS_PER_SIDE = 4000  # after the retina factor: bounds the memory of one render
# libwebp's lossless encoder and libavif's (aom, 4:2:0) need about 20 bytes a pixel (360 MB at
# 4000x4000), the others at most 5: WebP and AVIF are at most 2000x2000 pixels, so that no render
# needs more than about 100 MB.
MAX_WEBP_PIXELS = 2000 * 2000
MAX_PIXELS = {"webp": MAX_WEBP_PIXELS, "avif": MAX_WEBP_PIXELS}
MAX_TEXT = 100
VALIDATED_URLS = 1024  # memoized validations; URLs are at most ~4 KB (gunicorn's limit)
IMMUTABLE = f"public, max-age={365 * 24 * 60 * 60}, immutable"
RENDER_VERSION = "1"  # part of every ETag and cache key: bump it when rendering changes
FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    **({"avif": "image/avif"} if features.check("avif") else {}),
    "svg": "image/svg+xml",
}
ALIASES = {"jpg": "jpeg"}
NEGOTIABLE = [f for f in ("avif", "webp") if f in FORMATS]  # in order of preference
HEX_COLOUR = RegexValidator(
    r"^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$",
    "a colour is 3, 4, 6 or 8 hex digits (RGB, RGBA, RRGGBB or RRGGBBAA) or a CSS colour name",
)
CSS_COLOURS = {**ImageColor.colormap, "transparent": "#0000"}  # the CSS names
# Each encoder's least effort whose bytes are within 1.2x of the smallest standard encoding of
# the same pixels from 50x50 to 2000x2000 (bench/bench_placeholder.py measures them all).
# PNG: zlib's default level, 1.00-1.11x of Pillow's optimize; level 3 renders 2000x2000 in 0.6x
# of the time but at 2.3x the bytes. JPEG: optimized Huffman tables, the same pixels in 0.6-0.8x
# the bytes. WebP: lossless method 1 at the least effort (quality 0), 1.05-1.11x of libwebp's
# most (method 6: 3 s at 2000x2000); method 0 was 2-25x the bytes in twice the time. AVIF: speed
# 8, 1.02-1.08x of Pillow's default speed (6) in at most half its time; 9 and 10 are 1.3-2.3x.
PNG_COMPRESS_LEVEL = 6
ENCODER_OPTIONS = {
    "png": {"compress_level": PNG_COMPRESS_LEVEL},
    "jpeg": {"quality": 95, "subsampling": 0, "optimize": True},
    "webp": {"lossless": True, "method": 1, "quality": 0},
    "avif": {"quality": 90, "speed": 8},  # 4:2:0 (Pillow's default) needs a quarter less memory
}
# Optimized Huffman tables keep the whole image's coefficients (6 bytes a pixel at 4:4:4): larger
# JPEGs (retina ones only) use the standard tables, so that a render stays under about 100 MB.
MAX_OPTIMIZED_JPEG_PIXELS = 2000 * 2000
TEXT_WIDTH, TEXT_HEIGHT = 0.8, 0.5  # the text fills at most this share of the image
MIN_FONT_SIZE = 6  # below this the text does not fit legibly and is left out
REFERENCE_SIZE = 100  # font size at which text is measured before scaling
FONTS = {  # ?font=: {weight: file in fonts/ (licences and origin beside them)}, SVG families
    "sans": (
        {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"},
        "DejaVu Sans, Helvetica, Arial, sans-serif",
    ),
    "serif": (
        {"regular": "DejaVuSerif.ttf", "bold": "DejaVuSerif-Bold.ttf"},
        "DejaVu Serif, Georgia, Times New Roman, serif",
    ),
    "mono": (
        {"regular": "DejaVuSansMono.ttf", "bold": "DejaVuSansMono-Bold.ttf"},
        "DejaVu Sans Mono, Menlo, Consolas, monospace",
    ),
    "cjk": (
        {"regular": "WenQuanYiMicroHei-CJK.ttf"},
        "WenQuanYi Micro Hei, Noto Sans CJK SC, Microsoft YaHei, sans-serif",
    ),
}
# No ?font=: Pillow's default (Aileron) for ASCII, else the first of these that has every glyph.
DEFAULT_FONT, FALLBACK_FONTS = "default", ("sans", "cjk")
SVG_DEFAULT_FONTS = "Aileron, DejaVu Sans, Helvetica, Arial, sans-serif"
WEIGHTS = ("regular", "bold")
FONT_FILES = {
    (name, weight): BASE_DIR / "fonts" / file
    for name, (files, _) in FONTS.items()
    for weight, file in files.items()
}


def characters(file):
    """Return the characters a font file has glyphs for."""
    with TTFont(file, lazy=True) as font:
        return frozenset(map(chr, font.getBestCmap()))


COVERAGE = {face: characters(file) for face, file in FONT_FILES.items()}


# ---- Parameters: colours, fonts and the form that checks them ------------------------------------


def parse_colour(value):
    """Return '#f80', 'ff8800', 'ff880080' or a CSS name as an (r, g, b, a) tuple."""
    if value.lower() in CSS_COLOURS:
        return ImageColor.getcolor(CSS_COLOURS[value.lower()], "RGBA")
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
    font: str = DEFAULT_FONT
    weight: str = "regular"


def fingerprint(spec):
    """Return the ETag of ``spec``: a digest of the render version and every parameter."""
    return hashlib.blake2b(repr((RENDER_VERSION, spec)).encode(), digest_size=16).hexdigest()


def colour_name_error(value):
    """Return why ``value`` is no colour (a hex-like value gets the hex rule)."""
    if re.fullmatch(r"#?[0-9a-fA-F]*", value):
        return HEX_COLOUR.message
    return (
        f"unknown colour {value[:20]!r}: use 3, 4, 6 or 8 hex digits or a CSS colour name: "
        + ", ".join(sorted(CSS_COLOURS))
    )


def validate_colour(value):
    """Raise a ValidationError unless ``value`` is a hex colour or a CSS colour name."""
    if value.lower() not in CSS_COLOURS:
        try:
            HEX_COLOUR(value)
        except forms.ValidationError:
            raise forms.ValidationError(colour_name_error(value)) from None


def font_face(text, name, weight):
    """Return the (font, weight) that draws ``text``, or None for Pillow's default font.

    Raise a ValidationError naming what no allowed font can draw.
    """
    if name == DEFAULT_FONT:
        if weight != "regular":
            raise forms.ValidationError(
                "weight: the default font has only regular; add font=sans, serif or mono"
            )
        if text.isascii():
            return None
        candidates = [(fallback, "regular") for fallback in FALLBACK_FONTS]
    elif (name, weight) in FONT_FILES:
        candidates = [(name, weight)]
    else:
        raise forms.ValidationError(f"weight: font={name} has only {', '.join(FONTS[name][0])}")
    glyphs = set(text) - {"\n"}
    for face in candidates:
        if glyphs <= COVERAGE[face]:
            return face
    missing = sorted(glyphs.difference(*(COVERAGE[face] for face in candidates)))
    code_points = ", ".join(f"U+{ord(c):04X}" for c in missing[:3])
    where = "no bundled font" if name == DEFAULT_FONT else f"font={name}"
    what = f"can draw {code_points}" if missing else "draws all of this text"
    raise forms.ValidationError(
        f"{where} {what}; the fonts cover Latin, Greek, Cyrillic, common symbols (sans, serif, "
        "mono) and common Chinese, Japanese and Korean (cjk)"
    )


class ImageForm(forms.Form):
    """Every parameter of an image, validated; ``spec`` is the canonical result."""

    width = forms.IntegerField(min_value=1, max_value=MAX_SIZE)
    height = forms.IntegerField(min_value=1, max_value=MAX_SIZE)
    retina = forms.IntegerField(min_value=1, max_value=3, required=False)
    extension = forms.CharField(required=False)
    format = forms.CharField(required=False)
    bg = forms.CharField(required=False, validators=[validate_colour])
    fg = forms.CharField(required=False, validators=[validate_colour])
    text = forms.CharField(required=False, strip=False, max_length=MAX_TEXT)
    font = forms.ChoiceField(
        required=False,
        choices=[(f, f) for f in (DEFAULT_FONT, *FONTS)],
        error_messages={
            "invalid_choice": f"unknown font; use one of {DEFAULT_FONT}, {', '.join(FONTS)}"
        },
    )
    weight = forms.ChoiceField(
        required=False,
        choices=[(w, w) for w in WEIGHTS],
        error_messages={"invalid_choice": f"unknown weight; use {' or '.join(WEIGHTS)}"},
    )

    def __init__(self, data, offered=()):
        """``offered``: the formats the client accepts, for a URL that names none."""
        super().__init__(data)
        self.offered = offered

    def clean_text(self):
        """Return the text, unless it holds characters other than printable ones and newlines."""
        text = self.cleaned_data["text"]
        if any(not (c.isprintable() or c == "\n") for c in text):
            raise forms.ValidationError("text may contain only printable characters and newlines")
        return text

    def clean(self):
        """Return the cleaned data with ``spec``, the canonical parameters of the image."""
        data = super().clean()
        if self.errors:
            return data
        named = named_format(data["extension"], data["format"])
        scale = data["retina"] or 1
        if max(data["width"], data["height"]) * scale > MAX_PIXELS_PER_SIDE:
            raise forms.ValidationError(
                f"at most {MAX_PIXELS_PER_SIDE} pixels per side after the retina factor"
            )
        pixels = data["width"] * data["height"] * scale**2
        image_format = fitting_format(named, self.offered, pixels)
        bg = parse_colour(data["bg"] or "000")
        fg = parse_colour(data["fg"] or "fff")
        check_alpha(image_format, bg, fg)
        text = self.data.get("text")  # absent: the book's "W X H"; empty: no text
        text = f"{data['width']} X {data['height']}" if text is None else data["text"]
        font, weight = data["font"] or DEFAULT_FONT, data["weight"] or "regular"
        font_face(text, font, weight)  # a ValidationError when it cannot be drawn
        data["spec"] = Spec(
            data["width"], data["height"], scale, image_format, bg, fg, text, font, weight
        )
        return data


def named_format(extension, parameter):
    """Return the format the extension or ?format= names, or "" when neither does."""
    named = {ALIASES.get(f.lower(), f.lower()) for f in (extension, parameter)} - {""}
    if len(named) > 1:
        raise forms.ValidationError("the extension and ?format= name different formats")
    return named.pop() if named else ""


def fitting_format(named, offered, pixels):
    """Return the named format, else the client's best offer whose limit the image is within.

    Raise a ValidationError for an unknown format or an image beyond the format's limit.
    """
    fits = [f for f in offered if pixels <= MAX_PIXELS.get(f, pixels)]
    image_format = named or (fits or ["png"])[0]
    if image_format not in FORMATS:
        raise forms.ValidationError(
            f"unknown format {image_format!r}; use one of {', '.join(FORMATS)}"
        )
    if pixels > MAX_PIXELS.get(image_format, pixels):
        raise forms.ValidationError(
            f"{image_format} is at most {MAX_PIXELS[image_format]} pixels (2000x2000) after "
            "the retina factor; use png or jpeg for bigger images"
        )
    return image_format


def check_alpha(image_format, bg, fg):
    """Raise a ValidationError for transparency the format cannot hold."""
    if image_format == "jpeg" and min(bg[3], fg[3]) < 255:
        raise forms.ValidationError("jpeg has no transparency; use png, webp, gif or svg")
    if image_format == "gif" and {bg[3], fg[3]} - {0, 255}:
        raise forms.ValidationError("gif transparency is all or nothing (alpha 00 or ff)")


# ---- Checking a URL, once: its ETag is known before anything is rendered -------------------------


class Checked(NamedTuple):
    """What check() found: a spec and its ETag, or the reason the URL is invalid.

    ``negotiated`` when the URL names no format, so that the answer varies with Accept.
    """

    spec: Spec | None
    etag: str | None
    reason: str | None
    negotiated: bool


QUERY_FIELDS = ("format", "bg", "fg", "text", "font", "weight")


@functools.lru_cache(maxsize=VALIDATED_URLS)
def check(width, height, retina, extension, query, offered):
    """Return what ImageForm finds of one image URL, ``offered`` the formats the client accepts.

    The answer is a pure function of the URL and the offer, so it is memoized: a repeated URL
    skips the form, which is most of the work of serving a cached image. The ETag is a digest
    of the canonical parameters, known before (and without) rendering.
    """
    try:
        params = query_parameters(query)
        width, height = resolve_size(width, height)
    except ValueError as error:
        return Checked(None, None, str(error), False)
    negotiated = NEGOTIATE and not extension and "format" not in params
    fields = {name: params[name] for name in QUERY_FIELDS if name in params}
    form = ImageForm(
        {
            "width": width,
            "height": height,
            "retina": retina,
            "extension": extension or "",
            **fields,
        },
        offered=offered if negotiated else (),
    )
    if not form.is_valid():
        return Checked(None, None, invalid_reason(form), negotiated)
    spec = form.cleaned_data["spec"]
    return Checked(spec, fingerprint(spec), None, negotiated)


def resolve_size(width, height):
    """Return (width, height) as digit strings, a missing height making a square.

    A side given as a ratio (width:height, e.g. 16:9) is worked out from the other, rounded.
    """
    height = width if height is None else height
    if ":" in width and ":" in height:
        raise ValueError("one side must be a number of pixels; the other may be a ratio like 16:9")
    if ":" not in width + height:
        return width, height
    across, down = map(int, (width if ":" in width else height).split(":"))
    if not across or not down:
        raise ValueError("the terms of a ratio are whole numbers from 1, like 16:9")
    if ":" in width:
        return str(round_ratio(int(height) * across, down)), height
    return width, str(round_ratio(int(width) * down, across))


def round_ratio(numerator, denominator):
    """Return numerator / denominator rounded half up, in integers (any size, no float overflow)."""
    return (2 * numerator + denominator) // (2 * denominator)


def query_parameters(query):
    """Return the query string (WSGI's latin-1 str) as a dict of its last values."""
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
    """Return the form's errors as one short line: 'width: Ensure this value is ...'."""
    return "; ".join(
        (f"{field}: " if field != "__all__" else "") + " ".join(errors)
        for field, errors in form.errors.items()
    )


def check_request(request, width, height=None, retina=None, extension=None):
    """Return check() of this request's URL (the book's route passes ints, the other strings)."""
    query = request.META.get("QUERY_STRING", "")
    offered = accepted_formats(request.META.get("HTTP_ACCEPT", "")) if NEGOTIATE else ()
    height = None if height is None else str(height)
    return check(str(width), height, retina, extension, query, offered)


@functools.lru_cache(maxsize=256)
def accepted_formats(accept):
    """Return the negotiable formats the Accept header names explicitly (q > 0), best first.

    */* and image/* do not count, so curl and other generic clients keep the PNG.
    """
    named = {}
    for part in accept.split(",")[:64]:
        media = MediaType(part)
        named[f"{media.main_type}/{media.sub_type}".lower()] = media.quality
    return tuple(f for f in NEGOTIABLE if named.get(FORMATS[f], 0) > 0)


# ---- Drawing: the text, its palette, the raster formats and SVG ----------------------------------


@functools.lru_cache(maxsize=128)
def font(face, size):
    """Return a scalable font of ``size`` pixels: ``face`` (font, weight) of FONT_FILES, or None for
    Pillow's default (Aileron), which covers ASCII only."""
    if face is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(FONT_FILES[face], size)


MEASURE = ImageDraw.Draw(Image.new("L", (1, 1)))


def fit_text(text, width, height, face):
    """Return (font, ink box) of the largest text that fits, or None when it cannot fit legibly."""
    if not text.strip():
        return None
    reference = font(face, REFERENCE_SIZE)
    left, top, right, bottom = MEASURE.textbbox((0, 0), text, font=reference)
    if right <= left or bottom <= top:  # nothing with an extent, e.g. lone combining marks
        return None
    scale = min(TEXT_WIDTH * width / (right - left), TEXT_HEIGHT * height / (bottom - top))
    size = int(REFERENCE_SIZE * scale)
    if size < MIN_FONT_SIZE:
        return None
    fitted = font(face, size)
    return fitted, MEASURE.textbbox((0, 0), text, font=fitted, align="center")


def text_ink(text, width, height, face):
    """Return (glyphs, position): an 'L' image of the text's ink (0 is background, 255 is text,
    values between are anti-aliased edges) and where it goes, or None when there is no text.

    The text is drawn on a small canvas first, so that its actual ink (not the font's
    metrics) is centred to the pixel.
    """
    fitted = fit_text(text, width, height, face)
    if not fitted:
        return None
    text_font, (left, top, right, bottom) = fitted
    canvas = Image.new("L", (math.ceil(right - left) + 2, math.ceil(bottom - top) + 2), 0)
    ImageDraw.Draw(canvas).text((1 - left, 1 - top), text, fill=255, font=text_font, align="center")
    ink = canvas.getbbox()
    if not ink:
        return None
    glyphs = canvas.crop(ink)
    return glyphs, ((width - glyphs.width) // 2, (height - glyphs.height) // 2)


def text_mask(width, height, ink):
    """Return the whole picture as an 'L' image: the ink of text_ink() on background 0."""
    mask = Image.new("L", (width, height), 0)
    if ink:
        mask.paste(*ink)
    return mask


@functools.lru_cache(maxsize=1024)
def channel_ramp(b, f):
    """Return 256 values of a channel from exactly ``b`` to exactly ``f``, linearly blended."""
    return bytes((255 * b + (f - b) * i + 127) // 255 for i in range(256))


def blend_palette(bg, fg):
    """Return 256 colours from exactly ``bg`` (index 0) to exactly ``fg`` (index 255).

    They are bytes of as many channels as the colours have.
    """
    channels = len(bg)
    palette = bytearray(256 * channels)
    for channel, (b, f) in enumerate(zip(bg, fg, strict=True)):
        palette[channel::channels] = channel_ramp(b, f)
    return bytes(palette)


def render_raster(width, height, image_format, bg, fg, text, face):
    """Return the encoded raster image.

    The text is drawn once into an 8-bit mask whose values index a palette blended from bg
    to fg, so PNG and GIF are palette images (a third of the bytes of RGB, no colour
    conversion) while every pixel keeps the exact requested colours.
    """
    image = text_mask(width, height, text_ink(text, width, height, face))
    opaque = bg[3] == fg[3] == 255
    if opaque or image_format == "gif":  # GIF's transparency is one palette index, not alpha
        image.putpalette(blend_palette(bg[:3], fg[:3]), "RGB")
    else:
        image.putpalette(blend_palette(bg, fg), "RGBA")
    options = encoder_options(image_format, width * height, bg, opaque)
    if image_format in ("webp", "avif", "jpeg"):  # encoders of RGB(A) images only
        image = image.convert("RGB" if opaque else "RGBA")
    out = io.BytesIO()
    image.save(out, image_format.upper(), **options)
    return out.getvalue()


def encoder_options(image_format, pixels, bg, opaque):
    """Return Pillow's options for encoding an image of ``pixels`` pixels on background ``bg``."""
    if image_format == "gif" and not opaque:
        return {"transparency": 0 if bg[3] == 0 else 255}  # alpha is 0 or 255 (validated)
    options = ENCODER_OPTIONS.get(image_format, {})
    if image_format == "jpeg" and pixels > MAX_OPTIMIZED_JPEG_PIXELS:
        return {**options, "optimize": False}
    return options


def svg_colour(attribute, rgba):
    """Return fill="#rrggbb" plus an opacity attribute when the colour is translucent."""
    r, g, b, a = rgba
    opacity = f' {attribute}-opacity="{a / 255:.3g}"' if a < 255 else ""
    return f'{attribute}="#{r:02x}{g:02x}{b:02x}"{opacity}'


def svg_length(text_font, line):
    """Return the textLength of one line: the raster's width, whatever font the browser has."""
    if not line:
        return ""
    return f' textLength="{text_font.getlength(line):.1f}" lengthAdjust="spacingAndGlyphs"'


def svg_font(face):
    """Return the font-family (and font-weight when bold) of the SVG text for ``face``."""
    if face is None:
        return f'font-family="{SVG_DEFAULT_FONTS}"'
    name, weight = face
    bold = ' font-weight="bold"' if weight == "bold" else ""
    return f'font-family="{FONTS[name][1]}"{bold}'


def render_svg(width, height, bg, fg, text, face):
    """Return the same picture as SVG text, sized with the raster's font metrics."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<rect width="100%" height="100%" {svg_colour("fill", bg)}/>',
    ]
    fitted = fit_text(text, width, height, face)
    if fitted:
        lines = text.split("\n")
        first_dy = f"{-0.6 * (len(lines) - 1):.1f}em"  # the block of lines is centred
        spans = "".join(
            f'<tspan x="50%" dy="{first_dy if number == 0 else "1.2em"}"'
            f"{svg_length(fitted[0], line)}>{escape(line)}</tspan>"
            for number, line in enumerate(lines)
        )
        parts.append(
            f'<text x="50%" y="50%" {svg_font(face)} '
            f'font-size="{fitted[0].size}" text-anchor="middle" dominant-baseline="central" '
            f"{svg_colour('fill', fg)}>{spans}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts).encode()


def render_image(spec):
    """Return the encoded bytes of the image that ``spec`` describes."""
    width, height = spec.width * spec.scale, spec.height * spec.scale
    face = font_face(spec.text, spec.font, spec.weight)
    if spec.format == "svg":
        return render_svg(width, height, spec.bg, spec.fg, spec.text, face)
    return render_raster(width, height, spec.format, spec.bg, spec.fg, spec.text, face)


# ---- The image cache: a speed-up that may fail ---------------------------------------------------


class LocalImages:
    """The image cache of one process without Redis, least recently used dropped first.

    The bytes are kept as they are: a hit costs no pickling and no key checks, as it would
    in Django's LocMemCache.
    """

    def __init__(self, entries):
        self.entries = entries
        self.images = collections.OrderedDict()
        self.lock = threading.Lock()  # runserver serves requests in threads

    def get(self, key):
        with self.lock:
            content = self.images.get(key)
            if content is not None:
                self.images.move_to_end(key)
            return content

    def set(self, key, content):
        with self.lock:
            self.images[key] = content
            self.images.move_to_end(key)
            if len(self.images) > self.entries:
                self.images.popitem(last=False)


class ImageCache:
    """An image cache (Django's Redis cache or LocalImages) used as a mere speed-up.

    After a failure it is skipped for CACHE_BACKOFF_SECONDS; an outage logs one warning line
    (and one when it is over).
    """

    def __init__(self, backend):
        self.backend = backend
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
        return self._call(self.backend.get, key)

    def set(self, key, content):
        self._call(self.backend.set, key, content)


image_cache = ImageCache(cache if REDIS_URL else LocalImages(CACHE_ENTRIES))


def cached_render(key, spec):
    """Return (image bytes, 'HIT' or 'MISS'); a cache that is down costs a render, no error."""
    content = image_cache.get(key)
    CACHE_LOOKUPS.labels("miss" if content is None else "hit").inc()
    if content is not None:
        return content, "HIT"
    content = render_image(spec)
    RENDERS.labels(spec.format).inc()
    if len(content) <= MAX_CACHED_BYTES:
        image_cache.set(key, content)
    return content, "MISS"


# ---- Views ---------------------------------------------------------------------------------------


@require_safe
def placeholder(request, **url):
    """Return the image, a 304 (or other answer to a conditional request) or a 400 saying why.

    The URL is checked once, its ETag known before anything is rendered.
    """
    checked = check_request(request, **url)
    etag = checked.etag and f'"{checked.etag}"'
    response = conditional_response(request, etag) or image_response(request, checked)
    if etag:
        response["ETag"] = etag
    if response.status_code in (200, 304):
        mark_immutable(response, checked.negotiated)
    response["Access-Control-Allow-Origin"] = "*"  # public: any page may draw it into a canvas
    return response


# The request headers that Django's get_conditional_response() reads, and those it checks
# before If-None-Match.
CONDITIONAL = frozenset(
    ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE")
)
PRECONDITIONS = frozenset(("HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE"))


def conditional_response(request, etag):
    """Return Django's answer (304, 412) to a conditional request, or None.

    Two common cases skip its parsing, with the same answer: no conditional header (None),
    and a revalidation naming exactly this ETag and nothing to check before it (304).
    """
    meta = request.META
    if CONDITIONAL.isdisjoint(meta):
        return None
    if etag and meta.get("HTTP_IF_NONE_MATCH") == etag and PRECONDITIONS.isdisjoint(meta):
        return HttpResponseNotModified()
    return get_conditional_response(request, etag=etag)


def image_response(request, checked):
    """Return the image of a checked URL (its headers alone for a HEAD), or the 400."""
    spec, key, reason, _ = checked
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


def mark_immutable(response, negotiated):
    """Mark an image (or its 304) cacheable by anyone for a year: it never changes for a URL.

    Where the format is negotiated, caches keep it apart by Accept (no response here has a
    Vary yet).
    """
    response["Cache-Control"] = IMMUTABLE
    if negotiated:
        response["Vary"] = "Accept"


def head_response(key, spec):
    """Return GET's headers without rendering: the length only when the image is in the cache."""
    content = image_cache.get(key)
    response = StreamingHttpResponse((), content_type=FORMATS[spec.format])
    if content is not None:
        response["Content-Length"] = len(content)
    response["X-Cache"] = "MISS" if content is None else "HIT"
    return response


HOME_OPTIONS = [  # (what it shows, path after /image/, width, height)
    ("the book's image", "200x100/", 200, 100),
    ("colours (background, text)", "200x100/?bg=1e6f9f&fg=ffd54a", 200, 100),
    ("custom text, two lines", "200x100/?text=Hello%0Aworld", 200, 100),
    ("translucent background", "200x100.png?bg=ff000040&fg=222", 200, 100),
    ("format by extension", "200x100.webp", 200, 100),
    ("format by parameter", "200x100/?format=svg", 200, 100),
    ("retina (twice the pixels)", "200x100@2x.png", 200, 100),
    ("square shorthand", "100/", 100, 100),
    ("aspect ratio: 16:9 of 200 wide", "200x16:9/", 200, 113),
    ("CSS colour names", "200x100/?bg=rebeccapurple&fg=gold", 200, 100),
    ("font=sans", "200x100/?font=sans&text=Sans", 200, 100),
    ("font=serif", "200x100/?font=serif&text=Serif", 200, 100),
    ("font=mono", "200x100/?font=mono&text=Mono", 200, 100),
    ("weight=bold", "200x100/?font=serif&weight=bold&text=Bold", 200, 100),
    (
        "font=cjk (common Chinese, Japanese, Korean)",
        "200x100/?font=cjk&text=%E4%BD%A0%E5%A5%BD%20%EC%95%88%EB%85%95",
        200,
        100,
    ),
    ("AVIF", "200x100.avif", 200, 100),
]


@require_safe
def home(request):
    """Render how to use the service: example URLs and the URL builder (static/builder.js)."""
    image_base = reverse("placeholder", args=(1, 1)).removesuffix("1x1/")
    options = [
        {"what": what, "url": request.build_absolute_uri(image_base + url), "width": w, "height": h}
        for what, url, w, h in HOME_OPTIONS
    ]
    context = {
        "example": request.build_absolute_uri(reverse("placeholder", args=(50, 50))),
        "options": options,
        "image_base": request.build_absolute_uri(image_base),
        "fonts": [DEFAULT_FONT, *FONTS],
        "formats": FORMATS,
        "negotiable": NEGOTIABLE if NEGOTIATE else [],
    }
    return render(request, "home.html", context)


@require_safe
def health(request):
    """200 while this process can render images, never cached. With REDIS_URL it names the
    shared cache's state: Redis down only costs renders, so that is "degraded", still 200."""
    state = {"kind": "redis" if REDIS_URL else "local", "state": "up"}
    body = {"status": "ok", "cache": state}
    if REDIS_URL:
        try:
            cache.has_key("health")
        except Exception as error:  # any failure of the cache's backend
            state["state"] = "down"
            body["status"] = "degraded"
            body["reason"] = f"Redis unreachable ({type(error).__name__}): images are not cached"
    return JsonResponse(body, headers={"Cache-Control": "no-store"})


class PolicyBuiltOnce(CSPMiddleware):
    """django-csp's middleware, with CONTENT_SECURITY_POLICY built once instead of for every
    response. django-csp copies and builds the policy twice a response: in-process a cached
    image took 128-133 µs with it and takes 93 µs; under gunicorn (bench_placeholder, 8 rounds)
    2,020 then 2,209 cached images per server CPU-second, 0.92x then 1.03x hello. A response
    whose view changes the policy, a request that took a nonce and DEBUG's error pages take
    django-csp's own path (placeholder has no report-only policy and no excluded prefix,
    which that path would also handle)."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.policy = build_policy()

    def process_response(self, request, response):
        own = any(name.startswith("_csp") for name in vars(response))
        debug_page = settings.DEBUG and response.status_code in (404, 500)
        if own or debug_page or getattr(request, "_csp_nonce", None):
            return super().process_response(request, response)
        response.headers.setdefault(CSP_HEADER, self.policy)
        return response


def head_without_body(get_response):
    """Return middleware giving a HEAD GET's headers and no body (gunicorn warns of a body).

    Image HEADs render nothing at all: see head_response().
    """

    def middleware(request):
        response = get_response(request)
        if request.method == "HEAD" and not response.streaming and response.content:
            response["Content-Length"] = len(response.content)
            response.content = b""
        return response

    return middleware


# ---- URLs and the entry point --------------------------------------------------------------------


SIDE = r"[0-9]+(?::[0-9]+)?"  # pixels, or a ratio worked out from the other side
IMAGE_PATH = (
    rf"^image/(?P<width>{SIDE})(?:x(?P<height>{SIDE}))?"
    r"(?:@(?P<retina>[0-9]+)x)?(?:\.(?P<extension>[A-Za-z0-9]+))?/?$"
)
urlpatterns = [
    path("image/<int:width>x<int:height>/", placeholder, name="placeholder"),  # the book's URL
    re_path(IMAGE_PATH, placeholder, name="image"),
    re_path(r"^$", home, name="home"),
    path("health", health, name="health"),
]
if METRICS:
    measured = request_timer("placeholder")
    urlpatterns.append(path("metrics", PrometheusDjangoView.as_view(), name="metrics"))

application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
