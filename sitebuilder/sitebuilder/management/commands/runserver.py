"""`runserver`: the live pages, reloading the open browser page when a source is saved.

With DEBUG off, pages use the bundles a build made (_build/static) and it serves those, so
without a build it refuses to start and says what to do.
"""

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.contrib.staticfiles.management.commands.runserver import Command as StaticRunserver
from django.core.exceptions import SuspiciousFileOperation
from django.core.management.base import CommandError
from django.http import Http404
from django.views import static

LONG_POLL = 25  # seconds a browser's /__reload__/ request may wait for a change


class Command(StaticRunserver):
    help = "Serve the pages live (reloading open pages on every save; DEBUG off: as built)."

    def handle(self, *args, **options):
        if settings.DEBUG:  # without threads, a waiting poll would hold up every other request
            settings.SITE_LIVE_RELOAD = LONG_POLL if options["use_threading"] else 0
        else:
            require_built_static()
        super().handle(*args, **options)

    def get_handler(self, *args, **options):
        handler = super().get_handler(*args, **options)
        if isinstance(handler, StaticFilesHandler):  # DEBUG on: the sources
            return UncachedStaticFilesHandler(handler.application)
        if options["use_static_handler"]:  # DEBUG off: what the build collected
            return BuiltStaticFilesHandler(handler)
        return handler


class SiteStaticFilesHandler(StaticFilesHandler):
    """Static files; an address reaching outside them is a 404, like any other unknown path."""

    def serve(self, request):
        try:
            return self.serve_file(request)
        except SuspiciousFileOperation:  # "/static/../x": outside every static folder
            raise Http404("Not Found") from None

    def serve_file(self, request):
        return super().serve(request)


class UncachedStaticFilesHandler(SiteStaticFilesHandler):
    """Static files as runserver serves them, never cached, so a reload shows a saved style."""

    def serve_file(self, request):
        response = super().serve_file(request)
        response["Cache-Control"] = "no-store"
        return response


class BuiltStaticFilesHandler(SiteStaticFilesHandler):
    """The static files of the build (STATIC_ROOT, _build/static), for DEBUG off."""

    def serve_file(self, request):
        path = self.file_path(request.path)
        return static.serve(request, path, document_root=settings.STATIC_ROOT)


def require_built_static():
    static = Path(settings.STATIC_ROOT)
    manifests = [static / "staticfiles.json", static / "CACHE" / "manifest.json"]
    if not all(path.is_file() for path in manifests):
        raise CommandError(
            f"DEBUG is off, so pages use the CSS and JavaScript bundles of a build, and "
            f"{static} holds none: run `python prototypes.py build` first, or run with DEBUG on"
        )
