"""Budgets in `LumosContext` end runs gracefully, with `stop_reason` and an answer."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.language_models import FakeListLLM

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.context import LumosContext
from tests.unit_tests.runtime import CallLog, qa_tools, scripted_model

NEVER_STOPS = ["Subgoal 1: Look up A."] + [
    f"No, I will keep planning. Subgoal {k}: Look up more {k}." for k in range(2, 60)
]


def _agent(planner: list[str], grounder: list[str], log: CallLog, **kw: Any) -> Any:
    return create_lumos_agent(
        scripted_model(responses=planner, role="planner", log=log),
        scripted_model(responses=grounder, role="grounder", log=log),
        qa_tools(log, hook=kw.pop("hook", None)),
        **kw,
    )


def test_max_subgoals_stops_a_planner_that_never_stops() -> None:
    log = CallLog()
    grounder = [f"R{k} = KnowledgeQuery(topic {k})" for k in range(1, 60)]
    agent = _agent(NEVER_STOPS, grounder, log)
    result = agent.invoke("What is A?", context=LumosContext(max_subgoals=3))
    assert result["stop_reason"] == "budget:max_subgoals"
    assert len(result["subgoals"]) == 3
    assert log.calls() == ["topic 1", "topic 2", "topic 3"]
    assert result["answer"] == "Doc about topic 3."


def test_domain_cap_applies_without_max_subgoals() -> None:
    log = CallLog()
    agent = _agent(NEVER_STOPS, ["R1 = KnowledgeQuery(x)"], log, domain="complex_qa")
    result = agent.invoke("What is A?")
    assert result["stop_reason"] == "budget:max_subgoals"
    assert len(result["subgoals"]) == 5  # the complex-QA evaluation cap


def test_recursion_limit_ends_gracefully_when_the_planner_checks() -> None:
    log = CallLog()
    agent = _agent(NEVER_STOPS, ["R1 = KnowledgeQuery(x)"], log)
    result = agent.invoke("What is A?", {"recursion_limit": 13}, context=LumosContext(max_subgoals=50))
    assert result["stop_reason"] == "budget:recursion_limit"
    assert result["answer"] == "Doc about x."


def test_recursion_limit_never_raises() -> None:
    agent = _agent(NEVER_STOPS, ["R1 = KnowledgeQuery(x); R2 = QA([R1], Question: q?)"], CallLog())
    for limit in range(6, 31):
        result = agent.invoke("What is A?", {"recursion_limit": limit}, context=LumosContext(max_subgoals=50))
        assert result["stop_reason"] == "budget:recursion_limit", limit


def test_max_actions_per_subgoal() -> None:
    log = CallLog()
    grounder = [
        "R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B); R3 = KnowledgeQuery(C); R4 = KnowledgeQuery(D)"
    ]
    agent = _agent(["Subgoal 1: Look up A to D"], grounder, log, mode="onetime")
    result = agent.invoke("What is A?", context=LumosContext(max_actions_per_subgoal=2))
    assert result["stop_reason"] == "plan_complete"
    assert sorted(log.calls()) == ["A", "B"]
    statuses = {o["action_id"]: o["status"] for o in result["observations"]}
    assert statuses == {
        "s0.g0.a1": "success",
        "s0.g0.a2": "success",
        "s0.g0.a3": "skipped",
        "s0.g0.a4": "skipped",
    }
    over = [o for o in result["observations"] if o["status"] == "skipped"]
    assert all("budget of 2 actions" in o["output"] for o in over)
    assert result["answer"] == "Doc about B."


def test_max_regrounds_bounds_a_tool_that_always_fails() -> None:
    log = CallLog()
    agent = _agent(NEVER_STOPS, ["R1 = Flaky(x)"], log)
    result = agent.invoke("What is A?", context=LumosContext(max_subgoals=4, max_regrounds=2))
    assert result["stop_reason"] == "budget:max_subgoals"
    grounder_calls = [k for k in log.calls("model", "call") if k.startswith("grounder")]
    assert len(grounder_calls) == 4 * 3  # 4 subgoals x (1 grounding + 2 re-groundings)
    assert len(log.calls()) == 12
    assert {a["attempt"] for a in result["actions"]} == {0, 1, 2}
    assert result["answer"] is None  # nothing succeeded: nothing to answer from


def test_max_regrounds_zero_moves_on() -> None:
    log = CallLog()
    agent = _agent(["Subgoal 1: Look up A.", "Yes, I will stop planning."], ["R1 = Flaky(x)"], log)
    result = agent.invoke("What is A?", context=LumosContext(max_regrounds=0))
    assert result["stop_reason"] == "planner_stop"
    assert len(log.calls()) == 1


def test_max_model_tokens() -> None:
    log = CallLog()
    grounder = [f"R{k} = KnowledgeQuery(topic {k})" for k in range(1, 60)]
    agent = _agent(NEVER_STOPS, grounder, log)
    # Every scripted call costs 15 tokens; the budget is checked before each model call.
    # Planner 1, grounder 1, planner 2, grounder 2 (60 < 70) run and their actions
    # execute; planner 3 (75) is the last call.
    result = agent.invoke("What is A?", context=LumosContext(max_subgoals=50, max_model_tokens=70))
    assert result["stop_reason"] == "budget:max_model_tokens"
    usage = result["usage"]
    spent = sum(usage[m]["prompt_tokens"] + usage[m]["completion_tokens"] for m in ("planner", "grounder"))
    assert spent == 75
    assert log.calls() == ["topic 1", "topic 2"]
    assert result["answer"] == "Doc about topic 2."


def test_max_model_tokens_with_estimated_usage() -> None:
    # FakeListLLM reports no usage: the agent estimates tokens from the text.
    agent = create_lumos_agent(
        FakeListLLM(responses=NEVER_STOPS),
        FakeListLLM(responses=["R1 = KnowledgeQuery(x)"]),
        qa_tools(CallLog()),
    )
    result = agent.invoke("What is A?", context=LumosContext(max_subgoals=50, max_model_tokens=500))
    assert result["stop_reason"] == "budget:max_model_tokens"
    assert result["answer"] == "Doc about x."


def test_time_limit() -> None:
    log = CallLog()
    grounder = [f"R{k} = KnowledgeQuery(topic {k})" for k in range(1, 60)]

    def slow(key: str) -> None:
        time.sleep(0.3)

    agent = _agent(NEVER_STOPS, grounder, log, hook=slow)
    start = time.perf_counter()
    result = agent.invoke("What is A?", context=LumosContext(max_subgoals=50, time_limit_s=0.5))
    assert time.perf_counter() - start < 2.0
    assert result["stop_reason"] == "budget:time_limit"
    assert log.calls() == ["topic 1", "topic 2"]
    # The time limit stops the running call of topic 2: the answer comes from topic 1.
    assert "stopped by the run's time limit" in result["observations"][-1]["output"]
    assert result["answer"] == "Doc about topic 1."


def test_time_limit_skips_pending_actions_of_a_grounding() -> None:
    log = CallLog()

    def slow(key: str) -> None:
        time.sleep(0.4)

    grounder = ["R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)"]
    agent = _agent(["Subgoal 1: Look up A"], grounder, log, mode="onetime", hook=slow)
    start = time.perf_counter()
    result = agent.invoke("What is A?", context=LumosContext(time_limit_s=0.2))
    assert time.perf_counter() - start < 0.4  # the running call is stopped, not awaited
    assert result["stop_reason"] == "budget:time_limit"
    assert log.calls() == ["A"]
    statuses = {o["action_id"]: o["status"] for o in result["observations"]}
    assert statuses == {"s0.g0.a1": "error", "s0.g0.a2": "skipped"}
    assert result["answer"] is None


async def test_budgets_async() -> None:
    log = CallLog()
    agent = _agent(NEVER_STOPS, ["R1 = KnowledgeQuery(x)"], log)
    result = await agent.ainvoke("What is A?", context=LumosContext(max_subgoals=2))
    assert result["stop_reason"] == "budget:max_subgoals"
    assert result["answer"] == "Doc about x."
