# otel-holysheep: every target bootstraps what it needs into .venv / .cache (both git-ignored).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OPENAI2_VENV := .cache/venv-openai2
OPENAI2_STAMP := $(OPENAI2_VENV)/.installed
BENCH_PEERS := .cache/bench-peers
BENCH_STAMP := $(BENCH_PEERS)/.installed
FRAMEWORK_PEERS := .cache/framework-peers
FRAMEWORK_STAMP := $(FRAMEWORK_PEERS)/.installed
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: demo chromium test test-matrix test-fast test-openai2 bench bench-instructions lint typecheck engines collector prometheus3 lock dashboards dist clean help

help:
	@echo "make demo   - run the instrumented workload against the local gateway simulator and print the report"
	@echo "              (and write it as an HTML page, .cache/demo/holysheep-demo.html)"
	@echo "make test   - all tests (unit, loopback integration, openai 2.x and 3.x, real Prometheus/VictoriaMetrics)"
	@echo "              then the compatibility matrix (Python 3.10-3.13, oldest and newest claimed versions)"
	@echo "make test-matrix - the compatibility matrix alone"
	@echo "make bench  - overhead benchmarks against peer instrumentations"
	@echo "make bench-instructions - instructions per request under valgrind (attribution, requests vs httpx)"
	@echo "make collector - build our OpenTelemetry Collector distribution (needs Go) into .cache/engines/bin"
	@echo "make chromium - Debian's headless Chromium for the HTML report's browser tests, into .cache/chromium"
	@echo "make lint   - ruff + mypy"
	@echo "make dist   - sdist and wheel into dist/ (the wheel built from the sdist), checked with twine"

$(STAMP): pyproject.toml requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -r requirements/dev.txt
	$(PY) -m pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	touch $@

$(OPENAI2_STAMP): pyproject.toml requirements/dev.txt requirements/openai2.txt
	test -x $(OPENAI2_VENV)/bin/python || $(PYTHON) -m venv $(OPENAI2_VENV)
	$(OPENAI2_VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements/dev.txt
	$(OPENAI2_VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements/openai2.txt
	$(OPENAI2_VENV)/bin/python -m pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	touch $@

# Debian's Prometheus 2.53 / promtool / VictoriaMetrics, and (when go is on PATH) the Go-built otelcol-holysheep and
# Prometheus 3, all into .cache/engines/bin.
engines: $(STAMP)
	bash scripts/fetch-engines.sh

# Our Collector distribution (collector/builder-config.yaml) -> .cache/engines/bin/otelcol-holysheep. Needs Go.
collector:
	bash scripts/build-go-engines.sh collector

prometheus3:
	bash scripts/build-go-engines.sh prometheus3

# Ends by writing the report as an HTML page into .cache/demo/ and printing its path.
demo: $(STAMP)
	$(PY) -m otel_holysheep.demo --page .cache/demo/holysheep-demo.html

# Debian's headless Chromium for the HTML report's browser tests, into .cache/chromium (the tests run this script
# themselves and skip, saying why, where it cannot work).
chromium:
	bash scripts/fetch-chromium.sh

# The main suite (both openai generations) is the compatibility matrix's Python 3.11 cell; scripts/compat_matrix.py
# then builds and runs the other cells (requirements/compat/, venvs in .cache/compat/) and prints the matrix, also
# when a run before it failed; make test fails if any did.
MATRIX_RESULTS := .cache/compat/results
test: $(STAMP) $(OPENAI2_STAMP) $(BENCH_STAMP) $(FRAMEWORK_STAMP) engines
	rm -f $(MATRIX_RESULTS)/main.xml $(MATRIX_RESULTS)/openai2.xml
	status=0; \
	$(PY) -m pytest --junitxml=$(MATRIX_RESULTS)/main.xml || status=1; \
	echo "--- openai SDK 2.x (httpx) generation ---"; \
	$(OPENAI2_VENV)/bin/python -m pytest -m openai_sdk -p no:cacheprovider --junitxml=$(MATRIX_RESULTS)/openai2.xml \
		|| status=1; \
	$(PY) scripts/compat_matrix.py || status=1; \
	exit $$status

test-matrix: $(STAMP)
	$(PY) scripts/compat_matrix.py

test-fast: $(STAMP)
	$(PY) -m pytest -m "not engines and not slow" -x -q

test-openai2: $(OPENAI2_STAMP)
	$(OPENAI2_VENV)/bin/python -m pytest -m openai_sdk -p no:cacheprovider

# The official OpenAI instrumentation is a peer that the benchmarks and tests/hardening/test_lifecycle.py load from
# $(BENCH_PEERS), never from .venv: its `openai` entry point would run under every opentelemetry-instrument process
# of the tests and the demo.
$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	rm -rf $(BENCH_PEERS)
	$(PY) -m pip install $(PIP_FLAGS) --no-deps --target $(BENCH_PEERS) -r requirements/bench.txt
	touch $@

# The Flask instrumentation for the attribution tests: its release pins another opentelemetry-instrumentation than
# the lock, so it lives in $(FRAMEWORK_PEERS) (--no-deps); only the Flask test app puts it on its PYTHONPATH.
$(FRAMEWORK_STAMP): $(STAMP) requirements/frameworks.txt
	rm -rf $(FRAMEWORK_PEERS)
	$(PY) -m pip install $(PIP_FLAGS) --no-deps --target $(FRAMEWORK_PEERS) -r requirements/frameworks.txt
	touch $@

bench: $(STAMP) $(BENCH_STAMP)
	$(PY) -m benchmarks

bench-instructions: $(STAMP) $(BENCH_STAMP)
	$(PY) -m benchmarks.instructions

# Every Python file of the repository (tests/unit/test_lint_scope.py checks it): the package and its tests, the
# benchmarks, the dashboard generator. mypy: the package, the benchmarks and the generator.
LINT_PATHS := src tests benchmarks grafana scripts
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy src/otel_holysheep benchmarks grafana/generate.py

dashboards: $(STAMP)
	$(PY) grafana/generate.py

# The pinned backend from the lock (no isolated env to download), the wheel built from the sdist as pip would.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

lock:
	rm -rf .cache/lock-venv && $(PYTHON) -m venv .cache/lock-venv
	.cache/lock-venv/bin/pip install $(PIP_FLAGS) -r requirements/dev.in
	(echo "# Generated by 'make lock' from requirements/dev.in: the exact set make test / demo / bench install."; \
	 .cache/lock-venv/bin/pip freeze --exclude-editable) > requirements/dev.txt

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache dist
