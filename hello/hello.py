"""The world's smallest Django project (Lightweight Django, chapter 1).

    python hello.py runserver          # development server on :8000
    gunicorn hello                     # production, configured from the environment

DEBUG (on/off), SECRET_KEY (random per start when unset), ALLOWED_HOSTS (comma list),
HTTPS (on: behind a TLS proxy, trust its X-Forwarded-Proto, send HSTS), LOG_FORMAT (text or
json) and METRICS (on: Prometheus text at /metrics) come from the environment. Every answer
carries the other services' security headers (a Content-Security-Policy for this origin only,
nosniff, no framing). GET /health answers 200 while the process can serve. Logs: one line a
record on stderr (time, level, service, logger: message), server errors with their traceback
whatever DEBUG is, gunicorn's own and access lines too. The log format and the request metrics
are observability.py's, gunicorn's settings gunicorn.conf.py's: links to deploy/, where the
other services' folders link too.
"""

import os
import sys

from django.conf import settings
from django.core.management.utils import get_random_secret_key
from observability import (
    BOOT_ERROR,
    env_flag,
    log_format,
    logging_config,
    request_timer,
    share_metrics_folder,
)

DEBUG = env_flag("hello", "DEBUG", True)
# Parts of values that are published (examples, dev-only defaults), so never secret.
PLACEHOLDER_SECRETS = ("change-me", "changeme", "change_me", "dev-only", "django-insecure")


def unsafe_secret(value):
    """Why a secret is unfit for production (too short, too few characters, a placeholder)."""
    lowered = value.lower()
    if len(value) < 32:
        return "is shorter than 32 characters"
    if len(set(value)) < 5:
        return "has fewer than 5 different characters"
    if any(placeholder in lowered for placeholder in PLACEHOLDER_SECRETS):
        return "is a published placeholder"
    return None


SECRET_KEY = os.environ.get("SECRET_KEY") or get_random_secret_key()
if not DEBUG and (problem := unsafe_secret(SECRET_KEY)):
    print(f"hello: SECRET_KEY {problem} (refusing to start with DEBUG off)", file=sys.stderr)
    sys.exit(BOOT_ERROR)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").replace(",", " ").split()
HTTPS = env_flag("hello", "HTTPS", False)
LOG_FORMAT = log_format("hello")
METRICS = env_flag("hello", "METRICS", False)
if METRICS:
    share_metrics_folder("hello")


settings.configure(
    DEBUG=DEBUG,
    SECRET_KEY=SECRET_KEY,
    ALLOWED_HOSTS=ALLOWED_HOSTS,
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        *([f"{__name__}.measured"] if METRICS else []),
        f"{__name__}.head_without_body",
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "csp.middleware.CSPMiddleware",
    ],
    CONTENT_SECURITY_POLICY={
        "DIRECTIVES": {
            "default-src": ["'self'"],
            "frame-ancestors": ["'none'"],
            "base-uri": ["'self'"],
            "form-action": ["'self'"],
        }
    },
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None,
    SECURE_HSTS_SECONDS=31536000 if HTTPS else 0,
    LOGGING=logging_config("hello", LOG_FORMAT),
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from prometheus_client.django import PrometheusDjangoView  # noqa: E402  (after the folder)


def index(request):
    return HttpResponse("Hello World")


def health(request):
    """200 while this process serves requests (hello depends on nothing else); never cached."""
    return JsonResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def head_without_body(get_response):
    """Middleware: a HEAD gets GET's headers and no body (gunicorn logs one it has to drop)."""

    def middleware(request):
        response = get_response(request)
        if request.method == "HEAD" and not response.streaming and response.content:
            response["Content-Length"] = len(response.content)
            response.content = b""
        return response

    return middleware


urlpatterns = [
    path("", index, name="index"),
    path("health", health, name="health"),
]
if METRICS:  # Prometheus text; under gunicorn the sum of every worker's
    measured = request_timer("hello")
    urlpatterns.append(path("metrics", PrometheusDjangoView.as_view(), name="metrics"))

application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
