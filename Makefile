# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test run serve lint format clean chromium

$(STAMP): pyproject.toml client/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./client
	touch $(STAMP)

## Set up, migrate and run the demo on the embedded SQLite default.
demo: $(STAMP)
	DEBUG=true $(BIN)/python manage.py demo

## Set up and run the whole test suite (lint, types, migrations check, pytest).
test: $(STAMP) chromium lint
	$(BIN)/python -m pytest

# Browser tests drive the system Chromium; install it when missing and allowed.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed: browser tests will be skipped"

## Serve the admin, the API and its docs on http://127.0.0.1:8000/.
run: $(STAMP)
	DEBUG=true $(BIN)/python manage.py runserver

## Production server: gunicorn, a worker count from the cores (config/gunicorn.py).
## Reads its settings from the environment (.env.example); migrate first.
serve: $(STAMP)
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/gunicorn -c config/gunicorn.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd client && ../$(BIN)/mypy
	$(BIN)/lint-imports
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var
