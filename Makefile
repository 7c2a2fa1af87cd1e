# Podium. `make run` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The production-parts run: PostgreSQL and Redis on this machine.
SERVICES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/podium
SERVICES_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run migrate seed serve test test-services test-browser lint format bench-signaling bench-fanout clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# A join storm can keep handshakes waiting for the database longer than Daphne's 5 s default.
DAPHNE := $(PY) -m daphne --websocket_connect_timeout 30 -b $(HOST) -p $(PORT) config.asgi:application

serve: install
	$(DAPHNE)

run: seed
	@echo "Podium is at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	$(DAPHNE)

test: install
	$(PY) -m pytest

test-services: install
	DATABASE_URL=$(SERVICES_DATABASE_URL) REDIS_URL=$(SERVICES_REDIS_URL) DB_CONN_MAX_AGE=0 $(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
