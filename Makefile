# Quick start: `make run` (the bot on embedded defaults) and `make test` (the test suite).
# Each creates .venv with what it needs; only Python >= 3.11 and git are required.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run demo test lint bench bench-topology clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cellsbot needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . --config-settings editable_mode=compat
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/cellsbot serve

demo: $(VENV)/.run-installed
	$(BIN)/cellsbot demo

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench_schema.py

bench-topology: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench_topology.py

bench-bot: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench_bot.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
