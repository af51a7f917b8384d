"""The stack suite's latency record: tests note how long a change took to reach a board, and
the figures are printed as a table at the end of the run (never asserted on)."""

import pytest

LATENCIES = []  # (test, what, milliseconds)


@pytest.fixture
def record_latency(request):
    """record_latency(what, seconds): one figure for the table printed at the end."""

    def record(what, seconds):
        LATENCIES.append((request.node.name, what, seconds * 1000))

    return record


def pytest_terminal_summary(terminalreporter):
    if not LATENCIES:
        return
    terminalreporter.section("latency: a change made on one side until the other board shows it")
    width = max(len(what) for _, what, _ in LATENCIES)
    test = None
    for name, what, ms in LATENCIES:
        if name != test:
            terminalreporter.write_line(name)
            test = name
        terminalreporter.write_line(f"  {what:<{width}}  {ms:7.1f} ms")
