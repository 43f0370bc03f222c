# One entry point for people and CI. `make run` and `make test` each do all of their own setup on
# a fresh machine; .ci/run calls `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# The project's own virtual environment: Debian's python3 refuses `pip install` (PEP 668).
BASE_PYTHON ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH := torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := .make
# Debian's Chromium is the only browser the tests use (Playwright never downloads its own).
CHROMIUM := /usr/bin/chromium

.PHONY: setup run test lint bench chromium redis-server clean

# Debian's python3 needs its python3-venv package for `-m venv`; install it when it is missing.
$(PYTHON):
	@$(BASE_PYTHON) -c 'import ensurepip' 2>/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends python3-venv; }
	$(BASE_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip

# torch first, from the CPU wheel index: on a plain index the 2.13.0 pin resolves to a CUDA
# build of several GB. Where that index is unreachable (or a local CPU wheel is preferred by
# pip's configuration), the default index is the fallback.
$(STAMP)/torch: | $(PYTHON)
	$(PYTHON) -m pip install --quiet --timeout 15 --retries 1 --index-url $(TORCH_CPU_INDEX) $(TORCH) \
		|| $(PYTHON) -m pip install --quiet $(TORCH)
	@mkdir -p $(STAMP) && touch $@

# Python package + test extras. Re-runs only when pyproject.toml changes. After npm: the build
# backend copies D3 into the package and stops if it is missing.
$(STAMP)/python: pyproject.toml $(STAMP)/torch | node_modules/.package-lock.json
	$(PYTHON) -m pip install --quiet -e '.[test]'
	@mkdir -p $(STAMP) && touch $@

# D3 (and Swagger UI for /api/v1/docs) exactly as package-lock.json pins them; served locally.
# --ignore-scripts: no package needs a build step, and one has a telemetry postinstall.
node_modules/.package-lock.json: package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

setup: node_modules/.package-lock.json $(STAMP)/python

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends chromium; \
	fi

# The Redis job-queue tests start their own redis-server (Debian's) on a free loopback port.
redis-server:
	@if ! command -v redis-server >/dev/null; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends redis-server; \
	fi

# `basisgraph serve`, through the interpreter so a fresh console-script shim is not needed.
run: setup
	$(PYTHON) -m basisgraph.cli serve --host $(HOST) --port $(PORT)

lint: setup
	$(PYTHON) -m ruff check .

test: setup chromium redis-server lint
	$(PYTHON) -m pytest

# The inner loop: everything but the browser and the slow tests (under a minute on 2 cores).
test-fast: setup lint
	$(PYTHON) -m pytest -q -m "not slow and not browser"

# The core's timing report (table vs naive loop, N = 100000), then any pytest-benchmark tests.
bench: setup
	$(PYTHON) -m basisgraph.cli bench
	$(PYTHON) -m pytest --benchmark-enable --benchmark-only -q

clean:
	rm -rf $(STAMP) $(VENV) node_modules test-output .pytest_cache .ruff_cache .benchmarks dist build
