"""placeholder against its peers, all measured in this one run (issue 3).

1. Cold render of a 2000x2000 PNG: placeholder's renderer against the plain Pillow recipe of
   the book (Image.new RGB + ImageDraw.text + save PNG with default settings).
   Target: at most 1/3 of the recipe's time, with a valid, exactly sized and coloured image.
2. Warm requests (image cache hit) and 304s through gunicorn against hello.py's
   "Hello World" under the same gunicorn settings, load from wrk on 127.0.0.1.
   Target: at least 0.8x hello's requests per second; p50/p99 latency reported.
3. Memory under a flood of distinct sizes (wrk, random sizes): worker RSS per phase.
   Target: the growth stays within the documented bound of the image cache.
4. Peak memory of one render of the largest image of each format, each in a fresh process
   (ru_maxrss after the render minus the RSS before it). Target: at most 128 MiB for every format.

Rounds alternate between the contenders and medians are reported: the machine is shared.
Usage: python bench/bench_placeholder.py   (exit status 1 when a target is missed)
"""

import io
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "placeholder"), str(ROOT / "tests")]

import requests  # noqa: E402
from harness import gunicorn  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import placeholder  # noqa: E402

COLD_ROUNDS = 15
HTTP_ROUNDS = 7
WRK_SECONDS = 2
FLOOD_PHASES = 3
FLOOD_SECONDS = 8
SERVER_ENV = {"DEBUG": "off", "SECRET_KEY": "bench-" + "x" * 44, "ALLOWED_HOSTS": "127.0.0.1"}
SERVER_WORKERS = 2
WARM_PATH = "/image/200x100/"
RENDER_MEMORY_BOUND = 128 * 1024 * 1024
LARGEST = {  # format: (width, height, retina factor) of its largest image
    "png": (2000, 2000, 2),
    "gif": (2000, 2000, 2),
    "jpeg": (2000, 2000, 2),
    "webp": (2000, 2000, 1),
    "svg": (2000, 2000, 2),
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
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before)
"""
FLOOD_SCRIPT = """
math.randomseed(os.time())
request = function()
  local path = "/image/" .. math.random(1, 2000) .. "x" .. math.random(1, 2000) .. "/"
  return wrk.format("GET", path)
end
"""


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


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def check_image(content, size):
    """Decoded back: PNG of exactly ``size``, black corner, white centre (the 'X')."""
    image = Image.open(io.BytesIO(content))
    image.load()
    rgb = image.convert("RGB")
    centre = (size[0] // 2, size[1] // 2)
    assert image.format == "PNG" and image.size == size, (image.format, image.size)
    assert rgb.getpixel((0, 0)) == (0, 0, 0) and rgb.getpixel(centre) == (255, 255, 255)
    return image.mode


def cold_render():
    """Median seconds of the book's recipe and of placeholder's renderer, and the ratio."""
    spec = placeholder.Spec(
        2000, 2000, 1, "png", (0, 0, 0, 255), (255, 255, 255, 255), "2000 X 2000"
    )
    book, ours = [], []
    for _ in range(COLD_ROUNDS):
        seconds, book_png = timed(book_recipe, 2000, 2000)
        book.append(seconds)
        seconds, our_png = timed(placeholder.render_image, spec)
        ours.append(seconds)
    mode = check_image(our_png, (2000, 2000))
    book_s, ours_s = statistics.median(book), statistics.median(ours)
    ratio = ours_s / book_s
    print(f"1. cold render of a 2000x2000 PNG (median of {COLD_ROUNDS} rounds)")
    print(f"   book recipe (RGB, default save): {book_s * 1000:7.1f} ms  {len(book_png):6d} bytes")
    print(
        f"   placeholder ({mode} palette, zlib {placeholder.PNG_COMPRESS_LEVEL}):  "
        f"{ours_s * 1000:7.1f} ms  {len(our_png):6d} bytes  (valid, 2000x2000, exact colours)"
    )
    met = ratio <= 1 / 3
    print(f"   ratio {ratio:.3f} of the recipe's time; target <= 0.333: {verdict(met)}")
    return met


def seconds_of(figure):
    """wrk's '1.23ms' / '850.00us' / '1.02s' in seconds."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", figure).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url, *options, seconds=WRK_SECONDS):
    """(requests/s, p50 s, p99 s, non-2xx/3xx responses) of one wrk run against url."""
    command = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", *options, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = seconds_of(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = seconds_of(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(errors.group(1)) if errors else 0


def warm_requests():
    """hello's Hello World against placeholder's cached image and its 304, same gunicorn.

    Each placeholder run is compared with the mean of the hello runs just before and just
    after it, and the median of those ratios is reported: the other load on the machine
    drifts over a minute, and this keeps it out of the ratio.
    """
    hello = gunicorn("hello", ROOT / "hello", SERVER_ENV, workers=SERVER_WORKERS).start()
    ours = gunicorn("placeholder", ROOT / "placeholder", SERVER_ENV, workers=SERVER_WORKERS)
    ours.start()
    try:
        etag = None
        for _ in range(20):  # every worker renders and caches the image once
            etag = _get(ours.url + WARM_PATH)
        runs = {"hello": [wrk(hello.url + "/")], "warm": [], "304": []}
        for _ in range(HTTP_ROUNDS):
            runs["warm"].append(wrk(ours.url + WARM_PATH))
            runs["304"].append(wrk(ours.url + WARM_PATH, "-H", f"If-None-Match: {etag}"))
            runs["hello"].append(wrk(hello.url + "/"))
    finally:
        hello.stop()
        ours.stop()
    hello_rps = [run[0] for run in runs["hello"]]
    hello_around = [(before + after) / 2 for before, after in itertools.pairwise(hello_rps)]
    print(
        f"2. through gunicorn ({SERVER_WORKERS} sync workers, DEBUG=off), wrk -t2 -c8, "
        f"{HTTP_ROUNDS} rounds of {WRK_SECONDS}s, medians"
    )
    met = True
    for name, label in [
        ("hello", "hello.py Hello World"),
        ("warm", f"placeholder {WARM_PATH} cached"),
        ("304", f"placeholder {WARM_PATH} 304"),
    ]:
        rps, p50, p99 = (statistics.median(run[i] for run in runs[name]) for i in range(3))
        errors = sum(run[3] for run in runs[name])
        line = (
            f"   {label:<36} {rps:6.0f} req/s  p50 {p50 * 1000:5.2f} ms  p99 {p99 * 1000:5.2f} ms"
        )
        if name != "hello":
            ratio = statistics.median(
                run[0] / hello for run, hello in zip(runs[name], hello_around, strict=True)
            )
            ok = ratio >= 0.8 and errors == 0
            met = met and ok
            line += f"  ratio {ratio:.2f}; target >= 0.80: {verdict(ok)}"
        if errors:
            line += f"  ({errors} error responses)"
        print(line)
    return met


def _get(url):
    """ETag of a GET that must succeed."""
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return response.headers["ETag"]


def rss_bytes(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def worker_pid(arbiter_pid):
    children = Path(f"/proc/{arbiter_pid}/task/{arbiter_pid}/children").read_text().split()
    return int(children[0])


def memory_flood():
    """Worker RSS while wrk asks one worker for random distinct sizes, phase after phase."""
    ours = gunicorn("placeholder", ROOT / "placeholder", SERVER_ENV, workers=1).start()
    try:
        worker = worker_pid(ours.proc.pid)
        _get(ours.url + WARM_PATH)
        baseline = rss_bytes(worker)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(FLOOD_SCRIPT)
        samples, requests_done = [], 0
        for _ in range(FLOOD_PHASES):
            rps, *_ = wrk(ours.url, "-s", script.name, seconds=FLOOD_SECONDS)
            requests_done += round(rps * FLOOD_SECONDS)
            samples.append((requests_done, rss_bytes(worker)))
        os.unlink(script.name)
    finally:
        ours.stop()
    bound = placeholder.CACHE_ENTRIES * placeholder.MAX_CACHED_BYTES
    render_peak = placeholder.MAX_PIXELS_PER_SIDE**2 * 4  # one RGBA render at the limit
    mib = 1024 * 1024
    print(
        f"3. memory of one worker under a flood of random sizes up to 2000x2000 "
        f"({FLOOD_PHASES} x {FLOOD_SECONDS}s of wrk)"
    )
    print(f"   after warm-up: {baseline / mib:6.1f} MiB RSS")
    for done, rss in samples:
        print(f"   after ~{done:5d} distinct images: {rss / mib:6.1f} MiB RSS")
    growth = samples[-1][1] - baseline
    limit = bound + render_peak
    met = growth <= limit
    print(
        f"   growth {growth / mib:.1f} MiB; bound: cache {placeholder.CACHE_ENTRIES} entries x "
        f"{placeholder.MAX_CACHED_BYTES // 1024} KiB = {bound / mib:.0f} MiB + one render "
        f"{render_peak / mib:.0f} MiB: {verdict(met)}"
    )
    return met


def render_memory():
    """Peak RSS growth of one render of each format's largest image, in a fresh process."""
    print("4. peak memory of one render of the largest image, per format (fresh process each)")
    met = True
    for image_format, (width, height, scale) in LARGEST.items():
        command = [sys.executable, "-c", PEAK_SCRIPT, image_format, width, height, scale]
        done = subprocess.run(
            list(map(str, command)),
            cwd=ROOT / "placeholder",
            capture_output=True,
            text=True,
            check=True,
        )
        peak = int(done.stdout)
        met = met and peak <= RENDER_MEMORY_BOUND
        size = f"{width * scale}x{height * scale}"
        print(f"   {image_format:<5} {size:>9}: {peak / 1024 / 1024:6.1f} MiB")
    print(f"   target: each at most {RENDER_MEMORY_BOUND // 1024 // 1024} MiB: {verdict(met)}")
    return met


def verdict(met):
    return "MET" if met else "NOT MET"


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (.ci/run installs it with apt-get)")
    results = [cold_render(), warm_requests(), memory_flood(), render_memory()]
    print(f"placeholder: {sum(results)} of {len(results)} targets met")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
