"""The scrum board service (Lightweight Django, chapters 4-6 and 8): settings, URLs, entry point.

    python scrum.py migrate && python scrum.py seed_demo   # database + demo user demo/test
    python scrum.py runserver                             # development server on :8000
    gunicorn scrum:application                            # production, from inside scrum/

Configuration comes from the environment (see the README): DEBUG, SECRET_KEY, ALLOWED_HOSTS,
DATABASE_URL (SQLite file next to this module by default, or postgres://...), REDIS_URL (the
shared cache; default: a table in the database), NUM_PROXIES (proxies in front, whose
X-Forwarded-For is trusted; default 0), HTTPS (on behind TLS: redirects, secure cookies,
HSTS), TOKEN_IDLE_DAYS (days an unused API token lives; default 14), and the watercooler's
WATERCOOLER_SERVER (hooks), WATERCOOLER_PUBLIC (links.channel; default WATERCOOLER_SERVER),
WATERCOOLER_SECURE and WATERCOOLER_SECRET.
With DEBUG off the service refuses to start without SECRET_KEY and WATERCOOLER_SECRET, or with
one that is short or a published placeholder. GET /health: 200 while the database and the
cache answer, else 503 naming what is down. LOG_FORMAT (text or json): see observability.py.
METRICS (on/off, default off): Prometheus text at /metrics (board/metrics.py).
"""

import os
import sys
from pathlib import Path

import dj_database_url
import django
from board.logs import Repeats
from django.conf import settings
from observability import (
    BOOT_ERROR,
    env_flag,
    log_format,
    logging_config,
    request_timer,
    share_metrics_folder,
)

BASE_DIR = Path(__file__).resolve().parent
CACHE_TABLE = "scrum_cache"
# Parts of values that are published (examples, dev-only defaults), so never secret.
PLACEHOLDER_SECRETS = ("change-me", "changeme", "change_me", "dev-only", "django-insecure")
REDIS_SOCKET_SECONDS = 1  # a Redis that hangs costs a request at most this, twice
BODY_LIMIT = 1024 * 1024  # bytes of one request's body; a task's largest JSON is ~60 KB


def unsafe_secret(value):
    """Why a secret is unfit for production (too short, too few characters, a placeholder)."""
    if len(value) < 32:
        return "is shorter than 32 characters"
    if len(set(value)) < 5:
        return "has fewer than 5 different characters"
    if any(placeholder in value.lower() for placeholder in PLACEHOLDER_SECRETS):
        return "is a published placeholder"
    return None


def required_secret(name, debug):
    """A secret from the environment; a dev-only value with DEBUG on, else a start-up error
    when it is missing or unsafe."""
    value = os.environ.get(name)
    if not debug:
        problem = unsafe_secret(value) if value else "must be set when DEBUG is off"
        if problem:
            print(f"scrum: {name} {problem} (refusing to start)", file=sys.stderr)
            sys.exit(BOOT_ERROR)
    return value or f"dev-only-{name.lower()}-do-not-use-in-production"


def env_count(name):
    """A non-negative integer environment variable (default 0), or a start-up error."""
    value = os.environ.get(name, "0")
    if not value.isdecimal():
        print(f"scrum: {name} must be a whole number, not {value!r}", file=sys.stderr)
        sys.exit(BOOT_ERROR)
    return int(value)


def env_days(name, default):
    """Return a positive whole number of days from the environment, or stop (exit 3)."""
    value = os.environ.get(name, default)
    if not value.isdecimal() or int(value) < 1:
        print(
            f"scrum: {name} must be a whole number of days (1 or more), not {value!r}",
            file=sys.stderr,
        )
        sys.exit(BOOT_ERROR)
    return int(value)


def cache(redis_url):
    """CACHES['default'], shared by every worker (the login throttle counts there): Redis at
    REDIS_URL, else a table in the database (created by the board's migrations)."""
    if redis_url:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_SOCKET_SECONDS,
                "socket_timeout": REDIS_SOCKET_SECONDS,
            },
        }
    return {"BACKEND": "board.cache.DatabaseCache", "LOCATION": CACHE_TABLE}


def database(url):
    """DATABASES['default'] from DATABASE_URL, tuned for concurrent writers on either engine.

    Each worker keeps its connection for a minute on either engine: opening one (and setting
    its pragmas) for every request cost SQLite about 0.7 ms of a task detail's 1.8 ms of CPU
    (under gunicorn, 2 workers: 890 -> 1,200 requests/s for a detail, 610 -> 765 for a
    100-task list).

    On PostgreSQL the parameters go to the server apart from the SQL and a statement run five
    times on a connection is prepared (psycopg's threshold; Django turns preparing off for the
    sake of transaction-mode poolers, which scrum does not use): the server no longer parses
    and plans the token's lookup, the versions and the page on every request. A 100-task list
    cost 0.44 ms less CPU per request (2.63 -> 2.18 ms, server and database, in-process).
    board/prepared.py keeps them working through a migration that changes what they return.
    """
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"].endswith("postgresql"):
        config["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
    if config["ENGINE"].endswith("sqlite3"):
        config["OPTIONS"] = {
            # Writers take the lock when the transaction begins, so concurrent moves wait
            # for each other (busy timeout) instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DEBUG = env_flag("scrum", "DEBUG", True)
# `python scrum.py collectstatic` (the image does it) writes the static files under hashed names,
# each with a gzipped copy, into STATIC_ROOT: once they are there WhiteNoise serves those,
# cached for good; until then it serves the app folders' own under their plain names.
STATIC_ROOT = BASE_DIR / "static_collected"
COLLECTED = (STATIC_ROOT / "staticfiles.json").exists() or sys.argv[1:2] == ["collectstatic"]
HTTPS = env_flag("scrum", "HTTPS", False)
LOG_FORMAT = log_format("scrum")
METRICS = env_flag("scrum", "METRICS", False)
if METRICS:
    share_metrics_folder("scrum")

settings.configure(
    DEBUG=DEBUG,
    SECRET_KEY=required_secret("SECRET_KEY", DEBUG),
    ALLOWED_HOSTS=os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").replace(",", " ").split(),
    ROOT_URLCONF=__name__,
    APPEND_SLASH=False,
    DATABASES={
        "default": database(
            os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'scrum.sqlite3'}"
        )
    },
    CACHES={"default": cache(os.environ.get("REDIS_URL"))},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.staticfiles",
        "rest_framework",
        "rest_framework.authtoken",
        "django_filters",
        "drf_spectacular",
        "drf_spectacular_sidecar",
        "board",
    ],
    MIDDLEWARE=[
        *([f"{__name__}.measured"] if METRICS else []),
        f"{__name__}.head_without_body",
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.middleware.common.CommonMiddleware",
        "board.limits.body_size_limit",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "csp.middleware.CSPMiddleware",
    ],
    # The API, its browsable pages and /api/docs/ run only this origin's scripts; their
    # templates (DRF's, Swagger UI's) style inline. The board's page sends its own, stricter
    # policy (board/page.py).
    CONTENT_SECURITY_POLICY={
        "DIRECTIVES": {
            "default-src": ["'self'"],
            "style-src": ["'self'", "'unsafe-inline'"],
            "img-src": ["'self'", "data:"],
            "frame-ancestors": ["'none'"],
            "base-uri": ["'self'"],
            "form-action": ["'self'"],
        }
    },
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
        }
    ],
    DATA_UPLOAD_MAX_MEMORY_SIZE=BODY_LIMIT,
    STATIC_URL="/static/",
    STATIC_ROOT=STATIC_ROOT if COLLECTED else None,  # WhiteNoise warns of a missing one
    STORAGES={
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": "board.storage.HashedStaticFiles"
            if COLLECTED
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    },
    WHITENOISE_USE_FINDERS=not COLLECTED,
    USE_TZ=True,
    TIME_ZONE="UTC",
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": (
            "board.logins.ThrottledBasicAuthentication",
            "board.tokens.IdleTokenAuthentication",
        ),
        "DEFAULT_PERMISSION_CLASSES": ("rest_framework.permissions.IsAuthenticated",),
        "DEFAULT_RENDERER_CLASSES": (
            "board.renderers.FastJSONRenderer",
            "rest_framework.renderers.BrowsableAPIRenderer",
        ),
        "DEFAULT_PARSER_CLASSES": (
            "board.limits.JSONParser",
            "rest_framework.parsers.FormParser",
            "rest_framework.parsers.MultiPartParser",
        ),
        "DEFAULT_PAGINATION_CLASS": "board.filters.Pagination",
        "DEFAULT_FILTER_BACKENDS": (
            "django_filters.rest_framework.DjangoFilterBackend",
            "board.filters.FieldSearchFilter",
            "board.filters.StrictOrderingFilter",
        ),
        "DEFAULT_SCHEMA_CLASS": "board.schema.BoardAutoSchema",
        "DEFAULT_THROTTLE_RATES": {"login": "10/minute"},  # failed logins per client
        "NUM_PROXIES": env_count("NUM_PROXIES"),
    },
    SPECTACULAR_SETTINGS={
        "TITLE": "Scrum board API",
        "DESCRIPTION": "Sprints, tasks and users of the scrum board (Lightweight Django).",
        "VERSION": "1.0.0",
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "COMPONENT_SPLIT_REQUEST": True,
        "SERVE_INCLUDE_SCHEMA": False,
        # bodies described as JSON: forms work too (the book's Python client), but cannot say null
        "PARSER_WHITELIST": ["board.limits.JSONParser"],
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "board.schema.empty_query_values",
        ],
    },
    LOGGING=logging_config(
        "scrum",
        LOG_FORMAT,
        filters={"repeats": {"()": Repeats}},
        loggers={"board.hooks": {"filters": ["repeats"]}},  # a watercooler outage: a line a second
    ),
    SECURE_SSL_REDIRECT=HTTPS,
    SECURE_REDIRECT_EXEMPT=[r"^health$"],  # load balancers probe over plain HTTP
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None,
    SESSION_COOKIE_SECURE=HTTPS,
    CSRF_COOKIE_SECURE=HTTPS,
    SECURE_HSTS_SECONDS=31536000 if HTTPS else 0,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=HTTPS,
    SECURE_HSTS_PRELOAD=HTTPS,
    # The API authenticates with tokens and basic auth, never with cookies, so there is no
    # cookie a cross-site request could ride on: Django's CSRF middleware has nothing to do.
    SILENCED_SYSTEM_CHECKS=["security.W003"],
    TOKEN_IDLE_DAYS=env_days("TOKEN_IDLE_DAYS", "14"),  # an unused API token then expires
    WATERCOOLER_SERVER=os.environ.get("WATERCOOLER_SERVER", "localhost:8080"),
    WATERCOOLER_PUBLIC=os.environ.get("WATERCOOLER_PUBLIC")
    or os.environ.get("WATERCOOLER_SERVER", "localhost:8080"),
    WATERCOOLER_SECURE=env_flag("scrum", "WATERCOOLER_SECURE", False),
    WATERCOOLER_SECRET=required_secret("WATERCOOLER_SECRET", DEBUG),
)

django.setup()  # the URL patterns below import the board's views and so its models

from board.health import health  # noqa: E402
from board.page import BoardPage  # noqa: E402
from board.urls import root_view  # noqa: E402
from board.views import LogoutView, ThrottledObtainAuthToken  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import include, path, re_path  # noqa: E402
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView  # noqa: E402

urlpatterns = [  # every API path answers with and without its trailing slash
    path("", BoardPage.as_view(), name="board"),
    path("health", health, name="health"),
    re_path(r"^api/token/?$", ThrottledObtainAuthToken.as_view(), name="api-token"),
    re_path(r"^api/logout/?$", LogoutView.as_view(), name="api-logout"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI with its start-up script served apart (no inline script under the CSP).
    re_path(r"^api/docs/?$", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api", root_view),
    path("api/", include("board.urls")),
]
if METRICS:
    from prometheus_client.django import PrometheusDjangoView

    measured = request_timer("scrum")
    urlpatterns.append(path("metrics", PrometheusDjangoView.as_view(), name="metrics"))

handler400 = "board.limits.bad_request"
handler404 = "board.views.not_found"
handler500 = "board.views.server_error"


def head_without_body(get_response):
    """Middleware: a HEAD gets GET's headers and no body (gunicorn logs one it has to drop)."""

    def middleware(request):
        response = get_response(request)
        if request.method == "HEAD" and not response.streaming and response.content:
            response["Content-Length"] = len(response.content)
            response.content = b""
        return response

    return middleware


application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
