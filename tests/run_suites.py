"""Run every service's tests, each in its own pytest process, and add up the results.

One process can hold only one configured Django, so each folder under tests/ is a suite of
its own. A suite that fails, errors or collects no test fails the whole run, and so does one
whose tests were all skipped when CI=true.
A folder with a variants.txt runs once per line of it: a label, then VAR=value settings for
that pass, and optionally database:VENDOR, which fails the pass unless the suite's Django ran
on that database (e.g. "postgres SCRUM_TEST_DATABASE=postgres database:postgresql"); "#"
starts a comment. A variants.txt without a pass fails the run.
The services' own configuration variables are removed from the caller's environment: the
tests start their own databases, Redis and servers, and nothing from the shell leaks in.
Usage: python tests/run_suites.py [suite ...] [-- pytest options]
"""

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

TESTS = Path(__file__).resolve().parent
LAST = ["stack"]  # the whole-stack tests run after every service's own
IN_CI = os.environ.get("CI", "").lower() in {"true", "1", "yes"}
SERVICE_SETTINGS = [  # the README's configuration table
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "WATERCOOLER_SERVER",
    "WATERCOOLER_PUBLIC",
    "WATERCOOLER_SECURE",
    "WATERCOOLER_SECRET",
    "HTTPS",
    "NUM_PROXIES",
    "PLACEHOLDER_NEGOTIATE",
    "SITE_URL",
    "METRICS",
    "LOG_FORMAT",
    "TOKEN_IDLE_DAYS",
]
FACTS = "RUN_SUITES_FACTS"  # where this module, as a pytest plugin, reports what a pass used


class Variant(NamedTuple):
    label: str
    environment: dict
    database: str | None  # the vendor the pass must have run on, when it names one


class Result(NamedTuple):
    passed: int
    failed: int
    skipped: int
    problem: str | None  # None: the pass is ok


def suites(names):
    found = sorted(p.name for p in TESTS.iterdir() if p.is_dir() and list(p.glob("test_*.py")))
    ordered = [s for s in found if s not in LAST] + [s for s in LAST if s in found]
    unknown = set(names) - set(found)
    if unknown:
        sys.exit(f"unknown suites: {', '.join(sorted(unknown))}; known: {', '.join(ordered)}")
    return [s for s in ordered if not names or s in names]


def variants(suite):
    """[Variant]: one plain pass, or one per line of the suite's variants.txt."""
    listing = TESTS / suite / "variants.txt"
    if not listing.exists():
        return [Variant(suite, {}, None)]
    found = []
    for line in listing.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            label, *settings = words
            database = [w.removeprefix("database:") for w in settings if w.startswith("database:")]
            environment = dict(w.split("=", 1) for w in settings if "=" in w)
            found.append(Variant(f"{suite}[{label}]", environment, (database or [None])[-1]))
    return found


def run(suite, variant, pytest_args):
    """Run one pass of a suite with pytest and judge it: a Result."""
    with tempfile.TemporaryDirectory() as tmp:
        report, facts = Path(tmp) / "report.xml", Path(tmp) / "facts.json"
        command = [sys.executable, "-m", "pytest", str(TESTS / suite), f"--junitxml={report}"]
        command += ["-p", Path(__file__).stem, *pytest_args]
        env = {k: v for k, v in os.environ.items() if k not in SERVICE_SETTINGS}
        python_path = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
        env.update(variant.environment, PYTHONPATH=python_path, **{FACTS: str(facts)})
        code = subprocess.call(command, cwd=TESTS.parent, env=env)
        if not report.exists():
            return Result(0, 0, 0, f"FAILED (exit {code or 1}, no report)")
        totals = ET.parse(report).getroot().find("testsuite").attrib
        used = json.loads(facts.read_text()) if facts.exists() else {}
    failed = int(totals["failures"]) + int(totals["errors"])
    skipped = int(totals["skipped"])
    passed = int(totals["tests"]) - failed - skipped
    return Result(passed, failed, skipped, problem(code, passed, skipped, variant, used))


def problem(code, passed, skipped, variant, used):
    """Why a finished pass does not count as tested, or None."""
    if code == 5:
        return "NO TESTS"
    if code != 0:
        return f"FAILED (exit {code})"
    if IN_CI and skipped and not passed:
        return "ALL SKIPPED (CI=true)"
    if variant.database and used.get("database") != variant.database:
        return f"RAN ON {used.get('database')}, NOT {variant.database}"
    return None


def pytest_sessionfinish(session):
    """As a pytest plugin (-p run_suites): report the database the suite's Django used."""
    if FACTS in os.environ:
        Path(os.environ[FACTS]).write_text(json.dumps({"database": django_database()}))


def django_database():
    """The vendor of Django's default database in this process, or None without Django."""
    if "django.db" not in sys.modules:
        return None
    from django.conf import settings

    if not settings.configured:
        return None
    from django.db import connection

    return connection.vendor


def main(argv):
    names, pytest_args = argv, []
    if "--" in argv:
        split = argv.index("--")
        names, pytest_args = argv[:split], argv[split + 1 :]
    results = {}
    for suite in suites(names):
        passes = variants(suite)
        if not passes:
            results[suite] = Result(0, 0, 0, "NO PASSES in variants.txt")
        for variant in passes:
            results[variant.label] = run(suite, variant, pytest_args)
    print("\n=== suites ===")
    for label, result in results.items():
        print(
            f"{label:>18}: {result.passed} passed, {result.failed} failed, "
            f"{result.skipped} skipped  {result.problem or 'ok'}"
        )
    passed, failed, skipped = (sum(r[i] for r in results.values()) for i in range(3))
    print(f"\ntotal: {passed} passed, {failed} failed, {skipped} skipped")
    return 0 if results and not any(r.problem for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
