# The two commands a new user needs: `make demo` and `make test`.
# Both set everything up on a fresh machine (system packages, .venv, dependencies).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-serving docs clean system

$(STAMP): pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	bash examples/digits/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# Peers for side-by-side benchmarks live in their own venvs, never in Shipyard's dependencies.
MLFLOW_VENV := benchmarks/.venvs/mlflow

$(MLFLOW_VENV)/.installed:
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check mlflow==3.17.2
	touch $@

bench: $(STAMP) $(MLFLOW_VENV)/.installed
	$(BIN)/python benchmarks/bench_registry.py
	$(BIN)/python benchmarks/bench_pipeline.py

bench-serving: $(STAMP)
	bash scripts/system-deps.sh wrk
	$(BIN)/python benchmarks/bench_serving.py

docs: $(STAMP)
	$(BIN)/python scripts/cli_reference.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
