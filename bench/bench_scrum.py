"""Benchmark: the scrum task list under gunicorn on PostgreSQL, against django-ninja and the floor.

The measured request is the board's hot path, GET /api/tasks/?sprint=N&page_size=100 with a
token: the first 100 tasks of a sprint of 100, 1,000 and 10,000 tasks (--sizes). Three servers
answer it with the same JSON body, each under gunicorn (2 sync workers) on the same throwaway
PostgreSQL cluster, loaded by wrk on 127.0.0.1 in the same run:
- the scrum API (DRF, django-filter, scrum.py's middleware);
- django-ninja's peer (bench/scrum_ninja.py): the same token, body and Scrum-Versions header,
  written as ninja's documentation shows, on the same Django settings and middleware;
- the floor (bench/scrum_floor.py): one SQL query with psycopg and orjson in a bare WSGI
  callable, no framework, no authentication: the least a server must do to send those rows.
Targets (issue 19), at every size: the list costs at most 3 ms of CPU per request (per 100
rows), and at most 2x django-ninja's CPU per request. The floor is shown with its ratio, no
target. Also reports requests/s, p99 and CPU for the API's detail, create and move.

Cost is the CPU time the server spends per request: its gunicorn processes (the workers it
has reaped included) plus PostgreSQL's client backends, read from /proc around each wrk run
(wrk's own CPU and other programs on the machine do not count, so the figure holds on a busy
machine where requests/s swing). PostgreSQL's background processes are left out: autovacuum
after the write rounds, the checkpointer and the WAL writer are no cost of the request being
measured, and an autovacuum worker that exits mid-run took its CPU out of the sum. Every
operation's figures also show the database's share (its client backends' CPU).
Before measuring, at every size the three must answer 200 with the same JSON (their origins
aside: links are absolute), and the API and ninja the same Scrum-Versions header. Each
measurement is repeated --rounds times (default 10); in every round the three contenders of a
size run back to back, in an order that rotates from round to round. A ratio is taken per
round and shown as median with min and IQR, and a target is MET only if the median is within
it and no more than a fifth of the rounds miss it (bench/stats.py). Failed requests are
counted from wrk's "Socket errors" line and its non-2xx/3xx responses.
Exit status 1 if a request failed, the outputs differ or a target is missed.

    .venv/bin/python bench/bench_scrum.py [--rounds 10] [--seconds 4] [--sizes 100,1000,10000]
                                          [--quick]
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
SIZES = (100, 1_000, 10_000)  # tasks in the listed sprint
PAGE = 100  # tasks per list request
CPU_TARGET = 3.0  # ms of server + database CPU per list request
NINJA_TARGET = 2.0  # x django-ninja's CPU per list request
CONTENDERS = ("floor", "ninja", "list")  # server of each: floor, ninja, api
FLOOR = "floor (psycopg + orjson, no framework)"
TICKS = os.sysconf("SC_CLK_TCK")
# a client backend's process title: "postgres: <user> <database> <host>(<port>) <state>"
CLIENT_BACKEND = re.compile(r"^postgres: \S+ \S+ (\S+\(\d+\)|\[local\])")

SEED = """
from datetime import date, timedelta
from django.contrib.auth import get_user_model
from board.models import Sprint, Task, Token
User = get_user_model()
users = User.objects.bulk_create(User(username=f"user{n}") for n in range(50))
bench = User.objects.create_user("bench", password="bench")
today = date.today()
created, moved, *others = [
    Sprint.objects.create(name=f"S{n}", end=today + timedelta(days=10 + n)) for n in range(12)
]
listed = {size: Sprint.objects.create(name=f"L{size}", end=today + timedelta(days=100 + n))
          for n, size in enumerate(SIZES)}
def fill(sprint, count):
    Task.objects.bulk_create(
        (Task(name=f"Task {n}", description="Something to do " * 4, sprint=sprint,
              status=1, order=n, assigned=users[n % len(users)] if n % 10 else None,
              due=today + timedelta(days=n % 30) if n % 2 else None) for n in range(count)),
        batch_size=1000)
for size, sprint in listed.items():
    fill(sprint, size)
fill(moved, 60)
for sprint in others:
    fill(sprint, 400)
from django.db import connection
with connection.cursor() as cursor:  # the planner's statistics, as autovacuum would keep them
    cursor.execute("ANALYZE")
print(json.dumps({"token": Token.objects.create(user=bench).key,
    "listed": {size: sprint.pk for size, sprint in listed.items()},
    "created": created.pk, "moved": moved.pk,
    "detail_ids": list(listed[SIZES[0]].task_set.values_list("pk", flat=True)[:100]),
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
    """wrk scripts: name -> (server, path, script) for every measured operation; the list's
    contenders are named "<contender> <size>" and all get the same request."""
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
    listing = lua(folder, "list", listing)
    plan = {
        f"{name} {size}": (server_of(name), list_path(sprint), listing)
        for size, sprint in data["listed"].items()
        for name in CONTENDERS
    }
    return {
        **plan,
        "detail": ("api", "/api/tasks/", lua(folder, "detail", detail)),
        "create": ("api", "/api/tasks/", lua(folder, "create", create)),
        "move": ("api", "/api/tasks/", lua(folder, "move", move)),
    }


def server_of(contender):
    return "api" if contender == "list" else contender


def list_path(sprint):
    return f"/api/tasks/?sprint={sprint}&page_size={PAGE}"


def rotated(items, turn):
    """items in the order of round `turn`: each round starts one later than the previous."""
    turn %= len(items)
    return [*items[turn:], *items[:turn]]


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


def seed(env, sizes):
    manage = [sys.executable, "scrum.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=SCRUM, env=env, check=True)
    shell = subprocess.run(
        [*manage, "shell", "-c", f"import json\nSIZES = {tuple(sizes)!r}\n{SEED}"],
        cwd=SCRUM,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(shell.stdout.strip().splitlines()[-1])


def answer(server, path, token):
    """(status, body as JSON with the server's origin replaced, Scrum-Versions header)."""
    response = requests.get(
        server.url + path, headers={"Authorization": f"Token {token}"}, timeout=30
    )
    body = response.text.replace(server.url, "ORIGIN")
    return response.status_code, json.loads(body), response.headers.get("Scrum-Versions")


def differences(answers, size):
    """What keeps the contenders' answers for a sprint of `size` from being equal: a list of
    sentences, empty when all answered 200 with the same JSON (count, next, previous, and
    PAGE tasks) and the API and ninja with the same Scrum-Versions header."""
    problems = [f"{name}: status {code}" for name, (code, *_) in answers.items() if code != 200]
    if problems:
        return problems
    ours = answers["list"][1]
    if ours.get("count") != size or len(ours.get("results", [])) != min(size, PAGE):
        problems.append(f"list: {ours.get('count')} tasks, a page of {len(ours['results'])}")
    for name, (_, body, versions) in answers.items():
        if body != ours:
            problems.append(f"{name}: a different body from the API's")
        if name == "ninja" and versions != answers["list"][2]:
            problems.append(f"ninja: Scrum-Versions {versions!r}, the API {answers['list'][2]!r}")
    return problems


def same_output(servers, data):
    """Every size's differences (bench_scrum's precondition), as sentences."""
    problems = []
    for size, sprint in data["listed"].items():
        answers = {
            name: answer(servers[server_of(name)], list_path(sprint), data["token"])
            for name in CONTENDERS
        }
        problems += [f"{int(size):,} tasks: {text}" for text in differences(answers, int(size))]
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=4, help="of wrk per measurement")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(size) for size in text.split(",")],
        default=list(SIZES),
        help="tasks in the listed sprints, comma-separated (default: 100,1000,10000)",
    )
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
        data = seed(env, args.sizes)
        with tempfile.TemporaryDirectory() as folder:
            plan = scripts(folder, data, data["token"])
            peers = ["--pythonpath", ROOT / "bench"]
            servers = {
                "api": gunicorn("scrum:application", env),
                "ninja": gunicorn("scrum_ninja:application", env, peers),
                "floor": gunicorn("scrum_floor:application", env, peers),
            }
            try:
                for server in servers.values():
                    server.start()
                problems = same_output(servers, data)
                if problems:
                    report.fail("scrum list: the same output from every contender", problems[0])
                    print("\n".join(problems[1:]))
                    return report.finish()
                print("the API, django-ninja and the floor answer with the same JSON")
                postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
                results = measure(program, servers, plan, postmaster, args)
            finally:
                for server in servers.values():
                    server.stop()
    finally:
        cluster.stop()
    return summarize(results, report, args)


def cpu_times(gunicorn, postmaster):
    """(kind, pid) -> CPU seconds used so far, for the gunicorn master `gunicorn` (with the
    workers it has reaped) and its workers (kind "server"), and the client backends of the
    PostgreSQL `postmaster` (kind "database")."""
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
            times["server", pid] = (own + reaped) / TICKS
        elif ppid == gunicorn:
            times["server", pid] = own / TICKS
        elif ppid == postmaster and CLIENT_BACKEND.search(title):
            times["database", pid] = own / TICKS
    return times


def cpu_spent(before, after, kinds=("server", "database")):
    """CPU seconds of the processes of `kinds` between two cpu_times(): a process that started
    meanwhile counts whole; a backend that ended meanwhile (CONN_MAX_AGE) loses only what it
    used since `before`, where summing the two totals would have taken all of its life's CPU
    out of the figure."""
    return sum(seconds - before.get(key, 0.0) for key, seconds in after.items() if key[0] in kinds)


def measure(program, servers, plan, postmaster, args):
    """name -> list of wrk results (with cpu_ms per request), one per round: in each round
    the contenders of each size back to back, in an order rotating from round to round."""
    results = {name: [] for name in plan}
    for server, path, script in plan.values():  # warm-up: connections, caches, imports
        subprocess.run(
            [program, "-t1", "-c2", "-d1s", "-s", script, servers[server].url + path],
            capture_output=True,
            timeout=60,
        )
    for turn in range(args.rounds):
        order = [
            f"{name} {size}" for size in args.sizes for name in rotated(list(CONTENDERS), turn)
        ]
        for name in [*order, *(name for name in plan if name not in order)]:
            server, path, script = plan[name]
            server = servers[server]
            before = cpu_times(server.proc.pid, postmaster)
            result = wrk(program, server.url + path, script, args.seconds)
            after = cpu_times(server.proc.pid, postmaster)
            requests_done = max(result["requests"], 1)
            result["cpu_ms"] = 1000 * cpu_spent(before, after) / requests_done
            result["db_ms"] = 1000 * cpu_spent(before, after, ["database"]) / requests_done
            results[name].append(result)
    return results


def summarize(results, report, args):
    """Every operation's figures over the rounds, then at every size the targets (CPU per
    request, against django-ninja) with the floor, then the errors."""
    print(
        f"scrum task list vs django-ninja and the floor: gunicorn x2 workers, PostgreSQL, "
        f"wrk -c{CONNECTIONS}, {args.rounds} rounds x {args.seconds}s; "
        "cpu = server + database CPU per request (database: its client backends' share)"
    )
    for name, runs in results.items():
        report.row(
            f"scrum {name}: req/s, p99, CPU per request",
            f"{spread([r['rps'] for r in runs], ' req/s', 0)}; p99 "
            f"{spread([r['p99'] for r in runs], ' ms', 2)}; "
            f"{spread([r['cpu_ms'] for r in runs], ' CPU ms', 2)} "
            f"(database {spread([r['db_ms'] for r in runs], ' ms', 2)})",
        )
    for size in args.sizes:
        ours, ninja, floor = (
            [r["cpu_ms"] for r in results[f"{name} {size}"]] for name in ("list", "ninja", "floor")
        )
        rates = {name: [r["rps"] for r in results[f"{name} {size}"]] for name in CONTENDERS}
        figure = f"scrum list, {PAGE} of {size:,} tasks: CPU per request"
        report.row(
            figure,
            spread(ours, " ms", 2),
            f"{FLOOR}: {spread(floor, ' ms', 2)}",
            f"{spread(ratios(ours, floor), 'x')} the floor; req/s ours/floor "
            f"{spread(ratios(rates['list'], rates['floor']), 'x')}",
            Target(ours, "<=", CPU_TARGET, " ms"),
        )
        report.row(
            f"{figure}, against django-ninja",
            spread(ours, " ms", 2),
            f"django-ninja: {spread(ninja, ' ms', 2)}",
            f"{spread(ratios(ours, ninja), 'x')}; req/s ours/django-ninja "
            f"{spread(ratios(rates['list'], rates['ninja']), 'x')}",
            Target(ratios(ours, ninja), "<=", NINJA_TARGET, "x django-ninja"),
        )
    errors = sum(r["errors"] for runs in results.values() for r in runs)
    requests_done = sum(r["requests"] for runs in results.values() for r in runs)
    report.row(
        "scrum: failed requests (socket errors, non-2xx)",
        f"{errors} of {requests_done:,}",
        target=Target([errors], "==", 0),
    )
    return report.finish()


def ratios(ours, theirs):
    """Per-round ratios of two figures measured in the same rounds."""
    return [a / b for a, b in zip(ours, theirs, strict=True)]


if __name__ == "__main__":
    sys.exit(main())
