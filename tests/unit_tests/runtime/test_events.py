"""Typed module events from `agent.stream(x, stream_mode="custom")` / `astream()`."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import FakeListLLM

from langchain_lumos.agent import create_lumos_agent
from tests.unit_tests.runtime import CallLog, qa_tools

ITERATIVE_PLANNER = ["Subgoal 1: Look up A.", "Yes, I will stop planning."]
ITERATIVE_GROUNDER = ["R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)"]
ONETIME_PLANNER = ["Subgoal 1: Look up A; Subgoal 2: Look up B; Subgoal 3: Compare them"]
ONETIME_GROUNDER = ["R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B); R3 = QA([R1, R2], Question: Same?)"]


def _iterative() -> Any:
    return create_lumos_agent(
        FakeListLLM(responses=ITERATIVE_PLANNER),
        FakeListLLM(responses=ITERATIVE_GROUNDER),
        qa_tools(CallLog()),
        mode="iterative",
    )


def _onetime() -> Any:
    return create_lumos_agent(
        FakeListLLM(responses=ONETIME_PLANNER),
        FakeListLLM(responses=ONETIME_GROUNDER),
        qa_tools(CallLog()),
        mode="onetime",
    )


def _names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


ITERATIVE_EVENTS = [
    "subgoal_planned",
    "actions_grounded",
    "action_started",
    "action_finished",
    "action_started",
    "action_finished",
    "planning_stopped",
    "final_answer",
]


def _check_iterative(events: list[dict[str, Any]]) -> None:
    assert all(isinstance(e, dict) and "event" in e for e in events)
    assert _names(events) == ITERATIVE_EVENTS
    assert events[0] == {"event": "subgoal_planned", "index": 1, "subgoal": "Look up A."}
    assert events[1]["subgoal"] == 1
    assert events[1]["actions"] == ["R1 = KnowledgeQuery(A)", "R2 = QA([R1], Question: What is A?)"]
    assert events[2] == {
        "event": "action_started",
        "action_id": "s1.g0.a1",
        "action": "R1 = KnowledgeQuery(A)",
    }
    assert events[3]["status"] == "success"
    assert events[3]["observation"] == "Doc about A."
    assert events[5]["action_id"] == "s1.g0.a2"
    assert events[-1] == {
        "event": "final_answer",
        "answer": "answer to What is A?",
        "stop_reason": "planner_stop",
    }


def _check_onetime(events: list[dict[str, Any]]) -> None:
    names = _names(events)
    assert names[:4] == ["subgoal_planned"] * 3 + ["actions_grounded"]
    assert [e["index"] for e in events[:3]] == [1, 2, 3]
    # R1 and R2 are independent (started before either finished, any order); R3 after both.
    middle = events[4:8]
    assert sorted(_names(middle)) == ["action_finished"] * 2 + ["action_started"] * 2
    assert {e["action_id"] for e in middle} == {"s0.g0.a1", "s0.g0.a2"}
    for action_id in ("s0.g0.a1", "s0.g0.a2"):
        kinds = [e["event"] for e in middle if e["action_id"] == action_id]
        assert kinds == ["action_started", "action_finished"]
    assert names[8:] == ["action_started", "action_finished", "final_answer"]
    assert events[8]["action_id"] == "s0.g0.a3"
    assert events[-1]["stop_reason"] == "plan_complete"
    assert events[-1]["answer"] == "answer to What do they share?"


def test_iterative_stream_events() -> None:
    _check_iterative(list(_iterative().stream("What is A?", stream_mode="custom")))


def test_onetime_stream_events() -> None:
    _check_onetime(list(_onetime().stream("What do they share?", stream_mode="custom")))


async def test_iterative_astream_events() -> None:
    _check_iterative([e async for e in _iterative().astream("What is A?", stream_mode="custom")])


async def test_onetime_astream_events() -> None:
    _check_onetime([e async for e in _onetime().astream("What do they share?", stream_mode="custom")])


def test_stream_other_modes_pass_through() -> None:
    chunks = list(_iterative().stream("What is A?", stream_mode=["custom", "updates"]))
    modes = {mode for mode, _ in chunks}
    assert modes == {"custom", "updates"}
    updates = [c for mode, c in chunks if mode == "updates"]
    assert any("finalize" in u for u in updates)


def test_failed_action_and_regrounding_events() -> None:
    agent = create_lumos_agent(
        FakeListLLM(responses=["Subgoal 1: Look up A.", "Yes, I will stop planning."]),
        FakeListLLM(responses=["R1 = Flaky(A)", "R1 = KnowledgeQuery(A)"]),
        qa_tools(CallLog()),
        mode="iterative",
    )
    events = list(agent.stream("What is A?", stream_mode="custom"))
    names = _names(events)
    assert names.index("regrounded") > names.index("actions_grounded")
    failed = next(e for e in events if e["event"] == "action_finished")
    assert failed["status"] == "error"
    assert "Flaky failed" in failed["observation"]
    regrounded = next(e for e in events if e["event"] == "regrounded")
    assert regrounded["actions"] == ["R1 = KnowledgeQuery(A)"]


def test_unreadable_plan_event() -> None:
    agent = create_lumos_agent(
        FakeListLLM(responses=[""]),
        FakeListLLM(responses=["R1 = KnowledgeQuery(A)"]),
        qa_tools(CallLog()),
        mode="iterative",
    )
    events = list(agent.stream("What is A?", stream_mode="custom"))
    # The planner is asked again `max_plan_retries` times (default 2), then the run ends.
    assert _names(events) == ["plan_retry", "plan_retry", "plan_unreadable", "final_answer"]
    assert [e["attempt"] for e in events[:2]] == [1, 2]
    assert events[-1]["stop_reason"] == "no_plan"
