"""The world's smallest Django project (Lightweight Django, chapter 1).

    python hello.py runserver          # development server on :8000
    gunicorn hello                     # production, configured from the environment

DEBUG (on/off), SECRET_KEY (random per start when unset) and ALLOWED_HOSTS (comma list)
come from the environment. GET /health answers 200 while the process can serve.
"""

import os
import sys

from django.conf import settings
from django.core.management.utils import get_random_secret_key

DEBUG = os.environ.get("DEBUG", "on").lower() in {"on", "true", "1", "yes"}
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
    sys.exit(3)  # gunicorn reads 3 as "worker failed to boot": it stops, no respawn
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").replace(",", " ").split()

settings.configure(
    DEBUG=DEBUG,
    SECRET_KEY=SECRET_KEY,
    ALLOWED_HOSTS=ALLOWED_HOSTS,
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        f"{__name__}.head_without_body",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


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
    path("", index),
    path("health", health),
]

application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
