"""A new task on a finished thread starts a new episode; earlier ones stay readable."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import MemorySaver

from langchain_lumos.graph import create_lumos_graph
from langchain_lumos.testing import ScriptedLLM
from tests.unit_tests.runtime import CallLog, qa_tools

PLANNER = [
    "Subgoal 1: Look up A.",
    "Yes, I will stop planning.",
    "Subgoal 1: Look up B.",
    "Yes, I will stop planning.",
]
GROUNDER = ["R1 = KnowledgeQuery(A)", "R1 = KnowledgeQuery(B)"]


def _graph(log: CallLog) -> tuple[Any, ScriptedLLM]:
    planner = ScriptedLLM(responses=PLANNER, role="planner")
    grounder = ScriptedLLM(responses=GROUNDER, role="grounder")
    return create_lumos_graph(planner, grounder, qa_tools(log), checkpointer=MemorySaver()), planner


@pytest.mark.parametrize("use_messages", [False, True])
def test_a_new_task_on_a_finished_thread_starts_a_new_episode(use_messages: bool) -> None:
    log = CallLog()
    graph, planner = _graph(log)
    config: RunnableConfig = {"configurable": {"thread_id": "chat"}}
    first = graph.invoke({"task": "What is A?", "variables": {"Env": "page"}}, config)
    assert first["answer"] == "Doc about A." and first["stop_reason"] == "planner_stop"
    second_input: dict[str, Any] = (
        {"messages": [HumanMessage("And what is B?")]} if use_messages else {"task": "And what is B?"}
    )
    second = graph.invoke(second_input, config)
    assert second["task"] == "And what is B?"
    assert second["answer"] == "Doc about B." and second["stop_reason"] == "planner_stop"
    # A fresh plan: the planner saw only the new task, not the old feedback.
    prompt = planner.calls[2].prompt
    assert "And what is B?" in prompt and "What is A?" not in prompt
    assert [s["text"] for s in second["subgoals"]] == ["Look up B."]
    assert [a["text"] for a in second["actions"]] == ["R1 = KnowledgeQuery(B)"]
    assert len(second["observations"]) == 1 and len(second["planner_turns"]) == 4
    assert second["variables"] == {"Env": "page", "R1": "Doc about B."}  # inputs kept
    assert second["usage"]["planner"]["calls"] == 2  # this episode's budget
    # The previous episode is kept as history.
    [episode] = second["episodes"]
    assert episode["task"] == "What is A?" and episode["answer"] == "Doc about A."
    assert [a["text"] for a in episode["actions"]] == ["R1 = KnowledgeQuery(A)"]
    assert log.calls() == ["A", "B"]


async def test_new_episode_async_onetime() -> None:
    log = CallLog()
    planner = ScriptedLLM(responses=["Subgoal 1: Look up A.", "Subgoal 1: Look up B."], role="planner")
    grounder = ScriptedLLM(responses=GROUNDER, role="grounder")
    graph = create_lumos_graph(planner, grounder, qa_tools(log), mode="onetime", checkpointer=MemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": "o"}}
    await graph.ainvoke({"task": "What is A?"}, config)
    second = await graph.ainvoke({"task": "What is B?"}, config)
    assert second["answer"] == "Doc about B." and second["stop_reason"] == "plan_complete"
    assert [e["task"] for e in second["episodes"]] == ["What is A?"]
    third = await graph.ainvoke({"task": "What is B?"}, config)  # the same task asked again
    assert [e["task"] for e in third["episodes"]] == ["What is A?", "What is B?"]
    assert len(third["actions"]) == 1
