"""The served graphs (`langchain_lumos.serve`, `graphs/`, `langgraph.json`)."""

from __future__ import annotations

import ast
import importlib
import json
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph.state import CompiledStateGraph

from langchain_lumos import serve
from langchain_lumos.context import LumosContext
from langchain_lumos.serve import GraphContext, build_graph, register_models, register_tools, resolve_run
from langchain_lumos.testing import ScriptedLLM
from tests.unit_tests.runtime import CallLog, qa_tools

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LUMOS_DOMAIN", "LUMOS_MODEL", "LUMOS_QA_MODEL", "LUMOS_REVIEW"):
        monkeypatch.delenv(name, raising=False)
    serve.clear_caches()
    yield
    serve.clear_caches()


@pytest.fixture
def scripted_smollm2(monkeypatch: pytest.MonkeyPatch) -> ScriptedLLM:
    """`smollm2` resolves to a recording scripted model (no weights)."""
    llm = ScriptedLLM(
        responses={
            "": "Subgoal 1: Look up A.",
            "Subgoal to be grounded: Subgoal 1: Look up A.": "R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)",
            "Answer: answer to What is A?. Should we stop planning?": "Yes, I will stop planning.",
        }
    )
    monkeypatch.setattr("langchain_lumos.models.smollm2.load_default_llm", lambda **_: llm)
    register_tools("complex_qa", qa_tools(CallLog()))
    return llm


@pytest.mark.parametrize("module", ["graphs.iterative", "graphs.onetime"])
def test_graph_module(module: str) -> None:
    graph = importlib.import_module(module).graph
    assert isinstance(graph, CompiledStateGraph)
    assert {"planner", "grounder", "finalize"} <= set(graph.nodes)
    assert graph.name == module.replace("graphs.", "lumos_")
    assert graph.context_schema is GraphContext
    props = (graph.get_context_jsonschema() or {})["properties"]
    for name in (
        "domain",
        "model",
        "qa_model",
        "max_new_tokens",
        "served_model",
        "extra_body",
        "request_timeout_s",
        "review",
        "max_subgoals",
        "time_limit_s",
    ):
        assert props[name]["description"], name
    assert props["model"]["default"] == "smollm2"
    assert "completions:URL" in props["model"]["description"]


def test_graph_files_are_thin_and_import_only_the_package() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    for target in config["graphs"].values():
        path, _, attr = target.partition(":")
        tree = ast.parse((ROOT / path).read_text())
        modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert modules == ["langchain_lumos.serve"], path
        assert attr == "graph"


def test_langgraph_json_is_valid_for_langgraph_cli() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    assert config["env"] == ".env"
    assert config["graphs"] == {
        "lumos_iterative": "./graphs/iterative.py:graph",
        "lumos_onetime": "./graphs/onetime.py:graph",
    }
    assert (ROOT / ".env.example").exists()
    assert ".langgraph_api/" in (ROOT / ".gitignore").read_text().split()
    cli_config = pytest.importorskip("langgraph_cli.config")
    assert cli_config.get_unknown_keys(config) == []  # no "$schema" warning
    cli_config.validate_config_file(ROOT / "langgraph.json")


def test_graph_context_fields_and_env_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert issubclass(GraphContext, LumosContext)
    ctx = GraphContext()
    assert (ctx.domain, ctx.model, ctx.qa_model, ctx.review) == ("complex_qa", "smollm2", "", None)
    monkeypatch.setenv("LUMOS_MODEL", "vllm:http://p:8001/v1,http://g:8002/v1")
    monkeypatch.setenv("LUMOS_DOMAIN", "maths")
    monkeypatch.setenv("LUMOS_QA_MODEL", "openai:http://q/v1#m")
    ctx = GraphContext()
    assert (ctx.model, ctx.domain, ctx.qa_model) == (
        "vllm:http://p:8001/v1,http://g:8002/v1",
        "maths",
        "openai:http://q/v1#m",
    )
    assert GraphContext(model="scripted").model == "scripted"  # explicit values win
    assert {f.name for f in fields(GraphContext)} >= {f.name for f in fields(LumosContext)}


def test_bad_contexts_are_errors() -> None:
    with pytest.raises(ValueError, match=r"Unknown run-context key\(s\) \['planner_model'\]"):
        GraphContext(planner_model="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="keyword"):
        GraphContext("positional")  # type: ignore[call-arg, arg-type]
    with pytest.raises(ValueError, match="Bad model spec"):
        GraphContext(model="nonsense")
    with pytest.raises(ValueError, match="review takes"):
        GraphContext(review=["everything"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="review takes"):
        GraphContext(review="plan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_subgoals"):
        GraphContext(max_subgoals=0)


def test_unknown_context_key_fails_the_run_instead_of_using_the_default(
    scripted_smollm2: ScriptedLLM,
) -> None:
    graph = build_graph("iterative", name="g")
    with pytest.raises(ValueError, match="Unknown run-context key"):
        graph.invoke({"task": "What is A?"}, context={"planner_model": "openai:gpt-4o-mini"})
    assert not scripted_smollm2.calls


@pytest.mark.parametrize("as_dict", [False, True])
def test_served_default_plans_with_the_small_profile(as_dict: bool, scripted_smollm2: ScriptedLLM) -> None:
    graph = build_graph("iterative", name="g")
    context: Any = {"max_subgoals": 3} if as_dict else GraphContext(max_subgoals=3)
    result = graph.invoke({"task": "What is A?"}, context=context)
    assert result["answer"] == "answer to What is A?"
    assert result["stop_reason"] == "planner_stop"
    first_prompt = scripted_smollm2.calls[0].prompt
    assert "Where was the director of the film Jaws born?" in first_prompt  # the few-shot exemplar


def test_served_graph_resolves_the_models_once(scripted_smollm2: ScriptedLLM) -> None:
    ctx = GraphContext()
    first = resolve_run(ctx, "iterative")
    assert resolve_run(GraphContext(), "iterative") is first
    assert first[0].planner is scripted_smollm2
    assert first[0].domain.plan_exemplars and first[0].profile == "small"


def test_completions_specs_from_the_context() -> None:
    ctx = GraphContext(model="vllm:http://127.0.0.1:9/v1#served-name", served_model="")
    models, _ = resolve_run(ctx, "iterative")
    assert models.planner.model == models.grounder.model == "served-name"  # type: ignore[attr-defined]
    two = GraphContext(
        model="completions:http://a/v1,http://b/v1", extra_body={"top_k": 1}, max_new_tokens=32
    )
    models, tools = resolve_run(two, "onetime")
    assert models.planner.model == "ai2lumos/lumos_complex_qa_plan_onetime"  # type: ignore[attr-defined]
    assert models.grounder.base_url == "http://b/v1"  # type: ignore[attr-defined]
    assert models.grounder.extra_body == {"top_k": 1}  # type: ignore[attr-defined]
    assert models.grounder.max_tokens == 32  # type: ignore[attr-defined]
    assert [t.name for t in tools][:3] == ["KnowledgeQuery", "ParagraphRetrieve", "QA"]


def test_eval_profile_graph_runs_scripted_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMOS_MODEL", "scripted")
    monkeypatch.setenv("LUMOS_DOMAIN", "maths")
    graph = build_graph("onetime", name="g")
    result = graph.invoke({"task": "What is 1 + 1?"}, context={"model": "scripted", "domain": "gsm8k"})
    assert result["answer"] == "2"


def test_profile_and_domain_mismatches_say_how_to_serve(scripted_smollm2: ScriptedLLM) -> None:
    graph = build_graph("iterative", name="g")
    with pytest.raises(ValueError, match="LUMOS_MODEL=vllm:http://h/v1"):
        graph.invoke({"task": "x"}, context={"model": "vllm:http://h/v1"})
    with pytest.raises(ValueError, match="LUMOS_DOMAIN=maths"):
        graph.invoke({"task": "x"}, context={"domain": "maths"})
    assert graph.invoke({"task": "What is A?"}, context={"review": []})["answer"] == "answer to What is A?"


def _approve_all(
    graph: Any, config: dict[str, Any], result: dict[str, Any], context: Any = None
) -> tuple[dict[str, Any], list[str]]:
    """Approve every review; each resume is a run of its own, with the same context."""
    from langgraph.types import Command

    seen = []
    while "__interrupt__" in result:
        seen.append(result["__interrupt__"][0].value["type"])
        result = graph.invoke(Command(resume={"action": "approve"}), config, context=context)
    return result, seen


def test_review_points_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, scripted_smollm2: ScriptedLLM
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    monkeypatch.setenv("LUMOS_REVIEW", "plan")
    graph = build_graph("iterative", name="g")
    assert {"review_plan", "review_actions"} <= set(graph.nodes)  # both compiled; runs choose
    graph.checkpointer = InMemorySaver()
    config: Any = {"configurable": {"thread_id": "t"}}
    paused = graph.invoke({"task": "What is A?"}, config)  # no context: LUMOS_REVIEW's points
    assert paused["__interrupt__"][0].value["subgoals"] == ["Look up A."]
    done, seen = _approve_all(graph, config, paused)
    assert done["answer"] == "answer to What is A?"
    assert set(seen) == {"plan_review"}
    monkeypatch.setenv("LUMOS_REVIEW", "everything")
    with pytest.raises(ValueError, match=r"LUMOS_REVIEW='everything'.*review takes"):
        build_graph("iterative", name="g")


@pytest.mark.parametrize(
    ("review", "expected"),
    [
        ([], set()),
        (["actions"], {"actions_review"}),
        (["plan", "actions"], {"plan_review", "actions_review"}),
    ],
)
def test_review_is_chosen_per_run(
    monkeypatch: pytest.MonkeyPatch, scripted_smollm2: ScriptedLLM, review: list[str], expected: set[str]
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    monkeypatch.setenv("LUMOS_REVIEW", "plan")
    graph = build_graph("iterative", name="g")
    graph.checkpointer = InMemorySaver()
    config: Any = {"configurable": {"thread_id": "t"}}
    first = graph.invoke({"task": "What is A?"}, config, context={"review": review})
    done, seen = _approve_all(graph, config, first, {"review": review})
    assert done["answer"] == "answer to What is A?"
    assert set(seen) == expected
    assert GraphContext(review=review).review == tuple(review)  # type: ignore[arg-type]


def test_no_review_by_default_needs_no_checkpointer(scripted_smollm2: ScriptedLLM) -> None:
    graph = build_graph("iterative", name="g")  # LUMOS_REVIEW unset: nothing pauses
    result = graph.invoke({"task": "What is A?"})
    assert result["answer"] == "answer to What is A?"
    with pytest.raises(ValueError, match="needs a checkpointer"):
        graph.invoke({"task": "What is A?"}, context={"review": ["plan"]})


def test_registered_models_run_on_any_graph(scripted_smollm2: ScriptedLLM) -> None:
    log = CallLog()
    register_models(
        "mine",
        ScriptedLLM(responses=["Subgoal 1: Look up A; Subgoal 2: Answer"]),
        ScriptedLLM(responses=["R1 = KnowledgeQuery(A); R2 = QA([R1], Question: q)"]),
    )
    register_tools("complex_qa", qa_tools(log))
    graph = build_graph("onetime", name="g")
    result = graph.invoke({"task": "What is A?"}, context={"model": "mine"})
    assert result["answer"] == "answer to What is A?"
    assert result["stop_reason"] == "plan_complete"
    with pytest.raises(TypeError, match="LangChain models"):
        register_models("bad", "not a model")  # type: ignore[arg-type]


def test_package_tool_factories_are_used(scripted_smollm2: ScriptedLLM) -> None:
    serve.clear_caches()
    _, tools = resolve_run(GraphContext(), "iterative")
    assert [t.name for t in tools][:3] == ["KnowledgeQuery", "ParagraphRetrieve", "QA"]
    qa = next(t for t in tools if t.name == "QA")
    assert qa.llm is scripted_smollm2  # type: ignore[attr-defined]
    assert qa.style == "small"  # type: ignore[attr-defined]
    _, maths = resolve_run(GraphContext(domain="maths"), "iterative")
    assert "SolveEquation" in [t.name for t in maths]


def _web_graph(monkeypatch: pytest.MonkeyPatch, grounder_output: str) -> tuple[Any, ScriptedLLM]:
    monkeypatch.setenv("LUMOS_DOMAIN", "web_agent")
    monkeypatch.setenv("LUMOS_MODEL", "scripted")
    grounder = ScriptedLLM(responses=[grounder_output])
    register_models(
        "web",
        ScriptedLLM(responses=["Subgoal 1: Open the cruises page.", "Yes, I will stop planning."]),
        grounder,
    )
    return build_graph("iterative", name="web"), grounder


def test_served_web_agent_runs_on_the_demo_page_without_an_env(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, _ = _web_graph(monkeypatch, "R1 = CLICK(Env, QUERY: Cruises)")
    result = graph.invoke({"task": "Find a cruise."}, context={"model": "web", "max_subgoals": 2})
    (obs,) = result["observations"]
    assert obs["status"] == "success", obs
    assert obs["output"] == "[link] Cruises -> CLICK"
    assert result["variables"]["R1"].candidates()[-1] == "[button] Search cruises"


def test_served_web_agent_takes_a_json_page(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, _ = _web_graph(monkeypatch, "R1 = CLICK(Env, QUERY: Deals); R2 = CLICK(R1, QUERY: Buy)")
    deals = {"candidates": ["[button] Buy now"], "transitions": {"[button] Buy now": ["[text] Thanks"]}}
    page = {"candidates": ["[link] Home", "[link] Deals"], "transitions": {"[link] Deals": deals}}
    result = graph.invoke(
        {"task": "Buy the deal.", "variables": {"Env": page}}, context={"model": "web", "max_subgoals": 2}
    )
    assert [o["output"] for o in result["observations"]] == [
        "[link] Deals -> CLICK",
        "[button] Buy now -> CLICK",
    ]
    assert result["variables"]["R2"].candidates() == ["[text] Thanks"]
    listed = {"task": "Buy the deal.", "variables": {"Env": ["[link] Home", "[link] Deals"]}}
    result = graph.invoke(listed, context={"model": "web", "max_subgoals": 2})
    assert result["observations"][0]["output"] == "[link] Deals -> CLICK"
    bad = {"candidates": ["[link] Home"], "links": {}}
    result = graph.invoke(
        {"task": "Buy the deal.", "variables": {"Env": bad}}, context={"model": "web", "max_subgoals": 1}
    )
    assert result["observations"][0]["status"] == "error"
    assert "'candidates' and 'transitions'" in result["observations"][0]["output"]
