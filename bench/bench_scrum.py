"""Benchmark: the scrum API under gunicorn on PostgreSQL, against a plain Django view.

Target (issue 5): GET /api/tasks/?sprint=N&page_size=100 costs at most 3x the floor, a plain
Django view returning the same 100 rows with .values() as JSON (bench/scrum_floor.py), both
under gunicorn (2 workers) on the same throwaway PostgreSQL cluster, loaded by wrk on
127.0.0.1 in the same run. Also reports requests/s, p50 and p99 for detail, create and move.

Cost is the CPU time the server spends per request: its gunicorn processes plus every
PostgreSQL process, read from /proc around each wrk run (wrk's own CPU and other programs on
the machine do not count, so the figure holds on a busy machine where requests/s swing).
Each measurement is repeated ROUNDS times, floor and list back to back in every round; the
ratio is the median of the per-round ratios. The requests/s ratio is printed alongside.
Exit status 1 if a request failed or the target is missed.

    .venv/bin/python bench/bench_scrum.py
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import BIN, PostgresCluster, Service, free_port, require_program  # noqa: E402

SCRUM = ROOT / "scrum"
ROUNDS = 5
SECONDS = 4
CONNECTIONS = 8
TARGET = 3.0
TICKS = os.sysconf("SC_CLK_TCK")

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


def wrk(program, url, script):
    command = [program, "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", script, url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 60).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


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


def main():
    program = require_program("wrk")
    cluster = PostgresCluster().start()
    try:
        env = {
            **os.environ,
            "DEBUG": "off",
            "SECRET_KEY": "bench-" * 10,
            "WATERCOOLER_SECRET": "bench-watercooler",
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
                postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
                results = measure(program, api, floor, plan, postmaster)
            finally:
                api.stop()
                floor.stop()
    finally:
        cluster.stop()
    return report(results)


def cpu_seconds(roots):
    """CPU time used so far by the processes `roots` and their children (from /proc)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(entry.name) in roots or int(fields[1]) in roots:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def measure(program, api, floor, plan, postmaster):
    """name -> list of wrk results (with cpu_ms per request), ROUNDS each."""
    results = {name: [] for name in plan}
    for name in plan:  # warm-up: connections, caches, first-request imports
        server = floor if name == "floor" else api
        path, script = plan[name]
        subprocess.run(
            [program, "-t1", "-c2", "-d1s", "-s", script, server.url + path],
            capture_output=True,
            timeout=60,
        )
    for _ in range(ROUNDS):
        for name, (path, script) in plan.items():
            server = floor if name == "floor" else api
            roots = {server.proc.pid, postmaster}
            before = cpu_seconds(roots)
            result = wrk(program, server.url + path, script)
            spent = cpu_seconds(roots) - before
            result["cpu_ms"] = 1000 * spent / max(result["requests"], 1)
            results[name].append(result)
    return results


def report(results):
    print(
        f"scrum API vs plain Django view: gunicorn x2 workers, PostgreSQL, wrk -c{CONNECTIONS}, "
        f"{ROUNDS} x {SECONDS}s, medians; cpu = server + database CPU per request"
    )
    print(f"{'operation':>10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>8} {'errors':>7}")
    failed = False
    for name, runs in results.items():
        rps, p50, p99, cpu = (
            statistics.median(r[key] for r in runs) for key in ("rps", "p50", "p99", "cpu_ms")
        )
        errors = sum(r["errors"] for r in runs)
        failed = failed or errors > 0
        print(f"{name:>10} {rps:>9.1f} {p50:>8.2f} {p99:>8.2f} {cpu:>8.2f} {errors:>7}")
    pairs = list(zip(results["floor"], results["list"], strict=True))
    costs = sorted(lst["cpu_ms"] / fl["cpu_ms"] for fl, lst in pairs)
    cost = statistics.median(costs)
    speed = statistics.median(sorted(fl["rps"] / lst["rps"] for fl, lst in pairs))
    met = cost <= TARGET
    print(
        f"list cost / floor cost: {cost:.2f}x CPU per request (req/s ratio {speed:.2f}x), "
        f"medians of {ROUNDS} back-to-back rounds; target <= {TARGET}x: "
        f"{'met' if met else 'NOT met'}"
    )
    print(f"per-round cost ratios, sorted: {' '.join(f'{ratio:.2f}' for ratio in costs)}")
    if failed:
        print("some requests failed (non-2xx or socket errors)")
    return 0 if met and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
