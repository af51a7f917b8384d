"""scrum's own log filter; the log lines' format is observability.py's, as for every service.

Repeats (on the announcements' logger) keeps an outage of the watercooler to one line a second:
the first warning goes out, the same warnings in the next second are counted, and one line
then says how many there were.
"""

import logging
import threading
import time


class Repeats(logging.Filter):
    """A warning repeated (same logger, same message before its arguments) within WINDOW
    seconds of the last line of it is held back; at the end of the window one line says how
    many were, and the next window starts. A quiet window ends the run."""

    WINDOW = 1.0

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.runs = {}  # (logger, message) -> [monotonic time of its last line, lines held]

    def filter(self, record):
        if record.levelno < logging.WARNING or getattr(record, "summary", False):
            return True
        key, now = (record.name, record.msg), time.monotonic()
        with self.lock:
            run = self.runs.get(key)
            # Lines held: their summary is due, and counts this one too, however late it runs.
            if run is None or (not run[1] and now - run[0] >= self.WINDOW):
                self.runs[key] = [now, 0]
                return True
            run[1] += 1
            if run[1] == 1:  # the first one held since that line: summarise at the window's end
                timer = threading.Timer(run[0] + self.WINDOW - now, self.summarise, (key,))
                timer.daemon = True
                timer.start()
            return False

    def summarise(self, key):
        with self.lock:
            run = self.runs[key]
            held, run[:] = run[1], [time.monotonic(), 0]
        name, message = key
        logging.getLogger(name).warning(
            "%d more like %r in the last %.0fs", held, message, self.WINDOW, extra={"summary": True}
        )
