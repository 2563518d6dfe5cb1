# ICHweb: `make run` serves the app, `make test` runs every test. Both set everything up from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ADDR   ?= 127.0.0.1:8000
SERVICES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
SERVICES_BROKER_URL   ?= redis://127.0.0.1:6379/15
FRONTEND_SRC := $(shell find frontend/src -type f 2>/dev/null) frontend/vite.config.ts frontend/tsconfig.json

.PHONY: setup run test test-python test-frontend test-services frontend lint format bench clean

setup: $(VENV)/.installed frontend

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@

frontend: frontend/dist/.vite/manifest.json

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

frontend/dist/.vite/manifest.json: frontend/node_modules/.installed $(wildcard $(FRONTEND_SRC))
	cd frontend && npm run --silent build

run: export DEBUG ?= true
run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runapp --addr $(ADDR)

test: setup test-python test-frontend

test-python: setup
	$(BIN)/python -m pytest

test-frontend: frontend
	cd frontend && npm test --silent

# The tests marked `services` (and again those marked `pg`), against a real PostgreSQL and Redis
# (override the URLs to point elsewhere).
test-services: setup
	DATABASE_URL=$(SERVICES_DATABASE_URL) CELERY_BROKER_URL=$(SERVICES_BROKER_URL) $(BIN)/python -m pytest -m "services or pg"

# The guard rails CI runs (and .pre-commit-config.yaml before each commit): style, types, layering, TypeScript.
lint: setup frontend/node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd frontend && npm run --silent typecheck

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf frontend/dist frontend/node_modules var/staticfiles .pytest_cache
