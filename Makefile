# Tempwork — two commands on a fresh machine: `make dev` and `make test`.
# Everything is installed into .venv from the hashed lock files; nothing global is needed
# beyond Python 3.11 and pip (uv is bootstrapped from PyPI when missing).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(BIN)/uv)
STAMP := $(VENV)/.synced

.PHONY: dev test lint fmt bench bench-open chaos demo install lock clean-data help

help:
	@echo "make dev     start Postgres, Temporal + UI, sandboxes, worker and API (Ctrl-C stops all)"
	@echo "make test    lint + the whole test suite"
	@echo "make lint    ruff + mypy"
	@echo "make bench   figures beside their floors (bare Temporal, bare ASGI): bench/results.json"
	@echo "make bench-open  20,000 open job workflows on one worker: rates, RSS, task timeouts"
	@echo "make chaos   300+ lifecycles under faults, kills and restarts, then proofs (< 15 min)"
	@echo "make lock    re-pin requirements*.lock from pyproject.toml"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv comes from PyPI into the venv when it is not on PATH.
$(BIN)/uv: | $(BIN)/python
	@command -v uv >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet uv

# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on CI machines and this one)
# nothing ever caches .pyc, so every process (the tests start dozens) would recompile each
# module it imports; make bench's profile put that at up to 10 % of the worker's CPU.
$(STAMP): requirements-dev.lock pyproject.toml | $(BIN)/uv
	$(UV) pip sync --compile-bytecode --python $(BIN)/python requirements-dev.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/python -m devstack

demo: $(STAMP)
	$(BIN)/python -m devstack.demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

# Not part of make bench: opening and closing 20,000 workflows takes longer than its budget.
bench-open: $(STAMP)
	$(BIN)/python -m bench.open_workflows --count 20000

chaos: $(STAMP)
	$(BIN)/python -m chaos

lock: | $(BIN)/uv
	$(UV) pip compile pyproject.toml --generate-hashes -o requirements.lock
	$(UV) pip compile pyproject.toml --extra dev --generate-hashes -o requirements-dev.lock

clean-data:
	rm -rf .data
