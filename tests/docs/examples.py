"""Run a README's examples as a reader would type them (used by test_readmes.py).

The convention every README follows (CONTRIBUTING.md, "Examples in the documentation"):

- A fenced block whose info string starts with ``sh`` holds commands. Every ``sh`` block of
  one page runs, in order, in one bash shell that starts at the top of a copy of the checkout
  (a generated project's README: at the top of that project), so ``cd``, ``export`` and
  shell variables carry over from one block to the next, as in a reader's terminal.
- A fenced block with ``file=PATH`` in its info string is a file the reader creates: its text
  is written to PATH, relative to the shell's folder at that point.
- Every other block (text, django, markdown without ``file=``) is output or an excerpt.

What each command must do:

- A server (``runserver``, ``gunicorn``, ``watercooler.py --port``, ``prototypes.py
  preview``, ``honcho start``, ``python -m http.server``) runs in the background until the
  page's examples end; the next command runs once its ports answer. A server on a port
  another one holds replaces it, as a reader stops one server before starting the next.
  When its comment names an address, that address must answer 200 with HTML or JSON.
- Every curl call is recorded. The last one of a command must answer the status its comment
  starts with (``# 400 ...``, on the command's line or on the comment line right after it),
  otherwise a status below 400; ``-o NAME.png`` (or .webp, .avif, .svg, ...) must get that
  content type. Every other curl call must answer below 400.
- Any other command must exit with status 0.

Commands the tests cannot run as written are checked instead, as DRY_RUNS says: ``make``
targets with ``make -n``, ``docker compose`` against docker-compose.yml, ``pip install``
against the installed packages, benchmarks with ``--help`` (``make bench`` runs them),
``tests/run_suites.py`` with pytest's ``--collect-only``.

Addresses in the pages are the documented ones; the shell sees the test's own instead: every
port in PORTS becomes a free port on 127.0.0.1, ``0.0.0.0`` becomes ``127.0.0.1``, and the
Redis and PostgreSQL URLs point at throwaway servers. Servers run with PYTHONWARNINGS=error.
"""

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from harness import BIN, ROOT, SERVICE_WARNINGS, free_port

PORTS = [8000, 8001, 8002, 8003, 8020, 8080, 8081]  # every port the pages name
DEV_PORTS = {
    "SCRUM_PORT": 8000,
    "PLACEHOLDER_PORT": 8001,
    "SITE_PORT": 8002,
    "HELLO_PORT": 8003,
    "WATERCOOLER_PORT": 8080,
}
SERVICES = ["hello", "project_template", "placeholder", "sitebuilder", "scrum", "watercooler"]
FENCE = re.compile(r"^( *)```([^\n`]*)\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
SERVER = re.compile(
    r"\brunserver\b|\bgunicorn\b|watercooler\.py\b.*--port|prototypes\.py preview|honcho start"
    r"|-m http\.server"
)
STATUS = re.compile(r"^(\d{3})\b")
OUTPUT_TYPES = {
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "svg": "image/svg+xml",
    "gif": "image/gif",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
}
COMMAND_TIMEOUT = 180
CURL_LOG = "curl.log"
CURL = (
    "curl() { command curl -w '%{stderr}@@curl %{http_code} %{content_type}\\n' \"$@\" "
    '2>>"$CURL_LOG"; }'
)


class ExampleFailed(AssertionError):
    pass


def blocks(text):
    """[(info, body)] for every fenced block of a Markdown text, indentation removed."""
    found = []
    for match in FENCE.finditer(text):
        indent, info, body = len(match[1]), match[2].strip(), match[3]
        lines = [line[indent:] if line[:indent].isspace() else line for line in body.split("\n")]
        found.append((info, "\n".join(lines)))
    return found


def info_file(info):
    """PATH of an info string with file=PATH, or None."""
    match = re.search(r"\bfile=(\S+)", info)
    return match and match[1]


def is_shell(info):
    return info.split()[:1] == ["sh"] and not info_file(info)


def split_comment(line):
    """(code, comment) of one shell line: the comment starts at a # outside quotes."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def complete(text):
    """True when text is a whole shell command (quotes closed, no continuation)."""
    if text.rstrip().endswith("\\"):
        return False
    return subprocess.run(["bash", "-n", "-c", text], capture_output=True).returncode == 0


def commands(body):
    """[(command, comment, next_comment)] of a shell block, multi-line commands joined."""
    found, pending = [], []
    for line in body.split("\n"):
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            if found and line.lstrip().startswith("#") and found[-1][2] is None:
                found[-1][2] = line.lstrip()[1:].strip()
            continue
        pending.append(line)
        text = "\n".join(pending)
        if complete(text):
            code, comment = split_comment(pending[-1])
            found.append([text if len(pending) > 1 else code, comment, None])
            if len(pending) > 1:
                found[-1][0] = "\n".join([*pending[:-1], code])
            pending = []
    if pending:
        raise ExampleFailed(f"unfinished command: {' '.join(pending)}")
    return [tuple(each) for each in found]


class Addresses:
    """The documented addresses and their stand-ins for one page."""

    def __init__(self, redis_url=None, postgres_url=None):
        self.ports = {port: free_port() for port in PORTS}
        self.redis_url = redis_url
        self.postgres_url = postgres_url

    def __call__(self, text):
        text = re.sub(r"\b0\.0\.0\.0:", "127.0.0.1:", text)
        pattern = r"(?<![\d.])(" + "|".join(map(str, self.ports)) + r")(?!\d)"
        text = re.sub(pattern, lambda m: str(self.ports[int(m[1])]), text)
        if "redis://" in text:
            if not self.redis_url:
                raise ExampleFailed("this example needs Redis")
            base = self.redis_url.rsplit("/", 1)[0]
            text = re.sub(r"redis://[\w.@:-]+:6379", base, text)
        if "postgres://" in text:
            if not self.postgres_url:
                raise ExampleFailed("this example needs PostgreSQL")
            text = re.sub(r"postgres://[^\s'\"]+", self.postgres_url, text)
        return text

    def of(self, text):
        """The stand-in ports a command names."""
        return sorted({p for p in self.ports.values() if re.search(rf"(?<!\d){p}(?!\d)", text)})


def checkout(folder, copied):
    """A checkout at folder: the service folders copied (they are written to), the rest linked."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "_build", "*.sqlite3", "._build*", ".public*")
    for entry in ROOT.iterdir():
        if entry.name in {".git", ".env", ".venv", "Procfile"} or entry.name.startswith("._"):
            continue
        if entry.name in copied:
            shutil.copytree(entry, folder / entry.name, ignore=ignore)
        else:
            (folder / entry.name).symlink_to(entry)
    (folder / ".venv").symlink_to(BIN.parent)
    return folder


class Shell:
    """One bash process fed a page's commands, with its servers, in a fresh environment."""

    def __init__(self, cwd, addresses, activated=False):
        self.addresses = addresses
        self.work = Path(tempfile.mkdtemp(prefix="readme-"))
        self.curl_log = self.work / CURL_LOG
        self.curl_log.touch()
        path = [p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN]
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        env.update(SERVICE_WARNINGS, PATH=os.pathsep.join(path), CURL_LOG=str(self.curl_log))
        env["GUNICORN_CMD_ARGS"] = f"--bind 127.0.0.1:{addresses.ports[8000]}"
        for name, port in DEV_PORTS.items():  # the Procfile's ports (deploy/dev-env.sh)
            env[name] = str(addresses.ports[port])
        env["WATERCOOLER_SERVER"] = "127.0.0.1:9"  # the discard port: nothing answers
        if activated:
            env["PATH"] = os.pathsep.join([str(BIN), *path])
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.servers = {}  # pid -> (ports, log path, command)
        self.transcript = []
        self.send(CURL)

    def send(self, text, timeout=COMMAND_TIMEOUT):
        """Run text in the shell; (exit status, output)."""
        marker = f"@@done-{time.monotonic_ns()}@@"
        script = f"{{\n{text}\n}} </dev/null\nprintf '\\n{marker}%s\\n' \"$?\"\n"
        self.proc.stdin.write(script.encode())
        self.proc.stdin.flush()
        output, deadline = b"", time.monotonic() + timeout
        while marker.encode() not in output:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise ExampleFailed(f"no end after {timeout}s: {text}\n{output.decode()}")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise ExampleFailed(f"the shell ended during: {text}\n{output.decode()}")
            output += chunk
        before, _, after = output.decode(errors="replace").partition(marker)
        return int(after.split()[0]), before.removesuffix("\n")

    def cwd(self):
        return Path(self.send("pwd")[1].strip())

    def curls(self):
        """[(status, content type)] of the curl calls since the last look."""
        lines = self.curl_log.read_text().splitlines()
        self.curl_log.write_text("")
        found = []
        for line in lines:
            if line.startswith("@@curl "):
                _, status, *kind = line.split(" ")
                found.append((int(status), " ".join(kind)))
        return found

    # servers

    def start_server(self, command, comment):
        if command.startswith("cd ") and " && " in command:
            move, command = command.split(" && ", 1)
            self.check(self.send(move), move)
        ports = self.addresses.of(command)
        if not ports and re.search(r"\bgunicorn\b", command):
            ports = [self.addresses.ports[8000]]
        if "honcho start" in command:
            ports = [self.addresses.ports[p] for p in (8000, 8001, 8002, 8003, 8080)]
        for pid, (held, _, _) in list(self.servers.items()):
            if set(held) & set(ports):
                self.stop(pid)
        index = len(self.servers) + len(self.transcript)
        script, log = self.work / f"server-{index}.sh", self.work / f"server-{index}.log"
        script.write_text(command + "\n")
        status, output = self.send(f"setsid bash {script} >{log} 2>&1 & echo $!")
        pid = int(output.split()[-1])
        self.servers[pid] = (ports, log, command)
        self.wait_for(pid, ports)
        for url in re.findall(r"https?://127\.0\.0\.1:\d+/\S*", comment):
            answer = requests.get(url, timeout=10)
            kind = answer.headers.get("Content-Type", "")
            if answer.status_code != 200 or not kind.startswith(("text/html", "application/json")):
                raise ExampleFailed(f"{url} answered {answer.status_code} {kind}")
        self.transcript.append((command, f"(server {pid} on {ports})"))

    def wait_for(self, pid, ports, timeout=60):
        deadline = time.monotonic() + timeout
        waiting = list(ports)
        while waiting:
            if not alive(pid):
                raise ExampleFailed(f"server exited:\n{self.servers[pid][1].read_text()}")
            if time.monotonic() > deadline:
                raise ExampleFailed(f"no answer on {waiting}:\n{self.servers[pid][1].read_text()}")
            try:
                socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.5).close()
                waiting.pop(0)
            except OSError:
                time.sleep(0.1)

    def stop(self, pid):
        ports, _, _ = self.servers.pop(pid)
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
        for port in ports:  # until the port is free again (gunicorn's workers, honcho's children)
            while time.monotonic() < deadline + 5 and port_taken(port):
                time.sleep(0.05)

    def close(self):
        for pid in list(self.servers):
            self.stop(pid)
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # a command still running: end the shell
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    # commands

    def check(self, result, command):
        status, output = result
        self.transcript.append((command, output))
        if status != 0:
            raise ExampleFailed(f"exit status {status}: {command}\n{output}")

    def run(self, command, comment, next_comment):
        """Run one documented command and judge it."""
        command = self.addresses(command)
        comment = self.addresses(comment)
        dry = dry_run(command)
        if dry is not None:
            return self.check(dry(self, command), command)
        if SERVER.search(command):
            return self.start_server(command, comment)
        status, output = self.send(command)
        self.transcript.append((command, output))
        calls = self.curls()
        expected = STATUS.match(comment) or STATUS.match(next_comment or "")
        if calls:
            *others, (last, kind) = calls
            for code, _ in others:
                if code >= 400 or code == 0:
                    raise ExampleFailed(f"a curl call answered {code}: {command}\n{output}")
            wanted = int(expected[1]) if expected else None
            if (wanted and last != wanted) or (not wanted and not 100 <= last < 400):
                raise ExampleFailed(
                    f"answered {last}, not {wanted or 'below 400'}: {command}\n{output}"
                )
            saved = re.search(r"(?:^|\s)-o\s+\S+\.(\w+)\b", command)
            if saved and saved[1] in OUTPUT_TYPES and not kind.startswith(OUTPUT_TYPES[saved[1]]):
                raise ExampleFailed(f"content type {kind!r}, not {OUTPUT_TYPES[saved[1]]}")
        if status != 0:
            raise ExampleFailed(f"exit status {status}: {command}\n{output}")

    def write_file(self, path, body):
        target = self.cwd() / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
        self.transcript.append((f"(wrote {target})", ""))


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of the shell counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def port_taken(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


# Commands checked without running them as written.


def program(command):
    """The words of a command without its leading VAR=value assignments."""
    words = command.split()
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words.pop(0)
    return words


def dry_make(shell, command):
    targets = program(command)[1:]
    return shell.send(f"make -n {' '.join(targets)} >/dev/null")


def dry_compose(shell, command):
    """docker compose: the services it names exist, and files it runs exist in the image
    (whose working directory is the top of the checkout, as the Dockerfile's COPY . . puts it)."""
    import yaml

    words = program(command)[2:]
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    problems = []
    named = [w.split("=")[0] for w in words if "=" in w and not w.startswith("-")]
    if words[0] in {"run", "restart", "exec", "logs", "stop", "start"}:
        named += [next(w for w in words[1:] if not w.startswith("-"))]
    named += [w.split("=")[0] for i, w in enumerate(words) if i and words[i - 1] == "--scale"]
    named += [w.split("=", 1)[1].split("=")[0] for w in words if w.startswith("--scale=")]
    problems += [f"no service {name!r}" for name in named if name not in services]
    scripts = [w for w in words if w.endswith(".py")]
    problems += [f"no {w} in the image" for w in scripts if not (ROOT / w).is_file()]
    if words[0] not in {"up", "down", "run", "restart", "exec", "logs", "stop", "start", "ps"}:
        problems.append(f"unknown subcommand {words[0]}")
    return (1 if problems else 0), "\n".join(problems)


def dry_pip(shell, command):
    """pip install: every requirement is met by the installed packages (no network)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    problems = []
    for word in program(command)[2:]:
        requirement = Requirement(word.strip("'\""))
        try:
            found = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed")
            continue
        if requirement.specifier and found not in requirement.specifier:
            problems.append(f"{requirement.name} {found} does not meet {requirement.specifier}")
    return (1 if problems else 0), "\n".join(problems)


def dry_bench(shell, command):
    words = program(command)
    script = next(w for w in words if w.endswith(".py"))
    return shell.send(f"{words[0]} {script} --help >/dev/null")


def dry_suites(shell, command):
    extra = " --collect-only -q" if " -- " in command else " -- --collect-only -q"
    return shell.send(f"PYTHONWARNINGS= {command}{extra}")


DRY_RUNS = [  # (pattern of the command's words, check)
    (r"^make\b", dry_make),
    (r"^docker compose\b", dry_compose),
    (r"^pip install\b", dry_pip),
    (r"^\S*python3? \S*bench/(bench_\w+|run_all)\.py\b", dry_bench),
    (r"^\S*python3? \S*tests/run_suites\.py\b", dry_suites),
]


def dry_run(command):
    words = " ".join(program(command))
    return next((check for pattern, check in DRY_RUNS if re.search(pattern, words)), None)


def run_page(page, start, addresses, activated=False):
    """Run every example of a Markdown page in one shell started in start; returns the
    number of commands run. Raises ExampleFailed with the transcript's end on a failure."""
    shell = Shell(start, addresses, activated)
    count = 0
    text = page.read_text().replace("{{ project_name }}", "foo")  # the template's page says foo
    try:
        for info, body in blocks(text):
            if info_file(info):
                shell.write_file(info_file(info), body)
            elif is_shell(info):
                for command, comment, next_comment in commands(body):
                    shell.run(command, comment, next_comment)
                    count += 1
    except ExampleFailed as failure:
        logs = "\n".join(
            f"--- server {command}:\n{log.read_text()[-3000:]}"
            for _, log, command in shell.servers.values()
        )
        recent = "\n".join(f"$ {c}\n{o[-1500:]}" for c, o in shell.transcript[-6:])
        raise ExampleFailed(f"{page}: {failure}\n--- last commands:\n{recent}\n{logs}") from None
    finally:
        shell.close()
    return count


def pages():
    """Every Markdown page of the project that has examples or pictures."""
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    found += [ROOT / name / "README.md" for name in SERVICES]
    found += sorted((ROOT / "docs").glob("*.md"))
    return [page for page in found if page.exists()]


if __name__ == "__main__":  # python tests/docs/examples.py PAGE: the commands it would run
    for info, body in blocks(Path(sys.argv[1]).read_text()):
        if is_shell(info):
            for command, comment, next_comment in commands(body):
                print(f"{command!r}  # {comment!r} / {next_comment!r}")
