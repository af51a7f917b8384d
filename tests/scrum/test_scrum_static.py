"""The board's static files once collected (`python scrum.py collectstatic`, as the image does):
hashed names in the page, cached for good, gzipped for clients that take it; HEAD without a
body. Run in a copy of scrum/, so the other tests keep the files served from the app folder."""

import os
import re
import shutil
import subprocess
import sys

import requests
from conftest import SCRUM, SECRET
from harness import gunicorn

PRODUCTION = {"DEBUG": "off", "SECRET_KEY": "scrum-test-key-Hd7Kp3Xv9Qw2Nb5Tz8"}
FOREVER = "max-age=315360000, public, immutable"


def test_collected_scripts_have_hashed_names_are_cached_for_good_and_gzipped(
    start, server_database, tmp_path
):
    copy = tmp_path / "scrum"
    copy.mkdir()
    for name in ("scrum.py", "observability.py"):
        shutil.copy(SCRUM / name, copy)
    shutil.copytree(SCRUM / "board", copy / "board", ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "scrum.py", "collectstatic", "--noinput", "--verbosity", "0"]
    subprocess.run(command, cwd=copy, env={**os.environ, "DEBUG": "on"}, check=True)
    env = {**PRODUCTION, "DATABASE_URL": server_database, "WATERCOOLER_SECRET": SECRET}
    server = start(gunicorn("scrum", copy, env))
    page = requests.get(server.url + "/", timeout=20).text
    scripts = re.findall(r'<script src="(/static/[^"]+)"', page)
    assert scripts and all(re.search(r"\.[0-9a-f]{12}\.js$", src) for src in scripts), scripts
    app = next(src for src in scripts if "/board/js/app." in src)
    gzipped = requests.get(server.url + app, headers={"Accept-Encoding": "gzip"}, timeout=20)
    assert gzipped.status_code == 200
    assert gzipped.headers["Cache-Control"] == FOREVER
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in gzipped.headers["Vary"]
    plain = requests.get(server.url + app, headers={"Accept-Encoding": "identity"}, timeout=20)
    assert "Content-Encoding" not in plain.headers and plain.text == gzipped.text
    head = requests.head(server.url + app, timeout=20)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == gzipped.headers["Content-Length"]  # requests: gzip
    server.stop()
    assert "no-body response" not in server.output()


def test_uncollected_files_are_served_under_their_plain_names(scrum_server):
    server = scrum_server({**PRODUCTION, "WATERCOOLER_SECRET": SECRET})
    page = requests.get(server.url + "/", timeout=20).text
    assert '<script src="/static/board/js/app.js"' in page
    assert requests.get(server.url + "/static/board/js/app.js", timeout=20).status_code == 200
