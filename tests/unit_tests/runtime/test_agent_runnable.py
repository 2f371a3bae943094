"""`LumosAgent` follows Runnable conventions and behaves exactly as its graph does."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

from langchain_lumos.agent import LumosAgent, create_lumos_agent
from langchain_lumos.graph import create_lumos_graph
from langchain_lumos.state import LumosOutputState
from tests.unit_tests.runtime import CallLog, qa_tools, scripted_model

PLANNER = [
    "Subgoal 1: Look up A.",
    "No, I will keep planning. Subgoal 2: Look up B.",
    "Yes, I will stop planning.",
]
GROUNDER = ["R1 = KnowledgeQuery(A)", "R2 = KnowledgeQuery(B); R3 = QA([R1, R2], Question: Same?)"]


def _agent(**kwargs: Any) -> LumosAgent:
    log = kwargs.pop("log", CallLog())
    return create_lumos_agent(
        scripted_model(kwargs.pop("planner", PLANNER)),
        scripted_model(kwargs.pop("grounder", GROUNDER)),
        kwargs.pop("tools", None) or qa_tools(log),
        **kwargs,
    )


def _config(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


# -- one factory, one meaning ---------------------------------------------------------------


def test_agent_factory_takes_exactly_the_graph_factory_arguments() -> None:
    agent_params = inspect.signature(create_lumos_agent).parameters
    graph_params = inspect.signature(create_lumos_graph).parameters
    assert list(agent_params) == list(graph_params)
    assert all(agent_params[k].default == graph_params[k].default for k in graph_params)
    assert "handle_tool_errors" in agent_params  # a graph argument the old copy had missed
    agent = _agent(handle_tool_errors=False, name="mine")
    assert agent.name == agent.graph.get_name() == "mine"


class _SlowSaver(InMemorySaver):
    """Counts finished checkpoint writes; each takes 50 ms."""

    done = 0

    def put(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)
        out = super().put(*args, **kwargs)
        self.done += 1
        return out


def test_agent_and_its_graph_use_the_same_durability() -> None:
    saver = _SlowSaver()
    seen: list[int] = []
    agent = _agent(tools=qa_tools(CallLog(), hook=lambda _: seen.append(saver.done)), checkpointer=saver)

    def writes_before_each_tool(run: Any, thread: str, **kwargs: Any) -> list[int]:
        seen.clear()
        saver.done = 0
        run(_config(thread), **kwargs)
        return list(seen)

    via_agent = writes_before_each_tool(lambda c, **k: agent.invoke("Same?", c, **k), "agent")
    graph = agent.graph
    via_graph = writes_before_each_tool(lambda c, **k: graph.invoke({"task": "Same?"}, c, **k), "graph")
    sync = writes_before_each_tool(
        lambda c, **k: graph.invoke({"task": "Same?"}, c, **k), "sync", durability="sync"
    )
    # Every step is saved before the next starts, whichever way the run is called. (With
    # `durability="async"` the 50 ms writes lag behind the tools: each tool saw fewer.)
    assert via_agent == via_graph == sync
    assert via_agent[0] > 0


# -- streaming composes ----------------------------------------------------------------------


def test_default_stream_yields_states_ending_with_the_invoke_result() -> None:
    result = _agent().invoke("Same?")
    chunks = list(_agent().stream("Same?"))
    assert len(chunks) > 2
    assert all(set(c) <= set(LumosOutputState.__annotations__) for c in chunks)
    assert len(chunks[1]["subgoals"]) == 1  # progress: the state after the first step
    last = chunks[-1]
    assert set(last) == set(result)
    for key in ("task", "answer", "stop_reason", "subgoals", "actions", "variables"):
        assert last[key] == result[key], key
    assert [o["output"] for o in last["observations"]] == [o["output"] for o in result["observations"]]


def test_agent_streams_inside_an_lcel_chain() -> None:
    chain: Any = (
        RunnableLambda(lambda q: {"task": q.strip()}) | _agent() | RunnableLambda(lambda r: r["answer"])
    )
    expected = chain.invoke("  Same?  ")
    assert expected == "answer to Same?"
    assert list(chain.stream("  Same?  "))[-1] == expected

    async def collect() -> list[Any]:
        return [c async for c in chain.astream("  Same?  ")]

    assert asyncio.run(collect())[-1] == expected


def test_typed_events_through_an_explicit_stream_mode() -> None:
    events = list(_agent().stream("Same?", stream_mode="custom"))
    assert events[0]["event"] == "subgoal_planned"
    assert events[-1]["event"] == "final_answer"


def test_interrupt_chunk_streams_like_invoke() -> None:
    agent = _agent(review=("plan",), checkpointer=InMemorySaver())
    last = list(agent.stream("Same?", _config("t")))[-1]
    assert last["__interrupt__"][0].value["type"] == "plan_review"
    assert last["subgoals"][0]["text"] == "Look up A."


# -- schemas, inputs, drawing -----------------------------------------------------------------


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A run's output without what differs between runs (timings, message ids)."""
    out = {k: v for k, v in result.items() if k not in ("usage", "observations", "messages")}
    out["observations"] = [(o["action_id"], o["status"], o["output"]) for o in result["observations"]]
    out["messages"] = [(m.type, m.content) for m in result.get("messages", [])]
    if "__interrupt__" in result:
        out["__interrupt__"] = [(i.value, i.id) for i in result["__interrupt__"]]
    return out


@pytest.mark.parametrize("review", [(), ("plan",)])
def test_invoke_returns_what_the_graphs_default_invoke_returns(review: tuple[str, ...]) -> None:
    """The agent asks LangGraph for the values only (`version="v2"`); the result is v1's, interrupts included."""
    agent = _agent(review=review, checkpointer=InMemorySaver() if review else None)
    config = _config("t") if review else None
    ours = agent.invoke("Same?", config)
    theirs = agent.graph.invoke({"task": "Same?"}, _config("u") if review else None)
    assert ("__interrupt__" in ours) is bool(review)
    expected = _comparable(theirs)
    if review:  # interrupt ids hash the thread's checkpoint namespace: compare the values
        expected["__interrupt__"] = [(v, None) for v, _ in expected["__interrupt__"]]
        got = _comparable(ours)
        got["__interrupt__"] = [(v, None) for v, _ in got["__interrupt__"]]
        assert got == expected
    else:
        assert _comparable(ours) == expected
    assert _comparable(asyncio.run(_agent().ainvoke("Same?"))) == _comparable(_agent().invoke("Same?"))


def test_invoke_passes_a_callers_stream_mode_on() -> None:
    chunks = _agent().invoke("Same?", stream_mode="updates")
    assert isinstance(chunks, list)
    assert "planner" in chunks[0]


def test_output_schema_is_the_lumos_output_state() -> None:
    agent = _agent()
    assert agent.OutputType is LumosOutputState
    schema: Any = agent.get_output_schema()
    properties = schema.model_json_schema()["properties"]
    assert {"answer", "stop_reason", "subgoals", "actions", "observations", "usage"} <= set(properties)
    same: Any = agent.output_schema
    assert same.model_json_schema()["properties"] == properties


@pytest.mark.parametrize(
    "messages",
    [
        [("user", "Same?")],
        [{"role": "user", "content": "Same?"}],
        [("system", "Be brief."), ("human", "Same?")],
    ],
)
def test_message_tuples_and_dicts_are_accepted(messages: list[Any]) -> None:
    result = _agent().invoke(messages)
    assert result["task"] == "Same?"
    assert result["answer"] == "answer to Same?"


def test_get_graph_passes_xray_through() -> None:
    agent = _agent()
    assert set(agent.get_graph(xray=1).nodes) == set(agent.graph.get_graph(xray=1).nodes)
    assert "planner" in agent.get_graph(xray=True).nodes


# -- as a tool ----------------------------------------------------------------------------------


def test_as_tool_matches_the_runnable_signature() -> None:
    ours = inspect.signature(LumosAgent.as_tool)
    theirs = inspect.signature(Runnable.as_tool)
    assert list(ours.parameters) == list(theirs.parameters)
    assert all(ours.parameters[k].kind == theirs.parameters[k].kind for k in theirs.parameters)


def test_tool_returns_the_answer_with_subgoals_and_evidence() -> None:
    tool = _agent().as_tool(name="research", description="Research a question.")
    assert tool.name == "research"
    content = tool.invoke({"task": "Same?"})
    assert content.splitlines() == [
        "answer to Same?",
        "Subgoals and evidence:",
        "1. Look up A. -> Doc about A.",
        "2. Look up B. -> Question: Same?; Answer: answer to Same?",  # its last action's output
    ]
    message = tool.invoke({"name": "research", "args": {"task": "Same?"}, "id": "c1", "type": "tool_call"})
    assert isinstance(message, ToolMessage)
    assert message.artifact["answer"] == "answer to Same?"
    assert [s["text"] for s in message.artifact["subgoals"]] == ["Look up A.", "Look up B."]


def test_tool_without_an_answer_says_so() -> None:
    tool = _agent(planner=[""]).as_tool()
    content = tool.invoke({"task": "Same?"})
    assert content != "None"
    assert content.startswith("No answer found (stopped: no_plan)")


def test_tool_of_a_checkpointed_agent_runs_each_call_on_a_fresh_thread() -> None:
    saver = InMemorySaver()
    tool = _agent(checkpointer=saver).as_tool()
    first = tool.invoke({"task": "Same?"})
    second = tool.invoke({"task": "Same?"}, {"configurable": {"thread_id": "the-callers-thread"}})
    assert first == second  # no second episode piled onto the first one's state
    threads = {c.config["configurable"]["thread_id"] for c in saver.list(None)}
    assert len(threads) == 2
    assert "the-callers-thread" not in threads


async def test_async_tool() -> None:
    content = await _agent().as_tool().ainvoke({"task": "Same?"})
    assert content.startswith("answer to Same?")
