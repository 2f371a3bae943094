"""The public API is explicit and frozen."""

from __future__ import annotations

import langchain_lumos

EXPECTED_ALL = [
    "DOMAINS",
    "ActionParseError",
    "CheckpointNotFoundError",
    "Domain",
    "LumosAgent",
    "LumosCompletionsLLM",
    "LumosContext",
    "LumosError",
    "LumosInputState",
    "LumosOutputState",
    "LumosState",
    "LumosTransformersLLM",
    "PlanParseError",
    "ToolArgumentError",
    "__version__",
    "create_lumos_agent",
    "create_lumos_graph",
    "get_domain",
    "load_lumos_models",
    "resolve_checkpoints",
]


def test_all() -> None:
    assert sorted(langchain_lumos.__all__) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(langchain_lumos, name) is not None


def test_cli_help_runs() -> None:
    import pytest

    from langchain_lumos.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
