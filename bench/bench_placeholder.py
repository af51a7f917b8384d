"""placeholder against its peers, all measured in this one run.

1. Cold PNG render at 50x50, 200x100, 640x480 and 2000x2000, the peers interleaved round by
   round (their order rotating) and every output decoded and checked:
   - tuned: Pillow at its best for the same picture: placeholder's text drawn into a full-size
     8-bit palette image, saved at placeholder's zlib level (decodes to exactly our pixels;
     placeholder draws with Pillow too, so the difference is its own steps around the encoder);
   - floor: zlib at that level over the picture's raw 8-bit scanlines (filter byte + row,
     already in memory), with the PNG chunks around it: the least a full-frame encoder does;
   - book: the book's recipe (RGB image, default font and PNG settings), for reference.
   Target: at most 1.1x the tuned recipe's time. Beside it, the other formats at 2000x2000
   in the same rounds, for detail.
2. Bytes of every format placeholder serves, at the same four sizes, against the smallest
   standard encoding of the same pixels (the picture decoded from placeholder's PNG), a table:
   PNG: Pillow's optimize and zlib level 9; GIF: Pillow's optimize; JPEG: Pillow's optimize
   at placeholder's quality; WebP: libwebp lossless at its most effort; AVIF: libavif at
   Pillow's default speed and placeholder's quality (its slowest speed takes seconds). SVG is
   text, shown for detail. Lossless outputs are checked pixel for pixel. Target: at most 1.2x
   the smallest, at every size.
3. A cached image through nginx, against the floor: the same nginx serving placeholder's own
   bytes as a static file (nginx started on free ports from a temporary folder, set up as
   compose's nginx image). As deployed: compose's proxy lines to gunicorn and its proxy_cache
   for the immutable image URLs (deploy/nginx.conf); and, for detail, without a cache. The
   bodies are checked byte for byte against placeholder's, a repeat must be a cache HIT;
   one wrk at a time, the static file and the cached image in the order A B B A (which comes
   first rotating by round). Target: repeat requests through nginx as deployed
   at least 0.8x the static file's requests per second (its requests per CPU-second shown).
4. Cached images and their 304s through gunicorn alone against hello.py's "Hello World" under
   the same gunicorn settings, each with its own wrk at the same time. Target: at least 1x
   hello's requests per CPU-second of the server (req/s, p50 and p99 shown too); no failed
   request (here and through nginx).
5. Memory of one worker under a flood of distinct random sizes: each wrk thread seeded apart,
   every phase at least one cache-full of requests (of the image cache and of the memo of
   validated URLs), so both are cycled once per phase, and RSS is sampled after each phase.
   Target: RSS plateaus, less than 2 MiB of growth over the last two phases; no failed request.
6. Peak memory of one render of each format's largest image, each in a fresh process.
   Target: at most 128 MiB for every format.

Each figure is a median with min and IQR over its rounds; a target is MET only if the median
meets it and no more than a fifth of the rounds miss it (bench/stats.py). Exit status 1 when a
target is missed.

    .venv/bin/python bench/bench_placeholder.py [--quick]
"""

import argparse
import contextlib
import functools
import io
import itertools
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import types
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "placeholder"), str(ROOT / "tests")]

import requests  # noqa: E402
from harness import Service, free_port, gunicorn, require_program  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from stats import Report, Target, spread, wrk_errors  # noqa: E402

import placeholder  # noqa: E402

MIB = 1024 * 1024
TICKS = os.sysconf("SC_CLK_TCK")
SIZES = [(50, 50), (200, 100), (640, 480), (2000, 2000)]
RENDER_BOUND = 1.1  # at most this share of the tuned recipe's time
BYTES_BOUND = 1.2  # at most this share of the smallest standard encoding of the same pixels
AVIF_DEFAULT_SPEED = 6  # Pillow's; speed 0 is smaller still, but takes seconds at 640x480
LOSSY = {"jpeg", "avif"}
SIZE_LABEL = ", ".join(f"{w}x{h}" for w, h in SIZES)
BLACK, WHITE = (0, 0, 0, 255), (255, 255, 255, 255)
OTHER_FORMATS = [f for f in placeholder.FORMATS if f != "png"]  # AVIF where Pillow has it
SERVER_ENV = {"DEBUG": "off", "SECRET_KEY": "bench-" + "x" * 44, "ALLOWED_HOSTS": "127.0.0.1"}
SERVER_WORKERS = 2
WARM_PATH = "/image/200x100/"
STATIC_BOUND = 0.8  # nginx as deployed: at least this share of its static file's req/s
HELLO_BOUND = 1.0  # gunicorn alone: at least this share of hello's requests per CPU-second
PLATEAU = 2 * MIB  # growth allowed over the last two flood phases
# A flood phase fills the image cache and the memo of validated URLs once over, at least.
PHASE_REQUESTS = max(placeholder.CACHE_ENTRIES, placeholder.VALIDATED_URLS)
RENDER_MEMORY_BOUND = 128 * MIB
LARGEST = {  # format: (width, height, retina factor) of its largest image
    "png": (2000, 2000, 2),
    "gif": (2000, 2000, 2),
    "jpeg": (2000, 2000, 2),
    "webp": (2000, 2000, 1),
    "avif": (2000, 2000, 1),
    "svg": (2000, 2000, 2),
}
FULL = {
    "rounds": 20,
    "batch_seconds": 0.05,
    "http_rounds": 10,
    "wrk_seconds": 2,
    "phases": 5,
    "flood_seconds": 4,
}
QUICK = {
    "rounds": 6,
    "batch_seconds": 0.02,
    "http_rounds": 3,
    "wrk_seconds": 1,
    "phases": 3,
    "flood_seconds": 2,
}
PEAK_SCRIPT = """
import resource, sys
import placeholder
image_format, width, height, scale = sys.argv[1], *map(int, sys.argv[2:])
white, black = (255, 255, 255, 255), (0, 0, 0, 255)
spec = placeholder.Spec(width, height, scale, image_format, black, white, f"{width} X {height}")
with open("/proc/self/statm") as statm:  # resident pages now, before the render
    before = int(statm.read().split()[1]) * resource.getpagesize()
placeholder.render_image(spec)
with open("/proc/self/status") as status:  # VmHWM, unlike ru_maxrss, is not inherited
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(peak * 1024 - before)
"""
# The floor and placeholder as deployed, in one nginx set up as compose's nginx image is (a
# worker per core, sendfile, keep-alive), with deploy/nginx.conf's proxy lines and its cache of
# the immutable images. Both keep their files open (open_file_cache), as deploy/nginx.conf does
# for the cached images: the floor is the fastest static file nginx serves.
NGINX_CONFIG = """
daemon off;
worker_processes auto;
pid %(prefix)s/nginx.pid;
error_log %(prefix)s/error.log warn;
%(user)s
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path %(prefix)s/body;
    proxy_temp_path %(prefix)s/proxy;
    fastcgi_temp_path %(prefix)s/fastcgi;
    uwsgi_temp_path %(prefix)s/uwsgi;
    scgi_temp_path %(prefix)s/scgi;
    upstream placeholder { server 127.0.0.1:%(upstream)d; }
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_connect_timeout 2s;
    proxy_cache_path %(prefix)s/cache levels=1:2 keys_zone=images:1m max_size=64m
                     inactive=1d use_temp_path=off;
    server {  # the floor: placeholder's own bytes as a static file
        listen 127.0.0.1:%(static)d;
        root %(prefix)s/static;
        location = %(path)s {
            try_files /image.png =404;
            default_type %(type)s;
            open_file_cache max=1000;
        }
    }
    server {  # as deployed, images kept by nginx for as long as their Cache-Control says
        listen 127.0.0.1:%(cached)d;
        location / { proxy_pass http://placeholder; }
        location /image/ {
            proxy_pass http://placeholder;
            proxy_cache images;
            open_file_cache max=1000;
            add_header X-Proxy-Cache $upstream_cache_status always;
        }
    }
    server {  # without the cache: every request goes to gunicorn
        listen 127.0.0.1:%(proxied)d;
        location / { proxy_pass http://placeholder; }
    }
}
"""
# Every thread (its own Lua state) gets its own seed from setup(), so no two share a sequence:
# 4 million sizes, a few thousand requests, hardly a repeat.
FLOOD_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", %d + threads)
end
function init(args)
  math.randomseed(seed)
end
function request()
  local path = "/image/" .. math.random(1, 2000) .. "x" .. math.random(1, 2000) .. "/"
  return wrk.format("GET", path)
end
"""


# 1. Cold render -------------------------------------------------------------------------


def default_spec(width, height, image_format):
    """The Spec of placeholder's default image (black, white "W X H") at this size."""
    return placeholder.Spec(width, height, 1, image_format, BLACK, WHITE, f"{width} X {height}")


def book_recipe(width, height):
    """The book's generate(): RGB image, default font, text centred when it fits, PNG."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    text = f"{width} X {height}"
    left, top, right, bottom = draw.textbbox((0, 0), text)
    if right - left < width and bottom - top < height:
        draw.text(((width - right + left) // 2, (height - bottom + top) // 2), text, fill="white")
    content = io.BytesIO()
    image.save(content, "PNG")
    return content.getvalue()


def tuned_recipe(width, height):
    """The same picture the way Pillow does it best: the text drawn into a full-size 8-bit
    palette image, saved at placeholder's zlib level."""
    text = f"{width} X {height}"
    image = placeholder.text_mask(width, height, placeholder.text_ink(text, width, height, None))
    image.putpalette(placeholder.blend_palette(BLACK[:3], WHITE[:3]), "RGB")
    content = io.BytesIO()
    image.save(content, "PNG", compress_level=placeholder.PNG_COMPRESS_LEVEL)
    return content.getvalue()


def floor_png(width, height, scanlines):
    """zlib at placeholder's level over the raw scanlines, and the PNG chunks around it."""
    chunks = [
        (b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)),
        (b"PLTE", placeholder.blend_palette(BLACK[:3], WHITE[:3])),
        (b"IDAT", zlib.compress(scanlines, placeholder.PNG_COMPRESS_LEVEL)),
        (b"IEND", b""),
    ]
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(*chunk) for chunk in chunks)


def png_chunk(kind, data):
    """One PNG chunk: length, kind, data and the CRC of kind and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def scanlines_of(png):
    """The raw 8-bit scanlines of a palette PNG: filter byte 0, then the row."""
    image = decode(png)
    rows = image.tobytes()
    return b"".join(b"\0" + rows[y : y + image.width] for y in range(0, len(rows), image.width))


def decode(content):
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def same_picture(content, reference):
    """Decoded, the same size, mode, palette and pixels?"""
    a, b = decode(content), decode(reference)
    return (a.format, a.mode, a.size, a.palette.tobytes(), a.tobytes()) == (
        b.format,
        b.mode,
        b.size,
        b.palette.tobytes(),
        b.tobytes(),
    )


def groups():
    """The contenders as groups of {(size, name): function giving the image bytes}; a group's
    members are timed call by call in turn. The book's recipe, whose default font is loaded
    anew on every call, is timed apart so that it cannot slow the others' font caches."""
    rivals, books = [], []
    for width, height in SIZES:
        spec = default_spec(width, height, "png")
        scanlines = scanlines_of(tuned_recipe(width, height))
        size = width, height
        rivals.append(
            {
                (size, "placeholder"): functools.partial(placeholder.render_image, spec),
                (size, "tuned"): functools.partial(tuned_recipe, width, height),
                (size, "floor"): functools.partial(floor_png, width, height, scanlines),
            }
        )
        books.append({(size, "book"): functools.partial(book_recipe, width, height)})
    others = {
        ((2000, 2000), image_format): functools.partial(
            placeholder.render_image,
            default_spec(2000, 2000, image_format),
        )
        for image_format in OTHER_FORMATS
    }
    return [*rivals, *books, others]


def check_outputs(report, size, outputs):
    """placeholder, tuned and floor decode to the same picture; the book's is right-sized."""
    figure = f"placeholder PNG {size[0]}x{size[1]}: output checked"
    ours = outputs["placeholder"]
    book = decode(outputs["book"])
    if not (same_picture(ours, outputs["tuned"]) and same_picture(ours, outputs["floor"])):
        report.fail(figure, "placeholder, tuned and floor decode to different pictures")
        return False
    if (book.size, book.mode) != (size, "RGB"):
        report.fail(figure, f"the book's recipe gave {book.mode} {book.size}")
        return False
    return True


def timed(function):
    """(CPU seconds of this thread, result) of one call: other programs' load does not count."""
    start = time.thread_time()
    result = function()
    return time.thread_time() - start, result


def interleaved_round(functions, repeats, number):
    """Seconds per call of each function, over ``repeats`` turns in which each is called once,
    in an order rotated by ``number``."""
    keys = list(functions)
    keys = keys[number % len(keys) :] + keys[: number % len(keys)]
    totals = dict.fromkeys(keys, 0.0)
    for _ in range(repeats):
        for key in keys:
            totals[key] += timed(functions[key])[0]
    return {key: total / repeats for key, total in totals.items()}


def cold_render(report, rounds, batch_seconds):
    """Every group's contenders interleaved call by call, round after round; then the rows."""
    plan = groups()
    outputs, repeats = {}, []
    for group in plan:  # warm-up, and how many turns make a round of the group
        slowest = 0.0
        for key, function in group.items():
            seconds, outputs[key] = timed(function)
            slowest = max(slowest, seconds)
        repeats.append(max(1, round(batch_seconds / slowest)))
    times = {key: [] for key in outputs}
    for number in range(rounds):
        for group, turns in zip(plan, repeats, strict=True):
            for key, seconds in interleaved_round(group, turns, number).items():
                times[key].append(seconds)
    print(
        f"1. cold render, CPU time, {rounds} rounds of ~{batch_seconds * 1000:.0f} ms a size, the "
        "contenders called in turn; placeholder PNG zlib level "
        f"{placeholder.PNG_COMPRESS_LEVEL}"
    )
    for size in SIZES:
        label = f"{size[0]}x{size[1]}"
        if not check_outputs(report, size, {name: outputs[size, name] for name in PEERS_AND_US}):
            continue
        ours = times[size, "placeholder"]
        ms = [seconds * 1000 for seconds in ours]
        for peer in ("tuned", "floor", "book"):
            theirs = times[size, peer]
            ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
            bound = RENDER_BOUND if peer == "tuned" else None
            report.row(
                f"placeholder PNG cold render {label}, against {peer}",
                f"{spread(ms, ' ms', 3)}, {len(outputs[size, 'placeholder']):,} bytes",
                f"{PEERS[peer]}: {spread([s * 1000 for s in theirs], ' ms', 3)}, "
                f"{len(outputs[size, peer]):,} bytes",
                f"{spread(ratios, 'x', 2)} of the {peer}'s time",
                None if bound is None else Target(ratios, "<=", bound, "x the tuned recipe"),
            )
    for image_format in OTHER_FORMATS:
        key = (2000, 2000), image_format
        report.row(
            f"placeholder {image_format} cold render 2000x2000",
            f"{spread([s * 1000 for s in times[key]], ' ms', 1)}, {len(outputs[key]):,} bytes",
        )


PEERS = {
    "tuned": "Pillow, 8-bit palette, same zlib level",
    "floor": "zlib over the raw scanlines + chunks",
    "book": "book recipe (RGB, default save)",
}
PEERS_AND_US = ["placeholder", *PEERS]


# 2. Bytes of every format -----------------------------------------------------------------


def encoded(image, image_format, options):
    """``image`` encoded by Pillow with ``options``."""
    content = io.BytesIO()
    image.save(content, image_format.upper(), **options)
    return content.getvalue()


def standard_encodings():
    """{format: (what, the mode it encodes, Pillow's options of its smallest outputs)}."""
    return {
        "png": ("Pillow optimize; zlib level 9", "P", [{"optimize": True}, {"compress_level": 9}]),
        "gif": ("Pillow optimize", "P", [{"optimize": True}]),
        "jpeg": (
            "Pillow optimize, the same quality",
            "RGB",
            [{**placeholder.ENCODER_OPTIONS["jpeg"], "optimize": True}],
        ),
        "webp": (
            "libwebp lossless at its most effort (method 6, quality 100)",
            "RGB",
            [{"lossless": True, "method": 6, "quality": 100}],
        ),
        "avif": (
            f"libavif at Pillow's default speed ({AVIF_DEFAULT_SPEED}), the same quality",
            "RGB",
            [{**placeholder.ENCODER_OPTIONS["avif"], "speed": AVIF_DEFAULT_SPEED}],
        ),
    }


def right_output(image_format, content, picture):
    """Does placeholder's ``content`` hold ``picture``: the same pixels for a lossless format,
    the same size for a lossy one, an SVG document for SVG?"""
    if image_format == "svg":
        return content.startswith(b"<svg")
    image = decode(content)
    if image_format in LOSSY:
        return image.size == picture.size
    return image.convert("RGB").tobytes() == picture.convert("RGB").tobytes()


def format_bytes(report):
    """Each format's bytes at each size against the smallest standard encoder's output of the
    same pixels (the picture decoded from placeholder's PNG): a table, a row per format."""
    standard = standard_encodings()
    cells = {}
    for width, height in SIZES:
        picture = decode(placeholder.render_image(default_spec(width, height, "png")))
        for image_format in placeholder.FORMATS:
            ours = placeholder.render_image(default_spec(width, height, image_format))
            if not right_output(image_format, ours, picture):
                report.fail(f"placeholder {image_format} {width}x{height}", "wrong picture")
                return
            smallest = None
            if image_format in standard:
                _, mode, choices = standard[image_format]
                source = picture.convert(mode)
                smallest = min(len(encoded(source, image_format, o)) for o in choices)
            cells[image_format, (width, height)] = len(ours), smallest
    print_bytes_table(cells)
    for image_format in placeholder.FORMATS:
        mine = {size: cells[image_format, size] for size in SIZES}
        listed = "; ".join(f"{w}x{h}: {ours:,}" for (w, h), (ours, _) in mine.items())
        if image_format not in standard:
            report.row(f"placeholder {image_format} bytes at {SIZE_LABEL}", f"{listed} bytes")
            continue
        ratios = [ours / smallest for ours, smallest in mine.values()]
        report.row(
            f"placeholder {image_format} bytes at {SIZE_LABEL}, against the smallest standard "
            "encoding of the same pixels",
            f"{listed} bytes",
            f"{standard[image_format][0]}: "
            + "; ".join(f"{w}x{h}: {smallest:,}" for (w, h), (_, smallest) in mine.items())
            + " bytes",
            ", ".join(f"{ratio:.2f}x" for ratio in ratios),
            Target([max(ratios)], "<=", BYTES_BOUND, "x the smallest, at every size"),
        )


def print_bytes_table(cells):
    """The table of bytes: a line per format and size."""
    print(
        "\n2. bytes of placeholder's default image in every format, against the smallest "
        "standard encoding of the same pixels (SVG: text, no pixels)"
    )
    print(f"   {'format':<7}{'size':>10}{'ours':>10}{'smallest':>10}{'ratio':>8}")
    for (image_format, (width, height)), (ours, smallest) in cells.items():
        ratio = f"{ours / smallest:.2f}x" if smallest else ""
        smallest = f"{smallest:,}" if smallest else "-"
        print(f"   {image_format:<7}{f'{width}x{height}':>10}{ours:>10,}{smallest:>10}{ratio:>8}")


# 3 and 4. Cached images: the static file, nginx as deployed, gunicorn alone, hello ------


def seconds_of(figure):
    """wrk's '1.23ms' / '850.00us' / '1.02s' in seconds."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", figure).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url, *options, seconds):
    """{rps, p50, p99 (s), requests, errors} of one wrk run; errors are socket errors plus
    non-2xx/3xx responses."""
    command = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", *options, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": seconds_of(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": seconds_of(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": sum(wrk_errors(out)),
    }


def server_cpu(server):
    """CPU seconds used so far by a server (gunicorn, nginx): its first process and the
    processes it started (gunicorn's workers, nginx's)."""
    first = server.proc.pid
    children = Path(f"/proc/{first}/task/{first}/children").read_text().split()
    total = 0
    for pid in [first, *map(int, children)]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def measured(url, servers, *options, seconds):
    """One wrk run against ``url`` with the CPU per request (cpu, in seconds) of the
    ``servers`` that answer it."""
    before = sum(map(server_cpu, servers))
    run = wrk(url, *options, seconds=seconds)
    run["cpu"] = (sum(map(server_cpu, servers)) - before) / max(run["requests"], 1)
    return run


def nginx(folder, upstream, content):
    """An nginx Service serving ``content`` at WARM_PATH as a static file (on its own port)
    and the gunicorn at port ``upstream`` with and without its cache: (service, {case: url})."""
    ports = {case: free_port() for case in ("static", "cached", "proxied")}
    (folder / "static").mkdir()
    (folder / "static" / "image.png").write_bytes(content)
    if os.geteuid() == 0:  # nginx's workers run as nobody: they read folder and write in it
        folder.chmod(0o755)
    settings = {"prefix": folder, "upstream": upstream, "path": WARM_PATH, "type": "image/png"}
    settings["user"] = "user nobody nogroup;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(NGINX_CONFIG % (settings | ports))
    program = require_program("nginx", "/usr/sbin/nginx")
    command = [program, "-p", folder, "-c", folder / "nginx.conf", "-e", folder / "error.log"]
    service = Service(command, ROOT, port=ports["static"], ready_path=WARM_PATH)
    urls = {case: f"http://127.0.0.1:{port}{WARM_PATH}" for case, port in ports.items()}
    return service, urls


@contextlib.contextmanager
def servers(folder):
    """hello and placeholder under gunicorn, and nginx in front of placeholder, all started;
    nginx's static file is placeholder's image at WARM_PATH as placeholder serves it."""
    with contextlib.ExitStack() as stack:
        hello = gunicorn("hello", ROOT / "hello", SERVER_ENV, workers=SERVER_WORKERS)
        ours = gunicorn("placeholder", ROOT / "placeholder", SERVER_ENV, workers=SERVER_WORKERS)
        stack.enter_context(hello)
        stack.enter_context(ours)
        for _ in range(20):  # every worker renders and caches the image once
            content = get(ours.url + WARM_PATH).content
        front, urls = nginx(Path(folder), ours.port, content)
        stack.enter_context(front)
        yield types.SimpleNamespace(hello=hello, ours=ours, nginx=front, urls=urls)


def rotated(keys, number):
    """``keys`` rotated by ``number``: the order of a round."""
    keys = list(keys)
    return keys[number % len(keys) :] + keys[: number % len(keys)]


def proxied_bodies(report, running):
    """Are nginx's static file and its proxied answers byte for byte placeholder's image, and
    is a repeat request an nginx cache HIT?"""
    figure = f"placeholder {WARM_PATH} through nginx: output checked"
    ours = get(running.ours.url + WARM_PATH).content
    bodies = {case: body(url) for case, url in running.urls.items()}
    status = get(running.urls["cached"]).headers.get("X-Proxy-Cache")
    different = [case for case, body in bodies.items() if body != ours]
    if different or status != "HIT":
        report.fail(figure, f"bodies unlike placeholder's: {different}; a repeat was {status}")
        return False
    print(f"   {figure}: {len(ours):,} bytes, identical in every case; a repeat is a HIT")
    return True


def nginx_requests(report, running, rounds, seconds):
    """placeholder's image repeated through nginx as deployed (its cache), and through nginx
    without a cache, against nginx serving the same bytes as a static file; one wrk at a time.
    A round runs the static file and the cached image in the order A B B A (which comes first
    rotating), so that a load that drifts weighs on both alike, then the uncached case once.
    The target is on requests per second; nginx's requests per CPU-second are shown too."""
    print(
        f"\n3. {WARM_PATH} through nginx ({running.urls['static'].split('/image')[0]}, "
        f"workers: one per core), wrk -t2 -c8, one case at a time, {rounds} rounds of "
        f"static and cached in the order A B B A, then uncached, {seconds}s each"
    )
    if not proxied_bodies(report, running):
        return []
    answering = {
        "static": [running.nginx],
        "cached": [running.nginx],
        "proxied": [running.nginx, running.ours],
    }
    runs = {case: [] for case in answering}
    ratios = {"cached": [], "proxied": [], "cached CPU": []}
    for number in range(rounds):
        first, second = rotated(["static", "cached"], number)
        done = {case: [] for case in answering}
        for case in (first, second, second, first, "proxied"):
            done[case].append(measured(running.urls[case], answering[case], seconds=seconds))
        merged = {case: combined(case_runs) for case, case_runs in done.items()}
        ratios["cached"].append(merged["cached"]["rps"] / merged["static"]["rps"])
        ratios["proxied"].append(merged["proxied"]["rps"] / merged["static"]["rps"])
        ratios["cached CPU"].append(merged["static"]["cpu"] / merged["cached"]["cpu"])
        for case, run in merged.items():
            runs[case].append(run)
    static = figures(runs["static"])
    for case, label, bound in [
        ("cached", "repeated through nginx as deployed (proxy_cache)", STATIC_BOUND),
        ("proxied", "through nginx without a cache", None),
    ]:
        cpu = f"; {spread(ratios['cached CPU'], 'x', 2)} of its req/CPU-s" if bound else ""
        report.row(
            f"placeholder {WARM_PATH} {label}: requests per second against nginx's static file",
            figures(runs[case]),
            f"nginx, the same bytes as a static file: {static}",
            f"{spread(ratios[case], 'x', 2)} of the static file's req/s{cpu}",
            None if bound is None else Target(ratios[case], ">=", bound, "x the static file"),
        )
    return [run for case in runs for run in runs[case]]


def combined(runs):
    """One round's figures from its wrk runs of one case: the means, and the requests and
    errors summed."""
    mean = {key: sum(run[key] for run in runs) / len(runs) for key in ("rps", "p50", "p99", "cpu")}
    return mean | {key: sum(run[key] for run in runs) for key in ("requests", "errors")}


def gunicorn_requests(report, running, rounds, seconds):
    """hello's Hello World against placeholder's cached image and its 304, same gunicorn.

    The figure is requests per CPU-second of the server (its arbiter and workers, from /proc):
    wrk and the other programs on the machine do not count. Each placeholder run has its own
    hello run at the same time (each server its own wrk), so both meet the same load.
    """
    etag = get(running.ours.url + WARM_PATH).headers["ETag"]
    cases = {"warm": (), "304": ("-H", f"If-None-Match: {etag}")}
    runs = {name: [] for name in cases} | {"hello": []}
    pairs = {name: [] for name in cases}
    url = running.ours.url + WARM_PATH
    with ThreadPoolExecutor(1) as pool:
        for _ in range(rounds):
            for name, options in cases.items():
                theirs = pool.submit(
                    measured, running.hello.url + "/", [running.hello], seconds=seconds
                )
                mine = measured(url, [running.ours], *options, seconds=seconds)
                runs[name].append(mine)
                runs["hello"].append(theirs.result())
                pairs[name].append(theirs.result()["cpu"] / mine["cpu"])
    print(
        f"\n4. gunicorn alone ({SERVER_WORKERS} sync workers, DEBUG=off), wrk -t2 -c8 on each "
        f"server at the same time, {rounds} rounds of {seconds}s; requests per server CPU-second"
    )
    hello_figures = figures(runs["hello"])
    for name, label in [("warm", f"{WARM_PATH} cached"), ("304", f"{WARM_PATH} 304")]:
        report.row(
            f"placeholder {label}: requests per server CPU-second against hello",
            figures(runs[name]),
            f"hello.py Hello World: {hello_figures}",
            spread(pairs[name], "x", 2),
            Target(pairs[name], ">=", HELLO_BOUND, "x hello"),
        )
    return [run for name in runs for run in runs[name]]


def warm_requests(report, rounds, seconds):
    """Cached images through nginx and through gunicorn alone, and the failed requests."""
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as folder, servers(folder) as running:
        done = nginx_requests(report, running, rounds, seconds)
        done += gunicorn_requests(report, running, rounds, seconds)
    errors = sum(run["errors"] for run in done)
    report.row(
        "placeholder cached, 304, through nginx: failed requests (socket errors, non-2xx)",
        f"{errors} of {sum(run['requests'] for run in done):,}",
        target=Target([errors], "==", 0),
    )


def figures(runs):
    return (
        f"{spread([1 / r['cpu'] for r in runs], ' req/CPU-s', 0)}; "
        f"{spread([r['rps'] for r in runs], ' req/s', 0)}; p50 "
        f"{spread([r['p50'] * 1000 for r in runs], ' ms', 2)}; p99 "
        f"{spread([r['p99'] * 1000 for r in runs], ' ms', 2)}"
    )


def get(url):
    """A GET that must succeed."""
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return response


def body(url):
    """A GET's body; None if it failed or was broken off (nginx cuts a file that changed
    under its open_file_cache short of its Content-Length)."""
    try:
        return get(url).content
    except requests.RequestException:
        return None


# 5. Memory flood ------------------------------------------------------------------------


def rss_bytes(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def worker_pid(arbiter_pid):
    children = Path(f"/proc/{arbiter_pid}/task/{arbiter_pid}/children").read_text().split()
    return int(children[0])


def flood_phase(url, folder, number, seconds):
    """wrk runs of ``seconds`` (each thread seeded apart) until PHASE_REQUESTS are done;
    (requests, failed requests)."""
    done = errors = 0
    for run in itertools.count():
        script = Path(folder) / f"flood-{number}-{run}.lua"
        script.write_text(FLOOD_SCRIPT % (1000 * (100 * number + run)))
        result = wrk(url, "-s", str(script), seconds=seconds)
        done, errors = done + result["requests"], errors + result["errors"]
        if done >= PHASE_REQUESTS:
            return done, errors


def memory_flood(report, phases, seconds):
    """Worker RSS after each phase of a flood of distinct random sizes."""
    ours = gunicorn("placeholder", ROOT / "placeholder", SERVER_ENV, workers=1).start()
    try:
        worker = worker_pid(ours.proc.pid)
        get(ours.url + WARM_PATH)
        baseline = rss_bytes(worker)
        samples, done, errors = [], 0, 0
        with tempfile.TemporaryDirectory() as folder:
            for number in range(phases):
                requests_done, failed = flood_phase(ours.url, folder, number, seconds)
                done, errors = done + requests_done, errors + failed
                samples.append((done, rss_bytes(worker)))
    finally:
        ours.stop()
    print(
        f"\n5. one worker under a flood of random sizes up to 2000x2000, {phases} phases of at "
        f"least {PHASE_REQUESTS} requests (image cache {placeholder.CACHE_ENTRIES} entries, "
        f"{placeholder.VALIDATED_URLS} validated URLs), wrk -t2 -c8"
    )
    print(f"   after warm-up: {baseline / MIB:6.1f} MiB RSS")
    for requests_done, rss in samples:
        print(f"   after {requests_done:6,} images: {rss / MIB:6.1f} MiB RSS")
    growth = max(rss for _, rss in samples[-2:]) - samples[-3][1]
    report.row(
        "placeholder flood of distinct sizes: RSS growth over the last two phases",
        f"{growth / MIB:.1f} MiB (RSS per phase: "
        f"{', '.join(f'{rss / MIB:.1f}' for _, rss in samples)} MiB; "
        f"{baseline / MIB:.1f} MiB after warm-up; {done:,} requests)",
        target=Target([growth / MIB], "<", PLATEAU / MIB, " MiB"),
    )
    report.row(
        "placeholder flood: failed requests (socket errors, non-2xx)",
        f"{errors} of {done:,}",
        target=Target([errors], "==", 0),
    )


# 6. Peak memory of one render -----------------------------------------------------------


def peak_memory(image_format, width, height, scale):
    """Peak RSS growth in bytes of one render, in a fresh process."""
    command = [sys.executable, "-c", PEAK_SCRIPT, image_format, width, height, scale]
    done = subprocess.run(
        list(map(str, command)),
        cwd=ROOT / "placeholder",
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def render_memory(report):
    """Peak RSS growth of one render of each format's largest image, in a fresh process."""
    for image_format, (width, height, scale) in LARGEST.items():
        peak = peak_memory(image_format, width, height, scale) / MIB
        report.row(
            f"placeholder {image_format} {width * scale}x{height * scale}: peak memory of one "
            "render (fresh process)",
            f"{peak:.1f} MiB",
            target=Target([peak], "<=", RENDER_MEMORY_BOUND / MIB, " MiB"),
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds and short phases")
    args = parser.parse_args()
    options = QUICK if args.quick else FULL
    require_program("wrk")
    report = Report("placeholder")
    cold_render(report, options["rounds"], options["batch_seconds"])
    format_bytes(report)
    warm_requests(report, options["http_rounds"], options["wrk_seconds"])
    memory_flood(report, options["phases"], options["flood_seconds"])
    render_memory(report)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
