# Quick start: `make run` (service on SQLite + embedded broker), `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
# localhost, not 127.0.0.1: passkeys need a host name (their relying party), and browsers treat
# http://localhost as a secure origin.
QUICK_START_URL = http://localhost:$(PORT)

.PHONY: run test lint typecheck security system-deps clean-var outdated

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(VENV)/.deps $@

# Local secrets for the quick start only; production passes real environment variables.
.env:
	$(PYTHON) scripts/generate_env.py --dev > $@

run: $(VENV)/.deps .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap_staff
	@echo "Form: http://localhost:$(PORT)/  Staff: http://localhost:$(PORT)/staff/  API docs: http://localhost:$(PORT)/api/docs/  (Ctrl-C stops all)"
	PATH="$(abspath $(BIN)):$$PATH" PORT=$(PORT) PUBLIC_BASE_URL="$${PUBLIC_BASE_URL:-$(QUICK_START_URL)}" \
		$(BIN)/python scripts/dev_processes.py -f Procfile.dev start

# Two processes (pytest-xdist): the worker, soak and browser tests mostly wait, so the suite takes about
# half as long on two cores. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2
test: $(VENV)/.dev-deps system-deps
	$(BIN)/pytest -n $(TEST_WORKERS)

# Debian packages the tests use (chromium for the browser tests). Installs only where it may (root
# with apt-get); elsewhere the tests that need them are skipped and say why.
system-deps:
	@scripts/install_system_packages.sh

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy .

# bandit over the service's code: any finding of high severity fails (medium and low are read by hand).
security: $(VENV)/.dev-deps
	$(BIN)/bandit -q -r . -x ./.venv,./tests,./bench,./var --severity-level high

clean-var:
	rm -rf var

outdated: $(VENV)/.dev-deps
	$(BIN)/pip list --outdated
