"""The benchmarks' verdict logic (bench/stats.py, bench/run_all.py): no timing is asserted."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import run_all  # noqa: E402
from stats import Report, Target, spread  # noqa: E402


def test_a_median_that_meets_the_target_is_not_enough_when_over_a_fifth_of_rounds_miss():
    """bench_scrum once printed MET from a median of 5 rounds while 2 of them were over."""
    rounds = [2.0, 2.5, 2.9, 3.4, 3.6]
    assert Target(rounds, "<=", 3).misses() == 2
    assert not Target(rounds, "<=", 3).met()
    assert Target([*rounds, 2.0, 2.1, 2.2, 2.3, 2.4], "<=", 3).met()  # 2 of 10 miss: allowed
    assert not Target([6.0, 4.0, 4.0], ">=", 5).met()  # the median misses


def test_a_missed_target_gives_exit_status_1_names_it_and_is_written_for_run_all(
    tmp_path, monkeypatch, capsys
):
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("BENCH_RESULTS", str(results))
    report = Report("demo")
    report.row("speed", spread([1.0, 2.0, 3.0], " ms"), target=Target([1.0, 2.0, 3.0], "<", 1.5))
    report.row("detail", "42")
    assert report.finish() == 1
    assert "NOT MET: speed" in capsys.readouterr().out
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(row["figure"], row["met"]) for row in rows] == [("speed", False), ("detail", None)]
    assert rows[0]["ours"] == "2.0 ms (min 1.0, IQR 1.5-2.5, 3 rounds)"
    table = run_all.table(rows)
    assert "| demo | speed | 2.0 ms" in table and "NOT MET (2 of 3 rounds miss)" in table


def test_all_targets_met_gives_exit_status_0(monkeypatch):
    monkeypatch.delenv("BENCH_RESULTS", raising=False)
    report = Report("demo")
    report.row("ratio", "6x", target=Target([6.0, 7.0, 5.5], ">=", 5, "x"))
    assert report.finish() == 0


ROWS = [
    {"bench": "demo", "figure": "speed", "ours": "2.0 ms", "met": True, "verdict": "MET"},
    {"bench": "demo", "figure": "detail", "ours": "42", "met": None},
    {"bench": "board", "figure": "latency", "ours": "9 ms", "met": False, "verdict": "NOT MET"},
]


def test_the_readme_performance_section_is_replaced_from_the_run_by_a_line_per_service():
    old = f"# Title\n\n{run_all.README_START}\nold figures\n{run_all.README_END}\n\n## Layout\n"
    new = run_all.fill_readme(old, run_all.readme_section(ROWS, "- date: today"))
    assert "old figures" not in new and "- date: today" in new
    assert "| demo | demo |  | 2 | 1 of 1 |" in new  # no page for demo: no link
    assert "| [scrum](scrum/README.md#tests-and-benchmarks) | board |  | 1 | 0 of 1 |" in new
    assert "| demo | speed | 2.0 ms" not in new  # the figures are on the service's page
    assert new.startswith("# Title\n\n") and new.endswith(f"{run_all.README_END}\n\n## Layout\n")
    assert run_all.fill_readme(new, "again").count(run_all.README_START) == 1


def test_a_service_page_gets_every_figure_of_its_benchmarks_and_only_those():
    about = "- date: today\n- 1 of 2 targets met; a target is MET only if ..."
    section = run_all.page_section(ROWS, about, "scrum")
    assert "| board | latency | 9 ms |" in section and "| demo |" not in section
    assert "- 0 of 1 of its targets met; a target is MET only if ..." in section
    assert "Not in that run yet: bench_move.py, bench_scrum.py." in section
    demo = run_all.page_section(ROWS, about, "demo")
    assert "| demo | speed |" in demo and "| demo | detail |" in demo  # untargeted ones too
    assert "Not in that run" not in demo


def test_the_results_page_reads_back_as_the_rows_it_was_written_from():
    rows = [*ROWS, {"bench": "x", "figure": "a | b", "ours": "1", "met": None}]
    about, read = run_all.parse_results(run_all.results_page(rows, "- date: today"))
    assert about == "- date: today"
    assert run_all.table(read) == run_all.table(rows)
    assert [row["met"] for row in read] == [True, None, False, None]
    text = run_all.RESULTS.read_text()
    assert run_all.results_page(*reversed(run_all.parse_results(text))) == text


def test_every_readmes_figures_are_the_ones_bench_results_holds():
    """No figure copied by hand, none left behind: run_all.py --pages would change nothing."""
    about, rows = run_all.parse_results(run_all.RESULTS.read_text())
    for page, text in run_all.pages_text(rows, about).items():
        assert page.read_text() == text, f"{page}: run python bench/run_all.py --pages"
    pages = {page.parent.name for page in run_all.service_pages()}
    assert {run_all.service_of(row) for row in rows} <= pages


def test_a_readme_without_the_markers_is_an_error_not_a_silent_skip():
    with pytest.raises(SystemExit, match="no .* block to fill"):
        run_all.fill_readme("# Title\n", "figures")


def test_the_real_readme_has_the_performance_block():
    readme = run_all.README.read_text()
    assert readme.count(run_all.README_START) == 1 and readme.count(run_all.README_END) == 1


@pytest.mark.parametrize(
    ("load", "cores", "idle"),
    [(0.0, 2, True), (1.0, 2, True), (1.02, 2, False), (1.8, 2, False), (0.6, 1, False)],
)
def test_a_run_is_idle_only_at_half_a_core_of_load_or_less(load, cores, idle):
    """RESULTS.md once said "idle machine" at a load average of 1.8 on 2 cores (issue 19)."""
    found, sentence = run_all.idle_check(load, cores)
    assert found is idle
    assert sentence.startswith("idle machine" if idle else "BUSY machine")
    assert f"load average {load:.2f} on {cores} cores" in sentence


def busy_run(monkeypatch, *options):
    """run_all.main() at a load average of 3 per core; benchmarks and writes are recorded."""
    cores = len(run_all.os.sched_getaffinity(0))
    monkeypatch.setattr(run_all.os, "getloadavg", lambda: (3.0 * cores,) * 3)
    done = []
    monkeypatch.setattr(run_all, "run", lambda script, *args: done.append(script.name) or ([], 0))
    monkeypatch.setattr(run_all, "write_results", lambda *args: done.append("written"))
    monkeypatch.setattr(sys, "argv", ["run_all.py", *options])
    return done


def test_a_run_on_a_busy_machine_says_so_and_exits_2_without_running(monkeypatch, capsys):
    done = busy_run(monkeypatch)
    with pytest.raises(SystemExit) as exit:
        run_all.main()
    assert exit.value.code == 2 and done == []
    assert "BUSY machine" in capsys.readouterr().err


def test_busy_runs_anyway_labelled_busy_and_writes_nothing(monkeypatch, capsys):
    done = busy_run(monkeypatch, "--busy")
    run_all.main()
    assert "written" not in done and done  # every benchmark ran, nothing was written
    out = capsys.readouterr().out
    assert "- at the start, BUSY machine: load average" in out
    assert "(not written: a busy machine)" in out
