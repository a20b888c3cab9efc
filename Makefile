# Two commands on a fresh machine: `make run` (the whole stack) and `make test` (lint, types, every test).
# One venv (.venv) for both, in either order: each target installs what it needs, once, and marks it done
# (.venv/.installed-run: the package and its runtime dependencies; -dev: + test, lint and type tools; -bench: + the
# benches' tools); a mark is redone when pyproject.toml changes.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
RUN_MARK := $(VENV)/.installed-run
DEV_MARK := $(VENV)/.installed-dev
BENCH_MARK := $(VENV)/.installed-bench
# The faust subscriber example's own venv (pyproject's `subscribers` extra explains why it is separate): for
# `make typecheck` and its integration test only.
SUB_BIN := .venv-subscribers/bin
SUB_MARK := .venv-subscribers/.installed
KAFKA_LIBS := deploy/kafka/libs/.complete

.PHONY: install run test lint typecheck unit schemas settings-doc clean bench bench-quick profile bench-deps test-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# `make run`: chronohook and its runtime dependencies, nothing else.
$(RUN_MARK): pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	@# Nothing to do when a larger set was installed since pyproject.toml last changed.
	[ $(DEV_MARK) -nt pyproject.toml ] || $(BIN)/pip install -q -e .
	@# The Python client (clients/python): the CLI's verbs (jobs, queues, crons, ...) speak to the API through it.
	$(BIN)/pip install -q -e ./clients/python
	touch $@

# Tests, lint and types: the `dev` extra (a superset of what running needs, so it marks that done too).
$(DEV_MARK): pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	[ $(BENCH_MARK) -nt pyproject.toml ] || $(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q -e ./clients/python
	touch $@ $(RUN_MARK)

$(BENCH_MARK): pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev,bench]" -e ./clients/python
	touch $@ $(DEV_MARK) $(RUN_MARK)

$(KAFKA_LIBS): deploy/kafka/pom.xml $(RUN_MARK)
	rm -rf deploy/kafka/libs
	$(BIN)/python -c "from chronohook.broker import ensure_jars; ensure_jars()"

$(SUB_MARK): pyproject.toml
	$(PYTHON) -m venv .venv-subscribers
	$(SUB_BIN)/pip install -q --upgrade pip
	$(SUB_BIN)/pip install -q -e ".[subscribers]"
	touch $@

# Everything a developer uses (tests, lint, types, the subscriber examples); `make run` needs only its own part.
install: $(DEV_MARK) $(KAFKA_LIBS) $(SUB_MARK)

run: $(RUN_MARK) $(KAFKA_LIBS)
	$(BIN)/chronohook dev

lint: $(DEV_MARK)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The benches are type-checked and unit-tested too (their docs renderer, their result files), so types and tests
# need the bench extra as well; only `make run` stays lean.
typecheck: $(BENCH_MARK) $(SUB_MARK)
	$(BIN)/mypy
	$(SUB_BIN)/mypy examples/subscribers/faust_follower.py

unit: $(BENCH_MARK)
	$(BIN)/pytest -q tests/unit

# The PostgreSQL tests need its server binaries (tests/support/postgres.py starts throwaway clusters): Debian's
# postgresql package, installed here when missing (root or sudo). `make test` requires them: with
# CHRONOHOOK_REQUIRE_POSTGRES=1 a PostgreSQL test fails instead of skipping, so CI cannot pass without them.
# helm, for the chart's test (tests/unit/test_deploy_helm.py: helm lint and helm template): Debian has no package, so
# it is built from its Go module once (~6.5 min on 2 busy cores with nothing cached, decision 0041) into a per-user
# cache that outlives clones; the test looks there (or at CHRONOHOOK_HELM).
HELM_VERSION := v4.3.2
HELM := $(HOME)/.cache/chronohook/tools/helm-$(HELM_VERSION)/helm
# composecheck (deploy/tools/composecheck: compose-go, the library docker compose loads files with) for the compose
# files' test, built from this tree (~35 s) into the same cache, again when its source changes.
COMPOSECHECK := $(HOME)/.cache/chronohook/tools/composecheck/composecheck

$(COMPOSECHECK): deploy/tools/composecheck/main.go deploy/tools/composecheck/go.mod deploy/tools/composecheck/go.sum
	@command -v go >/dev/null || { echo "make test-deps: Go is needed to build $@" >&2; exit 1; }
	cd deploy/tools/composecheck && GOFLAGS=-buildvcs=false go build -o "$@" .

test-deps: $(COMPOSECHECK)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; fi; }
	@[ -x "$(HELM)" ] || { \
		command -v go >/dev/null || { echo "make test-deps: Go is needed to build helm $(HELM_VERSION)" >&2; exit 1; }; \
		echo "building helm $(HELM_VERSION) into $(dir $(HELM)) (once)"; \
		GOBIN="$(dir $(HELM))" GOFLAGS=-buildvcs=false go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION); }
	@# The web console's browser tests drive Debian's chromium (tests/browser; Playwright downloads no browser).
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

test: lint typecheck test-deps $(KAFKA_LIBS)
	CHRONOHOOK_REQUIRE_POSTGRES=1 $(BIN)/pytest -q

# Benchmarks: every figure with its ceiling and ratio (~30 min, with bench.burst), then docs/benchmarks.md and its plots.
# The Celery peer needs Debian's redis-server.
bench-deps: $(BENCH_MARK) $(KAFKA_LIBS)
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; fi; }

bench: bench-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench

bench-quick: bench-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench --quick

profile: bench-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.profile

schemas: $(RUN_MARK)
	$(BIN)/python -m schemas.export

# docs/settings.md from chronohook/settings.py (tests/unit/test_settings_doc.py fails while it is out of date).
settings-doc: $(RUN_MARK)
	$(BIN)/python -m chronohook.settings_doc

clean:
	rm -rf $(VENV) .venv-subscribers deploy/kafka/libs .chronohook
