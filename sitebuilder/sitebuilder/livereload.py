"""Live reload for runserver: an open page reloads itself when a source of the site is saved.

Only the live server (runserver with DEBUG on) turns it on, by setting SITE_LIVE_RELOAD to the
seconds a poll may wait; the build renders pages without this middleware, so built pages
never carry the script. Each HTML page gets a small script holding the fingerprint of the
site's sources when the page was made. The script asks /__reload__/?since=<fingerprint>,
which answers as soon as the fingerprint differs (or after SITE_LIVE_RELOAD seconds with the
same one), and reloads the page when the answer is a new fingerprint.
"""

import hashlib
import os
import re
import time

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpResponse
from django.template.autoreload import reset_loaders

from .pages import pages_directory, source_folders, walk_pages

ENDPOINT = "/__reload__/"
CHECK_EVERY = 0.2  # seconds between two looks at the sources while a poll waits
SCRIPT = """<script>/* live reload (runserver only) */(function (since) {
  function poll() {
    fetch("%s?since=" + since, {cache: "no-store"})
      .then(function (answer) { return answer.ok ? answer.text() : Promise.reject(answer); })
      .then(function (version) { version === since ? setTimeout(poll, 300) : location.reload(); })
      .catch(function () { setTimeout(poll, 1000); });
  }
  poll();
})("%s");</script>
"""
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def fingerprint():
    """A digest of the name, size and modification time of every page, template and static
    source file (so a save, a new file and a deletion all change it)."""
    try:
        paths = [path for _, path in walk_pages()]
    except OSError:  # pages/ itself is gone or unreadable: that is a change too
        paths = []
    for folder in source_folders():
        if folder != pages_directory().resolve():
            for top, _, names in os.walk(folder):
                paths += [os.path.join(top, name) for name in names]
    digest = hashlib.blake2b(digest_size=12)
    for path in sorted(paths):
        try:
            status = os.stat(path)
        except OSError:
            continue
        digest.update(f"{path}\0{status.st_mtime_ns}\0{status.st_size}\n".encode())
    return digest.hexdigest()


class LiveReloadMiddleware:
    """Answers /__reload__/ and adds the reload script to every HTML page (live server only)."""

    def __init__(self, get_response):
        if settings.SITE_LIVE_RELOAD is None:
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.seen = None

    def __call__(self, request):
        version = fingerprint()
        if version != self.seen:  # a template may have changed: read the templates again
            reset_loaders()
            self.seen = version
        if request.path_info == ENDPOINT:
            return wait_for_change(request.GET.get("since"), version)
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html") and not response.streaming:
            add_script(response, version)
        return response


def wait_for_change(since, version):
    """The sources' fingerprint, as soon as it is not since (or when the wait is over)."""
    deadline = time.monotonic() + settings.SITE_LIVE_RELOAD
    while version == since and time.monotonic() < deadline:
        time.sleep(CHECK_EVERY)
        version = fingerprint()
    response = HttpResponse(version, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def add_script(response, version):
    """Put the reload script before the page's </body> (or at its end)."""
    charset = response.charset
    content = response.content.decode(charset)
    script = SCRIPT % (ENDPOINT, version)
    ends = list(BODY_END.finditer(content))
    at = ends[-1].start() if ends else len(content)
    response.content = (content[:at] + script + content[at:]).encode(charset)
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
