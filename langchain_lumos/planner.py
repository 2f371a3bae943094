"""The planner node: writes the next subgoal (iterative) or every subgoal (one-time)."""

from __future__ import annotations

import re
import time
from typing import Any, Final

from langchain_core.language_models import BaseLanguageModel
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from langchain_lumos.budgets import budget_exhausted
from langchain_lumos.context import LumosContext
from langchain_lumos.events import emit
from langchain_lumos.executor import FINALIZE, final_answer_update, needs_final_qa
from langchain_lumos.model_calls import ModuleCall, ainvoke_module, invoke_module, supports_grammar
from langchain_lumos.nodes import Route, make_node, runtime_and_context
from langchain_lumos.parsing import PlanParse, parse_plan
from langchain_lumos.prompts import Turn, feedback_result, plan_feedback, plan_request
from langchain_lumos.setup import Setup
from langchain_lumos.state import Episode, LumosState, Subgoal

__all__ = ["PLANNER", "PLAN_RETRY", "create_planner_node", "route_planner"]

PLANNER: Final = "planner"
PLAN_RETRY: Final = (
    "Your reply {reply!r} is neither a subgoal nor a stop. Reply with the next subgoal as "
    "'Subgoal {index}: ...', or with 'Yes, I will stop planning.' if the task is solved."
)
"""The planner turn answering a reply that is not a plan (a langchain-lumos addition)."""
_LABEL_RE = re.compile(r"\bSubgoal\s+\d+\s*:")


def _task(state: LumosState) -> str:
    task = state.get("task")
    if task:
        return task
    for message in reversed(state.get("messages", [])):
        if message.type == "human":
            return str(message.content)
    msg = "A Lumos run needs a task: pass {'task': ...} or a human message."
    raise ValueError(msg)


_EPISODE_LISTS = ("planner_turns", "grounder_turns", "subgoals", "actions", "observations")


def _new_episode(state: LumosState) -> tuple[LumosState, dict[str, Any] | None]:
    """On a finished thread, the state of a new episode and the update that starts it.

    The planner is entered with a `stop_reason` only when a new input arrives on a thread
    whose last task finished: that task is archived in `episodes`, and the new one (the
    latest human message sent since, or the `task` input) starts with a fresh plan,
    fresh variables (inputs such as `Env` are kept) and fresh budgets.
    """
    if not state.get("stop_reason"):
        return state, None
    messages = state.get("messages", [])
    since = messages[state.get("finished_messages", len(messages)) :]
    humans = [m for m in since if m.type == "human"]
    task = str(humans[-1].content) if humans else state.get("task", "")
    assigned = {v for a in state.get("actions", []) for v in a["variables"]}
    variables = {k: v for k, v in state.get("variables", {}).items() if k not in assigned}
    episode = Episode(
        task=state.get("finished_task", state.get("task", "")),
        answer=state.get("answer"),
        stop_reason=state.get("stop_reason"),
        subgoals=list(state.get("subgoals", [])),
        actions=list(state.get("actions", [])),
        observations=list(state.get("observations", [])),
        variables=dict(state.get("variables", {})),
        usage=dict(state.get("usage", {})),
        planner_turns=list(state.get("planner_turns", [])),
        grounder_turns=list(state.get("grounder_turns", [])),
    )
    fresh: dict[str, Any] = {**state, **{key: [] for key in _EPISODE_LISTS}}
    fresh.update(task=task, variables=variables, usage={}, answer=None, stop_reason=None)
    fresh.pop("started_at", None)
    emit("episode_started", task=task, previous=len(state.get("episodes", [])) + 1)
    reset: dict[str, Any] = {
        **{k: Overwrite([]) for k in _EPISODE_LISTS},
        "variables": Overwrite(variables),
        "usage": Overwrite({}),
        "episodes": [episode],
        "task": task,
        "answer": None,
        "stop_reason": None,
    }
    return fresh, reset  # type: ignore[return-value]


def _with_reset(reset: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    """The planner's update, replacing (not extending) the old episode's values."""
    if reset is None:
        return update
    out = {**reset, **update}
    for key in (*_EPISODE_LISTS, "usage"):
        if key in update:
            out[key] = Overwrite(update[key])
    return out


def _prepare(setup: Setup, state: LumosState, ctx: LumosContext) -> tuple[dict[str, Any], list[Turn] | None]:
    """Build the new planner turns, or an update that ends planning."""
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
    raw = _subgoal_value(state, last["index"])
    value = feedback_result(setup.domain, raw) if raw is not None else "None"
    return update, [plan_feedback(setup.domain, last["index"], last["text"], value)]


def _subgoal_value(state: LumosState, index: int) -> Any:
    """The raw value of a subgoal's last executed action (its observation text if it failed).

    Actions that did not run (`skipped`: past `max_actions_per_subgoal`, after a failed
    input, or out of budget) are passed over: the planner hears the last real result.
    """
    actions = [a for a in state.get("actions", []) if a["subgoal"] == index]
    if not actions:
        return None
    attempt = max(a["attempt"] for a in actions)
    outputs = {o["action_id"]: o for o in state.get("observations", [])}
    store = state.get("variables", {})
    for action in reversed([a for a in actions if a["attempt"] == attempt]):
        obs = outputs.get(action["id"])
        if obs is None or obs["status"] == "skipped":
            continue
        if (
            obs["status"] == "success"
            and action["variables"]
            and all(v in store for v in action["variables"])
        ):
            values = [store[v] for v in action["variables"]]
            return values[0] if len(values) == 1 else values
        return obs["output"]
    return None


def _unusable(text: str, parsed: PlanParse) -> bool:
    """A reply that neither stops nor writes a labelled `Subgoal k: ...` (e.g. "I don't know.")."""
    if parsed.stop:
        return False
    return bool(parsed.error) or not _LABEL_RE.search(text.strip().split("\n", 1)[0])


def _retry_turn(text: str, index: int) -> Turn:
    reply = " ".join(text.split())[:200] or "(an empty reply)"
    return Turn(role="user", content=PLAN_RETRY.format(reply=reply, index=index))


def _apply(
    setup: Setup,
    state: LumosState,
    update: dict[str, Any],
    turns: list[Turn],
    call: ModuleCall,
    parsed: PlanParse,
) -> dict[str, Any]:
    subgoals = state.get("subgoals", [])
    update = {
        **update,
        "planner_turns": [*turns, Turn(role="assistant", content=call.text)],
        "usage": {"planner": call.usage},
    }
    if not parsed.stop and parsed.subgoals and setup.domain.profile == "small":
        from langchain_lumos.profiles import stops_small_plan_at

        if stops_small_plan_at(setup.domain, setup.mode, state, parsed.subgoals[0].text):
            parsed = PlanParse(raw=parsed.raw, stop=True)  # the small profile's hop rule
    if parsed.stop:
        emit("planning_stopped", output=call.text)
        return {**update, "stop_reason": "planner_stop"}
    if _unusable(call.text, parsed):
        emit("plan_unreadable", output=call.text, error=parsed.error or "No `Subgoal k:` in the reply.")
        return {**update, "stop_reason": "no_plan"}
    chosen = parsed.subgoals if setup.mode == "onetime" else parsed.subgoals[:1]
    if setup.mode == "onetime" and setup.domain.profile == "small":
        from langchain_lumos.profiles import asked_subgoals

        kept = asked_subgoals(setup.domain, setup.mode, _task(state), [s.text for s in chosen])
        chosen = tuple(chosen[i] for i in kept)
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


def _merge_usage(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}


def _answered(
    setup: Setup, state: LumosState, update: dict[str, Any], runtime: Runtime[Any]
) -> dict[str, Any]:
    """A stopping planner answers itself when no final QA call is due (no `finalize` step)."""
    reason = update.get("stop_reason")
    if not reason:
        return update
    view: dict[str, Any] = {**state, "stop_reason": reason}
    if isinstance(update.get("task"), str):
        view["task"] = update["task"]
    if needs_final_qa(setup, view, runtime):  # type: ignore[arg-type]
        return update
    return {**update, **final_answer_update(setup, view)}  # type: ignore[arg-type]


def route_planner(setup: Setup, after_plan: str) -> Any:
    """Build the router after the planner: on to `after_plan`, or the answer when it stopped.

    A stopped planner has answered itself (the run ends) unless a final QA call is due.
    """

    def route(state: LumosState, runtime: Runtime[Any]) -> str:
        if not state.get("stop_reason"):
            return after_plan
        return FINALIZE if needs_final_qa(setup, state, runtime) else END

    return route


def _parse(setup: Setup, state: LumosState, text: str) -> PlanParse:
    subgoals = state.get("subgoals", [])
    return parse_plan(
        text,
        next_index=len(subgoals) + 1,
        loose_stop=setup.domain.loose_stop,
        previous=[s["text"] for s in subgoals],
    )


def _ruled(
    setup: Setup,
    state: LumosState,
    update: dict[str, Any],
    turns: list[Turn],
    reset: dict[str, Any] | None,
    runtime: Runtime[Any],
) -> dict[str, Any] | None:
    """The planner's update when the small profile plans this turn by rule (a nested question's hops).

    None when no rule applies: the model plans.
    """
    if setup.domain.profile != "small":
        return None
    from langchain_lumos.nested_questions import nested_plan

    text = nested_plan(setup.domain, setup.mode, {**state, "task": _task(state)})
    if text is None:
        return None
    emit("plan_ruled", output=text)
    planned = _apply(setup, state, update, turns, ModuleCall(text=text, usage={}), _parse(setup, state, text))
    return _answered(setup, state, _with_reset(reset, planned), runtime)


def create_planner_node(setup: Setup, *, route: Route | None = None) -> Runnable[Any, Any]:
    """Build the planner node (sync and async); with `route`, it routes itself (see `make_node`)."""

    def _kwargs(
        state: LumosState, config: RunnableConfig, model: BaseLanguageModel, ctx: LumosContext
    ) -> dict[str, Any]:
        tags, meta = setup.trace(PLANNER, subgoal_index=len(state.get("subgoals", [])) + 1)
        return {
            "config": config,
            "run_name": "lumos_plan",
            "tags": tags,
            "metadata": meta,
            "style": ctx.prompt_style,
            "exemplars": setup.domain.plan_exemplars,
            "grammar": _grammar(state, ctx, model),
        }

    def _grammar(state: LumosState, ctx: Any, model: BaseLanguageModel) -> str | None:
        if not setup.constrained(ctx) or not supports_grammar(model):
            return None
        from langchain_lumos.profiles import grammar_for

        return grammar_for(setup.domain, [], mode=setup.mode, module="plan", state=state)

    def _retry(
        state: LumosState,
        turns: list[Turn],
        call: ModuleCall,
        usage: dict[str, Any],
        tries: int,
        ctx: LumosContext,
    ) -> tuple[list[Turn], PlanParse, bool]:
        """Parse a reply; for an unusable one, the turns of a retry and whether to retry."""
        subgoals = state.get("subgoals", [])
        parsed = _parse(setup, state, call.text)
        if not _unusable(call.text, parsed) or tries >= ctx.max_plan_retries:
            return turns, parsed, False
        spent = {**state.get("usage", {}), "planner": usage}
        if budget_exhausted({**state, "usage": spent}, ctx):  # type: ignore[typeddict-item]
            return turns, parsed, False
        emit("plan_retry", output=call.text, attempt=tries + 1)
        retry = _retry_turn(call.text, len(subgoals) + 1)
        return [*turns, Turn(role="assistant", content=call.text), retry], parsed, True

    def plan(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        runtime, ctx = runtime_and_context()
        state, reset = _new_episode(state)
        update, turns = _prepare(setup, state, ctx)
        if turns is None:
            return _answered(setup, state, _with_reset(reset, update), runtime)
        ruled = _ruled(setup, state, update, turns, reset, runtime)
        if ruled is not None:
            return ruled
        model = setup.model(PLANNER, state, runtime)
        usage: dict[str, Any] = {}
        for tries in range(ctx.max_plan_retries + 1):
            history = state.get("planner_turns", []) + turns
            call = invoke_module(model, history, **_kwargs(state, config, model, ctx))
            usage = _merge_usage(usage, dict(call.usage))
            turns, parsed, again = _retry(state, turns, call, usage, tries, ctx)
            if not again:
                break
        spent = ModuleCall(text=call.text, usage=usage)  # type: ignore[arg-type]
        return _answered(
            setup, state, _with_reset(reset, _apply(setup, state, update, turns, spent, parsed)), runtime
        )

    async def aplan(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        runtime, ctx = runtime_and_context()
        state, reset = _new_episode(state)
        update, turns = _prepare(setup, state, ctx)
        if turns is None:
            return _answered(setup, state, _with_reset(reset, update), runtime)
        ruled = _ruled(setup, state, update, turns, reset, runtime)
        if ruled is not None:
            return ruled
        model = setup.model(PLANNER, state, runtime)
        usage: dict[str, Any] = {}
        for tries in range(ctx.max_plan_retries + 1):
            history = state.get("planner_turns", []) + turns
            call = await ainvoke_module(model, history, **_kwargs(state, config, model, ctx))
            usage = _merge_usage(usage, dict(call.usage))
            turns, parsed, again = _retry(state, turns, call, usage, tries, ctx)
            if not again:
                break
        spent = ModuleCall(text=call.text, usage=usage)  # type: ignore[arg-type]
        return _answered(
            setup, state, _with_reset(reset, _apply(setup, state, update, turns, spent, parsed)), runtime
        )

    return make_node(plan, aplan, PLANNER, route=route)
