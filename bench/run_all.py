"""Run every benchmark under bench/ (bench_*.py), one at a time, and write bench/RESULTS.md.

Each benchmark measures its service against named peers in the same run, prints every figure
as its median with min and IQR, and exits 1 when a target is missed (bench/stats.py).

The results protocol, for any bench_*.py: run_all sets $BENCH_RESULTS to a file and each
benchmark appends one JSON object per line to it, with the keys
``bench, figure, ours, peer, ratio, target, met, verdict`` (strings, ``met`` true/false, or
null for a figure without a target); ``stats.Report.finish()`` writes exactly that, and
exits 1 when a target is missed. Each benchmark accepts ``--quick``. A benchmark that writes
no line, or fails without saying which target, still gets a row with its exit status.
RESULTS.md is one markdown table of every row plus the date, the machine and the command.
From the same run, between marker comments, each service's README gets its own figures (its
"Benchmark" section; board and move are scrum's) and the top README's "Performance" section
a summary, a line per service, so no figure in a README is copied by hand. --pages writes
those sections again from bench/RESULTS.md without running anything (after a README's text
around them changed, or a service page was added).

    python bench/run_all.py [--quick] [--no-write] [--busy] [--pages] [name ...]  (name: scrum...)

``--quick`` passes ``--quick`` on to every benchmark (small rounds, to try it out) and prints
the table instead of writing it; so does a run of only some benchmarks. Exit status 1 if any
benchmark failed or missed a target.

A run measures only on an idle machine: when the 1-minute load average at its start is above
0.5 per core (IDLE_LOAD; cores: those this process may run on), it says so and exits 2
without running anything. ``--busy`` runs anyway, for development: the run is labelled busy
in its summary and writes nothing (no RESULTS.md, no README figures).
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
README = BENCH.parent / "README.md"
README_START = "<!-- performance: written by make bench (bench/run_all.py), do not edit -->"
README_END = "<!-- end of performance -->"
PAGE_START = "<!-- benchmark: written by make bench (bench/run_all.py), do not edit -->"
PAGE_END = "<!-- end of benchmark -->"
SERVICE_OF = {"board": "scrum", "move": "scrum"}  # benchmark -> the service it measures
COLUMNS = ("bench", "figure", "ours", "peer", "ratio", "target")
IDLE_LOAD = 0.5  # the 1-minute load average per core at a run's start above which it is busy


def machine():
    """CPU model, cores, memory, OS and Python: enough to tell one machine from another."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = next(
        int(line.split()[1]) // 1024 // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"{model}, {len(os.sched_getaffinity(0))} cores, {memory} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def idle_check(load, cores, limit=IDLE_LOAD):
    """(idle, sentence): may a run starting at this 1-minute load average on `cores` cores be
    called idle (at most `limit` per core), and the sentence that labels it."""
    per_core = load / cores
    figures = f"load average {load:.2f} on {cores} cores, {per_core:.2f} per core"
    if per_core > limit:
        return False, f"BUSY machine: {figures}, above {limit:g}"
    return True, f"idle machine: {figures} (at most {limit:g})"


def run(script, options, results):
    """Run one benchmark with its output streaming through; return its rows and status."""
    print(f"\n===== {script.name} {' '.join(options)}", flush=True)
    before = results.stat().st_size
    status = subprocess.call(
        [sys.executable, script, *options],
        cwd=BENCH.parent,
        env={**os.environ, "BENCH_RESULTS": str(results)},
    )
    with results.open() as lines:
        lines.seek(before)
        rows = [json.loads(line) for line in lines if line.strip()]
    if not rows or (status and not any(row["met"] is False for row in rows)):
        silent = "" if rows else "; it writes no results lines (see the protocol above)"
        rows.append(
            {
                "bench": script.stem.removeprefix("bench_"),
                "figure": "the benchmark itself",
                "ours": f"exit status {status}{silent}",
                "met": not status,
                "verdict": "MET" if not status else f"NOT MET: exited with status {status}",
            }
        )
    return rows, status


def cell(text):
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def service_of(row):
    return SERVICE_OF.get(row["bench"], row["bench"])


def page_of(service):
    return BENCH.parent / service / "README.md"


def table(rows):
    lines = [
        "| benchmark | figure | ours | peer | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        verdict = "" if row.get("met") is None else row.get("verdict") or str(row["met"])
        lines.append(
            "| " + " | ".join(cell(row.get(key)) for key in COLUMNS) + f" | {cell(verdict)} |"
        )
    return "\n".join(lines)


def summary(rows, started, loads, state):
    """The lines that say when, where and how a run went (`state`: idle_check's sentence)."""
    missed = [row for row in rows if row.get("met") is False]
    checked = [row for row in rows if row.get("met") is not None]
    return f"""\
- date: {time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(started))}, \
{(time.time() - started) / 60:.0f} minutes
- machine: {machine()}
- at the start, {state}; at the end the load average (1 min) was {loads[1]:.1f}
- {len(checked) - len(missed)} of {len(checked)} targets met; a target is MET only if the \
median meets it and no more than a fifth of the rounds miss it. Figures are medians with the \
minimum and the interquartile range over the rounds."""


def results_page(rows, about):
    return f"""# Benchmark results

Generated by `make bench` (bench/run_all.py); do not edit by hand, run it again.

{about}

{table(rows)}
"""


def parse_results(text):
    """(about, rows) of a RESULTS.md that results_page() wrote: the inverse of table()."""
    about = "\n".join(line for line in text.splitlines() if line.startswith("- "))
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith(("| benchmark |", "|---")):
            continue
        cells = [c.replace("\\|", "|") for c in re.split(r"(?<!\\) \| ", line[2:-2])]
        row = dict(zip(COLUMNS, cells[: len(COLUMNS)], strict=True))
        verdict = cells[len(COLUMNS)] if len(cells) > len(COLUMNS) else ""
        row.update(verdict=verdict or None, met=verdict.startswith("MET") if verdict else None)
        rows.append(row)
    return about, rows


def anchor(page):
    """The GitHub anchor of the heading above a page's benchmark block."""
    text = page.read_text().partition(PAGE_START)[0]
    heading = re.findall(r"^## (.+)$", text, re.MULTILINE)[-1]
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def peer_name(row):
    """The peer a row compares with ("Channels (tuned): 426.5 ms" -> "Channels (tuned)")."""
    peer = row.get("peer") or ""
    return peer.split(": ", 1)[0] if row.get("ratio") and ": " in peer else ""


def readme_section(rows, about):
    """The top README's performance section: a line per service, from the same run."""
    lines = ["| service | benchmarks | against | figures | targets met |", "|---|---|---|---|---|"]
    for service in sorted({service_of(row) for row in rows}):
        own = [row for row in rows if service_of(row) == service]
        benches = ", ".join(sorted({row["bench"] for row in own}))
        page = page_of(service)
        link = f"[{service}]({service}/README.md#{anchor(page)})" if page.exists() else service
        targeted = [row for row in own if row.get("met") is not None]
        met = sum(1 for row in targeted if row["met"])
        peers = ", ".join(dict.fromkeys(peer_name(row) for row in own if peer_name(row)))
        lines.append(
            f"| {link} | {benches} | {cell(peers)} | {len(own)} | {met} of {len(targeted)} |"
        )
    return f"""\
Written by `make bench` from the run in [bench/RESULTS.md](bench/RESULTS.md); each service's
page has its own figures, with their spread, peer, ratio and target.

{about}

{chr(10).join(lines)}"""


def page_section(rows, about, service):
    """A service page's benchmark block: every figure of its benchmarks, from the same run
    (the count of targets met is this service's; a benchmark the run did not have is named)."""
    own = [row for row in rows if service_of(row) == service]
    targeted = [row for row in own if row.get("met") is not None]
    met = sum(1 for row in targeted if row["met"])
    about = re.sub(
        r"^- \d+ of \d+ targets met",
        f"- {met} of {len(targeted)} of its targets met",
        about,
        flags=re.MULTILINE,
    )
    ran = {row["bench"] for row in own}
    names = [script.stem.removeprefix("bench_") for script in sorted(BENCH.glob("bench_*.py"))]
    missing = [
        f"bench_{name}.py"
        for name in names
        if service_of({"bench": name}) == service and name not in ran
    ]
    note = f"\n\nNot in that run yet: {', '.join(missing)}." if missing else ""
    return f"""\
Written by `make bench` from the run in [bench/RESULTS.md](../bench/RESULTS.md); do not edit.

{about}

{table(own) if own else "No figures of this service in that run."}{note}"""


def fill(text, section, start=README_START, end=README_END, name=README):
    """Text with the block between two markers replaced by section."""
    head, found_start, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not (found_start and found_end):
        sys.exit(f"{name}: no {start!r} ... {end!r} block to fill")
    return f"{head}{start}\n{section}\n{end}{tail}"


def fill_readme(text, section):
    """README text with the block between the performance markers replaced by section."""
    return fill(text, section)


def service_pages():
    """The service pages that hold a benchmark block."""
    return sorted(p for p in BENCH.parent.glob("*/README.md") if PAGE_START in p.read_text())


def pages_text(rows, about):
    """{README path: its text with the figures of one run}: the top README's summary and each
    service page's own figures (a service of the run without a block is an error)."""
    pages = {page_of(service_of(row)) for row in rows} | set(service_pages())
    texts = {}
    for page in sorted(pages):
        section = page_section(rows, about, page.parent.name)
        texts[page] = fill(page.read_text(), section, PAGE_START, PAGE_END, page)
    texts[README] = fill_readme(README.read_text(), readme_section(rows, about))
    return texts


def write_pages(rows, about):
    """Write every README's figures from one run."""
    for page, text in pages_text(rows, about).items():
        page.write_text(text)


def write_results(rows, started, loads, state):
    about = summary(rows, started, loads, state)
    RESULTS.write_text(results_page(rows, about))
    write_pages(rows, about)
    print(f"\nwrote {RESULTS.relative_to(BENCH.parent)} and the READMEs' figures")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print, do not write the results",
    )
    parser.add_argument(
        "--busy",
        action="store_true",
        help="run even when the machine is not idle, labelled busy, writing nothing",
    )
    parser.add_argument(
        "--pages",
        action="store_true",
        help="run nothing: write the READMEs' figures again from bench/RESULTS.md",
    )
    args = parser.parse_args()
    if args.pages:
        write_pages(*reversed(parse_results(RESULTS.read_text())))
        print("wrote the READMEs' figures from bench/RESULTS.md")
        return
    scripts = sorted(BENCH.glob("bench_*.py"))
    chosen = [s for s in scripts if not args.names or s.stem.removeprefix("bench_") in args.names]
    if not chosen:
        sys.exit(f"no benchmark matches {args.names}; have: {[s.stem for s in scripts]}")
    started, load = time.time(), os.getloadavg()[0]
    idle, state = idle_check(load, len(os.sched_getaffinity(0)))
    if not idle and not args.busy:
        print(
            f"run_all: {state}: figures measured now would not be an idle machine's; "
            "not running (wait, or pass --busy for a labelled development run that writes "
            "nothing)",
            file=sys.stderr,
        )
        sys.exit(2)
    if not idle:
        print(f"run_all: {state}: a development run, labelled busy; nothing will be written")
    rows, failed = [], []
    with tempfile.NamedTemporaryFile(prefix="bench-results-", suffix=".jsonl") as results:
        for script in chosen:
            script_rows, status = run(script, ["--quick"] if args.quick else [], Path(results.name))
            rows += script_rows
            if status:
                failed.append(script.name)
    loads = (load, os.getloadavg()[0])
    if args.no_write or args.quick or args.names or not idle:
        why = "a busy machine" if not idle else "a partial run"
        print(f"\n{summary(rows, started, loads, state)}\n\n{table(rows)}\n(not written: {why})")
    else:
        write_results(rows, started, loads, state)
    if failed:
        sys.exit(f"benchmarks that failed or missed a target: {', '.join(failed)}")


if __name__ == "__main__":
    main()
