"""gunicorn's settings for hello, read from this folder (`gunicorn hello`, `--chdir hello`).

gunicorn's own lines (the master's: starting, workers booted, signals, stop) and its access
lines take hello's log format, LOG_FORMAT text or json, like every other line (hello.py
refuses any other value); the access log is on.
"""

import os

_json = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s hello %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "exc_info": "error",
            },
            "static_fields": {"service": "hello"},
        },
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json" if _json else "text"}
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": [], "propagate": True},
        "gunicorn.access": {"handlers": [], "propagate": True},
    },
}
