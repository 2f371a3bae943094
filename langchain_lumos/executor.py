"""The executor: dispatches grounded actions to LangChain tools.

The `executor` node schedules the actions of the current grounding by their variable
dependencies: every action whose inputs are ready is sent, with `Send`, to its own
`execute_action` task, so independent actions run concurrently and each finished action
is checkpointed on its own (a resumed run never repeats a finished tool call).

Tools that change shared state without passing it through variables (WebShop's `Search`
and `Click` act on one shop session) set `tool.metadata["lumos_sequential"] = True`: their
actions run in plan order, each after every earlier action of such a tool.

Model-caused failures become observations the agent can recover from: an unknown action,
arguments that do not fit the tool, a variable that is not defined, a tool that raises,
and a piece of grounder output that is not an action. Actions that depend on a failed
action are skipped. In iterative mode a failed grounding is sent back to the grounder
(`max_regrounds` times); nothing already computed is lost.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import get_runtime
from langgraph.types import Send
from typing_extensions import TypedDict

from langchain_lumos.budgets import budget_exhausted
from langchain_lumos.errors import ToolArgumentError
from langchain_lumos.events import emit
from langchain_lumos.nodes import context_of, make_node, runtime_and_context
from langchain_lumos.parsing import find_variables, split_arguments, substitute_variables
from langchain_lumos.setup import Setup
from langchain_lumos.state import GroundedAction, LumosState, Observation, current_batch, render_value

__all__ = [
    "EXECUTE_ACTION",
    "EXECUTOR",
    "FINALIZE",
    "INVALID_ACTION_TEMPLATE",
    "SEQUENTIAL",
    "ActionTask",
    "bind_arguments",
    "create_execute_action_node",
    "create_executor_node",
    "create_finalize_node",
    "route_executor",
]

SEQUENTIAL = "lumos_sequential"
"""Tool metadata key: the tool's actions run in plan order (shared, mutable state)."""
EXECUTOR = "executor"
EXECUTE_ACTION = "execute_action"
FINALIZE = "finalize"
INVALID_ACTION_TEMPLATE = "Error: {name} is not a valid action, try one of [{names}]."
_LIST_RE = re.compile(r"^\[(.*)\]$", re.DOTALL)
_R_RE = re.compile(r"^R(\d+)$")


class ActionTask(TypedDict):
    """The input of one `execute_action` task."""

    action: GroundedAction
    variables: dict[str, Any]
    """The values of the variables the action reads."""
    question: str | None
    """One-time complex QA: the task, asked by the plan's final `QA` action."""


def _fields(tool: BaseTool) -> tuple[list[str], bool]:
    """The tool's Lumos argument order, and whether it wants the variable store injected."""
    visible = list(getattr(tool.tool_call_schema, "model_fields", {}))
    every = list(getattr(tool.get_input_schema(), "model_fields", {}))
    return visible, "variables" in every and "variables" not in visible


def _resolve(text: str, values: Mapping[str, Any]) -> Any:
    text = text.strip()
    if text in values:
        return values[text]
    match = _LIST_RE.match(text)
    if match:
        parts = [p.strip() for p in match.group(1).split(",") if p.strip()]
        if parts and all(p in values for p in parts):
            # `QA([R2, R5], ...)`: the listed values; a list value contributes its items.
            out: list[Any] = []
            for part in parts:
                value = values[part]
                out.extend(value) if isinstance(value, (list, tuple)) else out.append(value)
            return out
    missing = [v for v in find_variables(text) if _R_RE.match(v) and v not in values]
    if missing:
        msg = f"{missing[0]} is not defined yet."
        raise ToolArgumentError(msg)
    return substitute_variables(text, values)


def _field_for(key: str, fields: list[str]) -> str | None:
    norm = key.lower().replace("_", "")
    for name in fields:
        if name.lower().replace("_", "") == norm:
            return name
    return None


def bind_arguments(
    tool: BaseTool,
    action: GroundedAction,
    values: Mapping[str, Any],
    *,
    question: str | None = None,
) -> dict[str, Any]:
    """Map a Lumos action's arguments onto the tool's input schema.

    `Key: value` parts go to the field named `key` (case and `_` ignored); the positional
    part goes to the first field not given by a keyword. A part that is one variable
    becomes its stored value, `[R2, R5]` a list of values; other text has its variables
    substituted by token. Tools declaring an injected `variables` field get every part
    as raw text plus the variable store.

    Raises:
        ToolArgumentError: When the arguments do not fit the tool.
    """
    fields, wants_store = _fields(tool)
    if action.get("kwargs") is not None:
        raw = dict(action["kwargs"] or {})
        args = {
            k: v if wants_store or not isinstance(v, str) else _resolve(v, values) for k, v in raw.items()
        }
    else:
        positional, keywords = split_arguments(action["args"])
        args = {}
        for key, value in keywords:
            name = _field_for(key, fields)
            if name is None:
                msg = f"{tool.name} has no argument {key!r}; its arguments are ({', '.join(fields)})."
                raise ToolArgumentError(msg)
            args[name] = value if wants_store else _resolve(value, values)
        if positional is not None:
            free = [f for f in fields if f not in args]
            if not free:
                msg = f"{tool.name} got an extra positional argument {positional!r}."
                raise ToolArgumentError(msg)
            args[free[0]] = positional if wants_store else _resolve(positional, values)
    if question is not None and "question" in fields:
        args["question"] = question
    if wants_store:
        args["variables"] = dict(values)
    return args


def _store(action: GroundedAction, value: Any) -> dict[str, Any]:
    names = action["variables"]
    if len(names) > 1:
        if not isinstance(value, (list, tuple)) or len(value) != len(names):
            msg = f"{action['name']} returned {render_value(value, 200)!r}, expected {len(names)} values for {', '.join(names)}."
            raise ToolArgumentError(msg)
        return dict(zip(names, value, strict=True))
    return dict.fromkeys(names, value)


def _observation(
    action: GroundedAction, status: Literal["success", "error", "skipped"], output: str, seconds: float = 0.0
) -> Observation:
    return Observation(
        action_id=action["id"], action=action["text"], status=status, output=output, seconds=seconds
    )


# -- the dispatcher ------------------------------------------------------------------------


def _in_order(
    ready: list[GroundedAction], batch: list[GroundedAction], done: dict[str, str], tools: dict[str, BaseTool]
) -> list[GroundedAction]:
    """Hold back an action of a sequential tool until every earlier one has finished."""

    def sequential(action: GroundedAction) -> bool:
        tool = tools.get(action["name"])
        return bool(tool is not None and (tool.metadata or {}).get(SEQUENTIAL))

    order = {a["id"]: i for i, a in enumerate(batch)}
    blockers = [a for a in batch if sequential(a) and a["id"] not in done]
    first = min((order[a["id"]] for a in blockers), default=None)
    return [a for a in ready if not sequential(a) or order[a["id"]] == first]


def _pending(state: LumosState) -> tuple[list[GroundedAction], dict[str, str]]:
    done: dict[str, str] = {o["action_id"]: o["status"] for o in state.get("observations", [])}
    return [a for a in current_batch(state) if a["id"] not in done], done


def create_executor_node(setup: Setup) -> Runnable[Any, Any]:
    """Build the dispatcher node: records unrunnable actions; the router sends the rest."""

    def execute(state: LumosState) -> dict[str, Any]:
        _, ctx = runtime_and_context()
        pending, done = _pending(state)
        # Tools spend no model tokens; the step and time budgets still apply here.
        exhausted = budget_exhausted(state, ctx, tokens=False, reserve=3)
        observations: list[Observation] = []
        for action in pending:
            if exhausted:
                observations.append(_observation(action, "skipped", f"Skipped: {exhausted}."))
            elif action.get("error"):
                observations.append(_observation(action, "error", f"Error: {action['error']}"))
            else:
                failed = [d for d in action["depends_on"] if done.get(d) in ("error", "skipped")]
                if failed:
                    observations.append(
                        _observation(
                            action, "skipped", f"Skipped: it depends on {failed[0]}, which did not succeed."
                        )
                    )
                else:
                    continue
            done[action["id"]] = observations[-1]["status"]
        update: dict[str, Any] = {"observations": observations} if observations else {}
        if exhausted:
            update["stop_reason"] = exhausted
        return update

    async def aexecute(state: LumosState) -> dict[str, Any]:
        return execute(state)

    return make_node(execute, aexecute, EXECUTOR)


def route_executor(setup: Setup) -> Any:
    """Build the router after the executor: `Send` ready actions, or move on."""

    def route(state: LumosState) -> list[Send] | str:
        if state.get("stop_reason"):
            return FINALIZE
        pending, done = _pending(state)
        ready = [a for a in pending if all(d in done for d in a["depends_on"])]
        if ready:
            ready = _in_order(ready, current_batch(state), done, setup.tool_map(get_runtime()))
        if ready:
            last = current_batch(state)[-1]
            sends = []
            for action in ready:
                names = set(find_variables(action["args"])) | {
                    v for v in (action.get("kwargs") or {}).values() if isinstance(v, str)
                }
                store = state.get("variables", {})
                values = {k: store[k] for k in names if k in store}
                question = None
                if (
                    setup.mode == "onetime"
                    and setup.domain.final_qa
                    and action["id"] == last["id"]
                    and action["name"] == "QA"
                ):
                    question = state["task"]  # Lumos-O asks the final QA the task itself
                sends.append(
                    Send(EXECUTE_ACTION, ActionTask(action=action, variables=values, question=question))
                )
            return sends
        if pending or setup.mode == "onetime":
            return FINALIZE
        batch = current_batch(state)
        failed = any(done.get(a["id"]) != "success" for a in batch)
        if failed and batch and batch[-1]["attempt"] < context_of().max_regrounds:
            return "grounder"
        return "planner"

    return route


# -- one action ----------------------------------------------------------------------------


def create_execute_action_node(setup: Setup) -> Runnable[Any, Any]:
    """Build the worker that executes one action with its tool."""

    def _prepare(
        task: ActionTask,
    ) -> tuple[GroundedAction, BaseTool | None, dict[str, Any] | None, str | None]:
        runtime, _ = runtime_and_context()
        action = task["action"]
        if not action["name"]:
            return action, None, None, None
        tools = setup.tool_map(runtime)
        tool = tools.get(action["name"])
        if tool is None:
            return (
                action,
                None,
                None,
                INVALID_ACTION_TEMPLATE.format(name=action["name"], names=", ".join(tools)),
            )
        try:
            return (
                action,
                tool,
                bind_arguments(tool, action, task["variables"], question=task.get("question")),
                None,
            )
        except ToolArgumentError as exc:
            return action, tool, None, f"Error: {exc}"

    def _finish(action: GroundedAction, value: Any, error: str | None, start: float) -> dict[str, Any]:
        seconds = time.perf_counter() - start
        variables: dict[str, Any] = {}
        if error is None:
            try:
                variables = _store(action, value)
            except ToolArgumentError as exc:
                error = f"Error: {exc}"
        if error is None:
            obs = _observation(action, "success", render_value(value), seconds)
        else:
            obs = _observation(action, "error", error, seconds)
        emit(
            "action_finished",
            action_id=action["id"],
            action=action["text"],
            status=obs["status"],
            observation=obs["output"],
        )
        usage = {"executor": {"calls": 1, "seconds": seconds}}
        if action["name"]:
            usage[f"tool:{action['name']}"] = {"calls": 1, "seconds": seconds}
        return {"observations": [obs], "variables": variables, "usage": usage}

    def _config(config: RunnableConfig, action: GroundedAction) -> RunnableConfig:
        tags, meta = setup.trace("executor", subgoal_index=action["subgoal"], action_id=action["id"])
        return {
            **config,
            "run_name": action["name"],
            "tags": [*config.get("tags", []), *tags],
            "metadata": {**config.get("metadata", {}), **meta},
        }

    def run(task: ActionTask, config: RunnableConfig) -> dict[str, Any]:
        start = time.perf_counter()
        action, tool, args, error = _prepare(task)
        emit("action_started", action_id=action["id"], action=action["text"])
        value: Any = None
        if error is None:
            try:
                value = (
                    tool.invoke(args or {}, config=_config(config, action))
                    if tool
                    else _resolve(action["args"], task["variables"])
                )
            except GraphBubbleUp:
                raise
            except Exception as exc:  # a failing tool is an observation, not a crash
                error = f"Error: {type(exc).__name__}: {exc}"
        return _finish(action, value, error, start)

    async def arun(task: ActionTask, config: RunnableConfig) -> dict[str, Any]:
        start = time.perf_counter()
        action, tool, args, error = _prepare(task)
        emit("action_started", action_id=action["id"], action=action["text"])
        value: Any = None
        if error is None:
            try:
                value = (
                    await tool.ainvoke(args or {}, config=_config(config, action))
                    if tool
                    else _resolve(action["args"], task["variables"])
                )
            except GraphBubbleUp:
                raise
            except Exception as exc:  # a failing tool is an observation, not a crash
                error = f"Error: {type(exc).__name__}: {exc}"
        return _finish(action, value, error, start)

    return make_node(run, arun, EXECUTE_ACTION)


# -- the answer ----------------------------------------------------------------------------


def _latest_value(state: LumosState) -> Any:
    store = state.get("variables", {})
    numbered = sorted((int(m.group(1)), k) for k in store if (m := _R_RE.match(k)))
    if "Output" in store:
        return store["Output"]
    return store[numbered[-1][1]] if numbered else None


def _answer_text(value: Any) -> str | None:
    if value is None:
        return None
    text = render_value(value)
    return text.split("Answer: ", 1)[1].strip() if "Answer: " in text else text


def _useful(answer: str | None) -> str | None:
    """None for a final QA that found nothing, so the agent answers from its results."""
    if answer is None or answer.strip().rstrip(".").lower() in ("no answer", ""):
        return None
    return answer


def create_finalize_node(setup: Setup) -> Runnable[Any, Any]:
    """Build the node that reads the final answer from what the agent has."""

    def _qa_request(state: LumosState) -> tuple[BaseTool, dict[str, Any]] | None:
        if setup.mode != "iterative" or not setup.domain.final_qa:
            return None
        runtime, _ = runtime_and_context()
        tool = setup.tool_map(runtime).get("QA")
        results = [v for v in state.get("variables", {}).values() if isinstance(v, str) and "Question: " in v]
        if tool is None or not results:
            return None
        return tool, {"context": "; ".join(results).strip(), "question": state["task"]}

    def _fallback(state: LumosState) -> str | None:
        if setup.domain.answer == "qa":
            for obs in reversed(state.get("observations", [])):
                if obs["status"] == "success" and "Answer: " in obs["output"]:
                    return _answer_text(obs["output"])
        return _answer_text(_latest_value(state))

    def _finish(state: LumosState, answer: str | None) -> dict[str, Any]:
        reason = state.get("stop_reason") or ("plan_complete" if setup.mode == "onetime" else "planner_stop")
        emit("final_answer", answer=answer, stop_reason=reason)
        update: dict[str, Any] = {"answer": answer, "stop_reason": reason}
        if answer is not None:
            update["messages"] = [AIMessage(answer, name="lumos")]
        return update

    def _qa_config(config: RunnableConfig) -> RunnableConfig:
        tags, meta = setup.trace("executor", final_qa=True)
        return {
            **config,
            "run_name": "QA",
            "tags": [*config.get("tags", []), *tags],
            "metadata": {**config.get("metadata", {}), **meta},
        }

    def _qa_usage(start: float) -> dict[str, Any]:
        seconds = time.perf_counter() - start
        # The final QA is not a grounded action: it counts under `finalize`, not `executor`.
        return {"finalize": {"calls": 1, "seconds": seconds}, "tool:QA": {"calls": 1, "seconds": seconds}}

    def finalize(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        request = _qa_request(state)
        answer, usage = None, {}
        if request:
            start = time.perf_counter()
            try:
                answer = _useful(_answer_text(request[0].invoke(request[1], config=_qa_config(config))))
            except Exception:  # the fallback below still answers from what we have
                answer = None
            usage = _qa_usage(start)
        return {**_finish(state, answer or _fallback(state)), **({"usage": usage} if usage else {})}

    async def afinalize(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        request = _qa_request(state)
        answer, usage = None, {}
        if request:
            start = time.perf_counter()
            try:
                answer = _useful(
                    _answer_text(await request[0].ainvoke(request[1], config=_qa_config(config)))
                )
            except Exception:  # the fallback below still answers from what we have
                answer = None
            usage = _qa_usage(start)
        return {**_finish(state, answer or _fallback(state)), **({"usage": usage} if usage else {})}

    return make_node(finalize, afinalize, FINALIZE)
