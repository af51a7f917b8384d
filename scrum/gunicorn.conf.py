"""gunicorn's settings for scrum, read from this folder (`gunicorn scrum:application` in it, or
`--chdir scrum`).

gunicorn's own lines (the master's: starting, workers booted, signals, stop) and its access
lines take scrum's log format (board/logs.py), LOG_FORMAT text or json, like every other line
(scrum.py refuses any other value); the access log is on.
"""

import os

from board.logs import JSON, TEXT

_json = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"text": {"format": TEXT}, "json": JSON},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json" if _json else "text"}
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": [], "propagate": True},
        "gunicorn.access": {"handlers": [], "propagate": True},
    },
}
