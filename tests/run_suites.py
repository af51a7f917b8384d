"""Run every service's tests, each in its own pytest process, and add up the results.

One process can hold only one configured Django, so each folder under tests/ is a suite of
its own. A suite that fails, errors or collects no test fails the whole run.
A folder with a variants.txt runs once per line of it: a label, then VAR=value settings for
that pass (e.g. "postgres SCRUM_TEST_DATABASE=postgres"); "#" starts a comment.
Usage: python tests/run_suites.py [suite ...] [-- pytest options]
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

TESTS = Path(__file__).resolve().parent
LAST = ["stack"]  # the whole-stack tests run after every service's own


def suites(names):
    found = sorted(p.name for p in TESTS.iterdir() if p.is_dir() and list(p.glob("test_*.py")))
    ordered = [s for s in found if s not in LAST] + [s for s in LAST if s in found]
    unknown = set(names) - set(found)
    if unknown:
        sys.exit(f"unknown suites: {', '.join(sorted(unknown))}; known: {', '.join(ordered)}")
    return [s for s in ordered if not names or s in names]


def variants(suite):
    """[(label, environment)]: one plain pass, or one per line of the suite's variants.txt."""
    listing = TESTS / suite / "variants.txt"
    if not listing.exists():
        return [(suite, {})]
    lines = (line.split("#", 1)[0].split() for line in listing.read_text().splitlines())
    return [(f"{suite}[{w[0]}]", dict(v.split("=", 1) for v in w[1:])) for w in lines if w]


def run(suite, environment, pytest_args):
    """Run one suite; returns (passed, failed, skipped, returncode)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        command = [sys.executable, "-m", "pytest", str(TESTS / suite), f"--junitxml={report}"]
        env = {**os.environ, **environment}
        code = subprocess.call([*command, *pytest_args], cwd=TESTS.parent, env=env)
        if not report.exists():
            return 0, 0, 0, code or 1
        totals = ET.parse(report).getroot().find("testsuite").attrib
    failed = int(totals["failures"]) + int(totals["errors"])
    skipped = int(totals["skipped"])
    return int(totals["tests"]) - failed - skipped, failed, skipped, code


def main(argv):
    names, pytest_args = argv, []
    if "--" in argv:
        split = argv.index("--")
        names, pytest_args = argv[:split], argv[split + 1 :]
    results = {
        label: run(suite, environment, pytest_args)
        for suite in suites(names)
        for label, environment in variants(suite)
    }
    print("\n=== suites ===")
    ok = bool(results)
    for suite, (passed, failed, skipped, code) in results.items():
        verdict = "ok" if code == 0 else ("NO TESTS" if code == 5 else f"FAILED (exit {code})")
        ok = ok and code == 0
        print(f"{suite:>18}: {passed} passed, {failed} failed, {skipped} skipped  {verdict}")
    passed, failed, skipped = (sum(r[i] for r in results.values()) for i in range(3))
    print(f"\ntotal: {passed} passed, {failed} failed, {skipped} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
