# kotox: `make demo` runs the main job end to end; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kotox-installed

.PHONY: setup monitoring-tools demo test serve build capacity benchmark overhead quantization faults soak

$(STAMP): pyproject.toml client/pyproject.toml loadtest/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./client -e ".[test]"
	$(PY) -m pip install -q -r loadtest/requirements.txt  # second step: see loadtest/requirements.txt
	touch $@

setup: $(STAMP)

monitoring-tools:  # Debian's Prometheus + promtool for the monitoring tests (root, apt; skipped when installed)
	bash .ci/install-prometheus

demo: setup
	$(PY) -m kotox_server.demo

build: setup
	$(PY) -m kotox_build

serve: setup
	$(PY) -m kotox_server

test: setup monitoring-tools
	$(PY) -m pytest -q

capacity: setup
	$(PY) loadtest/capacity.py

benchmark: setup
	$(PY) loadtest/benchmark.py

overhead: setup
	$(PY) loadtest/overhead.py

quantization: setup
	$(PY) loadtest/quantization.py

faults: setup
	$(PY) loadtest/faults.py all

soak: setup
	$(PY) loadtest/soak.py
