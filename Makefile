# Podium. `make run` and `make test` are all a newcomer needs (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
# The newest Python >= 3.11 on the PATH, unless PYTHON=... says which (only used to make $(VENV)).
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
HOST ?= 127.0.0.1
PORT ?= 8000
# The production-parts run: PostgreSQL and Redis on this machine.
SERVICES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/podium
SERVICES_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install install-dev run migrate seed serve cluster test test-services lint format bench-signaling bench-fanout clean

# `install` is what serving needs; `install-dev` adds the test and lint tools.
install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev node_modules/axe-core/axe.min.js

$(PY):
	@if [ -z "$(PYTHON)" ]; then \
	  echo "Podium needs Python 3.11 or newer, and none is on the PATH (tried python3.14 ... python3.11, python3)."; \
	  echo "Install one, or name it: make PYTHON=/path/to/python3.12 run"; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "PYTHON=$(PYTHON) is $$($(PYTHON) --version 2>&1); Podium needs 3.11 or newer."; exit 1; }
	@echo "Making $(VENV) with $(PYTHON) ($$($(PYTHON) --version 2>&1))"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# setup.py builds the forwarder's native fan-out (media/_fanout.c) when a C compiler is there.
$(VENV)/.installed: pyproject.toml setup.py media/_fanout.c | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# axe-core, for the accessibility test (tests/browser/test_accessibility.py), at the version
# package-lock.json pins. Without npm the test is skipped (and fails under CI=true).
node_modules/axe-core/axe.min.js: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm isn't on the PATH: the accessibility test will be skipped (install Node.js and npm)"; fi

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --url http://$(HOST):$(PORT)/

# A join storm can keep handshakes waiting for the database longer than Daphne's 5 s default.
DAPHNE := $(PY) -m daphne --websocket_connect_timeout 30 -b $(HOST) -p $(PORT) config.asgi:application

serve: install
	$(DAPHNE)

run: seed
	@echo "Podium is at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	$(DAPHNE)

# Many nodes on this machine (README "Many nodes"): one per core unless NODES=3 says how many,
# behind HAProxy on http://$(HOST):$(PORT), on PostgreSQL and Redis. Ctrl-C drains and stops.
cluster: install
	$(PY) -m config.cluster --host $(HOST) --port $(PORT) $(if $(NODES),--nodes $(NODES))

test: install-dev
	$(PY) -m pytest

test-services: install-dev
	DATABASE_URL=$(SERVICES_DATABASE_URL) REDIS_URL=$(SERVICES_REDIS_URL) DB_CONN_MAX_AGE=0 $(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The benchmarks print their figures (docs/benchmarks.md); both stop by themselves.
bench-signaling: install-dev
	$(PY) manage.py bench_signaling --clients 1000

bench-fanout: install-dev
	$(PY) manage.py bench_fanout --listeners 500 --speakers 1 --seconds 20 --listener-hook socket

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info node_modules
