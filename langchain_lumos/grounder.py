"""The grounder node: turns the current subgoal(s) into executable actions."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Final

from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.runtime import Runtime

from langchain_lumos.budgets import budget_exhausted
from langchain_lumos.context import LumosContext
from langchain_lumos.events import emit
from langchain_lumos.executor import record_unrunnable, subgoal_label
from langchain_lumos.model_calls import (
    ModuleCall,
    ainvoke_module,
    invoke_module,
    supports_grammar,
    to_messages,
)
from langchain_lumos.nodes import Route, make_node, runtime_and_context
from langchain_lumos.parsing import action_dependencies, find_variables, parse_actions
from langchain_lumos.prompts import Turn, ground_followup, ground_request, ground_retry
from langchain_lumos.setup import Setup
from langchain_lumos.state import GroundedAction, LumosState, ModuleUsage, current_batch, subgoal_result

__all__ = ["GROUNDER", "actions_from_text", "create_grounder_node", "next_variable_number"]

GROUNDER: Final = "grounder"
_R_RE = re.compile(r"^R(\d+)$")


def next_variable_number(state: LumosState) -> int:
    """The number of the next free `R<k>` variable."""
    used = [int(m.group(1)) for v in state.get("variables", {}) if (m := _R_RE.match(v))]
    for action in state.get("actions", []):
        used += [int(m.group(1)) for v in action["variables"] if (m := _R_RE.match(v))]
    return max(used, default=0) + 1


def _prepare(
    setup: Setup, state: LumosState, ctx: LumosContext
) -> tuple[dict[str, Any], list[Turn] | None, int, int]:
    """New grounder turns (or a budget stop), the subgoal index and the attempt."""
    exhausted = budget_exhausted(state, ctx)
    if exhausted:
        return {"stop_reason": exhausted}, None, 0, 0
    domain = setup.domain
    if setup.mode == "onetime":
        plan_line = state["planner_turns"][-1]["content"]
        return {}, [ground_request(domain, state["task"], plan_line, onetime=True)], 0, 0
    sub = state["subgoals"][-1]
    prior = [a for a in state.get("actions", []) if a["subgoal"] == sub["index"]]
    attempt = max((a["attempt"] for a in prior), default=-1) + 1
    if attempt > 0:
        outputs = {o["action_id"]: o for o in state.get("observations", [])}
        errors = [
            f"{o['action']} -> {o['output']}"
            for a in current_batch(state)
            if (o := outputs.get(a["id"])) and o["status"] != "success"
        ]
        return {}, [ground_retry(domain, sub["line"], errors)], sub["index"], attempt
    if not state.get("grounder_turns"):
        return {}, [ground_request(domain, state["task"], sub["line"])], sub["index"], attempt
    results = [
        (f"Subgoal {s['index']}", r)
        for s in state["subgoals"][:-1]
        if (r := subgoal_result(state, s["index"])) is not None
    ]
    return {}, [ground_followup(domain, sub["line"], results)], sub["index"], attempt


def actions_from_text(state: LumosState, text: str, subgoal: int, attempt: int) -> list[GroundedAction]:
    """The grounded actions of a text grounding (`R1 = ...; R2 = ...`), with their ids.

    Pieces that are not actions become entries with an `error`; every conflicting pair
    of actions is ordered (`depends_on`). The executor applies `max_actions_per_subgoal`.
    """
    parsed = parse_actions(text)
    prefix = f"s{subgoal}.g{attempt}"
    actions = list(parsed.actions)
    deps = action_dependencies(actions)
    out: list[GroundedAction] = []
    for i, (action, dep) in enumerate(zip(actions, deps, strict=True)):
        out.append(
            GroundedAction(
                id=f"{prefix}.a{i + 1}",
                subgoal=subgoal,
                attempt=attempt,
                text=action.text,
                variables=list(action.variables),
                name=action.name,
                args=action.args,
                depends_on=[f"{prefix}.a{j + 1}" for j in dep],
                kwargs=None,
                error=None,
            )
        )
    for j, err in enumerate(parsed.errors):
        out.append(
            GroundedAction(
                id=f"{prefix}.e{j + 1}",
                subgoal=subgoal,
                attempt=attempt,
                text=err.text,
                variables=[],
                name="",
                args="",
                depends_on=[],
                kwargs=None,
                error=f"Could not parse action {err.text!r}: {err.reason}.",
            )
        )
    return out


def _actions_from_tool_calls(
    state: LumosState, message: AIMessage, subgoal: int, attempt: int
) -> tuple[str, list[GroundedAction]]:
    """Native tool-call grounding: each call becomes `R<k> = Name(...)`."""
    prefix = f"s{subgoal}.g{attempt}"
    first = next_variable_number(state)
    assigned: dict[str, str] = {}
    out: list[GroundedAction] = []
    for i, call in enumerate(message.tool_calls):
        var = f"R{first + i}"
        args = dict(call.get("args") or {})
        arg_text = ", ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in args.items())
        refs = {r for v in args.values() if isinstance(v, str) for r in find_variables(v)}
        out.append(
            GroundedAction(
                id=f"{prefix}.a{i + 1}",
                subgoal=subgoal,
                attempt=attempt,
                text=f"{var} = {call['name']}({arg_text})",
                variables=[var],
                name=call["name"],
                args=arg_text,
                depends_on=sorted(assigned[r] for r in refs if r in assigned),
                kwargs=args,
                error=None,
            )
        )
        assigned[var] = f"{prefix}.a{i + 1}"
    if not out:  # prose instead of a tool call: a failed grounding, fed back to the model
        text = message.text if isinstance(message.text, str) else str(message.content)
        reply = " ".join(text.split()) or "(an empty reply)"
        out.append(
            GroundedAction(
                id=f"{prefix}.e1",
                subgoal=subgoal,
                attempt=attempt,
                text=reply,
                variables=[],
                name="",
                args="",
                depends_on=[],
                kwargs=None,
                error=f"The reply {reply[:200]!r} calls no tool; ground the subgoal with tool calls.",
            )
        )
        return reply, out
    return "; ".join(a["text"] for a in out), out


def _apply(
    setup: Setup,
    state: LumosState,
    turns: list[Turn],
    text: str,
    actions: list[GroundedAction],
    usage: ModuleUsage,
    attempt: int,
    dispatch: bool,
    ctx: LumosContext,
) -> dict[str, Any]:
    event = "regrounded" if attempt else "actions_grounded"
    emit(
        event,
        subgoal=actions[0]["subgoal"] if actions else None,
        actions=[a["text"] for a in actions],
        output=text,
    )
    update: dict[str, Any] = {
        "grounder_turns": [*turns, Turn(role="assistant", content=text)],
        "actions": actions,
        "usage": {"grounder": usage},
    }
    if dispatch:
        # What the executor step would record before sending the actions, one step later.
        view = {**state, "actions": [*state.get("actions", []), *actions]}
        unrunnable = record_unrunnable(view, ctx, reserve=4)  # type: ignore[arg-type]
        update.update(unrunnable)
    return update


def create_grounder_node(
    setup: Setup, *, dispatch: bool = True, route: Route | None = None
) -> Runnable[Any, Any]:
    """Build the grounder node (sync and async).

    Args:
        setup: What the graph factory captured.
        dispatch: The grounder's route sends the actions itself, so the node also records
            the actions that cannot run (as the executor step does). Off when the actions
            are reviewed first (the review may replace them).
        route: The node routes itself with it (see `make_node`).
    """

    def _kwargs(
        state: LumosState,
        config: RunnableConfig,
        subgoal: int,
        attempt: int,
        model: BaseLanguageModel,
        runtime: Runtime[Any],
        ctx: LumosContext,
    ) -> dict[str, Any]:
        tags, meta = setup.trace(
            GROUNDER, subgoal_index=subgoal, subgoal=subgoal_label(state, subgoal), attempt=attempt
        )
        prefix = setup.domain.ground_prefix if not state.get("grounder_turns") else ""
        return {
            "config": config,
            "run_name": "lumos_ground",
            "tags": tags,
            "metadata": meta,
            "style": ctx.prompt_style,
            "exemplars": setup.domain.ground_exemplars,
            "prefix": prefix,
            "history_prefix": setup.domain.ground_prefix if setup.domain.echo_ground_prefix else "",
            "grammar": _grammar(state, ctx, prefix, model, runtime),
        }

    def _grammar(
        state: LumosState, ctx: Any, prefix: str, model: BaseLanguageModel, runtime: Any
    ) -> str | None:
        if not setup.constrained(ctx) or not supports_grammar(model):
            return None
        from langchain_lumos.profiles import grammar_for

        return grammar_for(
            setup.domain,
            list(setup.tool_map(runtime).values()),
            mode=setup.mode,
            module="ground",
            state=state,
            first_variable=next_variable_number(state),
            forced_prefix=prefix,
        )

    def _tool_model(model: BaseLanguageModel, runtime: Runtime[Any]) -> Any:
        if not isinstance(model, BaseChatModel):
            msg = "grounding='tool_calls' needs a chat model that supports bind_tools."
            raise TypeError(msg)
        return model.bind_tools(list(setup.tool_map(runtime).values()))

    def _tool_config(state: LumosState, config: RunnableConfig, subgoal: int, attempt: int) -> RunnableConfig:
        tags, meta = setup.trace(
            GROUNDER, subgoal_index=subgoal, subgoal=subgoal_label(state, subgoal), attempt=attempt
        )
        return {
            **config,
            "run_name": "lumos_ground",
            "tags": [*config.get("tags", []), *tags],
            "metadata": {**config.get("metadata", {}), **meta},
        }

    def _finish_tool_calls(
        state: LumosState,
        turns: list[Turn],
        message: AIMessage,
        subgoal: int,
        attempt: int,
        start: float,
        ctx: LumosContext,
    ) -> dict[str, Any]:
        text, actions = _actions_from_tool_calls(state, message, subgoal, attempt)
        meta: dict[str, Any] = dict(message.usage_metadata or {})
        usage = ModuleUsage(
            calls=1,
            prompt_tokens=meta.get("input_tokens", 0),
            completion_tokens=meta.get("output_tokens", 0),
            seconds=time.perf_counter() - start,
        )
        return _apply(setup, state, turns, text, actions, usage, attempt, dispatch, ctx)

    def _finish_text(
        state: LumosState,
        turns: list[Turn],
        call: ModuleCall,
        subgoal: int,
        attempt: int,
        runtime: Runtime[Any],
        ctx: LumosContext,
    ) -> dict[str, Any]:
        actions = actions_from_text(state, call.text, subgoal, attempt)
        if setup.domain.profile == "small":
            from langchain_lumos.nested_questions import ask_hops
            from langchain_lumos.profiles import link_queries

            actions = link_queries(actions, state, list(setup.tool_map(runtime).values()))
            actions = ask_hops(actions, state)
        return _apply(setup, state, turns, call.text, actions, call.usage, attempt, dispatch, ctx)

    def ground(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        runtime, ctx = runtime_and_context()
        update, turns, subgoal, attempt = _prepare(setup, state, ctx)
        if turns is None:
            return update
        model = setup.model(GROUNDER, state, runtime)
        history = state.get("grounder_turns", []) + turns
        if setup.grounding == "tool_calls":
            start = time.perf_counter()
            message = _tool_model(model, runtime).invoke(
                to_messages(history), config=_tool_config(state, config, subgoal, attempt)
            )
            return _finish_tool_calls(state, turns, message, subgoal, attempt, start, ctx)
        call = invoke_module(model, history, **_kwargs(state, config, subgoal, attempt, model, runtime, ctx))
        return _finish_text(state, turns, call, subgoal, attempt, runtime, ctx)

    async def aground(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        runtime, ctx = runtime_and_context()
        update, turns, subgoal, attempt = _prepare(setup, state, ctx)
        if turns is None:
            return update
        model = setup.model(GROUNDER, state, runtime)
        history = state.get("grounder_turns", []) + turns
        if setup.grounding == "tool_calls":
            start = time.perf_counter()
            message = await _tool_model(model, runtime).ainvoke(
                to_messages(history), config=_tool_config(state, config, subgoal, attempt)
            )
            return _finish_tool_calls(state, turns, message, subgoal, attempt, start, ctx)
        call = await ainvoke_module(
            model, history, **_kwargs(state, config, subgoal, attempt, model, runtime, ctx)
        )
        return _finish_text(state, turns, call, subgoal, attempt, runtime, ctx)

    return make_node(ground, aground, GROUNDER, route=route)
