"""Test configuration: offline by default, opt-in flags for network and slow tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("LANGSMITH_TRACING", "false")

_FLAGS = {"network": "--run-network", "slow": "--run-slow"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-network", action="store_true", help="run tests that need the internet")
    parser.addoption("--run-slow", action="store_true", help="run tests that load a real model")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow_env = os.environ.get("LUMOS_RUN_SLOW") == "1"
    for item in items:
        for marker, flag in _FLAGS.items():
            enabled = config.getoption(flag) or (marker == "slow" and run_slow_env)
            if marker in item.keywords and not enabled:
                item.add_marker(pytest.mark.skip(reason=f"needs {flag}"))


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: tiny models train faster so (and do not fight other processes)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
