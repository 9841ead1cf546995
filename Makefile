# The two commands a new user runs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock core debian-tools run test test-reliability lint unit integration bench bench-instructions clean

install: $(STAMP)

# Dependencies come from requirements.lock, every file checked against its hash;
# `make lock` rewrites it from pyproject.toml (a test keeps the two in step).
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is required (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -qq --no-deps -e .
	touch $(STAMP)

lock:
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install -qq pip-tools
	$(VENV)-lock/bin/pip-compile -q --generate-hashes --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --allow-unsafe -o requirements.lock pyproject.toml
	rm -rf $(VENV)-lock

# Debian packages some tests use: Prometheus and promtool (the rule tests, the
# real scrape test) and Chromium (the journey map page in a real browser).
# Installed when missing and possible, else those tests skip and say why.
debian-tools:
	@for need in prometheus:promtool chromium:chromium; do \
		package=$${need%%:*}; tool=$${need##*:}; \
		command -v $$tool >/dev/null && continue; \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing the Debian package $$package"; \
			apt-get install -y -qq --no-install-recommends $$package >/dev/null 2>&1 || \
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $$package >/dev/null; } || \
			echo "could not install $$package: its tests will be skipped"; \
		else \
			echo "$$package is not installed (apt-get install $$package): its tests will be skipped"; \
		fi; \
	done

# The journey core compiled by mypyc into pipeline/_core/ (about half a minute); the
# sources run instead whenever the build is missing or stale, or JOURNEY_PURE=1.
# Exit status 3: no compiler here, and the core runs as pure Python.
CORE := pipeline/_core/manifest.json
core: $(CORE)

$(CORE): $(STAMP) $(shell find pipeline/domain -name '*.py') pipeline/contract/records.py \
		pipeline/worker/event_time.py pipeline/worker/positions.py pipeline/compiled.py
	$(BIN)/python -m pipeline.tools.compile_core || [ $$? = 3 ]

run: install core
	$(BIN)/journey run

lint: install
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench
	$(BIN)/mypy --strict pipeline

unit: install core
	$(BIN)/pytest tests/unit tests/component

integration: install core
	$(BIN)/pytest tests/integration

# The whole suite on the compiled core, then the core's and the worker's component
# tests again on the pure-Python sources (the fallback must keep working).
test: lint debian-tools core
	$(BIN)/pytest
	JOURNEY_PURE=1 $(BIN)/pytest -q tests/unit tests/component

# Every reliability scenario at full size (200k-event backlogs): tens of minutes.
test-reliability: install core
	JOURNEY_RELIABILITY=full $(BIN)/pytest tests/reliability

# Instructions per event by block under callgrind (a few minutes; valgrind from Debian).
bench-instructions: install core
	@command -v valgrind >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq valgrind >/dev/null; } \
		|| { echo "valgrind is needed: apt-get install valgrind"; exit 1; }
	$(BIN)/python bench/instructions.py

bench: install core
	$(BIN)/python bench/processor_bench.py
	$(BIN)/python bench/process_bench.py
	$(BIN)/python bench/stream_bench.py
	$(BIN)/python bench/partitioner_bench.py
	$(BIN)/python bench/state_churn_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis out pipeline/_core
