"""Run every benchmark under bench/ (bench_*.py), one process each, and fail if any fails.

Each benchmark measures its service against a named peer in the same run and prints medians
and the ratio; timings never decide a test. Usage: python bench/run_all.py [name ...]
"""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(names):
    scripts = sorted(BENCH.glob("bench_*.py"))
    chosen = [s for s in scripts if not names or s.stem.removeprefix("bench_") in names]
    if not chosen:
        sys.exit(f"no benchmark matches {names}; have: {[s.stem for s in scripts]}")
    failed = [s.name for s in chosen if subprocess.call([sys.executable, s], cwd=BENCH.parent)]
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main(sys.argv[1:])
