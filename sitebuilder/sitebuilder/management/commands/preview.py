"""`preview [addrport]`: serve the built site over HTTP the way a static host would."""

from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class PreviewHandler(SimpleHTTPRequestHandler):
    """Files from the build folder; a missing one, or a folder without an index.html, gets the
    site's 404.html with status 404 (no folder listings)."""

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND)

    def send_error(self, code, message=None, explain=None):
        page = Path(self.directory) / "404.html"
        if code != HTTPStatus.NOT_FOUND or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Command(BaseCommand):
    help = "Serve the built site (_build/ or --output DIR) on http://127.0.0.1:8020/."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8020")
        parser.add_argument("--output", help="the folder that was built into (default _build/)")

    def handle(self, *args, **options):
        root = Path(options["output"] or settings.SITE_OUTPUT_DIRECTORY).resolve()
        if not (root / "index.html").is_file():
            raise CommandError(f"{root} holds no built site; run `python prototypes.py build`")
        host, _, port = options["addrport"].rpartition(":")
        host = host or "127.0.0.1"
        if not (port.isascii() and port.isdecimal() and 0 < int(port) < 65536):
            raise CommandError(f"{options['addrport']!r} is not an address:port or a port")
        handler = partial(PreviewHandler, directory=str(root))
        try:
            server = ThreadingHTTPServer((host, int(port)), handler)
        except OSError as exc:
            raise CommandError(f"Cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
        with server:
            self.stdout.write(f"Serving {root} at http://{host}:{port}/")
            self.stdout.flush()
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                self.stdout.write("Stopped.")
