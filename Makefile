# One entry point per chore; CI calls these too.  Each target builds its own virtualenv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint fmt bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "exportd needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres]' --group dev
	@touch $(STAMP)

demo: $(STAMP) ## Run exportd with demo data on SQLite + local files
	$(BIN)/exportd demo

test: $(STAMP) ## Run the whole test suite (PostgreSQL tests skip locally if none answers; never in CI)
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## Unit and integration tests only
	$(BIN)/python -m pytest tests/unit tests/integration

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fmt: $(STAMP) ## Format and autofix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[postgres]' --group bench
	@touch $@

bench: $(BENCH_VENV)/.installed ## Run the benchmarks (needs PostgreSQL) and print figures with ratios
	$(BENCH_VENV)/bin/python bench/queue_pickup.py
	$(BENCH_VENV)/bin/python bench/queue_throughput.py

clean: ## Remove virtualenvs, caches and local state
	rm -rf $(VENV) $(BENCH_VENV) var .pytest_cache .mypy_cache .ruff_cache
