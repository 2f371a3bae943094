"""The public API is explicit, and importing it (or running the CLI) loads only what is used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import langchain_lumos

EXPECTED_ALL = [
    "DOMAINS",
    "CheckpointNotFoundError",
    "CheckpointStoreError",
    "Domain",
    "LumosAgent",
    "LumosCompletionsLLM",
    "LumosContext",
    "LumosError",
    "LumosInputState",
    "LumosOutputState",
    "LumosState",
    "LumosTransformersLLM",
    "ThreadNotFoundError",
    "ToolArgumentError",
    "__version__",
    "create_integrated_agent",
    "create_lumos_agent",
    "create_lumos_graph",
    "get_domain",
    "list_domains",
    "load_lumos_models",
    "register_domain",
    "resolve_checkpoints",
    "resolve_models",
]

HEAVY = ("torch", "transformers", "langgraph", "langchain_core", "httpx", "openai")


def _loaded_after(code: str) -> list[str]:
    """Top-level packages among `HEAVY` imported by `code` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    return sorted(loaded & set(HEAVY))


def test_all() -> None:
    assert sorted(langchain_lumos.__all__) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(langchain_lumos, name) is not None
    assert sorted(dir(langchain_lumos)) == sorted(EXPECTED_ALL)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = langchain_lumos.nope  # type: ignore[attr-defined]


def test_import_is_lazy() -> None:
    assert _loaded_after("import langchain_lumos") == []


def test_cli_help_imports_nothing_heavy() -> None:
    code = "from langchain_lumos.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


def test_api_and_fake_models_never_load_torch() -> None:
    code = (
        "from langchain_lumos.presets import resolve_models, preset_tools\n"
        "from langchain_lumos import create_lumos_agent\n"
        "m = resolve_models('vllm:http://127.0.0.1:9/v1', domain='maths', mode='iterative')\n"
        "m = resolve_models('openai:http://127.0.0.1:9/v1#x', domain='complex_qa', mode='iterative')\n"
        "m = resolve_models('scripted', domain='maths', mode='iterative')\n"
        "tools, _ = preset_tools(m)\n"
        "agent = create_lumos_agent(m.planner, m.grounder, tools, domain=m.domain)\n"
        "assert agent.invoke({'task': 'What is 1 + 1?'})['answer'] == '2'"
    )
    loaded = _loaded_after(code)
    assert "torch" not in loaded and "transformers" not in loaded


def test_cli_help_runs() -> None:
    from langchain_lumos.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


def test_a_complex_qa_toolkit_loads_sympy_only_when_it_calculates() -> None:
    code = (
        "import sys\n"
        "from langchain_core.language_models.fake import FakeListLLM\n"
        "from langchain_lumos.tools import get_tools\n"
        "tools = {t.name: t for t in get_tools('complex_qa', llm=FakeListLLM(responses=['x']))}\n"
        "before = 'sympy' in sys.modules\n"
        "tools['Calculator'].timeout_s = None\n"
        "value = tools['Calculator'].invoke({'formula': '28 * 1/7'})\n"
        "print(before, value, 'sympy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["False", "4", "True"]
