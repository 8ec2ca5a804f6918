# roughcut developer commands. `make run` starts the server, `make test` runs the tests (see README.md).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
JS_DIR := tests/js
JS_STAMP := $(JS_DIR)/node_modules/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8080
ARGS   ?=

.DEFAULT_GOAL := run
.PHONY: run test lint lock install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's dependencies or their pins change. Running needs the project's own
# dependencies only; testing and linting add the dev extras.
$(RUN_STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -c requirements.lock -e .
	touch $@

$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@ $(RUN_STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/roughcut serve --host $(HOST) --port $(PORT)

# socket.io-client for the JS client test (tests/js), reinstalled only when its lockfile changes.
$(JS_STAMP): $(JS_DIR)/package-lock.json
	npm ci --prefix $(JS_DIR) --no-audit --no-fund
	touch $@

test: $(STAMP) $(JS_STAMP)
	$(BIN)/pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Resolve the newest allowed versions in a throwaway venv and pin them (the project itself excluded).
lock:
	set -eu; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev]'; \
	"$$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -v '^#' > requirements.lock.new; \
	mv requirements.lock.new requirements.lock
	@echo "requirements.lock updated; the next make run/test reinstalls .venv from it"
