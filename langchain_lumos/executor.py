"""The executor: dispatches grounded actions to LangChain tools.

The actions of the current grounding are scheduled by their variable dependencies:
every action whose inputs are ready is sent, with `Send`, to its own `execute_action`
task, so independent actions run concurrently and each finished action is checkpointed on
its own (a resumed run never repeats a finished tool call). The grounder's route sends the
first ready actions itself, and a finished action's route sends the next ones when it was
the only action running; the `executor` node joins concurrent actions (and records what
cannot run after a failure, or once a budget is spent) before the next ones are sent.

Tools that change shared state without passing it through variables (WebShop's `Search`
and `Click` act on one shop session) set `tool.metadata["lumos_sequential"] = True`: their
actions run in plan order, each after every earlier action of such a tool.

Scheduling follows every conflict between actions, as a compiler orders instructions:
read after write, write after write and write after read (`R1 = f(); R2 = g(R1);
R1 = h()` gives `g` the first `R1`). Actions past `max_actions_per_subgoal` are skipped,
whichever way they were grounded or edited in review, and never cause a re-grounding.

Model-caused failures become observations the agent can recover from: an unknown action,
arguments that do not fit the tool, a variable that is not defined, a tool that raises
(as `handle_tool_errors` says), a call that takes longer than `action_timeout_s` or runs
past the run's `time_limit_s`, and a piece of grounder output that is not an action.
Actions reading a variable of a failed action are skipped. In iterative mode a failed
grounding is sent back to the grounder (`max_regrounds` times); nothing already computed
is lost.

Sync tools run on a thread pool of their own (`tool_threads` threads), in sync and async
runs alike, so a timed-out call (it cannot be killed; it is abandoned) never holds up
asyncio's default pool or the other actions of a batch. With `action_timeout_s=None` and
no `time_limit_s`, a sync run calls a tool on its own task thread (for thread-bound
tools). With a SQLite checkpointer, each finished call is recorded in an
`ActionJournal` before LangGraph sees it, so a resume never repeats it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import queue
import re
import sys
import threading
import time
import types
import typing
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Literal, NamedTuple
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool, Tool, ToolException
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from pydantic import ValidationError
from typing_extensions import NotRequired, TypedDict

from langchain_lumos.budgets import budget_exhausted
from langchain_lumos.context import LumosContext
from langchain_lumos.errors import ToolArgumentError
from langchain_lumos.events import emit
from langchain_lumos.journal import JournalKey
from langchain_lumos.model_calls import llm_usage
from langchain_lumos.nodes import Route, context_of, make_node, runtime_and_context
from langchain_lumos.parsing import find_variables, split_arguments, substitute_variables
from langchain_lumos.prompts import final_qa_context, final_qa_question, onetime_qa_question
from langchain_lumos.setup import Setup, ToolErrorHandling
from langchain_lumos.state import GroundedAction, LumosState, Observation, current_batch, render_value

__all__ = [
    "EXECUTE_ACTION",
    "EXECUTOR",
    "FINALIZE",
    "INVALID_ACTION_TEMPLATE",
    "SEQUENTIAL",
    "ActionTask",
    "NestedModelTokens",
    "ToolPool",
    "bind_arguments",
    "bridge_answers",
    "check_tool_error_handling",
    "create_execute_action_node",
    "create_executor_node",
    "create_finalize_node",
    "final_answer_update",
    "needs_final_qa",
    "record_unrunnable",
    "route_action",
    "route_executor",
    "subgoal_label",
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
    exclude: NotRequired[list[str]]
    """The small profile's task-asked `QA`: the bridge entities it must not answer."""
    deadline: NotRequired[float | None]
    """The run's wall-clock deadline (epoch seconds, from `time_limit_s`), if any."""
    episode: NotRequired[int]
    """The thread's episode (earlier finished tasks), for the action journal's key."""
    subgoal: NotRequired[str]
    """The subgoal the action serves (`Subgoal k: <text>`), for traces (`lumos_subgoal`)."""


class _ToolSchema(NamedTuple):
    fields: list[str]
    """The argument order of Lumos actions (the model-visible fields)."""
    wants_store: bool
    """Whether the tool declares an injected `variables` field (the variable store)."""
    input_schema: Any


_SCHEMAS: dict[int, tuple[weakref.ReferenceType[BaseTool], Any, _ToolSchema]] = {}


def _schema(tool: BaseTool) -> _ToolSchema:
    """The tool's argument schemas, built once per tool (LangChain rebuilds them per access)."""
    key = id(tool)
    hit = _SCHEMAS.get(key)
    if hit is not None and hit[0]() is tool and hit[1] is tool.args_schema:
        return hit[2]
    input_schema = tool.get_input_schema()
    visible = list(getattr(tool.tool_call_schema, "model_fields", {}))
    every = list(getattr(input_schema, "model_fields", {}))
    schema = _ToolSchema(visible, "variables" in every and "variables" not in visible, input_schema)
    try:
        ref = weakref.ref(tool, lambda _, key=key: _SCHEMAS.pop(key, None))  # type: ignore[misc]
    except TypeError:  # pragma: no cover - a tool class without weak references
        return schema
    _SCHEMAS[key] = (ref, tool.args_schema, schema)
    return schema


def _fields(tool: BaseTool) -> tuple[list[str], bool]:
    """The tool's Lumos argument order, and whether it wants the variable store injected."""
    schema = _schema(tool)
    return schema.fields, schema.wants_store


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
    exclude: list[str] | None = None,
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
    if exclude and "exclude" in fields:
        args["exclude"] = list(exclude)
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


# -- calling a tool: error policy, time limits, its own thread pool --------------------------


def _handled_types(handler: Callable[..., str]) -> tuple[type[Exception], ...]:
    """The exception types a handler's first parameter is annotated with (default: all)."""
    try:
        params = list(inspect.signature(handler).parameters.values())
        hints = typing.get_type_hints(handler)
    except (TypeError, ValueError, NameError):
        return (Exception,)
    if not params or params[0].name not in hints:
        return (Exception,)
    hint = hints[params[0].name]
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if all(isinstance(t, type) and issubclass(t, Exception) for t in options):
        return tuple(options)
    msg = f"handle_tool_errors: annotate the handler's parameter with exception types, got {hint!r}."
    raise TypeError(msg)


def check_tool_error_handling(handling: ToolErrorHandling) -> None:
    """Reject a `handle_tool_errors` value that is none of its documented forms.

    Raises:
        TypeError: For any other value.
    """
    if isinstance(handling, (bool, str)):
        return
    if isinstance(handling, type) and issubclass(handling, Exception):
        return
    if isinstance(handling, tuple) and all(
        isinstance(t, type) and issubclass(t, Exception) for t in handling
    ):
        return
    if callable(handling) and not isinstance(handling, type):
        _handled_types(handling)
        return
    msg = (
        "handle_tool_errors takes True, False, a string, a callable (exception -> str) or "
        f"exception types, got {handling!r}."
    )
    raise TypeError(msg)


def tool_error_text(exc: Exception, handling: ToolErrorHandling) -> str | None:
    """The observation for a tool's exception, or None when it must propagate.

    A `ToolException` (a tool's deliberate "this did not work" for the agent) is always an
    observation; other exceptions follow `handling` (see `ToolErrorHandling`).
    """
    default = f"Error: {type(exc).__name__}: {exc}"
    if isinstance(exc, ToolException) or handling is True:
        return default
    if handling is False:
        return None
    if isinstance(handling, str):
        return handling
    if isinstance(handling, (type, tuple)):
        return default if isinstance(exc, handling) else None
    if not isinstance(exc, _handled_types(handling)):
        return None
    return str(handling(exc))


class _ActionStopped(Exception):
    """A tool call passed its time limit; the call is abandoned."""


class ToolPool(Executor):
    """A bounded pool of daemon threads for sync tools.

    Threads start as calls need them, up to `size`. They are daemon threads: a tool call
    that never returns (abandoned after its timeout) does not keep the process from
    exiting, as it would in a `ThreadPoolExecutor`, whose threads are joined at exit.
    """

    def __init__(self, size: int) -> None:
        """A pool of at most `size` threads."""
        self.size = max(int(size), 1)
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._queued = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `fn(*args, **kwargs)` on a pool thread."""
        future: Future[Any] = Future()
        call = functools.partial(fn, **kwargs) if kwargs else fn
        with self._lock:
            self._queued += 1
            spawn = self._queued > self._idle and self._threads < self.size
            if spawn:
                self._threads += 1
        self._queue.put((future, call, args))
        if spawn:
            threading.Thread(target=self._work, name="lumos-tool", daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            future, call, args = self._queue.get()
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call(*args)
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)
            else:
                future.set_result(result)


_POOLS: dict[int, ToolPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(size: int) -> ToolPool:
    """The thread pool of sync tools (one per size; shared by runs, not asyncio's)."""
    size = max(int(size), 1)
    with _POOLS_LOCK:
        if size not in _POOLS:
            _POOLS[size] = ToolPool(size)
        return _POOLS[size]


def _native_async(tool: BaseTool) -> bool:
    """Whether the tool has its own async implementation (else it is run on a thread)."""
    arun = type(tool)._arun
    if arun is BaseTool._arun:
        return False
    if arun in (StructuredTool._arun, Tool._arun):
        return getattr(tool, "coroutine", None) is not None
    return True


def _deadline(state: LumosState, ctx: LumosContext | None = None) -> float | None:
    """The run's wall-clock deadline (epoch seconds), from `time_limit_s`."""
    started, limit = state.get("started_at"), (ctx or context_of()).time_limit_s
    return started + limit if started and limit is not None else None


def _time_limit(deadline: float | None, timeout: float | None) -> tuple[float | None, str]:
    """Seconds this call may take, and the budget that sets them."""
    left = None if deadline is None else max(deadline - time.time(), 0.0)
    if left is not None and (timeout is None or left < timeout):
        return left, "budget:time_limit"
    return timeout, "action_timeout_s"


def _stopped(tool: BaseTool, seconds: float | None, why: str) -> _ActionStopped:
    if why == "action_timeout_s":
        return _ActionStopped(f"{tool.name} did not finish within {seconds:g} s (action_timeout_s).")
    return _ActionStopped(f"{tool.name} was stopped by the run's time limit (budget:time_limit).")


class NestedModelTokens(BaseCallbackHandler):
    """Counts the tokens of model calls a tool makes (e.g. the QA tool's model).

    Reported usage where the model gives it, else estimated from the text. It hears model
    events only and runs inline (no thread hop per event in async runs) unless the run has
    handlers that are not inline.
    """

    run_inline = True

    @property
    def ignore_chain(self) -> bool:
        """Chain events are not counted."""
        return True

    @property
    def ignore_agent(self) -> bool:
        """Tool (and agent) events are not counted."""
        return True

    @property
    def ignore_retriever(self) -> bool:
        """Retriever events are not counted."""
        return True

    @property
    def ignore_retry(self) -> bool:
        """Retry events are not counted."""
        return True

    @property
    def ignore_custom_event(self) -> bool:
        """Custom events are not counted."""
        return True

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._prompts: dict[UUID, str] = {}
        self._lock = threading.Lock()

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Remember the prompt (to estimate tokens a model does not report)."""
        self._prompts[run_id] = "".join(prompts)

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Remember the messages (to estimate tokens a model does not report)."""
        self._prompts[run_id] = "".join(str(m.content) for batch in messages for m in batch)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Add the call's tokens."""
        prompt = self._prompts.pop(run_id, "")
        text = "".join(g.text for gens in response.generations for g in gens)
        p, c = llm_usage(response, prompt, text)
        for gens in response.generations:
            for gen in gens:
                meta = getattr(getattr(gen, "message", None), "usage_metadata", None)
                if meta:
                    p, c = meta.get("input_tokens", 0), meta.get("output_tokens", 0)
        with self._lock:
            self.prompt_tokens += p
            self.completion_tokens += c

    def usage(self) -> dict[str, int]:
        """The counted tokens as `ModuleUsage` fields (empty when the tool called no model)."""
        if not (self.prompt_tokens or self.completion_tokens):
            return {}
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


def _counting(config: RunnableConfig, counter: NestedModelTokens) -> RunnableConfig:
    callbacks = config.get("callbacks")
    if callbacks is None:
        others: list[Any] = []
        handlers: Any = [counter]
    elif isinstance(callbacks, list):
        others = list(callbacks)
        handlers = [*callbacks, counter]
    else:
        others = [*callbacks.handlers, *callbacks.inheritable_handlers]
        handlers = callbacks.copy()
        handlers.add_handler(counter, inherit=True)
    # An async model call tells only the inline handlers that it starts when any handler
    # is inline (langchain-core's `AsyncCallbackManager.on_llm_start`): next to a caller's
    # ordinary handler the counter is not inline, so that handler still sees the call.
    if any(not getattr(h, "run_inline", False) for h in others):
        counter.run_inline = False
    return {**config, "callbacks": handlers}


def _call_tool(
    tool: BaseTool,
    args: dict[str, Any],
    config: RunnableConfig,
    deadline: float | None,
    counter: NestedModelTokens,
) -> Any:
    """Invoke a tool within the action timeout and the run's deadline."""
    config = _counting(config, counter)
    ctx = context_of()
    limit, why = _time_limit(deadline, ctx.action_timeout_s)
    if limit is None:
        return tool.invoke(args, config=config)
    call = functools.partial(tool.invoke, args, config=config)
    future = _pool(ctx.tool_threads).submit(contextvars.copy_context().run, call)
    try:
        return future.result(timeout=limit)
    except FutureTimeout:
        future.cancel()
        raise _stopped(tool, limit, why) from None


async def _acall_tool(
    tool: BaseTool,
    args: dict[str, Any],
    config: RunnableConfig,
    deadline: float | None,
    counter: NestedModelTokens,
) -> Any:
    """Invoke a tool within the action timeout and the run's deadline (async)."""
    config = _counting(config, counter)
    ctx = context_of()
    limit, why = _time_limit(deadline, ctx.action_timeout_s)
    if _native_async(tool):
        pending: Any = tool.ainvoke(args, config=config)
        if limit is None:
            return await pending
        if sys.version_info >= (3, 11):  # a deadline on this task: no task of its own
            scope = asyncio.timeout(limit)
            try:
                async with scope:
                    return await pending
            except TimeoutError:
                if scope.expired():
                    raise _stopped(tool, limit, why) from None
                raise  # the tool's own time-out, not ours
    else:  # sync tools run on Lumos's pool: a hung one never blocks asyncio's default pool
        call = functools.partial(tool.invoke, args, config=config)
        loop = asyncio.get_running_loop()
        pending = loop.run_in_executor(_pool(ctx.tool_threads), contextvars.copy_context().run, call)
    try:
        return await asyncio.wait_for(pending, limit)
    except asyncio.TimeoutError:
        raise _stopped(tool, limit, why) from None


def _check_input(tool: BaseTool, args: dict[str, Any]) -> str | None:
    """An observation when the arguments do not fit the tool's input schema (model-caused)."""
    try:
        validate = getattr(_schema(tool).input_schema, "model_validate", None)
        if validate is not None:
            validate(args)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors())
        return f"Error: {tool.name} got arguments that do not fit it: {detail}."
    except Exception:  # a schema we cannot check: the tool checks its input itself
        return None
    return None


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


def _over_cap(batch: list[GroundedAction], limit: int) -> set[str]:
    """Ids of the grounding's actions past `max_actions_per_subgoal` (in plan order)."""
    actions = [a for a in batch if not a.get("error")]
    return {a["id"] for a in actions[max(limit, 0) :]}


def subgoal_label(state: LumosState, index: int) -> str:
    """What traces call subgoal `index`: `Subgoal k: <text>` (one-time: the plan's line).

    Every run of a subgoal's grounding and actions carries it as `lumos_subgoal` metadata,
    so a trace groups by subgoal (LangGraph parents each node's run to the graph's run).
    """
    for sub in state.get("subgoals", []):
        if sub["index"] == index:
            return f"Subgoal {index}: {sub['text']}"
    turns = state.get("planner_turns", [])
    return turns[-1]["content"] if index == 0 and turns else f"Subgoal {index}"


def _reads(action: GroundedAction) -> set[str]:
    """The variables an action reads."""
    names = set(find_variables(action["args"]))
    for value in (action.get("kwargs") or {}).values():
        if isinstance(value, str):
            names.update(find_variables(value))
            names.add(value.strip())
    return names


def _read_values(action: GroundedAction, store: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values of the variables an action reads."""
    return {k: store[k] for k in _reads(action) if k in store}


def _passed_values(setup: Setup, variables: dict[str, Any]) -> dict[str, Any]:
    """The variables as an action reads them; the small profile passes a QA result's answer."""
    if setup.domain.profile != "small":
        return variables
    from langchain_lumos.profiles import substitution_value

    return {name: substitution_value(value) for name, value in variables.items()}


def record_unrunnable(state: LumosState, ctx: LumosContext, *, reserve: int = 3) -> dict[str, Any]:
    """The observations of the grounding's actions that cannot run, and a budget stop.

    Unrunnable: everything once a step or time budget is spent, grounder output that is
    not an action, actions past `max_actions_per_subgoal` (skipped, never re-grounded),
    and actions reading a variable whose action did not succeed. An order-only
    dependency (an action waiting to overwrite a variable others read) is no reason to
    skip.

    Args:
        state: The graph state (its latest grounding is the one looked at).
        ctx: The run settings.
        reserve: Graph steps to keep for finishing, seen from the step that calls this.

    Returns:
        A state update: `observations` for the unrunnable actions and `stop_reason` when a
        budget is spent; empty when every pending action can run.
    """
    pending, done = _pending(state)
    batch = current_batch(state)
    by_id = {a["id"]: a for a in batch}
    over = _over_cap(batch, ctx.max_actions_per_subgoal)
    # Tools spend no model tokens; the step and time budgets still apply here.
    exhausted = budget_exhausted(state, ctx, tokens=False, reserve=reserve)
    observations: list[Observation] = []
    for action in pending:
        if exhausted:
            observations.append(_observation(action, "skipped", f"Skipped: {exhausted}."))
        elif action.get("error"):
            observations.append(_observation(action, "error", f"Error: {action['error']}"))
        elif action["id"] in over:
            limit = ctx.max_actions_per_subgoal
            observations.append(
                _observation(
                    action,
                    "skipped",
                    f"Skipped: over the budget of {limit} actions per subgoal (max_actions_per_subgoal).",
                )
            )
        else:
            reads = _reads(action)
            failed = [
                d
                for d in action["depends_on"]
                if done.get(d) in ("error", "skipped")
                and (d not in by_id or set(by_id[d]["variables"]) & reads)
            ]
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


def create_executor_node(setup: Setup, *, route: Route | None = None) -> Runnable[Any, Any]:
    """Build the join node: records unrunnable actions; its route sends the rest.

    Concurrent actions meet here before the next ones are sent (see `record_unrunnable`
    for what it records); so do reviewed groundings. With `route`, it routes itself.
    """

    def execute(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        _, ctx = runtime_and_context()
        return record_unrunnable(state, ctx)

    async def aexecute(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        return execute(state, config)

    return make_node(execute, aexecute, EXECUTOR, route=route)


def _ready(
    pending: list[GroundedAction],
    done: Mapping[str, str],
    batch: list[GroundedAction],
    tools: dict[str, BaseTool],
) -> list[GroundedAction]:
    """The pending actions to send now: inputs ready, sequential tools in plan order."""
    ready = [a for a in pending if all(d in done for d in a["depends_on"])]
    return _in_order(ready, batch, dict(done), tools) if ready else []


def _dispatch(
    setup: Setup, state: LumosState, ctx: LumosContext, runtime: Runtime[Any]
) -> list[Send] | str | Command[Any]:
    """`Send` the ready actions of the latest grounding, or the next step when none is left.

    Called by one task alone (the grounder, the join, an action that ran alone), so a run
    that ends here is answered here (see `answer_here`).
    """
    pending, done = _pending(state)
    batch = current_batch(state)
    ready = _ready(pending, done, batch, setup.tool_map(runtime))
    if ready:
        last = batch[-1]
        deadline = _deadline(state, ctx)
        store = state.get("variables", {})
        sends = []
        for action in ready:
            values = _read_values(action, store)
            question = None
            if (
                setup.mode == "onetime"
                and setup.domain.final_qa
                and action["id"] == last["id"]
                and action["name"] == "QA"
            ):
                # Lumos-O: HotpotQA asks the last QA the task; StrategyQA its own question + suffix.
                own = _question_argument(action)
                position = [a["id"] for a in batch].index(action["id"])
                question = onetime_qa_question(setup.domain, state["task"], own, position=position)
            task = ActionTask(
                action=action,
                variables=values,
                question=question,
                deadline=deadline,
                episode=len(state.get("episodes", [])),
                subgoal=subgoal_label(state, action["subgoal"]),
            )
            if question is not None and setup.domain.profile == "small":
                task["exclude"] = bridge_answers(state, action)
            sends.append(Send(EXECUTE_ACTION, task))
        return sends
    if pending or setup.mode == "onetime":
        return answer_here(setup, state, runtime)
    over = _over_cap(batch, ctx.max_actions_per_subgoal)
    failed = any(done.get(a["id"]) != "success" for a in batch if a["id"] not in over)
    if failed and batch and batch[-1]["attempt"] < ctx.max_regrounds:
        return "grounder"
    if _reward_returned(setup, state, batch):
        return answer_here(setup, state, runtime)
    return "planner"


def answer_here(setup: Setup, state: LumosState, runtime: Runtime[Any]) -> str | Command[Any]:
    """End the run from the step that routes: answer in it, or in `finalize` if a QA call is due.

    Only for a step that one task runs alone (its state is the whole state): the answer is
    then what `finalize` would write one step later (see `final_answer_update`).
    """
    if needs_final_qa(setup, state, runtime):
        return FINALIZE
    return Command(update=final_answer_update(setup, state), goto=END)


def route_executor(setup: Setup) -> Any:
    """Build the router after the executor: `Send` ready actions, or move on."""

    def route(state: LumosState, runtime: Runtime[Any]) -> list[Send] | str | Command[Any]:
        if state.get("stop_reason"):
            return answer_here(setup, state, runtime)
        return _dispatch(setup, state, context_of(runtime), runtime)

    return route


def route_action(setup: Setup) -> Any:
    """Build the router after one action: the next actions, the join, or the next step.

    Each finished action routes with the state as it left it (its own result, not its
    siblings'). An action that ran alone sees everything: it sends the next ready actions
    itself, or moves on to the planner, the grounder or the answer (written in its own
    step). When some action cannot run now (a failed input, a spent budget), the
    `executor` join records that first. Concurrent actions meet in the `executor` join,
    except the one-time plan's last actions, which go straight to the answer: when the
    plan's last action alone decides it (`_decides_answer`), that action writes it in its
    own step and its siblings end (if it failed, it goes to `finalize`, which reads all
    their results); otherwise all go to `finalize`. None of them sees the others'
    results. The `final_answer` event then comes when that last action finishes, which
    can be before a sibling's `action_finished`.
    """

    def route(state: LumosState, runtime: Runtime[Any]) -> list[Send] | str | Command[Any]:
        ctx = context_of(runtime)
        observations = state.get("observations", [])
        own = observations[-1]["action_id"] if observations else None
        batch = current_batch(state)
        done = {o["action_id"]: o["status"] for o in observations}
        before = {k: v for k, v in done.items() if k != own}
        waiting = [a for a in batch if a["id"] not in before]
        wave = _ready(waiting, before, batch, setup.tool_map(runtime))
        alone = len(wave) == 1 and wave[0]["id"] == own
        if state.get("stop_reason"):
            return answer_here(setup, state, runtime) if alone else FINALIZE
        if own not in {a["id"] for a in wave}:  # not a state this route was written for: the join decides
            return EXECUTOR
        if not alone:
            # Only what every sibling sees alike may decide here (not the clock).
            last_wave = len(wave) == len(waiting)
            if (
                setup.mode == "onetime"
                and last_wave
                and ctx.time_limit_s is None
                and budget_exhausted(state, ctx, tokens=False, reserve=4) is None
            ):
                # The plan's last action answers when its own result decides the answer;
                # its siblings end with it (else all go to `finalize`, which reads them all).
                position = {a["id"]: i for i, a in enumerate(batch)}
                last = max(wave, key=lambda a: position[a["id"]])
                if not _decides_answer(setup, last, wave):
                    return FINALIZE
                if own != last["id"]:
                    return END
                if observations[-1]["status"] == "success" and (
                    setup.domain.answer != "qa" or "Answer: " in observations[-1]["output"]
                ):
                    return answer_here(setup, state, runtime)
                return FINALIZE
            return EXECUTOR
        # The join would run one step later: keep one more step in reserve.
        if record_unrunnable(state, ctx, reserve=4):
            return EXECUTOR
        return _dispatch(setup, state, ctx, runtime)

    return route


def _decides_answer(setup: Setup, last: GroundedAction, wave: list[GroundedAction]) -> bool:
    """Whether `last`, the plan's last action of a concurrent final wave, alone decides the answer.

    `finalize` reads the last successful QA answer (QA domains: observations are in plan
    order) or the `Output` (else highest `R<k>`) variable. When `last` succeeds with such
    a result, it is the answer unless a sibling writes `Output` or a higher `R<k>`; this
    checks the siblings (known before any result).
    """
    if setup.domain.answer == "qa":
        return True
    numbers = [int(m.group(1)) for v in last["variables"] if (m := _R_RE.match(v))]
    if "Output" not in last["variables"] and not numbers:
        return False
    top = max(numbers, default=0)
    for sibling in wave:
        if sibling is last:
            continue
        for v in sibling["variables"]:
            m = _R_RE.match(v)
            if v == "Output" or ("Output" not in last["variables"] and m and int(m.group(1)) > top):
                return False
    return True


def _reward_returned(setup: Setup, state: LumosState, batch: list[GroundedAction]) -> bool:
    """WebShop: the episode ended (the grounding's last action returned the reward)."""
    profile = setup.domain.dataset
    actions = [a for a in batch if a["variables"]]
    if profile is None or profile.answer != "reward" or not actions:
        return False
    value = state.get("variables", {}).get(actions[-1]["variables"][0])
    return isinstance(value, float)


# -- one action ----------------------------------------------------------------------------


def create_execute_action_node(setup: Setup, *, route: Route | None = None) -> Runnable[Any, Any]:
    """Build the worker that executes one action with its tool; with `route`, it routes itself."""

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
                bind_arguments(
                    tool,
                    action,
                    _passed_values(setup, task["variables"]),
                    question=task.get("question"),
                    exclude=task.get("exclude"),
                ),
                None,
            )
        except ToolArgumentError as exc:
            return action, tool, None, f"Error: {exc}"

    def _finish(
        action: GroundedAction, value: Any, error: str | None, start: float, counter: NestedModelTokens
    ) -> dict[str, Any]:
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
        usage: dict[str, Any] = {"executor": {"calls": 1, "seconds": seconds}}
        if action["name"]:
            usage[f"tool:{action['name']}"] = {"calls": 1, "seconds": seconds, **counter.usage()}
        return {"observations": [obs], "variables": variables, "usage": usage}

    def _config(config: RunnableConfig, task: ActionTask) -> RunnableConfig:
        action = task["action"]
        tags, meta = setup.trace(
            "executor",
            subgoal_index=action["subgoal"],
            subgoal=task.get("subgoal", ""),
            action_id=action["id"],
        )
        return {
            **config,
            "run_name": action["name"],
            "tags": [*config.get("tags", []), *tags],
            "metadata": {**config.get("metadata", {}), **meta},
        }

    def _journal_key(config: RunnableConfig, task: ActionTask) -> JournalKey | None:
        conf = config.get("configurable", {})
        thread = conf.get("thread_id")
        if setup.journal is None or thread is None:
            return None
        # The task's own namespace ends with its task id; the graph's namespace is stable.
        ns = "|".join(str(conf.get("checkpoint_ns", "")).split("|")[:-1])
        return (str(thread), ns, task.get("episode", 0), task["action"]["id"])

    def _recorded(key: JournalKey | None) -> dict[str, Any] | None:
        if key is None or setup.journal is None:
            return None
        outcome = setup.journal.get(key)
        return outcome if isinstance(outcome, dict) else None

    def _record(key: JournalKey | None, value: Any, error: str | None) -> None:
        if key is None or setup.journal is None:
            return
        try:
            setup.journal.put(key, {"value": value, "error": error})
        except (TypeError, ValueError):  # a value the serializer cannot store: not journaled
            return

    def _failure(exc: Exception) -> str:
        if isinstance(exc, _ActionStopped):
            return f"Error: {exc}"
        text = tool_error_text(exc, setup.handle_tool_errors)
        if text is None:
            raise exc
        return text

    def run(task: ActionTask, config: RunnableConfig) -> dict[str, Any]:
        start = time.perf_counter()
        action, tool, args, error = _prepare(task)
        emit("action_started", action_id=action["id"], action=action["text"])
        value: Any = None
        counter = NestedModelTokens()
        if error is None and tool is not None:
            error = _check_input(tool, args or {})
        key = _journal_key(config, task) if error is None and tool else None
        if (recorded := _recorded(key)) is not None:  # finished before a crash: not again
            return _finish(action, recorded["value"], recorded["error"], start, counter)
        if error is None:
            try:
                value = (
                    _call_tool(tool, args or {}, _config(config, task), task.get("deadline"), counter)
                    if tool
                    else _resolve(action["args"], task["variables"])
                )
            except GraphBubbleUp:
                raise
            except ToolArgumentError as exc:
                error = f"Error: {exc}"
            except Exception as exc:  # a failing tool is an observation, not a crash
                error = _failure(exc)
            _record(key, value, error)
        return _finish(action, value, error, start, counter)

    async def arun(task: ActionTask, config: RunnableConfig) -> dict[str, Any]:
        start = time.perf_counter()
        action, tool, args, error = _prepare(task)
        emit("action_started", action_id=action["id"], action=action["text"])
        value: Any = None
        counter = NestedModelTokens()
        if error is None and tool is not None:
            error = _check_input(tool, args or {})
        key = _journal_key(config, task) if error is None and tool else None
        if (recorded := _recorded(key)) is not None:  # finished before a crash: not again
            return _finish(action, recorded["value"], recorded["error"], start, counter)
        if error is None:
            try:
                value = (
                    await _acall_tool(tool, args or {}, _config(config, task), task.get("deadline"), counter)
                    if tool
                    else _resolve(action["args"], task["variables"])
                )
            except GraphBubbleUp:
                raise
            except ToolArgumentError as exc:
                error = f"Error: {exc}"
            except Exception as exc:  # a failing tool is an observation, not a crash
                error = _failure(exc)
            _record(key, value, error)
        return _finish(action, value, error, start, counter)

    return make_node(run, arun, EXECUTE_ACTION, route=route, sent=True)


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


def _final_qa(
    setup: Setup, state: LumosState, runtime: Runtime[Any]
) -> tuple[BaseTool, dict[str, Any]] | None:
    """The final QA call of iterative complex QA (its tool and arguments), if one is due.

    The original (eval style) asks the task over every `Question: ...; Answer: ...` result.
    The small-model profile asks it over the evidence of the last `QA` action instead (see
    `_small_final_qa`).
    """
    if setup.mode != "iterative" or not setup.domain.final_qa:
        return None
    tool = setup.tool_map(runtime).get("QA")
    if tool is None:
        return None
    question = final_qa_question(setup.domain, state["task"])
    if setup.domain.profile == "small":
        return _small_final_qa(setup, tool, state, question)
    results = [v for v in state.get("variables", {}).values() if isinstance(v, str) and "Question: " in v]
    if not results:
        return None
    return tool, {"context": final_qa_context(results), "question": question}


def _small_final_qa(
    setup: Setup, tool: BaseTool, state: LumosState, question: str
) -> tuple[BaseTool, dict[str, Any]] | None:
    """The small profile's final QA: the task asked over the last `QA` action's evidence.

    A small grounder often rewrites the question it grounds ("Who built the Eiffel Tower?"
    for "In which city is the Eiffel Tower?"), and a small model re-reading its own
    `Question: ...; Answer: ...` results answers worse than from evidence. So, as Lumos-O
    asks its plan's last `QA` the task, the task is asked over the evidence the last
    successful `QA` action read (its `[R2]`, the bridge entity's page on a second hop).
    None (no call) when no `QA` ran, or when the last one already asked the task.
    """
    actions = {a["id"]: a for a in state.get("actions", [])}
    for obs in reversed(state.get("observations", [])):
        action = actions.get(obs["action_id"])
        if obs["status"] != "success" or action is None or action["name"] != "QA":
            continue
        if _plain(_question_argument(action)) == _plain(question):
            return None
        values = _passed_values(setup, _read_values(action, state.get("variables", {})))
        exclude = bridge_answers(state, action)
        try:
            return tool, bind_arguments(tool, action, values, question=question, exclude=exclude)
        except ToolArgumentError:  # it ran, so its arguments fit; a changed tool asks nothing
            return None
    return None


def _question_argument(action: GroundedAction) -> str:
    """A `QA` action's own `Question: ...` argument (`""` when it has none)."""
    return next((v for k, v in split_arguments(action["args"])[1] if k.lower() == "question"), "")


def _plain(text: str) -> str:
    """Text compared without case and punctuation."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def bridge_answers(state: LumosState, action: GroundedAction) -> list[str]:
    """The earlier `QA` answers that an action's evidence chain looked up: its bridge entities.

    The chain is the action and every action whose result it reads, transitively. An
    answer of another `QA` action is a bridge when a chain action's argument is that
    answer (`KnowledgeQuery(Mali)`, or `KnowledgeQuery(R3)` with R3 answered Mali). A
    multi-hop task asked over the bridge's page is never answered by the bridge itself
    (the small profile's `QA` excludes it). Answers are read as the small profile passes
    them (`substitution_value`).
    """
    from langchain_lumos.profiles import substitution_value

    actions = state.get("actions", [])
    store = state.get("variables", {})
    maker = {name: a for a in actions for name in a["variables"]}
    chain, todo = {action["id"]: action}, [action]
    while todo:
        for name in _reads(todo.pop()):
            made = maker.get(name)
            if made is not None and made["id"] not in chain:
                chain[made["id"]] = made
                todo.append(made)
    answers: dict[str, str] = {}
    for other in actions:
        if other["name"] == "QA" and other["id"] != action["id"]:
            for name in other["variables"]:
                value = store.get(name)
                if isinstance(value, str) and "Answer: " in value:
                    answer = str(substitution_value(value))
                    answers.setdefault(_plain(answer), answer)
    answers.pop("", None)
    if not answers:
        return []
    values = {k: substitution_value(v) for k, v in store.items()}
    found: list[str] = []
    for link in chain.values():
        positional, keywords = split_arguments(link["args"])
        for part in [positional or "", *(v for _, v in keywords)]:
            bridge = answers.get(_plain(substitute_variables(part, values)))
            if bridge is not None and bridge not in found:
                found.append(bridge)
    return found


def needs_final_qa(setup: Setup, state: LumosState, runtime: Runtime[Any]) -> bool:
    """Whether answering takes a final QA call (the `finalize` step); else any step can answer."""
    return _final_qa(setup, state, runtime) is not None


def _fallback(setup: Setup, state: LumosState) -> str | None:
    """The answer read from the results: the last QA answer, else the latest value.

    The small-model profile answers only with a QA answer (None when no QA call
    answered): its latest value is raw retrieved text, never an answer.
    """
    if setup.domain.answer == "qa":
        for obs in reversed(state.get("observations", [])):
            if obs["status"] == "success" and "Answer: " in obs["output"]:
                return _answer_text(obs["output"])
        if setup.domain.profile == "small":
            return None
    return _answer_text(_latest_value(state))


def final_answer_update(setup: Setup, state: LumosState, answer: str | None = None) -> dict[str, Any]:
    """The update that ends a run: the answer (`answer`, else read from the results) and why.

    The step that stops a run writes it itself when no final QA call is due (see
    `needs_final_qa`), so answering takes no extra step.
    """
    answer = answer or _fallback(setup, state)
    reason = state.get("stop_reason") or ("plan_complete" if setup.mode == "onetime" else "planner_stop")
    emit("final_answer", answer=answer, stop_reason=reason)
    messages = len(state.get("messages", []))
    update: dict[str, Any] = {
        "answer": answer,
        "stop_reason": reason,
        "finished_task": state.get("task", ""),
        "finished_messages": messages,
    }
    if answer is not None:
        update["messages"] = [AIMessage(answer, name="lumos")]
        update["finished_messages"] = messages + 1
    return update


def create_finalize_node(setup: Setup) -> Runnable[Any, Any]:
    """Build the node that reads the final answer from what the agent has (final QA included)."""

    def _qa_request(state: LumosState) -> tuple[BaseTool, dict[str, Any]] | None:
        runtime, _ = runtime_and_context()
        return _final_qa(setup, state, runtime)

    def _qa_config(config: RunnableConfig) -> RunnableConfig:
        tags, meta = setup.trace("executor", final_qa=True)
        return {
            **config,
            "run_name": "QA",
            "tags": [*config.get("tags", []), *tags],
            "metadata": {**config.get("metadata", {}), **meta},
        }

    def _qa_usage(start: float, counter: NestedModelTokens) -> dict[str, Any]:
        seconds = time.perf_counter() - start
        # The final QA is not a grounded action: it counts under `finalize`, not `executor`.
        return {
            "finalize": {"calls": 1, "seconds": seconds},
            "tool:QA": {"calls": 1, "seconds": seconds, **counter.usage()},
        }

    def _qa_failed(exc: Exception) -> None:
        if not isinstance(exc, _ActionStopped) and tool_error_text(exc, setup.handle_tool_errors) is None:
            raise exc

    def finalize(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        request = _qa_request(state)
        answer, usage = None, {}
        if request:
            start, counter = time.perf_counter(), NestedModelTokens()
            try:
                answer = _useful(
                    _answer_text(_call_tool(*request, _qa_config(config), _deadline(state), counter))
                )
            except GraphBubbleUp:  # an interrupt (or a parent-graph command) inside the QA
                raise
            except Exception as exc:  # the fallback below still answers from what we have
                _qa_failed(exc)
            usage = _qa_usage(start, counter)
        return {**final_answer_update(setup, state, answer), **({"usage": usage} if usage else {})}

    async def afinalize(state: LumosState, config: RunnableConfig) -> dict[str, Any]:
        request = _qa_request(state)
        answer, usage = None, {}
        if request:
            start, counter = time.perf_counter(), NestedModelTokens()
            try:
                answer = _useful(
                    _answer_text(await _acall_tool(*request, _qa_config(config), _deadline(state), counter))
                )
            except GraphBubbleUp:  # an interrupt (or a parent-graph command) inside the QA
                raise
            except Exception as exc:  # the fallback below still answers from what we have
                _qa_failed(exc)
            usage = _qa_usage(start, counter)
        return {**final_answer_update(setup, state, answer), **({"usage": usage} if usage else {})}

    return make_node(finalize, afinalize, FINALIZE)
