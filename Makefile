# Quick start: `make run` (the bot on embedded defaults) and `make test` (the test suite).
# Each creates .venv with what it needs; only Python >= 3.11 and git are required.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run demo test lint bench bench-topology clean hardening load

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

# The hardening suite's long mode: many more fuzzing examples, random seeds (docs/reliability.md).
hardening: $(VENV)/.dev-installed
	CELLSBOT_HARDENING=long $(BIN)/python -m pytest tests/hardening -q

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench_schema.py

bench-topology: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench_topology.py

bench-bot: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench_bot.py

# 50 webhook deliveries a second for 60 s through receiver, Redis, workers and FakeGitLab;
# fails on any drop or duplicate (docs/reliability.md). ARGS="--rate 20 --seconds 10" to vary.
load: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/load_webhooks.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
