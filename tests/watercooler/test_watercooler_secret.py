"""watercooler refuses a secret anyone could know unless run with --debug."""

import os
import socket
import subprocess
import sys

import pytest
from conftest import WATERCOOLER, watercooler
from harness import free_port


def run_with_secret(secret, *args):
    """Run watercooler.py with this WATERCOOLER_SECRET to its exit; the CompletedProcess."""
    env = {**os.environ, "WATERCOOLER_SECRET": secret}
    command = [sys.executable, "watercooler.py", *args]
    return subprocess.run(
        command, cwd=WATERCOOLER, env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    "secret, reason",
    [
        ("change-me", "is shorter than 32 characters"),
        ("change-me-change-me-change-me-change-me", "is a published placeholder"),
        ("dev-only-watercooler_secret-do-not-use-in-production", "is a published placeholder"),
        ("ab" * 20, "has fewer than 5 different characters"),
    ],
)
def test_an_unsafe_secret_is_a_one_line_start_up_error(secret, reason):
    port = free_port()
    result = run_with_secret(secret, f"--port={port}")
    assert result.returncode == 1
    assert result.stderr == (
        f"watercooler: WATERCOOLER_SECRET {reason}; refusing to start "
        "(--debug runs on a dev-only secret)\n"
    )
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_debug_accepts_a_short_secret(start):
    service = start(watercooler("--debug", env={"WATERCOOLER_SECRET": "change-me"}))
    assert service.proc.poll() is None
