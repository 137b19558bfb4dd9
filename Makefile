# kotox: `make demo` runs the main job end to end; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kotox-installed

.PHONY: setup demo test serve build

$(STAMP): pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./client -e ".[test]"
	touch $@

setup: $(STAMP)

demo: setup
	$(PY) -m kotox_server.demo

build: setup
	$(PY) -m kotox_build

serve: setup
	$(PY) -m kotox_server

test: setup
	$(PY) -m pytest -q
