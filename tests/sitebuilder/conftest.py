"""A private copy of sitebuilder for each test, and its commands run in it as a user would."""

import os
import shutil
import subprocess
import sys

import pytest
from harness import ROOT

SITEBUILDER = ROOT / "sitebuilder"


@pytest.fixture
def site(tmp_path):
    """A copy of sitebuilder/ (prototypes.py, the app, the book's pages) to change freely;
    its README.md stays behind (tests/docs runs that)."""
    copy = tmp_path / "site"
    ignore = shutil.ignore_patterns("_build", "__pycache__", ".*", "README.md")
    shutil.copytree(SITEBUILDER, copy, ignore=ignore)
    return copy


@pytest.fixture
def prototypes(site):
    """prototypes(*args, check=True, **env): `python prototypes.py ARGS` run in the copy."""

    def run(*args, check=True, **env):
        result = subprocess.run(
            [sys.executable, "prototypes.py", *args],
            cwd=site,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, **env},
        )
        if check and result.returncode:
            raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


@pytest.fixture
def snapshot():
    """snapshot(folder): every file under it with its bytes and modification time."""

    def take(folder):
        return {
            path.relative_to(folder).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }

    return take
