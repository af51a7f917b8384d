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


def test_the_readme_performance_section_is_replaced_from_the_run_and_only_targets_shown():
    rows = [
        {"bench": "demo", "figure": "speed", "ours": "2.0 ms", "met": True, "verdict": "MET"},
        {"bench": "demo", "figure": "detail", "ours": "42", "met": None},
    ]
    old = f"# Title\n\n{run_all.README_START}\nold figures\n{run_all.README_END}\n\n## Layout\n"
    new = run_all.fill_readme(old, run_all.readme_section(rows, "- date: today"))
    assert (
        "old figures" not in new
        and "| demo | speed | 2.0 ms" in new
        and "| demo | detail" not in new
    )
    assert new.startswith("# Title\n\n") and new.endswith(f"{run_all.README_END}\n\n## Layout\n")
    assert run_all.fill_readme(new, "again").count(run_all.README_START) == 1


def test_a_readme_without_the_markers_is_an_error_not_a_silent_skip():
    with pytest.raises(SystemExit, match="no .* block to fill"):
        run_all.fill_readme("# Title\n", "figures")


def test_the_real_readme_has_the_performance_block():
    readme = run_all.README.read_text()
    assert readme.count(run_all.README_START) == 1 and readme.count(run_all.README_END) == 1
