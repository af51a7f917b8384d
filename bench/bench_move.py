"""Benchmark: a task move's cost as its column grows (15, 1,000 and 10,000 tasks).

Target (convergence issue): a move in a column of 1,000 tasks costs at most 2x one in a column
of 15, and every move is one announcement to the watercooler, whatever the column's length.

Moves go through the API in this process (Django's test client, DEBUG off) on a throwaway
PostgreSQL cluster (tests/harness.py). A move's cost is the CPU time of the thread serving it
(time.thread_time) plus that of its PostgreSQL backend (/proc/<pid>/schedstat, in
nanoseconds), over a batch of moves: a random task of a sprint whose two columns (Not Started,
In Progress) hold N tasks each goes to a random column and position. Every round measures the
three sizes back to back; figures are medians with min and IQR over the rounds, and the ratio
is taken per round (bench/stats.py). Announcements go to a small HTTP server in this process
standing in for the watercooler, which counts them: messages per move is that count over the
moves.

Between rounds, outside the measured time, the tasks' table is vacuumed, as autovacuum does
on a live server: each move rewrites the rows it shifts, and this burst of moves outruns
autovacuum's schedule (a run a minute at most), so without it every round would read more
dead rows than the last (--no-vacuum shows that).

    .venv/bin/python bench/bench_move.py [--rounds 7] [--moves 60] [--quick] [--no-vacuum]
"""

import argparse
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from stats import Report, Target, spread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import PostgresCluster  # noqa: E402

SIZES = (15, 1000, 10000)
TARGET = 2.0
SETTLE = 0.3  # seconds without a new announcement before they are counted


class Counter:
    """An HTTP server on 127.0.0.1 answering 200 to every announcement and counting them."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def record(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with counter.lock:
                    counter.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_DELETE = record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def settled(self):
        """Return the count once no announcement has arrived for SETTLE seconds."""
        last = -1
        while last != self.count:
            last = self.count
            time.sleep(SETTLE)
        return last


def configure(database_url, watercooler):
    """Configure scrum's Django in this process (DEBUG off) on the database, migrated."""
    os.environ.update(
        DATABASE_URL=database_url,
        DEBUG="off",
        SECRET_KEY="bench-" * 10,
        WATERCOOLER_SECRET="bench-watercooler-secret-Qm3Vx7Kd9Tb2",
        WATERCOOLER_SERVER=watercooler,
        ALLOWED_HOSTS="testserver",
    )
    sys.path.insert(0, str(ROOT / "scrum"))
    from django.core.management import call_command

    import scrum  # noqa: F401  (settings.configure + django.setup)

    call_command("migrate", verbosity=0)


def seed():
    """Return (API client, {size: (sprint id, task ids)}): one sprint per size with two
    columns of that many tasks."""
    from datetime import date, timedelta

    from board.models import Sprint, Task, Token
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    user = get_user_model().objects.create_user("bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    sprints = {}
    for n, size in enumerate(SIZES):
        sprint = Sprint.objects.create(end=date.today() + timedelta(days=10 + n))
        tasks = Task.objects.bulk_create(
            (
                Task(name=f"T{i}", sprint=sprint, status=status, order=i, started=started)
                for status, started in ((1, None), (2, date.today()))
                for i in range(size)
            ),
            batch_size=2000,
        )
        sprints[size] = (sprint.pk, [task.pk for task in tasks])
    return client, sprints


def backend():
    """Return the pid of this process's PostgreSQL backend."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def cpu_ns(pid):
    """Return the CPU time a process has used, in nanoseconds (its schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def vacuum():
    """VACUUM the tasks' table, as autovacuum would between the rounds."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM board_task")


def run_moves(client, sprint, ids, size, moves, rng):
    """Make `moves` random moves in a sprint; return the CPU ms per move (this thread plus
    the PostgreSQL backend)."""
    pid = backend()
    thread, database = time.thread_time_ns(), cpu_ns(pid)
    for _ in range(moves):
        body = {"status": rng.choice((1, 2)), "sprint": sprint, "position": rng.randint(0, size)}
        response = client.post(f"/api/tasks/{rng.choice(ids)}/move/", body, format="json")
        if response.status_code != 200:
            raise RuntimeError(f"move failed: {response.status_code} {response.content[:300]}")
    spent = time.thread_time_ns() - thread + cpu_ns(pid) - database
    if backend() != pid:
        raise RuntimeError("the database connection changed during a batch")
    return spent / 1e6 / moves


def measure(client, sprints, counter, args):
    """Return {size: [CPU ms per move, one per round]} and the messages per move per round."""
    rng = random.Random(7)
    for size, (sprint, ids) in sprints.items():  # warm-up: imports, caches, the connection
        run_moves(client, sprint, ids, size, 5, rng)
    costs, messages = {size: [] for size in SIZES}, []
    for _ in range(args.rounds):
        if args.vacuum:
            vacuum()
        before = counter.settled()
        for size, (sprint, ids) in sprints.items():
            costs[size].append(run_moves(client, sprint, ids, size, args.moves, rng))
        messages.append((counter.settled() - before) / (args.moves * len(SIZES)))
    return costs, messages


def figure(values, unit="", digits=2):
    """Return stats.spread()'s median, min and IQR, with the max beside them."""
    return f"{spread(values, unit, digits)}, max {max(values):,.{digits}f}"


def summarize(costs, messages, report, args):
    """Print every size's cost, the ratios and the messages per move; return the status."""
    print(
        f"task moves through the API in-process on PostgreSQL: {args.rounds} rounds x "
        f"{args.moves} moves per column size; cpu = serving thread + database backend; "
        f"{'VACUUM' if args.vacuum else 'no VACUUM'} between rounds"
    )
    for size in SIZES:
        report.row(f"move in a column of {size:,}: CPU per move", figure(costs[size], " ms"))
    ratios = [big / small for small, big in zip(costs[15], costs[1000], strict=True)]
    report.row(
        "move: CPU per move, column of 1,000 against 15",
        figure(costs[1000], " ms"),
        f"column of 15: {figure(costs[15], ' ms')}",
        figure(ratios, "x"),
        Target(ratios, "<=", TARGET, "x"),
    )
    largest = [big / small for small, big in zip(costs[15], costs[10000], strict=True)]
    report.row("move: CPU per move, column of 10,000 against 15", figure(largest, "x"))
    report.row("move: announcements per move", figure(messages), target=Target(messages, "==", 1))
    return report.finish()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--moves", type=int, default=60, help="per column size and round")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 20 moves")
    parser.add_argument(
        "--no-vacuum", dest="vacuum", action="store_false", help="no VACUUM between rounds"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.moves = 3, 20
    cluster = PostgresCluster().start()
    try:
        counter = Counter()
        configure(cluster.url, counter.address)
        client, sprints = seed()
        costs, messages = measure(client, sprints, counter, args)
    finally:
        cluster.stop()
    return summarize(costs, messages, Report("move"), args)


if __name__ == "__main__":
    sys.exit(main())
