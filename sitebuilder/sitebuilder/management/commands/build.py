"""`build [page ...]`: render the site to static files (book ch. 3, atomic and incremental)."""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError

from sitebuilder.builder import BuildError, build
from sitebuilder.pages import SUFFIXES


def shown(path):
    """A path as the user would type it: relative to the current folder when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


class Command(BaseCommand):
    help = (
        "Render every page into the output folder (default SITE_OUTPUT_DIRECTORY, _build/), "
        "or only the named pages, leaving the rest untouched."
    )
    # The checks about what a build uses; not "commands", which imports the migration
    # autodetector (~30 ms of every build's start) for a site that has no database.
    requires_system_checks = [Tags.staticfiles, Tags.templates, Tags.urls]

    def add_arguments(self, parser):
        parser.add_argument("pages", nargs="*", help="page names such as pricing or docs/intro")
        parser.add_argument("--output", help="folder to build into instead of _build/")
        parser.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
        parser.add_argument("--force", action="store_true", help="render every page again")

    def handle(self, *args, **options):
        settings.DEBUG = False
        settings.COMPRESS_ENABLED = True
        output = Path(options["output"] or settings.SITE_OUTPUT_DIRECTORY)
        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1")
        slugs = [self.slug(name) for name in options["pages"]]
        progress = self.progress if options["verbosity"] and sys.stdout.isatty() else None
        try:
            summary = build(output, slugs, options["jobs"], options["force"], progress)
        except BuildError as exc:
            raise CommandError(f"{exc}\nBuild failed; {shown(output)} was left as it was.") from exc
        except OSError as exc:  # a folder that cannot be made, a disk full...
            where = shown(os.fsdecode(exc.filename)) if exc.filename else shown(output)
            raise CommandError(f"{where}: {exc.strerror or exc}\nBuild failed.") from exc
        if options["verbosity"]:
            self.stdout.write(f"Built {shown(output)}: {summary}")

    def slug(self, name):
        """Page names as slugs: pricing, pricing.html and pages/pricing.html are one page."""
        name = name.removeprefix("pages/")
        for suffix in SUFFIXES:
            name = name.removesuffix(suffix)
        return name

    def progress(self, done, total):
        end = "\n" if done == total else ""
        self.stdout.write(f"\rRendering pages: {done}/{total}", ending=end)
        self.stdout.flush()
