"""tests/run_suites.py on fake suites in a temporary tests/ folder: green means tested."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from harness import ROOT

PASSING = "def test_passes():\n    assert True\n"
SKIPPING = "import pytest\n\ndef test_skips():\n    pytest.skip('no program')\n"
DJANGO_ON_SQLITE = """
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
)
import django

django.setup()
"""


@pytest.fixture
def tests_folder(tmp_path):
    """make(suite, files) adds a fake suite; run(*args, env) runs the copied run_suites.py."""
    folder = tmp_path / "tests"
    folder.mkdir()
    shutil.copy(ROOT / "tests" / "run_suites.py", folder)

    def make(suite, files):
        (folder / suite).mkdir()
        for name, text in files.items():
            (folder / suite / name).write_text(textwrap.dedent(text))

    def run(*args, env=None):
        environment = {**os.environ, "CI": "", **(env or {})}
        command = [sys.executable, str(folder / "run_suites.py"), *args]
        done = subprocess.run(command, env=environment, capture_output=True, text=True)
        return done.returncode, done.stdout

    return make, run


def summary(output):
    """{label: verdict line} of the run's "=== suites ===" block."""
    block = output.split("=== suites ===", 1)[1].split("\ntotal:", 1)[0]
    lines = [line.strip() for line in block.strip().splitlines()]
    return dict(line.split(": ", 1) for line in lines)


def test_passing_suites_pass(tests_folder):
    make, run = tests_folder
    make("one", {"test_one.py": PASSING})
    make("two", {"test_two.py": PASSING})
    code, output = run()
    assert summary(output) == {
        "one": "1 passed, 0 failed, 0 skipped  ok",
        "two": "1 passed, 0 failed, 0 skipped  ok",
    }
    assert code == 0


def test_a_failing_suite_fails_the_run(tests_folder):
    make, run = tests_folder
    make("good", {"test_good.py": PASSING})
    make("bad", {"test_bad.py": "def test_fails():\n    assert False\n"})
    code, output = run()
    assert summary(output)["bad"] == "0 passed, 1 failed, 0 skipped  FAILED (exit 1)"
    assert code == 1


@pytest.mark.parametrize("named", [False, True], ids=["all suites", "named on the command line"])
def test_variants_holding_only_comments_fail_the_run(tests_folder, named):
    make, run = tests_folder
    make("good", {"test_good.py": PASSING})
    make("hollow", {"test_hollow.py": PASSING, "variants.txt": "# sqlite\n   # postgres X=1\n"})
    code, output = run(*(["hollow"] if named else []))
    results = summary(output)
    assert len(results) == (1 if named else 2)
    assert results["hollow"] == "0 passed, 0 failed, 0 skipped  NO PASSES in variants.txt"
    assert code == 1


def test_each_variant_runs_with_its_settings(tests_folder):
    make, run = tests_folder
    check = "import os\n\ndef test_colour():\n    assert os.environ['COLOUR'] in {'red', 'blue'}\n"
    make("paint", {"test_paint.py": check, "variants.txt": "red COLOUR=red\nblue COLOUR=blue\n"})
    code, output = run("paint")
    assert summary(output) == {
        "paint[red]": "1 passed, 0 failed, 0 skipped  ok",
        "paint[blue]": "1 passed, 0 failed, 0 skipped  ok",
    }
    assert code == 0


def test_all_skipped_fails_under_ci_only(tests_folder):
    make, run = tests_folder
    make("skippy", {"test_skippy.py": SKIPPING})
    code, output = run("skippy", env={"CI": "true"})
    assert summary(output)["skippy"] == "0 passed, 0 failed, 1 skipped  ALL SKIPPED (CI=true)"
    assert code == 1
    code, output = run("skippy")
    assert summary(output)["skippy"] == "0 passed, 0 failed, 1 skipped  ok"
    assert code == 0


def test_some_skipped_still_pass_under_ci(tests_folder):
    make, run = tests_folder
    make("mixed", {"test_pass.py": PASSING, "test_skip.py": SKIPPING})
    code, output = run("mixed", env={"CI": "true"})
    assert summary(output)["mixed"] == "1 passed, 0 failed, 1 skipped  ok"
    assert code == 0


def test_no_tests_collected_fails(tests_folder):
    make, run = tests_folder
    make("empty", {"test_empty.py": "# nothing here\n"})
    code, output = run("empty")
    assert summary(output)["empty"] == "0 passed, 0 failed, 0 skipped  NO TESTS"
    assert code == 1


def test_a_pass_must_have_run_on_the_database_it_names(tests_folder):
    make, run = tests_folder
    variants = "lite database:sqlite\npg database:postgresql\n"
    make("db", {"conftest.py": DJANGO_ON_SQLITE, "test_db.py": PASSING, "variants.txt": variants})
    code, output = run("db")
    assert summary(output) == {
        "db[lite]": "1 passed, 0 failed, 0 skipped  ok",
        "db[pg]": "1 passed, 0 failed, 0 skipped  RAN ON sqlite, NOT postgresql",
    }
    assert code == 1


def test_a_pass_naming_a_database_fails_without_django(tests_folder):
    make, run = tests_folder
    make("nodb", {"test_nodb.py": PASSING, "variants.txt": "lite database:sqlite\n"})
    code, output = run("nodb")
    assert summary(output)["nodb[lite]"] == "1 passed, 0 failed, 0 skipped  RAN ON None, NOT sqlite"
    assert code == 1


def test_the_callers_service_settings_do_not_reach_the_suites(tests_folder):
    make, run = tests_folder
    check = """
        import os

        def test_clean_environment():
            for name in ("DATABASE_URL", "REDIS_URL", "DEBUG", "ALLOWED_HOSTS"):
                assert name not in os.environ, name
            assert os.environ["KEPT"] == "yes"
    """
    make("env", {"test_env.py": check})
    caller = {"DATABASE_URL": "postgres://nobody@127.0.0.1:9/production", "KEPT": "yes"}
    caller.update(REDIS_URL="redis://127.0.0.1:9/0", DEBUG="off", ALLOWED_HOSTS="example.com")
    code, output = run("env", env=caller)
    assert summary(output)["env"] == "1 passed, 0 failed, 0 skipped  ok"
    assert code == 0
