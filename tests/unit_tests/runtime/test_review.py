"""Human review: approve / edit / reject the plan and the grounded actions (interrupts)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

from langchain_lumos.agent import create_lumos_agent
from tests.unit_tests.runtime import CallLog, qa_tools, scripted_model

ONETIME_PLANNER = ["Subgoal 1: Look up A; Subgoal 2: Look up B; Subgoal 3: Compare"]
ONETIME_GROUNDER = ["R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B); R3 = QA([R1, R2], Question: Same?)"]
ITER_PLANNER = [
    "Subgoal 1: Look up A.",
    "No, I will keep planning. Subgoal 2: Look up B.",
    "Yes, I will stop planning.",
]
ITER_GROUNDER = ["R1 = KnowledgeQuery(A)", "R2 = KnowledgeQuery(B); R3 = QA([R1, R2], Question: Same?)"]


def _agent(mode: str, review: tuple[str, ...], log: CallLog, tools: list[Any] | None = None) -> Any:
    planner, grounder = (
        (ONETIME_PLANNER, ONETIME_GROUNDER) if mode == "onetime" else (ITER_PLANNER, ITER_GROUNDER)
    )
    return create_lumos_agent(
        scripted_model(responses=planner, role="planner", log=log),
        scripted_model(responses=grounder, role="grounder", log=log),
        tools or qa_tools(log),
        mode=mode,
        review=review,
        checkpointer=InMemorySaver(),
    )


def _config(thread: str = "t1") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def _interrupt(result: dict[str, Any]) -> dict[str, Any]:
    interrupts = result.get("__interrupt__")
    assert interrupts, f"expected an interrupt, got {result.keys()}"
    assert len(interrupts) == 1
    return interrupts[0].value


# -- plan review ---------------------------------------------------------------------------


def test_onetime_plan_approve() -> None:
    log = CallLog()
    agent = _agent("onetime", ("plan",), log)
    paused = agent.invoke("Are A and B the same?", _config())
    request = _interrupt(paused)
    assert request["type"] == "plan_review"
    assert request["subgoals"] == ["Look up A", "Look up B", "Compare"]
    assert log.calls() == []  # nothing ran before the review
    assert [k for k in log.calls("model", "call") if k.startswith("grounder")] == []
    result = agent.invoke(Command(resume="approve"), _config())
    assert result["stop_reason"] == "plan_complete"
    assert result["answer"] == "answer to Are A and B the same?"
    assert sorted(log.calls()) == ["A", "Are A and B the same?", "B"]
    assert log.calls("model", "call").count("planner:0") == 1  # the planner is not re-run


def test_onetime_plan_edit() -> None:
    log = CallLog()
    agent = _agent("onetime", ("plan",), log)
    _interrupt(agent.invoke("Are A and B the same?", _config()))
    edit = {"action": "edit", "subgoals": ["Look up B", "Answer"]}
    result = agent.invoke(Command(resume=edit), _config())
    assert [s["text"] for s in result["subgoals"]] == ["Look up B", "Answer"]
    assert result["subgoals"][1]["index"] == 2
    assert result["planner_turns"][-1]["content"] == "Subgoal 1: Look up B; Subgoal 2: Answer"
    # The grounder was asked the edited plan.
    assert (
        "Subgoals to be grounded: Subgoal 1: Look up B; Subgoal 2: Answer"
        in result["grounder_turns"][0]["content"]
    )


def test_onetime_plan_reject() -> None:
    log = CallLog()
    agent = _agent("onetime", ("plan",), log)
    _interrupt(agent.invoke("Are A and B the same?", _config()))
    result = agent.invoke(Command(resume={"action": "reject", "reason": "no"}), _config())
    assert result["stop_reason"] == "review:rejected"
    assert result["answer"] is None
    assert log.calls() == []
    assert [k for k in log.calls("model", "call") if k.startswith("grounder")] == []


def test_iterative_plan_review_each_subgoal() -> None:
    log = CallLog()
    agent = _agent("iterative", ("plan",), log)
    first = _interrupt(agent.invoke("Are A and B the same?", _config()))
    assert first["subgoals"] == ["Look up A."]
    second = _interrupt(agent.invoke(Command(resume="approve"), _config()))
    assert second["subgoals"] == ["Look up B."]
    assert log.calls() == ["A"]
    result = agent.invoke(Command(resume={"action": "edit", "subgoal": "Look up C."}), _config())
    assert "__interrupt__" not in result
    assert [s["text"] for s in result["subgoals"]] == ["Look up A.", "Look up C."]
    assert result["subgoals"][1]["line"] == "No, I will keep planning. Subgoal 2: Look up C."
    assert result["stop_reason"] == "planner_stop"
    # Each tool call ran once across the three invocations (the grounder script is fixed).
    assert log.calls() == ["A", "B", "Same?", "Are A and B the same?"]
    # The grounder saw the edited subgoal.
    assert "Subgoal to be grounded: Subgoal 2: Look up C." in result["grounder_turns"][2]["content"]


def test_iterative_plan_reject_later_subgoal_answers_from_what_it_has() -> None:
    log = CallLog()
    agent = _agent("iterative", ("plan",), log)
    _interrupt(agent.invoke("What is A?", _config()))
    _interrupt(agent.invoke(Command(resume=True), _config()))
    result = agent.invoke(Command(resume="reject"), _config())
    assert result["stop_reason"] == "review:rejected"
    assert result["answer"] == "Doc about A."
    assert log.calls() == ["A"]


# -- actions review ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["onetime", "iterative"])
def test_actions_approve_runs_each_action_once(mode: str) -> None:
    log = CallLog()
    agent = _agent(mode, ("actions",), log)
    request = _interrupt(agent.invoke("Are A and B the same?", _config()))
    assert request["type"] == "actions_review"
    if mode == "onetime":
        assert request["actions"] == ONETIME_GROUNDER[0].split("; ")
        assert log.calls() == []
        result = agent.invoke(Command(resume="approve"), _config())
    else:
        assert request["actions"] == ["R1 = KnowledgeQuery(A)"]
        second = _interrupt(agent.invoke(Command(resume="approve"), _config()))
        assert second["actions"] == ITER_GROUNDER[1].split("; ")
        assert log.calls() == ["A"]
        result = agent.invoke(Command(resume="approve"), _config())
    assert "__interrupt__" not in result
    counts = {k: log.calls().count(k) for k in log.calls()}
    assert set(counts.values()) == {1}, counts
    assert {"A", "B"} <= set(counts)


def test_actions_edit_and_reject() -> None:
    log = CallLog()
    agent = _agent("onetime", ("actions",), log)
    _interrupt(agent.invoke("Are A and B the same?", _config()))
    edit = {"action": "edit", "actions": ["R1 = KnowledgeQuery(Z)", "R2 = QA([R1], Question: Z?)"]}
    result = agent.invoke(Command(resume=edit), _config())
    assert [a["text"] for a in result["actions"]] == ["R1 = KnowledgeQuery(Z)", "R2 = QA([R1], Question: Z?)"]
    assert sorted(log.calls()) == ["Are A and B the same?", "Z"]
    assert result["grounder_turns"][-1]["content"] == "R1 = KnowledgeQuery(Z); R2 = QA([R1], Question: Z?)"

    log2 = CallLog()
    agent = _agent("onetime", ("actions",), log2)
    _interrupt(agent.invoke("Are A and B the same?", _config("t2")))
    result = agent.invoke(Command(resume="reject"), _config("t2"))
    assert result["stop_reason"] == "review:rejected"
    assert log2.calls() == []


def test_plan_and_actions_review_together() -> None:
    log = CallLog()
    agent = _agent("onetime", ("plan", "actions"), log)
    assert _interrupt(agent.invoke("Are A and B the same?", _config()))["type"] == "plan_review"
    assert _interrupt(agent.invoke(Command(resume="approve"), _config()))["type"] == "actions_review"
    result = agent.invoke(Command(resume="approve"), _config())
    assert result["stop_reason"] == "plan_complete"
    assert sorted(log.calls()) == ["A", "Are A and B the same?", "B"]


@pytest.mark.parametrize(
    "bad",
    ["maybe", {"action": "approve-ish"}, {"action": "edit"}, {"action": "edit", "subgoals": []}, 42],
)
def test_bad_plan_decision_keeps_the_review_open(bad: Any) -> None:
    log = CallLog()
    agent = _agent("onetime", ("plan",), log)
    first = _interrupt(agent.invoke("Are A and B the same?", _config()))
    again = _interrupt(agent.invoke(Command(resume=bad), _config()))
    assert again["type"] == "plan_review"
    assert again["subgoals"] == first["subgoals"]
    assert "answer this review again" in again["error"]
    assert log.calls() == []  # nothing ran on the bad decision
    # A second bad one is answered the same way; then "approve" goes on as usual.
    assert "error" in _interrupt(agent.invoke(Command(resume="nope"), _config()))
    result = agent.invoke(Command(resume="approve"), _config())
    assert result["stop_reason"] == "plan_complete"
    assert sorted(log.calls()) == ["A", "Are A and B the same?", "B"]


def test_bad_plan_edit_then_a_valid_edit() -> None:
    agent = _agent("onetime", ("plan",), CallLog())
    _interrupt(agent.invoke("Are A and B the same?", _config()))
    error = _interrupt(agent.invoke(Command(resume={"action": "edit"}), _config()))["error"]
    assert "needs 'subgoals'" in error
    edit = {"action": "edit", "subgoals": ["Look up B", "Answer"]}
    result = agent.invoke(Command(resume=edit), _config())
    assert [s["text"] for s in result["subgoals"]] == ["Look up B", "Answer"]


@pytest.mark.parametrize("bad", [{"action": "edit"}, {"action": "edit", "actions": "not an action"}, "maybe"])
def test_bad_actions_decision_keeps_the_review_open(bad: Any) -> None:
    log = CallLog()
    agent = _agent("onetime", ("actions",), log)
    first = _interrupt(agent.invoke("Are A and B the same?", _config()))
    again = _interrupt(agent.invoke(Command(resume=bad), _config()))
    assert again["type"] == "actions_review"
    assert again["actions"] == first["actions"]
    assert again["error"]
    assert log.calls() == []
    result = agent.invoke(Command(resume="approve"), _config())
    assert result["stop_reason"] == "plan_complete"
    assert sorted(log.calls()) == ["A", "Are A and B the same?", "B"]


def test_review_without_a_checkpointer_is_a_clear_error() -> None:
    agent = create_lumos_agent(
        scripted_model(ONETIME_PLANNER),
        scripted_model(ONETIME_GROUNDER),
        qa_tools(CallLog()),
        review=("plan",),
    )
    with pytest.raises(ValueError, match="needs a checkpointer"):
        agent.invoke("Are A and B the same?")


# -- an interrupt inside one action of a batch ---------------------------------------------


def test_interrupt_inside_a_tool_never_reruns_siblings() -> None:
    log = CallLog()

    def confirm(query: str) -> str:
        """Ask a human to confirm."""
        log.write("tool", f"confirm:{query}", "start")
        answer = interrupt({"type": "confirm", "query": query})
        log.write("tool", f"confirm:{query}", "end")
        return f"confirmed {query}: {answer}"

    tools = [*qa_tools(log), StructuredTool.from_function(confirm, name="Confirm")]
    planner = ["Subgoal 1: Look up A and B and confirm"]
    grounder = [
        "R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B); R3 = Confirm(go); R4 = QA([R1, R2, R3], Question: q)"
    ]
    agent = create_lumos_agent(
        scripted_model(responses=planner),
        scripted_model(responses=grounder),
        tools,
        mode="onetime",
        checkpointer=InMemorySaver(),
    )
    paused = agent.invoke("Are A and B the same?", _config())
    assert _interrupt(paused) == {"type": "confirm", "query": "go"}
    assert sorted(log.calls()) == ["A", "B", "confirm:go"]
    result = agent.invoke(Command(resume="yes"), _config())
    # The interrupted tool restarts (LangGraph re-runs the interrupted task); A and B never.
    assert sorted(log.calls()) == ["A", "Are A and B the same?", "B", "confirm:go", "confirm:go"]
    assert result["variables"]["R3"] == "confirmed go: yes"
    assert result["stop_reason"] == "plan_complete"


# -- review points chosen per run ----------------------------------------------------------


def _run_approving(agent: Any, task: str, context: Any, thread: str = "per-run") -> tuple[Any, list[str]]:
    """Run to the end, approving each review (every resume passes the same context)."""
    seen: list[str] = []
    result = agent.invoke(task, _config(thread), context=context)
    while result.get("__interrupt__"):
        seen.append(_interrupt(result)["type"])
        result = agent.invoke(Command(resume="approve"), _config(thread), context=context)
    return result, seen


@pytest.mark.parametrize(
    ("review", "expected"),
    [
        (None, ["plan_review", "actions_review"]),
        ((), []),
        (("actions",), ["actions_review"]),
        (["plan"], ["plan_review"]),
    ],
)
def test_review_points_switch_per_run(review: Any, expected: list[str]) -> None:
    from langchain_lumos.context import LumosContext

    log = CallLog()
    agent = _agent("onetime", ("plan", "actions"), log)
    result, seen = _run_approving(agent, "Are A and B the same?", LumosContext(review=review))
    assert seen == expected
    assert result["stop_reason"] == "plan_complete"
    assert result["answer"] == "answer to Are A and B the same?"


def test_a_resume_with_the_review_point_off_goes_on() -> None:
    log = CallLog()
    agent = _agent("onetime", ("plan", "actions"), log)
    assert _interrupt(agent.invoke("Are A and B the same?", _config("off")))["type"] == "plan_review"
    result = agent.invoke(Command(resume="ignored"), _config("off"), context={"review": []})
    assert "__interrupt__" not in result
    assert result["answer"] == "answer to Are A and B the same?"


def test_review_off_needs_no_checkpointer() -> None:
    from langchain_lumos.context import LumosContext

    log = CallLog()
    agent = create_lumos_agent(
        scripted_model(responses=ONETIME_PLANNER, role="planner", log=log),
        scripted_model(responses=ONETIME_GROUNDER, role="grounder", log=log),
        qa_tools(log),
        mode="onetime",
        review=("plan", "actions"),
    )
    result = agent.invoke("Are A and B the same?", context={"review": []})
    assert result["answer"] == "answer to Are A and B the same?"
    with pytest.raises(ValueError, match="needs a checkpointer"):
        agent.invoke("Are A and B the same?", context=LumosContext(review=("plan",)))


def test_graph_bound_default_review_points() -> None:
    from langchain_lumos.review import REVIEW_CONFIG_KEY

    log = CallLog()
    graph = _agent("onetime", ("plan", "actions"), log).graph
    graph = graph.with_config(configurable={REVIEW_CONFIG_KEY: ["actions"]})
    paused = graph.invoke({"task": "Are A and B the same?"}, _config("bound"))
    assert _interrupt(paused)["type"] == "actions_review"  # the plan review passed through
    paused = graph.invoke({"task": "Are A and B the same?"}, _config("ctx"), context={"review": ["plan"]})
    assert _interrupt(paused)["type"] == "plan_review"  # the run context wins


def test_review_context_is_checked() -> None:
    from langchain_lumos.context import LumosContext

    assert LumosContext(review=["actions", "plan", "plan"]).review == ("plan", "actions")  # type: ignore[arg-type]
    for bad in ("plan", ["plan", "everything"], [1], {"plan": True}):
        with pytest.raises(ValueError, match="review takes"):
            LumosContext(review=bad)  # type: ignore[arg-type]
