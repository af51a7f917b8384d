# Two commands for a newcomer: `make run` and `make test`. Both build .venv/ when it is missing
# or older than pyproject.toml, so nothing else has to be installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run dotenv test test-compose lint bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# honcho reads .env for every service: scrum and watercooler share a random WATERCOOLER_SECRET
# made on the first `make run` (.env is git-ignored; watercooler refuses to start without one).
dotenv:
	@grep -qs '^WATERCOOLER_SECRET=.' .env || { test ! -s .env || echo; $(PYTHON) -c \
	    'import secrets; print("WATERCOOLER_SECRET=" + secrets.token_urlsafe(32))'; } >> .env

run: $(STAMP) dotenv
	cd scrum && $(CURDIR)/$(BIN)/python scrum.py migrate
	cd scrum && $(CURDIR)/$(BIN)/python scrum.py seed_demo
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

test: $(STAMP) lint
	$(BIN)/python tests/run_suites.py

# The compose stack built and run for real (needs Docker, or root and Debian's docker.io,
# debootstrap: deploy/ci/test-compose.sh starts dockerd itself). Not part of `make test`.
$(VENV)/.compose-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench,compose]'
	touch $@

test-compose: $(VENV)/.compose-installed
	PATH="$(CURDIR)/$(BIN):$$PATH" deploy/ci/test-compose.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The README's pictures in docs/, taken again in headless Chromium (docs/screenshots.py).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
