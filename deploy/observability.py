"""Log lines, request metrics and on/off settings, the same for every Django service (hello,
placeholder, scrum, sitebuilder) and for gunicorn's own lines; the watercooler reads its on/off
settings here too.

Each of those folders links this file, as it links ``gunicorn.conf.py``, so a service still runs
from its own folder (``cd hello && python hello.py runserver``) and keeps one copy of what is
written here. An entry module reads ``log_format()`` and, with METRICS=on, calls
``share_metrics_folder()`` before its first prometheus-client import, then hands
``logging_config()`` to Django's LOGGING and names ``request_timer()``'s middleware.

- Logs: one handler, on stderr, for every logger (no mail_admins), gunicorn's too. LOG_FORMAT
  text: ``time level service logger: message``; json: one object a line with time, level,
  logger, message and service, and a traceback in error.
- Metrics: ``<service>_request_duration_seconds``, by route (the URL's name; "other" for
  static files and 404s) and status.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

BOOT_ERROR = 3  # the exit status gunicorn reads as "worker failed to boot": it stops, no respawn

JSON_FORMATTER = {  # python-json-logger, renamed to the fields above
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
    "rename_fields": {
        "asctime": "time",
        "levelname": "level",
        "name": "logger",
        "exc_info": "error",  # the traceback
    },
}


def env_flag(service, name, default, exit_status=BOOT_ERROR):
    """Return the on/off environment variable ``name`` as a bool (``default`` when unset); stop
    the start-up on any other value, with ``exit_status``."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    print(f"{service}: {name} must be on or off, not {value!r}", file=sys.stderr)
    sys.exit(exit_status)


def log_format(service, exit_status=BOOT_ERROR):
    """Return LOG_FORMAT, text (the default, also when empty) or json; stop the start-up on
    any other value, with ``exit_status``."""
    value = os.environ.get("LOG_FORMAT", "").strip().lower() or "text"
    if value not in {"text", "json"}:
        print(f"{service}: LOG_FORMAT must be text or json, not {value!r}", file=sys.stderr)
        sys.exit(exit_status)
    return value


def logging_config(service, log_format, *, filters=None, loggers=None):
    """Return the LOGGING dict: every logger through one stderr handler in ``log_format``.

    Django's and gunicorn's loggers hand their records to it; django.request's 4xx warnings
    and DisallowedHost's are left to the access log's line and the 400 itself. ``filters`` and
    ``loggers`` add a service's own.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"format": f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"},
            "json": {**JSON_FORMATTER, "static_fields": {"service": service}},
        },
        "filters": filters or {},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": log_format}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            **dict.fromkeys(
                ["django", "django.server", "gunicorn.error", "gunicorn.access"],
                {"handlers": [], "propagate": True},
            ),
            "django.request": {"level": "ERROR"},
            "django.security.DisallowedHost": {"level": "CRITICAL"},
            **(loggers or {}),
        },
    }


def share_metrics_folder(service):
    """Under gunicorn, have every worker count into one folder that /metrics sums (unless the
    operator named one in PROMETHEUS_MULTIPROC_DIR): the temporary directory's, named after
    the service, the user and the gunicorn's process id. Call it before prometheus-client's
    first import."""
    if "gunicorn" in sys.modules and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        folder = Path(tempfile.gettempdir()) / f"{service}-metrics-{os.getuid()}-{os.getppid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def request_timer(service):
    """Return a middleware that observes each request's duration, by route and status."""
    from prometheus_client import Histogram  # after share_metrics_folder()

    requests = Histogram(
        f"{service}_request_duration_seconds",
        "HTTP requests, by route and status",
        ["route", "status"],
    )

    def measured(get_response):
        def middleware(request):
            started = time.perf_counter()
            response = get_response(request)
            match = request.resolver_match  # None: static files, 404s
            route = (match and match.url_name) or "other"
            requests.labels(route, response.status_code).observe(time.perf_counter() - started)
            return response

        return middleware

    return measured
