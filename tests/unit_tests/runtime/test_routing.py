"""Nodes that route themselves (`Command`) decide on exactly the state a conditional edge reads."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Overwrite

from langchain_lumos.nodes import make_node
from langchain_lumos.state import LumosState, state_keys, updated_state

_BEFORE: dict[str, Any] = {
    "task": "t",
    "messages": [HumanMessage("t", id="h1")],
    "actions": [{"id": "a1"}],
    "observations": [{"action_id": "a1"}],
    "variables": {"R1": 1},
    "usage": {"planner": {"calls": 1, "prompt_tokens": 5}},
}
_UPDATE: dict[str, Any] = {
    "actions": [{"id": "a2"}],
    "observations": Overwrite([{"action_id": "a2"}]),
    "variables": {"R2": 2},
    "usage": {"planner": {"calls": 1}, "grounder": {"calls": 1}},
    "messages": [AIMessage("done", id="m1")],
    "answer": "done",
}


def _graph(routed: bool, seen: list[dict[str, Any]]) -> Any:
    def route(state: Any, runtime: Any = None) -> str:
        seen.append({k: v for k, v in state.items() if k != "remaining_steps"})
        return END

    def first(state: LumosState) -> dict[str, Any]:
        return _BEFORE

    def second(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        return _UPDATE

    builder = StateGraph(LumosState)
    builder.add_node("first", first)
    if routed:
        builder.add_node("second", make_node(second, None, "second", route=route), destinations=(END,))
    else:
        builder.add_node("second", second)
        builder.add_conditional_edges("second", route, [END])
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    return builder.compile()


def test_a_routed_node_sees_what_a_conditional_edge_reads() -> None:
    edge: list[dict[str, Any]] = []
    node: list[dict[str, Any]] = []
    _graph(False, edge).invoke({"task": "t"})
    _graph(True, node).invoke({"task": "t"})
    assert node == edge
    assert node[0]["observations"] == [{"action_id": "a2"}]  # Overwrite replaced the list
    assert node[0]["usage"] == {"planner": {"calls": 2, "prompt_tokens": 5}, "grounder": {"calls": 1}}
    assert [m.id for m in node[0]["messages"]] == ["h1", "m1"]


def test_updated_state_applies_reducers_without_touching_the_state() -> None:
    state: dict[str, Any] = {"actions": [{"id": "a1"}], "variables": {"R1": 1}}
    view = updated_state(state, {"actions": [{"id": "a2"}], "variables": {"R2": 2}, "answer": "x"})  # type: ignore[arg-type]
    assert view["actions"] == [{"id": "a1"}, {"id": "a2"}] and view["variables"] == {"R1": 1, "R2": 2}
    assert state == {"actions": [{"id": "a1"}], "variables": {"R1": 1}}
    assert "remaining_steps" in state_keys() and "observations" in state_keys()
