"""The world's smallest Django project (Lightweight Django, chapter 1).

    python hello.py runserver          # development server on :8000
    gunicorn hello                     # production, configured from the environment

DEBUG (on/off), SECRET_KEY (random per start when unset) and ALLOWED_HOSTS (comma list)
come from the environment.
"""

import os
import sys

from django.conf import settings
from django.core.management.utils import get_random_secret_key


def env_flag(name, default):
    """Return the on/off environment variable ``name`` as a bool (``default`` when unset)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise SystemExit(f"hello: {name} must be on or off, not {value!r}")


DEBUG = env_flag("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY") or get_random_secret_key()
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").replace(",", " ").split()

settings.configure(
    DEBUG=DEBUG,
    SECRET_KEY=SECRET_KEY,
    ALLOWED_HOSTS=ALLOWED_HOSTS,
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def index(request):
    return HttpResponse("Hello World")


urlpatterns = [
    path("", index),
]

application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
