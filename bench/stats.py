"""What every benchmark shares: figures over rounds, the MET rule, and the results protocol.

A figure is measured in rounds and shown as its median with the minimum and the IQR. A target
is MET only if the median meets it and no more than a fifth of the rounds miss it. A
benchmark collects its rows in a ``Report``; ``Report.finish()`` prints which targets were
missed, appends one JSON line per row to the file named by $BENCH_RESULTS (run_all.py sets it
and turns the lines into bench/RESULTS.md), and returns the exit status: 1 when any target
was missed.
"""

import json
import os
import re
import statistics
from dataclasses import asdict, dataclass, field

OPERATORS = {
    ">=": lambda value, bound: value >= bound,
    ">": lambda value, bound: value > bound,
    "<=": lambda value, bound: value <= bound,
    "<": lambda value, bound: value < bound,
    "==": lambda value, bound: value == bound,
}


def quartiles(values):
    """(first quartile, median, third quartile); a single value is all three."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def spread(values, unit="", digits=1):
    """'12.3 ms (min 10.1, IQR 11.0-13.2, 10 rounds)': a figure as the issue asks for it."""
    q1, median, q3 = quartiles(values)
    number = f"{{:,.{digits}f}}".format
    return (
        f"{number(median)}{unit} (min {number(min(values))}, "
        f"IQR {number(q1)}-{number(q3)}, {len(values)} rounds)"
    )


def median(values):
    return statistics.median(values)


@dataclass
class Target:
    """``values`` (one per round) must satisfy ``op bound``, e.g. ratios >= 5."""

    values: list
    op: str
    bound: float
    unit: str = ""

    def misses(self):
        return sum(not OPERATORS[self.op](value, self.bound) for value in self.values)

    def met(self):
        ok = OPERATORS[self.op](median(self.values), self.bound)
        return ok and self.misses() * 5 <= len(self.values)

    def __str__(self):
        return f"{self.op} {self.bound:g}{self.unit}"

    def verdict(self):
        misses = f"{self.misses()} of {len(self.values)} rounds miss"
        return f"{'MET' if self.met() else 'NOT MET'} ({misses})"


@dataclass
class Row:
    """One line of RESULTS.md: what was measured, for us and for the peer, and the verdict."""

    bench: str
    figure: str
    ours: str
    peer: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None  # None: a figure shown for detail, with no target
    verdict: str = ""
    extra: dict = field(default_factory=dict)


class Report:
    """The rows of one benchmark run; ``finish()`` prints the verdicts and gives the status."""

    def __init__(self, bench):
        self.bench = bench
        self.rows = []

    def row(self, figure, ours, peer="", ratio="", target=None, **extra):
        """Add a figure; with a ``Target`` it counts towards the exit status."""
        row = Row(self.bench, figure, ours, peer, ratio, extra=extra)
        print(f"\n{figure}\n  ours: {ours}", flush=True)
        for label, text in (("peer", peer), ("ratio", ratio)):
            if text:
                print(f"  {label}: {text}", flush=True)
        if target is not None:
            row.target, row.met, row.verdict = str(target), target.met(), target.verdict()
            print(f"  -> {figure}: target {target}: {row.verdict}", flush=True)
        self.rows.append(row)
        return row.met

    def fail(self, figure, reason):
        """A target that could not even be measured (servers failed, output differed)."""
        print(f"  -> {figure}: NOT MET ({reason})", flush=True)
        self.rows.append(Row(self.bench, figure, reason, met=False, verdict=f"NOT MET: {reason}"))

    def missed(self):
        return [row for row in self.rows if row.met is False]

    def finish(self):
        """Print the missed targets, write the JSON lines, and return the exit status."""
        checked, missed = [row for row in self.rows if row.met is not None], self.missed()
        print(f"\n{self.bench}: {len(checked) - len(missed)} of {len(checked)} targets met")
        for row in missed:
            print(f"  NOT MET: {row.figure}: {row.verdict} (target {row.target or 'measurable'})")
        path = os.environ.get("BENCH_RESULTS")
        if path:
            with open(path, "a") as results:
                for row in self.rows:
                    results.write(json.dumps(asdict(row)) + "\n")
        return 1 if missed else 0


WRK_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
WRK_STATUS_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def wrk_errors(output):
    """Failed requests in wrk's output: its "Socket errors" line plus non-2xx/3xx responses."""
    sockets = WRK_SOCKET_ERRORS.search(output)
    status = WRK_STATUS_ERRORS.search(output)
    return sum(map(int, sockets.groups())) if sockets else 0, int(status.group(1)) if status else 0
