"""Rapid prototypes: a static site generator in one Django project (Lightweight Django, ch. 3).

    python prototypes.py runserver           # live pages from pages/ (the Procfile uses :8002)
    python prototypes.py build [page ...]    # render the site into _build/ (or --output DIR)
    python prototypes.py preview             # serve the built site over HTTP, as a host would

DEBUG (on/off), SECRET_KEY (random per start when unset), ALLOWED_HOSTS (comma list), SITE_URL
(the address the built site is published at, for sitemap.xml), LOG_FORMAT (text or json) and
METRICS (on: the live server answers /metrics with Prometheus text) come from the
environment; a value that is not one of a setting's choices stops every command at start-up
(exit status 3), naming the variable.
"""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.utils import get_random_secret_key
from observability import env_flag, log_format, logging_config, request_timer

BASE_DIR = Path(__file__).resolve().parent


LOG_FORMAT = log_format("sitebuilder")
METRICS = env_flag("sitebuilder", "METRICS", False)


settings.configure(
    DEBUG=env_flag("sitebuilder", "DEBUG", True),
    SECRET_KEY=os.environ.get("SECRET_KEY") or get_random_secret_key(),
    ALLOWED_HOSTS=os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").replace(",", " ").split(),
    ROOT_URLCONF="sitebuilder.urls",
    MIDDLEWARE=[
        *([f"{__name__}.measured"] if METRICS else []),
        "django.middleware.common.CommonMiddleware",
        "sitebuilder.livereload.LiveReloadMiddleware",  # only under runserver with DEBUG on
    ],
    # sitebuilder first: its runserver (checks, live reload) wraps the staticfiles one.
    INSTALLED_APPS=["sitebuilder", "django.contrib.staticfiles", "compressor"],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"libraries": {"webdesign": "sitebuilder.webdesign"}},
        }
    ],
    SITE_PAGES_DIRECTORY=BASE_DIR / "pages",
    SITE_OUTPUT_DIRECTORY=BASE_DIR / "_build",
    SITE_URL=os.environ.get("SITE_URL", "http://localhost:8002").rstrip("/"),
    SITE_METRICS=METRICS,  # /metrics (Prometheus text) on the live server
    SITE_LIVE_RELOAD=None,  # runserver sets it: how long (s) a browser's /__reload__/ may wait
    STATIC_URL="/static/",
    STATIC_ROOT=BASE_DIR / "_build" / "static",
    STORAGES={
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
        },
    },
    STATICFILES_FINDERS=[
        "django.contrib.staticfiles.finders.FileSystemFinder",
        "django.contrib.staticfiles.finders.AppDirectoriesFinder",
        "compressor.finders.CompressorFinder",
    ],
    # Live pages (DEBUG on) load the separate files; the build bundles and minifies them ahead
    # of time, so a built page only looks its bundles up in the offline manifest.
    COMPRESS_OFFLINE=True,
    COMPRESS_CSS_HASHING_METHOD="content",
    LOGGING=logging_config("sitebuilder", LOG_FORMAT),
)

if METRICS:  # the live server's figures, at /metrics (sitebuilder/urls.py)
    measured = request_timer("sitebuilder")

if __name__ == "__main__":
    import gc

    from django.core.management import execute_from_command_line

    gc.freeze()  # Django, loaded above, lives as long as the process: collections skip it
    execute_from_command_line(sys.argv)
    # So does what the command made (a build's state: 100,000 objects at 10,000 pages): the
    # collection at exit skips it too. A one-page rebuild of 10,000 pages ended 30-40 ms sooner.
    gc.freeze()
