"""The served graphs (`graphs/`, `langgraph.json`): structure, context schema, resolution."""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from langchain_core.language_models import FakeListLLM
from langgraph.graph.state import CompiledStateGraph

from graphs import _shared
from graphs._shared import GraphContext, register_model, register_tools, resolve_model
from langchain_lumos.context import LumosContext
from tests.unit_tests.runtime import CallLog, qa_tools

ROOT = Path(__file__).resolve().parents[3]
NODES = {"__start__", "planner", "grounder", "executor", "execute_action", "finalize"}


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    _shared.clear_caches()
    yield
    _shared.clear_caches()


@pytest.mark.parametrize("module", ["graphs.iterative", "graphs.onetime"])
def test_graph_module(module: str) -> None:
    graph = importlib.import_module(module).graph
    assert isinstance(graph, CompiledStateGraph)
    assert set(graph.nodes) == NODES
    assert graph.name == module.replace("graphs.", "lumos_")
    assert graph.context_schema is GraphContext
    schema = graph.get_context_jsonschema()
    props = schema["properties"]
    for name in ("domain", "planner_model", "grounder_model", "qa_model", "max_subgoals", "time_limit_s"):
        assert name in props
        assert props[name]["description"]
    assert props["planner_model"]["default"] == "smollm2"
    assert "lumos:<base_url>" in props["planner_model"]["description"]
    mermaid = graph.get_graph().draw_mermaid()
    assert "planner" in mermaid and "execute_action" in mermaid


def test_graph_context_fields() -> None:
    assert issubclass(GraphContext, LumosContext)
    by_name = {f.name: f for f in fields(GraphContext)}
    for name in ("domain", "planner_model", "grounder_model"):
        assert by_name[name].metadata["description"]
    ctx = GraphContext()
    assert (ctx.domain, ctx.planner_model, ctx.grounder_model) == ("complex_qa", "smollm2", "smollm2")
    with pytest.raises(TypeError):
        GraphContext("positional")  # type: ignore[misc]  # kw_only


def test_env_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMOS_PLANNER_MODEL", "lumos:http://p:8001/v1")
    monkeypatch.setenv("LUMOS_GROUNDER_MODEL", "lumos:http://g:8002/v1")
    monkeypatch.setenv("LUMOS_DOMAIN", "maths")
    ctx = GraphContext()
    assert ctx.planner_model == "lumos:http://p:8001/v1"
    assert ctx.grounder_model == "lumos:http://g:8002/v1"
    assert ctx.domain == "maths"
    assert GraphContext(planner_model="x").planner_model == "x"  # explicit values win


def test_langgraph_json() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    assert config["env"] == ".env"
    assert config["graphs"] == {
        "lumos_iterative": "./graphs/iterative.py:graph",
        "lumos_onetime": "./graphs/onetime.py:graph",
    }
    for target in config["graphs"].values():
        path, _, attr = target.partition(":")
        spec = importlib.util.spec_from_file_location("served", ROOT / path)
        assert spec is not None and spec.loader is not None
        assert attr == "graph"
    assert (ROOT / ".env.example").exists()


@pytest.mark.parametrize("as_dict", [False, True])
def test_served_graph_runs_with_models_from_context(as_dict: bool) -> None:
    from graphs.iterative import graph

    log = CallLog()
    register_model(
        "test-planner", FakeListLLM(responses=["Subgoal 1: Look up A.", "Yes, I will stop planning."])
    )
    register_model(
        "test-grounder",
        FakeListLLM(responses=["R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)"]),
    )
    register_tools("complex_qa", qa_tools(log))
    values = {"planner_model": "test-planner", "grounder_model": "test-grounder", "max_subgoals": 3}
    context = values if as_dict else GraphContext(**values)
    events = list(graph.stream({"task": "What is A?"}, context=context, stream_mode="custom"))
    assert events[0]["event"] == "subgoal_planned"
    assert events[-1] == {
        "event": "final_answer",
        "answer": "answer to What is A?",
        "stop_reason": "planner_stop",
    }
    assert log.calls() == ["A", "What is A?", "What is A?"]


def test_onetime_served_graph() -> None:
    from graphs.onetime import graph

    register_model("p", FakeListLLM(responses=["Subgoal 1: Look up A; Subgoal 2: Answer"]))
    register_model("g", FakeListLLM(responses=["R1 = KnowledgeQuery(A); R2 = QA([R1], Question: q)"]))
    register_tools("complex_qa", qa_tools(CallLog()))
    result = graph.invoke({"task": "What is A?"}, context={"planner_model": "p", "grounder_model": "g"})
    assert result["answer"] == "answer to What is A?"
    assert result["stop_reason"] == "plan_complete"


def test_models_are_cached_per_name() -> None:
    ctx = GraphContext(
        planner_model="lumos:http://127.0.0.1:9/v1", grounder_model="lumos:http://127.0.0.1:9/v1"
    )
    planner = resolve_model(ctx, "planner", "iterative")
    grounder = resolve_model(ctx, "grounder", "iterative")
    assert type(planner).__name__ == "LumosCompletionsLLM"
    assert planner.model == "ai2lumos/lumos_complex_qa_plan_iterative"
    assert grounder.model == "ai2lumos/lumos_complex_qa_ground_iterative"
    assert resolve_model(ctx, "planner", "iterative") is planner  # loaded once
    onetime = resolve_model(ctx, "planner", "onetime")
    assert onetime.model == "ai2lumos/lumos_complex_qa_plan_onetime"
    custom = resolve_model(
        GraphContext(planner_model="lumos:http://h/v1#served-name"), "planner", "iterative"
    )
    assert custom.model == "served-name"
    assert custom.base_url == "http://h/v1"


def test_bad_model_names() -> None:
    with pytest.raises(ValueError, match="Unknown model name"):
        resolve_model(GraphContext(planner_model="nonsense"), "planner", "iterative")
    with pytest.raises(ValueError, match="server URL"):
        resolve_model(GraphContext(planner_model="lumos:"), "planner", "iterative")
    if importlib.util.find_spec("langchain") is None:
        with pytest.raises(ValueError, match="pip install langchain"):
            resolve_model(GraphContext(planner_model="openai:gpt-4o-mini"), "planner", "iterative")


def test_domain_mismatch_is_a_clear_error() -> None:
    from graphs.iterative import graph

    register_model("p", FakeListLLM(responses=["Subgoal 1: x"]))
    with pytest.raises(ValueError, match="built for domain 'complex_qa'"):
        graph.invoke(
            {"task": "1+1?"}, context={"domain": "maths", "planner_model": "p", "grounder_model": "p"}
        )


def test_package_tool_factories_are_used() -> None:
    pytest.importorskip("langchain_lumos.tools.complex_qa")
    register_model("qa-llm", FakeListLLM(responses=["Answer: 1"]))
    tools = _shared.resolve_tools(GraphContext(planner_model="qa-llm"), "iterative")
    assert [t.name for t in tools] == ["KnowledgeQuery", "ParagraphRetrieve", "QA", "Calculator", "Code"]
    assert _shared.resolve_tools(GraphContext(planner_model="qa-llm"), "onetime") is tools
    maths = _shared.resolve_tools(GraphContext(domain="maths"), "iterative")
    assert "SolveEquation" in [t.name for t in maths]
