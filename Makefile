# One entry point per chore; CI calls these too.  Each target builds its own virtualenv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint fmt bench fuzz chaos screenshots clients clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "exportd needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres,s3,chromium,mysql,otel,sftp]' --group dev
	@touch $(STAMP)

demo: $(STAMP) ## Run exportd with demo data on SQLite + local files (make demo PORT=8080)
	$(BIN)/exportd demo $(if $(PORT),--port $(PORT))

# The tests spread over processes (pytest-xdist, work stealing): most wait on databases,
# sockets and child processes.  The chaos test restarts a PostgreSQL server of its own,
# so it runs beside the others; tests/conftest.py starts the long directories first.
# Three on two cores: with two, a tenth of the CPU stayed idle while tests waited (measured
# 506 s with 2, 470 s with 3, the same tests; CPU then busy 98% of the run).  Four gained
# nothing once worker starts got cheaper (2026-12-04: 405 s with 4; 394-416 s with 3).
TEST_PROCESSES ?= 3

# Third-party JavaScript clients the tests drive (npm's eventsource); without npm, those
# tests skip locally with the reason (never in CI).
JS_STAMP := tests/js/node_modules/.installed
$(JS_STAMP): tests/js/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/js --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the JavaScript client tests will skip"; fi

# A fixed hash seed: the bounded fuzz run (a fixed seed) then draws the same cases on every
# machine, since schemathesis builds some strategies from sets.
# Bytecode caches on even where PYTHONDONTWRITEBYTECODE is set: the suite starts hundreds
# of Python processes (workers, their children, CLIs, servers), each of which would compile
# exportd's sources again, and each pytest process would rewrite every test module's asserts.
test: $(STAMP) $(JS_STAMP) ## Run the whole test suite (PostgreSQL tests skip locally if none answers; never in CI)
	PYTHONDONTWRITEBYTECODE= PYTHONHASHSEED=0 $(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist worksteal

test-fast: $(STAMP) ## Unit and integration tests only
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) tests/unit tests/integration

lint: $(STAMP) ## ruff (lint + format check), mypy and the layers' import contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP) ## Format and autofix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[postgres,s3,chromium,mysql,otel,sftp]' --group bench --group dev
	@touch $@

bench: $(BENCH_VENV)/.installed ## Run the benchmarks (needs PostgreSQL and wrk); writes docs/benchmarks.md
	@command -v wrk >/dev/null || apt-get install -y wrk
	cd bench && ../$(BENCH_VENV)/bin/python run_all.py

chaos: $(STAMP) ## The chaos suite at full size: 1,000 exports while workers are SIGKILLed
	CHAOS_EXPORTS=1000 $(BIN)/python -m pytest -s --timeout=1800 tests/chaos

screenshots: $(STAMP) ## Drive the page and the console in Chromium and save their screenshots under docs/screenshots
	EXPORTD_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/e2e/test_web_page.py tests/e2e/test_console_page.py

fuzz: $(STAMP) ## schemathesis over the whole API, 1,000 cases per operation
	EXPORTD_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest --timeout=3600 tests/integration/test_api_fuzz.py

clients: $(STAMP) $(JS_STAMP) ## Regenerate clients/typescript/schema.d.ts from the app's OpenAPI document
	$(BIN)/python -m tests.support.clients

clean: ## Remove virtualenvs, caches and local state
	rm -rf $(VENV) $(BENCH_VENV) var .pytest_cache .mypy_cache .ruff_cache
