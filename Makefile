# Two commands on a fresh machine: `make run` (the whole stack) and `make test` (lint, types, every test).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The faust subscriber example's own venv (pyproject's `subscribers` extra explains why it is separate).
SUB_BIN := .venv-subscribers/bin
KAFKA_LIBS := deploy/kafka/libs/.complete

.PHONY: install run test lint typecheck unit schemas clean bench bench-quick profile bench-deps test-deps

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,bench]"
	touch $@

$(KAFKA_LIBS): deploy/kafka/pom.xml $(BIN)/.installed
	rm -rf deploy/kafka/libs
	$(BIN)/python -c "from chronohook.broker import ensure_jars; ensure_jars()"

$(SUB_BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-subscribers
	$(SUB_BIN)/pip install -q --upgrade pip
	$(SUB_BIN)/pip install -q -e ".[subscribers]"
	touch $@

install: $(BIN)/.installed $(KAFKA_LIBS) $(SUB_BIN)/.installed

run: install
	$(BIN)/chronohook dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy
	$(SUB_BIN)/mypy examples/subscribers/faust_follower.py

unit: install
	$(BIN)/pytest -q tests/unit

# The PostgreSQL tests need its server binaries (tests/support/postgres.py starts throwaway clusters): Debian's
# postgresql package, installed here when missing (root or sudo). `make test` requires them: with
# CHRONOHOOK_REQUIRE_POSTGRES=1 a PostgreSQL test fails instead of skipping, so CI cannot pass without them.
test-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; fi; }

test: lint typecheck test-deps
	CHRONOHOOK_REQUIRE_POSTGRES=1 $(BIN)/pytest -q

# Benchmarks: every figure with its ceiling and ratio (~30 min, with bench.burst), then docs/benchmarks.md and its plots.
# The Celery peer needs Debian's redis-server.
bench-deps: install
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; fi; }

bench: bench-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench

bench-quick: bench-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench --quick

profile: bench-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.profile

schemas: install
	$(BIN)/python -m schemas.export

clean:
	rm -rf $(VENV) deploy/kafka/libs .chronohook
