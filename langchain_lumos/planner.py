"""The planner node: writes the next subgoal (iterative) or every subgoal (one-time)."""

from __future__ import annotations

import time
from typing import Any, Final

from langchain_core.runnables import Runnable, RunnableConfig

from langchain_lumos.budgets import budget_exhausted
from langchain_lumos.events import emit
from langchain_lumos.model_calls import ModuleCall, ainvoke_module, invoke_module
from langchain_lumos.nodes import make_node, runtime_and_context
from langchain_lumos.parsing import parse_plan
from langchain_lumos.prompts import Turn, plan_feedback, plan_request
from langchain_lumos.setup import Setup
from langchain_lumos.state import LumosState, Subgoal, subgoal_result

__all__ = ["PLANNER", "create_planner_node", "feedback_value"]

PLANNER: Final = "planner"


def feedback_value(output: str) -> str:
    """The executed result as the evaluation scripts reported it: text after the last `=`."""
    return output.split("=")[-1].strip()


def _task(state: LumosState) -> str:
    task = state.get("task")
    if task:
        return task
    for message in reversed(state.get("messages", [])):
        if message.type == "human":
            return str(message.content)
    msg = "A Lumos run needs a task: pass {'task': ...} or a human message."
    raise ValueError(msg)


def _prepare(setup: Setup, state: LumosState) -> tuple[dict[str, Any], list[Turn] | None]:
    """Build the new planner turns, or an update that ends planning."""
    _, ctx = runtime_and_context()
    task = _task(state)
    update: dict[str, Any] = {}
    if not state.get("task"):
        update["task"] = task
    if not state.get("started_at"):
        update["started_at"] = time.time()
    subgoals = state.get("subgoals", [])
    limit = ctx.max_subgoals if ctx.max_subgoals is not None else setup.domain.max_subgoals
    if setup.mode == "iterative" and len(subgoals) >= limit:
        return {**update, "stop_reason": "budget:max_subgoals"}, None
    exhausted = budget_exhausted({**state, **update}, ctx)  # type: ignore[typeddict-item]
    if exhausted:
        return {**update, "stop_reason": exhausted}, None
    if not state.get("planner_turns"):
        return update, [plan_request(task)]
    last = subgoals[-1]
    result = subgoal_result(state, last["index"])
    value = feedback_value(result) if result is not None else "None"
    return update, [plan_feedback(setup.domain, last["index"], last["text"], value)]


def _apply(
    setup: Setup, state: LumosState, update: dict[str, Any], turns: list[Turn], call: ModuleCall
) -> dict[str, Any]:
    subgoals = state.get("subgoals", [])
    parsed = parse_plan(call.text, next_index=len(subgoals) + 1)
    update = {
        **update,
        "planner_turns": [*turns, Turn(role="assistant", content=call.text)],
        "usage": {"planner": call.usage},
    }
    if parsed.stop:
        emit("planning_stopped", output=call.text)
        return {**update, "stop_reason": "planner_stop"}
    if parsed.error:
        emit("plan_unreadable", output=call.text, error=parsed.error)
        return {**update, "stop_reason": "no_plan"}
    chosen = parsed.subgoals if setup.mode == "onetime" else parsed.subgoals[:1]
    new = [
        Subgoal(
            index=len(subgoals) + i + 1,
            text=s.text,
            line=call.text if setup.mode == "iterative" else s.line,
        )
        for i, s in enumerate(chosen)
    ]
    for subgoal in new:
        emit("subgoal_planned", index=subgoal["index"], subgoal=subgoal["text"])
    return {**update, "subgoals": new}


def create_planner_node(setup: Setup) -> Runnable[Any, Any]:
    """Build the planner node (sync and async)."""

    def _kwargs(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        _, ctx = runtime_and_context()
        tags, meta = setup.trace(PLANNER, subgoal_index=len(state.get("subgoals", [])) + 1)
        return {
            "config": config,
            "run_name": "lumos_plan",
            "tags": tags,
            "metadata": meta,
            "style": ctx.prompt_style,
            "exemplars": setup.domain.plan_exemplars,
        }

    def plan(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        update, turns = _prepare(setup, state)
        if turns is None:
            return update
        runtime, _ = runtime_and_context()
        model = setup.model(PLANNER, state, runtime)
        history = state.get("planner_turns", []) + turns
        call = invoke_module(model, history, **_kwargs(state, config))
        return _apply(setup, state, update, turns, call)

    async def aplan(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        update, turns = _prepare(setup, state)
        if turns is None:
            return update
        runtime, _ = runtime_and_context()
        model = setup.model(PLANNER, state, runtime)
        history = state.get("planner_turns", []) + turns
        call = await ainvoke_module(model, history, **_kwargs(state, config))
        return _apply(setup, state, update, turns, call)

    return make_node(plan, aplan, PLANNER)
