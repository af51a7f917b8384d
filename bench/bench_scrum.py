"""Benchmark: the scrum API under gunicorn on PostgreSQL, against a plain Django view.

Target (issue 5): GET /api/tasks/?sprint=N&page_size=100 costs at most 3x the floor, a plain
Django view returning the same 100 rows with .values() as JSON (bench/scrum_floor.py), both
under gunicorn (2 workers) on the same throwaway PostgreSQL cluster, loaded by wrk on
127.0.0.1 in the same run. Also reports requests/s, p50 and p99 for detail, create and move.

Cost is the CPU time the server spends per request: its gunicorn processes (the workers it
has reaped included) plus PostgreSQL's client backends, read from /proc around each wrk run
(wrk's own CPU and other programs on the machine do not count, so the figure holds on a busy
machine where requests/s swing). PostgreSQL's background processes are left out: autovacuum
after the write rounds, the checkpointer and the WAL writer are no cost of the request being
measured, and an autovacuum worker that exits mid-run took its CPU out of the sum.
Before measuring, the floor and the API must return the same 100 rows. Each measurement is
repeated --rounds times (default 10), floor and list back to back in every round; the figure
is the per-round ratio, shown as median with min and IQR, and the target is MET only if the
median is within it and no more than a fifth of the rounds miss it (bench/stats.py). Failed
requests are counted from wrk's "Socket errors" line and its non-2xx/3xx responses.
Exit status 1 if a request failed or the target is missed.

    .venv/bin/python bench/bench_scrum.py [--rounds 10] [--seconds 4] [--quick]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import requests
from stats import Report, Target, spread, wrk_errors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import BIN, PostgresCluster, Service, free_port, require_program  # noqa: E402

SCRUM = ROOT / "scrum"
CONNECTIONS = 8
TARGET = 3.0
TICKS = os.sysconf("SC_CLK_TCK")
# a client backend's process title: "postgres: <user> <database> <host>(<port>) <state>"
CLIENT_BACKEND = re.compile(r"^postgres: \S+ \S+ (\S+\(\d+\)|\[local\])")

SEED = """
from datetime import date, timedelta
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from board.models import Sprint, Task
User = get_user_model()
users = User.objects.bulk_create(User(username=f"user{n}") for n in range(50))
bench = User.objects.create_user("bench", password="bench")
today = date.today()
listed, created, moved, *others = [
    Sprint.objects.create(name=f"S{n}", end=today + timedelta(days=10 + n)) for n in range(13)
]
def fill(sprint, count):
    Task.objects.bulk_create(
        Task(name=f"Task {n}", description="Something to do " * 4, sprint=sprint,
             status=1, order=n, assigned=users[n % len(users)]) for n in range(count))
fill(listed, 100); fill(moved, 60)
for sprint in others:
    fill(sprint, 400)
print(json.dumps({"token": Token.objects.create(user=bench).key, "listed": listed.pk,
    "created": created.pk, "moved": moved.pk,
    "detail_ids": list(listed.task_set.values_list("pk", flat=True)),
    "move_ids": list(moved.task_set.values_list("pk", flat=True))}))
"""

REPORT = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'RESULT {"rps": %.2f, "p50": %.3f, "p99": %.3f, "errors": %d, "requests": %d}\\n',
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors, summary.requests))
end
"""

PICK = """
ids = {%s}
request = function()
  local id = ids[math.random(#ids)]
  %s
end
"""


def lua(folder, name, body):
    script = Path(folder) / f"{name}.lua"
    script.write_text(body + REPORT)
    return script


def scripts(folder, data, token):
    """wrk scripts: name -> (path, script) for every measured operation."""
    auth = f'["Authorization"] = "Token {token}", ["Content-Type"] = "application/json"'
    detail = PICK % (
        ",".join(map(str, data["detail_ids"])),
        f'return wrk.format("GET", "/api/tasks/" .. id .. "/", {{{auth}}})',
    )
    move = PICK % (
        ",".join(map(str, data["move_ids"])),
        'local body = string.format(\'{"status": %d, "position": %d}\', '
        "math.random(1, 4), math.random(0, 20))\n"
        f'  return wrk.format("POST", "/api/tasks/" .. id .. "/move/", {{{auth}}}, body)',
    )
    create = (
        f'wrk.method = "POST"\nwrk.headers["Authorization"] = "Token {token}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = \'{{"name": "Bench task", "sprint": {data["created"]}}}\'\n'
    )
    listing = f'wrk.headers["Authorization"] = "Token {token}"\n'
    return {
        "floor": (f"/floor/tasks/?sprint={data['listed']}", lua(folder, "floor", "")),
        "list": (
            f"/api/tasks/?sprint={data['listed']}&page_size=100",
            lua(folder, "list", listing),
        ),
        "detail": ("/api/tasks/", lua(folder, "detail", detail)),
        "create": ("/api/tasks/", lua(folder, "create", create)),
        "move": ("/api/tasks/", lua(folder, "move", move)),
    }


def wrk(program, url, script, seconds):
    """wrk's figures from the script's RESULT line; errors also from its "Socket errors"."""
    command = [program, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", script, url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["errors"] = max(result["errors"], sum(wrk_errors(output)))
    return result


def gunicorn(module, env, extra=()):
    command = [BIN / "gunicorn", "--bind", "127.0.0.1:{port}", "--workers", "2", *extra, module]
    return Service(command, SCRUM, env, ready_path="/api/schema/")


def seed(env):
    manage = [sys.executable, "scrum.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=SCRUM, env=env, check=True)
    shell = subprocess.run(
        [*manage, "shell", "-c", "import json\n" + SEED],
        cwd=SCRUM,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(shell.stdout.strip().splitlines()[-1])


ROW_FIELDS = ("id", "name", "description", "sprint", "status", "order", "started", "due")


def same_rows(api, floor, plan, token):
    """The API's page of 100 tasks and the floor's rows, as comparable tuples: equal?"""
    headers = {"Authorization": f"Token {token}"}
    ours = requests.get(api.url + plan["list"][0], headers=headers, timeout=30).json()["results"]
    theirs = requests.get(floor.url + plan["floor"][0], timeout=30).json()["results"]

    def rows(results, assigned):
        return [(*(r[key] for key in ROW_FIELDS), r[assigned], r["completed"]) for r in results]

    ours, theirs = rows(ours, "assigned"), rows(theirs, "assigned__username")
    return len(ours) == 100 and ours == theirs, len(ours), len(theirs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=4, help="of wrk per measurement")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s, to try it out")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 2, 2
    program = require_program("wrk")
    report = Report("scrum")
    cluster = PostgresCluster().start()
    try:
        env = {
            **os.environ,
            "DEBUG": "off",
            "SECRET_KEY": "bench-" * 10,
            "WATERCOOLER_SECRET": "bench-watercooler-secret-Pz4Wm8Ct2Fk6",
            "WATERCOOLER_SERVER": f"127.0.0.1:{free_port()}",  # nothing listens: refused
            "DATABASE_URL": cluster.url,
        }
        data = seed(env)
        with tempfile.TemporaryDirectory() as folder:
            plan = scripts(folder, data, data["token"])
            api = gunicorn("scrum:application", env).start()
            floor = gunicorn("scrum_floor:application", env, ["--pythonpath", ROOT / "bench"])
            floor.start()
            try:
                equal, *counts = same_rows(api, floor, plan, data["token"])
                if not equal:
                    report.fail(
                        "list vs floor", f"different rows (API {counts[0]}, floor {counts[1]})"
                    )
                    return report.finish()
                postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
                results = measure(program, api, floor, plan, postmaster, args)
            finally:
                api.stop()
                floor.stop()
    finally:
        cluster.stop()
    return summarize(results, report, args)


def cpu_times(gunicorn, postmaster):
    """pid -> CPU seconds used so far, for the gunicorn master `gunicorn` (with the workers
    it has reaped), its workers and the client backends of the PostgreSQL `postmaster`."""
    times = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            title = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError):
            continue  # exited meanwhile
        pid, ppid = int(entry.name), int(fields[1])
        own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
        if pid == gunicorn:
            times[pid] = (own + reaped) / TICKS
        elif ppid == gunicorn or (ppid == postmaster and CLIENT_BACKEND.search(title)):
            times[pid] = own / TICKS
    return times


def cpu_spent(before, after):
    """CPU seconds between two cpu_times(): a process that started meanwhile counts whole; a
    backend that ended meanwhile (CONN_MAX_AGE) loses only what it used since `before`, where
    summing the two totals would have taken all of its life's CPU out of the figure."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def measure(program, api, floor, plan, postmaster, args):
    """name -> list of wrk results (with cpu_ms per request), one per round."""
    results = {name: [] for name in plan}
    for name in plan:  # warm-up: connections, caches, first-request imports
        server = floor if name == "floor" else api
        path, script = plan[name]
        subprocess.run(
            [program, "-t1", "-c2", "-d1s", "-s", script, server.url + path],
            capture_output=True,
            timeout=60,
        )
    for _ in range(args.rounds):
        for name, (path, script) in plan.items():
            server = floor if name == "floor" else api
            before = cpu_times(server.proc.pid, postmaster)
            result = wrk(program, server.url + path, script, args.seconds)
            spent = cpu_spent(before, cpu_times(server.proc.pid, postmaster))
            result["cpu_ms"] = 1000 * spent / max(result["requests"], 1)
            results[name].append(result)
    return results


def summarize(results, report, args):
    """Every operation's figures over the rounds, then the cost target and the errors."""
    print(
        f"scrum API vs plain Django view: gunicorn x2 workers, PostgreSQL, wrk -c{CONNECTIONS}, "
        f"{args.rounds} rounds x {args.seconds}s; cpu = server + database CPU per request"
    )
    for name, runs in results.items():
        report.row(
            f"scrum {name}: req/s, p99, CPU per request",
            f"{spread([r['rps'] for r in runs], ' req/s', 0)}; p99 "
            f"{spread([r['p99'] for r in runs], ' ms', 2)}; "
            f"{spread([r['cpu_ms'] for r in runs], ' CPU ms', 2)}",
        )
    pairs = list(zip(results["floor"], results["list"], strict=True))
    costs = [lst["cpu_ms"] / fl["cpu_ms"] for fl, lst in pairs]
    speeds = [fl["rps"] / lst["rps"] for fl, lst in pairs]
    report.row(
        "scrum list of 100 tasks: CPU per request against the floor",
        spread([lst["cpu_ms"] for _, lst in pairs], " ms", 2),
        f"plain Django view, same 100 rows: {spread([fl['cpu_ms'] for fl, _ in pairs], ' ms', 2)}",
        f"{spread(costs, 'x')}; req/s ratio {spread(speeds, 'x')}",
        Target(costs, "<=", TARGET, "x the floor"),
    )
    errors = sum(r["errors"] for runs in results.values() for r in runs)
    requests_done = sum(r["requests"] for runs in results.values() for r in runs)
    report.row(
        "scrum: failed requests (socket errors, non-2xx)",
        f"{errors} of {requests_done:,}",
        target=Target([errors], "==", 0),
    )
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
