"""Executing actions: the per-grounding cap, scheduling, tool errors, time limits, retries."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt
from pydantic import BaseModel

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.context import LumosContext
from langchain_lumos.executor import NestedModelTokens
from langchain_lumos.graph import create_lumos_graph
from tests.unit_tests.runtime import CallLog, qa_tools, scripted_model

STOP_AFTER_ONE = ["Subgoal 1: Look up A to E.", "Yes, I will stop planning."]
FIVE = "; ".join(f"R{k} = KnowledgeQuery({c})" for k, c in enumerate("ABCDE", start=1))


class ToolCallingFake(GenericFakeChatModel):
    """A chat model replaying messages (with `tool_calls`); `bind_tools` is a no-op."""

    def bind_tools(self, tools: Any, **kw: Any) -> Any:
        return self


def _agent(planner: list[str], grounder: Any, log: CallLog, tools: Any = None, **kw: Any) -> Any:
    if isinstance(grounder, list):
        grounder = scripted_model(grounder, role="grounder", log=log)
    return create_lumos_agent(
        scripted_model(planner, role="planner", log=log),
        grounder,
        tools if tools is not None else qa_tools(log),
        **kw,
    )


def _statuses(result: dict[str, Any]) -> list[str]:
    """Observation statuses in plan order."""
    by_id = {o["action_id"]: o["status"] for o in result["observations"]}
    return [by_id[a["id"]] for a in result["actions"]]


def _grounder_calls(log: CallLog) -> list[str]:
    return [k for k in log.calls("model", "call") if k.startswith("grounder")]


# -- max_actions_per_subgoal: over-cap actions are skipped, never re-grounded or re-run -------


def test_cap_skips_without_regrounding_iterative() -> None:
    log = CallLog()
    agent = _agent(STOP_AFTER_ONE, [FIVE], log)
    result = agent.invoke("What is A?", context=LumosContext(max_actions_per_subgoal=2))
    assert result["stop_reason"] == "planner_stop"
    assert _grounder_calls(log) == ["grounder:0"]  # no re-grounding
    assert sorted(log.calls()) == ["A", "B"]  # each exactly once
    assert _statuses(result) == ["success", "success", "skipped", "skipped", "skipped"]
    skipped = [o["output"] for o in result["observations"] if o["status"] == "skipped"]
    assert all("max_actions_per_subgoal" in text for text in skipped)


def test_cap_applies_to_tool_call_grounding() -> None:
    log = CallLog()
    calls = [{"name": "KnowledgeQuery", "args": {"query": c}, "id": f"c{c}"} for c in "ABC"]
    grounder = ToolCallingFake(messages=iter([AIMessage("", tool_calls=calls)]))
    agent = _agent(STOP_AFTER_ONE, grounder, log, grounding="tool_calls")
    result = agent.invoke("What is A?", context=LumosContext(max_actions_per_subgoal=1))
    assert log.calls() == ["A"]
    assert _statuses(result) == ["success", "skipped", "skipped"]
    assert result["stop_reason"] == "planner_stop"


def test_cap_applies_to_reviewed_edits() -> None:
    log = CallLog()
    agent = _agent(
        STOP_AFTER_ONE, ["R1 = KnowledgeQuery(A)"], log, review=["actions"], checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "cap"}}
    ctx = LumosContext(max_actions_per_subgoal=2)
    agent.invoke("What is A?", config, context=ctx)
    result = agent.invoke(Command(resume={"action": "edit", "actions": FIVE}), config, context=ctx)
    assert sorted(log.calls()) == ["A", "B"]
    assert _statuses(result) == ["success", "success", "skipped", "skipped", "skipped"]
    assert result["stop_reason"] == "planner_stop"


# -- scheduling: every conflicting pair is ordered -------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
async def test_reassignment_is_ordered(use_async: bool) -> None:
    log = CallLog()
    grounder = ["R1 = Calculator(1 + 1); R2 = Calculator(R1 * 10); R1 = Calculator(5 + 5)"]
    agent = _agent(["Subgoal 1: Compute."], grounder, log, mode="onetime")
    result = await agent.ainvoke("x") if use_async else agent.invoke("x")
    assert result["variables"]["R2"] == "20"  # the first R1, not the reassigned one
    assert result["variables"]["R1"] == "10"  # the later write wins
    assert [a["depends_on"] for a in result["actions"]] == [[], ["s0.g0.a1"], ["s0.g0.a1", "s0.g0.a2"]]


def test_an_order_only_dependency_on_a_failure_does_not_skip() -> None:
    log = CallLog()
    grounder = ["R1 = Flaky(x); R1 = Calculator(1 + 1); R2 = Calculator(R1 + 1)"]
    result = _agent(["Subgoal 1: Compute."], grounder, log, mode="onetime").invoke("x")
    assert _statuses(result) == ["error", "success", "success"]
    assert result["variables"]["R2"] == "3"


# -- tool errors -------------------------------------------------------------------------------


def _buggy(exc: Exception) -> BaseTool:
    def bug(query: str) -> str:
        """Has a bug."""
        raise exc

    return StructuredTool.from_function(bug, name="Bug")


def _run_bug(exc: Exception, **kw: Any) -> dict[str, Any]:
    log = CallLog()
    return _agent(["Subgoal 1: Go."], ["R1 = Bug(x)"], log, tools=[_buggy(exc)], mode="onetime", **kw).invoke(
        "x"
    )


def test_tool_errors_are_observations_by_default() -> None:
    result = _run_bug(RuntimeError("boom"))
    assert result["observations"][0]["output"] == "Error: RuntimeError: boom"


def test_handle_tool_errors_false_fails_fast() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _run_bug(RuntimeError("boom"), handle_tool_errors=False)
    # A ToolException is the tool's own "this did not work" for the agent: still an observation.
    result = _run_bug(ToolException("no such page"), handle_tool_errors=False)
    assert result["observations"][0]["output"] == "Error: ToolException: no such page"


def test_handle_tool_errors_forms() -> None:
    assert _run_bug(RuntimeError("boom"), handle_tool_errors="Try again.")["observations"][0]["output"] == (
        "Try again."
    )
    assert _run_bug(KeyError("k"), handle_tool_errors=(KeyError,))["observations"][0]["status"] == "error"
    with pytest.raises(RuntimeError):
        _run_bug(RuntimeError("boom"), handle_tool_errors=KeyError)

    def only_values(exc: ValueError) -> str:
        return f"Bad value: {exc}"

    assert _run_bug(ValueError("v"), handle_tool_errors=only_values)["observations"][0]["output"] == (
        "Bad value: v"
    )
    with pytest.raises(RuntimeError):
        _run_bug(RuntimeError("boom"), handle_tool_errors=only_values)
    with pytest.raises(TypeError, match="handle_tool_errors"):
        _run_bug(RuntimeError("boom"), handle_tool_errors=42)


def test_arguments_that_do_not_fit_are_observations_even_when_failing_fast() -> None:
    def double(n: int) -> int:
        """Doubles."""
        return 2 * n

    tool = StructuredTool.from_function(double, name="Double")
    log = CallLog()
    agent = _agent(
        ["Subgoal 1: Go."], ["R1 = Double(abc)"], log, tools=[tool], mode="onetime", handle_tool_errors=False
    )
    result = agent.invoke("x")
    assert result["observations"][0]["status"] == "error"
    assert "do not fit" in result["observations"][0]["output"]


@pytest.mark.parametrize("use_async", [False, True])
async def test_an_interrupt_in_the_final_qa_is_not_swallowed(use_async: bool) -> None:
    task = "What do we know about A?"

    def knowledge_query(query: str) -> str:
        """Capture the relevant webpages according to the query."""
        return f"Doc about {query}."

    def qa(context: list[str] | str, question: str) -> str:
        """Given context, answer the given query."""
        answer = interrupt({"confirm": question}) if question == task else "A"
        return f"Question: {question}; Answer: {answer}"

    tools = [
        StructuredTool.from_function(knowledge_query, name="KnowledgeQuery"),
        StructuredTool.from_function(qa, name="QA"),
    ]
    log = CallLog()
    graph = create_lumos_graph(
        scripted_model(STOP_AFTER_ONE, role="planner", log=log),
        scripted_model(["R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)"], log=log),
        tools,
        checkpointer=InMemorySaver(),
    )
    config: RunnableConfig = {"configurable": {"thread_id": f"qa-{use_async}"}}
    first = await graph.ainvoke({"task": task}, config) if use_async else graph.invoke({"task": task}, config)
    assert first["__interrupt__"][0].value == {"confirm": task}
    resume: Command[Any] = Command(resume="Confirmed")
    final = await graph.ainvoke(resume, config) if use_async else graph.invoke(resume, config)
    assert final["answer"] == "Confirmed"


# -- time limits and the tool thread pool ------------------------------------------------------


def _hanging(release: threading.Event, name: str = "Hang") -> tuple[BaseTool, BaseTool]:
    def hang(query: str) -> str:
        """Hangs until released."""
        release.wait(10)
        return "late"

    async def ahang(query: str) -> str:
        """Hangs until released."""
        await asyncio.sleep(10)
        return "late"

    return StructuredTool.from_function(hang, name=name), StructuredTool.from_function(
        coroutine=ahang, name=f"A{name}", description="Hangs."
    )


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_hanging_tool_becomes_an_observation(use_async: bool) -> None:
    release = threading.Event()
    log = CallLog()
    hang, ahang = _hanging(release)
    tools = [hang, ahang, *qa_tools(log)]
    # A coroutine-only tool cannot run in a sync run: there both hangs are sync.
    grounder = [f"R1 = Hang(x); R2 = {'AHang' if use_async else 'Hang'}(y); R3 = Calculator(1 + 2)"]
    agent = _agent(["Subgoal 1: Go."], grounder, log, tools=tools, mode="onetime")
    ctx = LumosContext(action_timeout_s=0.3)
    start = time.perf_counter()
    try:
        result = await agent.ainvoke("x", context=ctx) if use_async else agent.invoke("x", context=ctx)
    finally:
        release.set()
    assert time.perf_counter() - start < 3
    out = {o["action_id"]: o for o in result["observations"]}
    assert out["s0.g0.a1"]["output"] == "Error: Hang did not finish within 0.3 s (action_timeout_s)."
    name = "AHang" if use_async else "Hang"
    assert out["s0.g0.a2"]["output"] == f"Error: {name} did not finish within 0.3 s (action_timeout_s)."
    assert out["s0.g0.a3"]["status"] == "success"
    assert result["answer"] == "3"


async def test_time_limit_stops_a_running_tool_async() -> None:
    release = threading.Event()
    log = CallLog()
    agent = _agent(["Subgoal 1: Go."], ["R1 = Hang(x)"], log, tools=list(_hanging(release)), mode="onetime")
    start = time.perf_counter()
    try:
        result = await agent.ainvoke("x", context=LumosContext(time_limit_s=0.3, action_timeout_s=None))
    finally:
        release.set()
    assert time.perf_counter() - start < 3
    assert result["stop_reason"] == "budget:time_limit"
    assert "stopped by the run's time limit" in result["observations"][0]["output"]


async def test_sync_tools_do_not_queue_behind_hung_ones() -> None:
    # asyncio's default pool has min(32, cpus + 4) threads (6 here); eight hung sync tools
    # would starve the ninth, fast one until their timeout.
    release = threading.Event()
    log = CallLog()
    hang, _ = _hanging(release)
    grounder = ["; ".join(f"R{k} = Hang({k})" for k in range(1, 9)) + "; R9 = Calculator(2 + 2)"]
    agent = _agent(["Subgoal 1: Go."], grounder, log, tools=[hang, *qa_tools(log)], mode="onetime")
    try:
        result = await agent.ainvoke("x", context=LumosContext(action_timeout_s=2.0, tool_threads=16))
    finally:
        release.set()
    fast = next(o for o in result["observations"] if o["action_id"] == "s0.g0.a9")
    assert fast["status"] == "success" and fast["seconds"] < 1.0


# -- replies that are not plans or groundings: fed back, bounded retries -----------------------


def test_prose_tool_call_grounding_is_regrounded() -> None:
    log = CallLog()
    grounder = ToolCallingFake(
        messages=iter(
            [
                AIMessage("I think the answer is 4."),
                AIMessage("", tool_calls=[{"name": "Calculator", "args": {"formula": "2 + 2"}, "id": "c1"}]),
            ]
        )
    )
    agent = _agent(STOP_AFTER_ONE, grounder, log, grounding="tool_calls")
    result = agent.invoke("What is 2 + 2?")
    assert [a["attempt"] for a in result["actions"]] == [0, 1]
    assert result["observations"][0]["status"] == "error"
    assert "calls no tool" in result["grounder_turns"][2]["content"]
    assert result["answer"] == "4"


def test_prose_tool_call_grounding_retries_are_bounded() -> None:
    log = CallLog()
    grounder = ToolCallingFake(messages=iter([AIMessage(f"Prose {k}.") for k in range(10)]))
    agent = _agent(STOP_AFTER_ONE, grounder, log, grounding="tool_calls")
    result = agent.invoke("What is A?", context=LumosContext(max_regrounds=2))
    assert [a["attempt"] for a in result["actions"]] == [0, 1, 2]
    assert result["stop_reason"] == "planner_stop"
    assert log.calls() == []


def test_prose_plan_is_retried() -> None:
    log = CallLog()
    planner = ["I don't know.", "Subgoal 1: Compute.", "Yes, I will stop planning."]
    result = _agent(planner, ["R1 = Calculator(1 + 2)"], log).invoke("What is 1 + 2?")
    assert [s["text"] for s in result["subgoals"]] == ["Compute."]
    assert "neither a subgoal nor a stop" in result["planner_turns"][2]["content"]
    assert result["answer"] == "3" and result["stop_reason"] == "planner_stop"
    assert result["usage"]["planner"]["calls"] == 3


def test_prose_plan_retries_are_bounded() -> None:
    log = CallLog()
    agent = _agent(["I don't know."], ["R1 = Calculator(1 + 2)"], log)
    result = agent.invoke("What is 1 + 2?", context=LumosContext(max_plan_retries=2))
    assert result["stop_reason"] == "no_plan"
    assert result["subgoals"] == []
    assert len([k for k in log.calls("model", "call") if k.startswith("planner")]) == 3
    assert log.calls() == []


HANGING_FOREVER = """
import sys, time
sys.path.insert(0, {root!r})
from langchain_core.tools import StructuredTool
from langchain_lumos import LumosContext, create_lumos_agent
from langchain_lumos.testing import ScriptedLLM

def hang(query: str) -> str:
    \"\"\"Never returns.\"\"\"
    time.sleep(3600)
    return "never"

agent = create_lumos_agent(
    ScriptedLLM(responses=["Subgoal 1: Go."]),
    ScriptedLLM(responses=["R1 = Hang(x)"]),
    [StructuredTool.from_function(hang, name="Hang")],
    mode="onetime",
)
result = agent.invoke("x", context=LumosContext(action_timeout_s=0.2))
print(result["observations"][0]["output"])
"""


def test_an_abandoned_tool_call_does_not_block_process_exit(tmp_path: Any) -> None:
    root = str(Path(__file__).resolve().parents[3])
    script = tmp_path / "hang.py"
    script.write_text(HANGING_FOREVER.format(root=root), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "did not finish within 0.2 s" in done.stdout


# -- per-tool schemas are built once; the token counter hears model events only -------------


class _CountingTool(StructuredTool):
    """A tool counting how often its input schema is built."""

    builds: int = 0

    def get_input_schema(self, config: RunnableConfig | None = None) -> Any:
        self.builds += 1
        return super().get_input_schema(config)


def test_tool_argument_schemas_are_built_once_per_tool() -> None:
    def lookup(query: str) -> str:
        """Look a topic up."""
        return f"Doc about {query}."

    counted = _CountingTool.from_function(lookup, name="KnowledgeQuery")
    assert isinstance(counted, _CountingTool)
    grounder = ["R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B); R3 = KnowledgeQuery(C)"]
    agent = _agent(["Subgoal 1: Look up A to C"], grounder, CallLog(), tools=[counted], mode="onetime")
    agent.invoke("What is A?")
    builds = counted.builds
    result = agent.invoke("What is B?")
    assert [o["status"] for o in result["observations"]] == ["success"] * 3
    assert counted.builds == builds  # not rebuilt per action (nor per run)

    class Other(BaseModel):
        text: str

    counted.args_schema = Other  # a changed schema is read again
    result = agent.invoke("What is C?")
    assert counted.builds > builds
    assert all("text" in o["output"] and o["status"] == "error" for o in result["observations"])


def test_nested_token_counter_runs_inline_on_model_events_only() -> None:
    counter = NestedModelTokens()
    assert counter.run_inline
    assert counter.ignore_agent and counter.ignore_chain  # tool and chain events: no handler call
    assert not counter.ignore_llm and not counter.ignore_chat_model
