"""bench_placeholder's workload and output checks; no timing is asserted."""

import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from harness import require_program

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_placeholder  # noqa: E402
from stats import Report  # noqa: E402


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET with an empty 200 and keeps the paths asked for."""

    protocol_version = "HTTP/1.1"
    paths = []

    def do_GET(self):
        self.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_flood_threads_ask_for_distinct_sizes(tmp_path):
    """The audit found both wrk threads on one seed: 46% of "distinct" images were repeats."""
    wrk = require_program("wrk")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = tmp_path / "flood.lua"
    script.write_text(bench_placeholder.FLOOD_SCRIPT % 1000)
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        subprocess.run([wrk, "-t2", "-c4", "-d1s", "-s", script, url], check=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    paths = Recorder.paths
    assert len(paths) > 200 and all(path.startswith("/image/") for path in paths)
    assert len(set(paths)) >= 0.99 * len(paths)


def test_the_peers_draw_placeholders_picture_and_a_different_one_is_reported():
    rivals = bench_placeholder.groups()[0]  # placeholder, tuned and floor at the first size
    size = next(iter(rivals))[0]
    outputs = {name: function() for (_, name), function in rivals.items()}
    outputs["book"] = bench_placeholder.book_recipe(*size)
    report = Report("placeholder")
    assert bench_placeholder.check_outputs(report, size, outputs)
    outputs["tuned"] = bench_placeholder.tuned_recipe(size[0], size[1] + 1)
    assert not bench_placeholder.check_outputs(report, size, outputs)
    assert report.missed() and "different pictures" in report.missed()[0].verdict


@pytest.mark.parametrize("size", bench_placeholder.SIZES)
def test_the_floor_decodes_to_the_tuned_recipes_picture(size):
    tuned = bench_placeholder.tuned_recipe(*size)
    floor = bench_placeholder.floor_png(*size, bench_placeholder.scanlines_of(tuned))
    assert bench_placeholder.same_picture(floor, tuned)


@pytest.mark.parametrize("image_format", list(bench_placeholder.placeholder.FORMATS))
def test_each_formats_output_is_checked_against_the_picture(image_format):
    """placeholder's own output passes; the image of another size never does."""
    render = bench_placeholder.placeholder.render_image
    spec = bench_placeholder.default_spec
    picture = bench_placeholder.decode(render(spec(50, 50, "png")))
    right = bench_placeholder.right_output(
        image_format, render(spec(50, 50, image_format)), picture
    )
    assert right
    other = render(spec(50, 51, image_format))
    assert image_format == "svg" or not bench_placeholder.right_output(image_format, other, picture)


def test_nginx_serves_placeholders_bytes_and_a_different_body_is_reported():
    """The static file, the cached and the uncached proxied bodies are placeholder's own, and a
    repeat is a cache HIT; a static file that differs fails the check. (The folder is the
    bench's kind: pytest's tmp_path has a parent that nginx's workers, as nobody, cannot
    enter.)"""
    require_program("nginx", "/usr/sbin/nginx")
    report = Report("placeholder")
    with tempfile.TemporaryDirectory() as folder, bench_placeholder.servers(folder) as running:
        assert bench_placeholder.proxied_bodies(report, running)
        (Path(folder) / "static" / "image.png").write_bytes(b"not the image")
        assert not bench_placeholder.proxied_bodies(report, running)
    assert "['static']" in report.missed()[0].verdict
