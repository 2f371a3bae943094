"""Tracing: planner/grounder LLM runs and tool runs carry Lumos tags and metadata."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import FakeListLLM
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import StructuredTool

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.testing import ScriptedLLM
from tests.unit_tests.runtime import CallLog, qa_tools


class Recorder(BaseCallbackHandler):
    """Records every LLM, chat model and tool run with its tags and metadata."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def _add(self, kind: str, serialized: dict[str, Any] | None, kwargs: dict[str, Any]) -> None:
        self.runs.append(
            {
                "kind": kind,
                "name": kwargs.get("name") or (serialized or {}).get("name"),
                "tags": list(kwargs.get("tags") or []),
                "metadata": dict(kwargs.get("metadata") or {}),
                "parent": kwargs.get("parent_run_id"),
            }
        )

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add("llm", serialized, kwargs)

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add("llm", serialized, kwargs)

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add("tool", serialized, kwargs)


def _run(mode: Any) -> tuple[Recorder, tuple[Any, dict[str, Any]]]:
    if mode == "iterative":
        planner = [
            "Subgoal 1: Look up A.",
            "No, I will keep planning. Subgoal 2: Look up B.",
            "Yes, I will stop planning.",
        ]
        grounder = ["R1 = KnowledgeQuery(A)", "R2 = KnowledgeQuery(B); R3 = QA([R1, R2], Question: Same?)"]
    else:
        planner = ["Subgoal 1: Look up A; Subgoal 2: Look up B"]
        grounder = ["R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B)"]
    agent = create_lumos_agent(
        FakeListLLM(responses=planner),
        FakeListLLM(responses=grounder),
        qa_tools(CallLog()),
        mode=mode,
        domain="complex_qa",
    )
    rec = Recorder()
    config = {"callbacks": [rec], "tags": ["my-app"], "metadata": {"user": "u1"}}
    return rec, (agent, config)


@pytest.mark.parametrize("mode", ["iterative", "onetime"])
async def test_module_runs_are_tagged(mode: str) -> None:
    for use_async in (False, True):
        rec, (agent, config) = _run(mode)
        if use_async:
            await agent.ainvoke("What is A?", config)
        else:
            agent.invoke("What is A?", config)
        llm = [r for r in rec.runs if r["kind"] == "llm"]
        planners = [r for r in llm if r["metadata"].get("lumos_module") == "planner"]
        grounders = [r for r in llm if r["metadata"].get("lumos_module") == "grounder"]
        assert len(planners) == (3 if mode == "iterative" else 1)
        assert len(grounders) == (2 if mode == "iterative" else 1)
        assert len(planners) + len(grounders) == len(llm)
        for module, runs in (("planner", planners), ("grounder", grounders)):
            for run in runs:
                assert {"lumos", f"lumos:{module}", f"lumos:{mode}", "lumos:complex_qa"} <= set(run["tags"])
                assert "my-app" in run["tags"]  # the caller's tags are kept
                assert run["metadata"]["user"] == "u1"
                assert run["metadata"]["lumos_mode"] == mode
                assert run["metadata"]["lumos_domain"] == "complex_qa"
                assert run["name"] == ("lumos_plan" if module == "planner" else "lumos_ground")
        assert [r["metadata"]["lumos_subgoal_index"] for r in planners] == (
            [1, 2, 3] if mode == "iterative" else [1]
        )
        assert [r["metadata"]["lumos_subgoal_index"] for r in grounders] == (
            [1, 2] if mode == "iterative" else [0]
        )
        assert all(r["metadata"]["lumos_attempt"] == 0 for r in grounders)

        executor_runs = [
            r for r in rec.runs if r["kind"] == "tool" and r["metadata"].get("lumos_module") == "executor"
        ]
        final = [r for r in executor_runs if r["metadata"].get("lumos_final_qa")]
        tools = [r for r in executor_runs if not r["metadata"].get("lumos_final_qa")]
        # Iterative complex QA ends with a traced final QA over every answer.
        assert [r["name"] for r in final] == (["QA"] if mode == "iterative" else [])
        expected = (
            ["KnowledgeQuery", "KnowledgeQuery", "QA"] if mode == "iterative" else ["KnowledgeQuery"] * 2
        )
        assert sorted(r["name"] for r in tools) == sorted(expected)
        for run in tools:
            assert {"lumos", "lumos:executor", f"lumos:{mode}", "lumos:complex_qa"} <= set(run["tags"])
            assert run["metadata"]["lumos_mode"] == mode
            assert run["metadata"]["lumos_domain"] == "complex_qa"
            assert run["metadata"]["lumos_action_id"].startswith(
                f"s{run['metadata']['lumos_subgoal_index']}."
            )
        if mode == "iterative":
            by_action = {
                r["metadata"]["lumos_action_id"]: r["metadata"]["lumos_subgoal_index"] for r in tools
            }
            assert by_action == {"s1.g0.a1": 1, "s2.g0.a1": 2, "s2.g0.a2": 2}


def test_regrounding_attempt_in_metadata() -> None:
    agent = create_lumos_agent(
        FakeListLLM(responses=["Subgoal 1: Look up A.", "Yes, I will stop planning."]),
        FakeListLLM(responses=["R1 = Flaky(A)", "R1 = KnowledgeQuery(A)"]),
        qa_tools(CallLog()),
    )
    rec = Recorder()
    agent.invoke("What is A?", {"callbacks": [rec]})
    grounders = [r for r in rec.runs if r["metadata"].get("lumos_module") == "grounder"]
    assert [r["metadata"]["lumos_attempt"] for r in grounders] == [0, 1]
    assert "lumos:grounder" in grounders[1]["tags"]


class SpanTree(BaseCallbackHandler):
    """Records every run (chain, model, tool) with its parent, to check the span tree."""

    def __init__(self) -> None:
        self.runs: dict[UUID, tuple[str, str, UUID | None]] = {}

    def _add(
        self, kind: str, serialized: dict[str, Any] | None, run_id: UUID, kwargs: dict[str, Any]
    ) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or "?"
        self.runs[run_id] = (kind, name, kwargs.get("parent_run_id"))

    def on_chain_start(self, serialized: dict[str, Any], inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._add("chain", serialized, run_id, kwargs)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add("llm", serialized, run_id, kwargs)

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add("tool", serialized, run_id, kwargs)

    def tree(self) -> list[str]:
        """The spans depth-first, indented by depth: `kind:name`."""
        children: dict[UUID | None, list[UUID]] = {}
        for run_id, (_, _, parent) in self.runs.items():
            children.setdefault(parent, []).append(run_id)
        out: list[str] = []

        def walk(parent: UUID | None, depth: int) -> None:
            for run_id in children.get(parent, []):
                kind, name, _ = self.runs[run_id]
                out.append("  " * depth + f"{kind}:{name}")
                walk(run_id, depth + 1)

        walk(None, 0)
        return out


@pytest.mark.parametrize("use_async", [False, True])
async def test_span_tree_nodes_once_no_routers_qa_model_counted(use_async: bool) -> None:
    qa_model = ScriptedLLM(responses=["Answer: Doc A."], usage=(7, 3))

    def knowledge_query(query: str) -> str:
        """Capture the relevant webpages according to the query."""
        return f"Doc about {query}."

    def qa(context: list[str] | str, question: str) -> str:
        """Given context, answer the given query."""
        reply = qa_model.invoke(f"{context}\n{question}")
        return f"Question: {question}; {reply}"

    agent = create_lumos_agent(
        ScriptedLLM(responses=["Subgoal 1: Look up A.", "Yes, I will stop planning."], by="turn"),
        ScriptedLLM(responses=["R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)"]),
        [
            StructuredTool.from_function(knowledge_query, name="KnowledgeQuery"),
            StructuredTool.from_function(qa, name="QA"),
        ],
    )
    spans = SpanTree()
    config: RunnableConfig = {"callbacks": [spans]}
    result = await agent.ainvoke("What is A?", config) if use_async else agent.invoke("What is A?", config)
    assert spans.tree() == [
        "chain:lumos",
        "  chain:planner",
        "    llm:lumos_plan",
        "  chain:grounder",
        "    llm:lumos_ground",
        "  chain:execute_action",  # sent by the grounder's route
        "    tool:KnowledgeQuery",
        "  chain:execute_action",  # sent by the first action's route
        "    tool:QA",
        "      llm:ScriptedLLM",
        "  chain:planner",
        "    llm:lumos_plan",
        "  chain:finalize",
        "    tool:QA",
        "      llm:ScriptedLLM",
    ]
    # The QA tool's model calls (the action's and the final QA's) count as tokens.
    assert result["usage"]["tool:QA"]["prompt_tokens"] == 14
    assert result["usage"]["tool:QA"]["completion_tokens"] == 6


class MetaTree(SpanTree):
    """A `SpanTree` that also keeps each run's metadata."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[UUID, dict[str, Any]] = {}

    def _add(
        self, kind: str, serialized: dict[str, Any] | None, run_id: UUID, kwargs: dict[str, Any]
    ) -> None:
        super()._add(kind, serialized, run_id, kwargs)
        self.meta[run_id] = dict(kwargs.get("metadata") or {})

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add("llm", serialized, run_id, kwargs)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [self.meta[r] for r, (_, n, _) in self.runs.items() if n == name]


@pytest.mark.parametrize("use_async", [False, True])
async def test_qa_tool_model_call_is_named_and_runs_carry_their_subgoal(use_async: bool) -> None:
    from langchain_lumos.tools.complex_qa import QA_RUN_NAME, QATool

    def knowledge_query(query: str) -> str:
        """Capture the relevant webpages according to the query."""
        return f"Doc about {query}."

    agent = create_lumos_agent(
        ScriptedLLM(
            responses=[
                "Subgoal 1: Look up A.",
                "No, I will keep planning. Subgoal 2: Ask about A.",
                "Yes, I will stop planning.",
            ],
            by="turn",
        ),
        ScriptedLLM(responses=["R1 = KnowledgeQuery(A)", "R2 = QA([R1], Question: What is A?)"], by="turn"),
        [
            StructuredTool.from_function(knowledge_query, name="KnowledgeQuery"),
            QATool(llm=ScriptedLLM(responses=["Answer: Doc A."], usage=(5, 2))),
        ],
    )
    spans = MetaTree()
    config: RunnableConfig = {"callbacks": [spans]}
    if use_async:
        await agent.ainvoke("What is A?", config)
    else:
        agent.invoke("What is A?", config)
    tree = spans.tree()
    # The QA tool's model call is a named child of the QA tool's run.
    at = tree.index("    tool:QA")
    assert tree[at + 1] == f"      llm:{QA_RUN_NAME}"
    assert "llm:QATool" not in " ".join(tree) and "llm:ScriptedLLM" not in " ".join(tree)
    # Every run of a subgoal's grounding and actions says which subgoal it serves.
    grounds = spans.named("lumos_ground")
    assert [m["lumos_subgoal"] for m in grounds] == ["Subgoal 1: Look up A.", "Subgoal 2: Ask about A."]
    query, qa = spans.named("KnowledgeQuery"), spans.named("QA")
    assert [m["lumos_subgoal"] for m in query] == ["Subgoal 1: Look up A."]
    assert qa[0]["lumos_subgoal"] == "Subgoal 2: Ask about A."
    qa_model = spans.named(QA_RUN_NAME)
    assert qa_model[0]["lumos_subgoal"] == "Subgoal 2: Ask about A."  # inherited from its tool


def test_onetime_runs_carry_the_plan_as_their_subgoal() -> None:
    agent = create_lumos_agent(
        FakeListLLM(responses=["Subgoal 1: Look up A; Subgoal 2: Look up B"]),
        FakeListLLM(responses=["R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B)"]),
        qa_tools(CallLog()),
        mode="onetime",
    )
    spans = MetaTree()
    agent.invoke("What is A?", {"callbacks": [spans]})
    labels = {m["lumos_subgoal"] for m in spans.named("lumos_ground") + spans.named("KnowledgeQuery")}
    assert labels == {"Subgoal 1: Look up A; Subgoal 2: Look up B"}
