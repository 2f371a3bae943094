"""`LumosAgent`: the Lumos graph as a LangChain Runnable."""

from __future__ import annotations

import inspect
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from langchain_core.messages import (
    BaseMessage,
    HumanMessage,
    MessageLikeRepresentation,
    convert_to_messages,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.graph import Graph
from langchain_core.tools import BaseTool, StructuredTool
from langchain_core.utils.pydantic import TypeBaseModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from pydantic import BaseModel, Field, create_model

from langchain_lumos.context import LumosContext
from langchain_lumos.errors import ThreadNotFoundError
from langchain_lumos.graph import create_lumos_graph
from langchain_lumos.persistence import checkpoint_location, damaged_store_error
from langchain_lumos.state import LumosOutputState, subgoal_result

__all__ = ["MIN_RECURSION_LIMIT", "LumosAgent", "LumosInput", "LumosToolInput", "create_lumos_agent"]

LumosInput = str | dict[str, Any] | Sequence[MessageLikeRepresentation] | Command | None
"""A task string, `{"task": ...}`, chat messages, a `Command` answering a review, or None."""

MIN_RECURSION_LIMIT = 3
"""The least `recursion_limit` a run can end within (plan, then answer)."""

_INPUT_KEYS = ("task", "messages", "variables")
_INTERRUPT = "__interrupt__"
"""The output key of a paused run's interrupts (LangGraph's)."""
_Params = ParamSpec("_Params")
_R = TypeVar("_R")


def _as_input(value: LumosInput) -> dict[str, Any] | Command | None:
    if value is None or isinstance(value, Command):
        return value  # None resumes the thread in `config`; Command answers an interrupt
    if isinstance(value, str):
        return {"task": _task(value)}
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(_INPUT_KEYS))
        if unknown:
            msg = f"Unknown input keys {unknown}; a Lumos run takes {list(_INPUT_KEYS)}."
            raise ValueError(msg)
        out = dict(value)
        if "task" in out:
            out["task"] = _task(out["task"])
        if "messages" in out:
            out["messages"] = _messages(out["messages"])
        elif "task" not in out:
            msg = "Input needs a 'task' (or 'messages' ending with the task)."
            raise ValueError(msg)
        if not isinstance(out.get("variables", {}), dict):
            msg = f"'variables' must be a dict of name -> value, got {type(out['variables']).__name__}."
            raise TypeError(msg)
        return out
    if isinstance(value, Sequence):
        return {"messages": _messages(value)}
    msg = f"Lumos input must be a task string, a dict or messages, got {type(value).__name__}."
    raise TypeError(msg)


def _task(value: Any) -> str:
    if not isinstance(value, str):
        msg = f"The task must be a string, got {type(value).__name__}: {value!r}."
        raise TypeError(msg)
    if not value.strip():
        msg = "The task is empty."
        raise ValueError(msg)
    return value


def _messages(value: Any) -> list[BaseMessage]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        msg = f"'messages' must be a list of messages, got {type(value).__name__}."
        raise TypeError(msg)
    try:
        messages = convert_to_messages(value)
    except (ValueError, TypeError, NotImplementedError) as exc:
        msg = f"Messages input must be messages, (role, content) tuples or role/content dicts: {exc}"
        raise TypeError(msg) from exc
    if not any(isinstance(m, HumanMessage) for m in messages):
        msg = "Messages input needs a human message holding the task."
        raise ValueError(msg)
    return messages


class LumosToolInput(BaseModel):
    """Input of a Lumos agent used as a tool."""

    task: str = Field(description="The task or question to solve, stated in full.")


class LumosAgent(Runnable[LumosInput, dict[str, Any]]):
    """A Lumos agent (planner, grounder, executor) usable anywhere a Runnable is.

    `invoke` returns the final state (`LumosOutputState`): `answer`, `stop_reason`,
    `subgoals`, `actions`, `observations`, `variables`, `usage` and the module
    conversations, plus `__interrupt__` while a review waits for a decision.

    `stream` / `astream` follow the Runnable convention by default: they yield the output
    state after each step, the last chunk being the `invoke` result (whole states, so a
    chain keeps the last one), and the agent streams inside LCEL chains. Pass a LangGraph
    `stream_mode` for anything else; `stream_mode="custom"` yields the typed module events
    (each a dict with `event` in `subgoal_planned`, `actions_grounded`, `regrounded`,
    `action_started`, `action_finished`, `planning_stopped`, `plan_ruled`, `plan_retry`,
    `plan_unreadable`, `final_answer`).

    The agent only checks input and config before it runs `agent.graph`: the graph and
    the agent behave the same (durability included), so `agent.graph` can be a subgraph
    node of a larger graph. `agent.as_tool()` hands the agent to another agent.

    Example:
        ```python
        agent = create_lumos_agent(planner, grounder, tools, mode="iterative")
        result = agent.invoke("Which band released the album ...?")
        print(result["answer"], result["subgoals"])
        ```
    """

    def __init__(self, graph: CompiledStateGraph[Any, Any, Any, Any], *, name: str | None = None) -> None:
        """Wrap a compiled Lumos graph (from `create_lumos_graph`).

        Args:
            graph: The compiled graph.
            name: The agent's name (default: the graph's).
        """
        self.graph = graph
        self.name = name or graph.get_name()

    @property
    def InputType(self) -> Any:
        """The accepted input type."""
        return LumosInput

    @property
    def OutputType(self) -> Any:
        """The output type: `LumosOutputState`."""
        return LumosOutputState

    def get_output_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        """The output schema: the graph's (`LumosOutputState`)."""
        return self.graph.get_output_schema(config)

    def get_graph(self, config: RunnableConfig | None = None, *, xray: int | bool = False) -> Graph:
        """The graph's drawable structure (`xray` as in LangGraph)."""
        return self.graph.get_graph(config, xray=xray)

    # -- checks before a run ---------------------------------------------------------------

    def _prepare(
        self,
        input: LumosInput,
        config: RunnableConfig | None,
        context: LumosContext | dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> tuple[dict[str, Any] | Command | None, RunnableConfig | None, dict[str, Any]]:
        value = _as_input(input)
        limit = (config or {}).get("recursion_limit")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < MIN_RECURSION_LIMIT
        ):
            msg = (
                f"recursion_limit must be an integer of at least {MIN_RECURSION_LIMIT} for a Lumos run "
                f"(planning and answering are steps), got {limit!r}."
            )
            raise ValueError(msg)
        saver = self.graph.checkpointer
        if isinstance(saver, BaseCheckpointSaver):
            if not (config or {}).get("configurable", {}).get("thread_id"):
                msg = (
                    "This agent keeps threads (it has a checkpointer): pass "
                    "config={'configurable': {'thread_id': '...'}}."
                )
                raise ValueError(msg)
        elif value is None:
            msg = (
                "invoke(None) resumes a saved thread; this agent has no checkpointer (pass checkpointer=...)."
            )
            raise ValueError(msg)
        out = dict(kwargs)
        if context is not None:
            out["context"] = context
        return value, config, out

    def _resumable(self, found: bool, config: RunnableConfig | None) -> None:
        if found:
            return
        thread = (config or {}).get("configurable", {}).get("thread_id")
        where = checkpoint_location(self.graph.checkpointer)
        msg = (
            f"Nothing to resume: thread {thread!r} has no saved checkpoint"
            + (f" in {where}" if where else "")
            + ". It is a new thread, or its saved steps were lost (e.g. a deleted or damaged "
            "SQLite -wal file next to the database); run it again with its task (finished "
            "tool calls are then repeated)."
        )
        raise ThreadNotFoundError(msg)

    def _check(self, value: Any, config: RunnableConfig | None) -> None:
        """Before a resume (`None` input): the thread must have a saved checkpoint."""
        saver = self.graph.checkpointer
        if value is None and isinstance(saver, BaseCheckpointSaver):
            with _reading_checkpoints(saver):
                self._resumable(saver.get_tuple(config or {}) is not None, config)

    async def _acheck(self, value: Any, config: RunnableConfig | None) -> None:
        saver = self.graph.checkpointer
        if value is None and isinstance(saver, BaseCheckpointSaver):
            with _reading_checkpoints(saver):
                self._resumable(await saver.aget_tuple(config or {}) is not None, config)

    # -- Runnable --------------------------------------------------------------------------

    def invoke(
        self,
        input: LumosInput,
        config: RunnableConfig | None = None,
        *,
        context: LumosContext | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Run the agent to its answer (or to a review interrupt).

        `input` is the task (a string, `{"task": ...}`, or chat messages such as
        `[("user", task)]`), a `Command` answering a review interrupt, or None to resume
        the thread named in `config`.

        Raises:
            ThreadNotFoundError: `None` (resume) for a thread without a saved checkpoint.
            CheckpointStoreError: The SQLite checkpoint database is damaged.
            ValueError: Bad input or config (empty task, no `thread_id` with a
                checkpointer, `recursion_limit` below `MIN_RECURSION_LIMIT`).
        """
        value, config, options = self._prepare(input, config, context, kwargs)
        self._check(value, config)
        with _reading_checkpoints(self.graph.checkpointer):
            if _values_only(options):
                return _v1_output(self.graph.invoke(value, config, version="v2", **options))
            return self.graph.invoke(value, config, **options)

    async def ainvoke(
        self,
        input: LumosInput,
        config: RunnableConfig | None = None,
        *,
        context: LumosContext | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Async `invoke`."""
        value, config, options = self._prepare(input, config, context, kwargs)
        await self._acheck(value, config)
        with _reading_checkpoints(self.graph.checkpointer):
            if _values_only(options):
                return _v1_output(await self.graph.ainvoke(value, config, version="v2", **options))
            return await self.graph.ainvoke(value, config, **options)

    def stream(
        self,
        input: LumosInput,
        config: RunnableConfig | None = None,
        *,
        context: LumosContext | dict[str, Any] | None = None,
        stream_mode: Any = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Stream chunks of the output (default), or any LangGraph `stream_mode`.

        By default each chunk is the output state after a step; the last one is the
        `invoke` result. `stream_mode="custom"` yields the typed
        module events; a list of modes yields `(mode, chunk)` tuples.
        """
        value, config, options = self._prepare(input, config, context, kwargs)
        self._check(value, config)
        keys = self._output_keys()
        with _reading_checkpoints(self.graph.checkpointer):
            for chunk in self.graph.stream(value, config, stream_mode=stream_mode or "values", **options):
                yield chunk if stream_mode else {k: v for k, v in chunk.items() if k in keys}

    async def astream(
        self,
        input: LumosInput,
        config: RunnableConfig | None = None,
        *,
        context: LumosContext | dict[str, Any] | None = None,
        stream_mode: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Async `stream`."""
        value, config, options = self._prepare(input, config, context, kwargs)
        await self._acheck(value, config)
        keys = self._output_keys()
        with _reading_checkpoints(self.graph.checkpointer):
            async for chunk in self.graph.astream(
                value, config, stream_mode=stream_mode or "values", **options
            ):
                yield chunk if stream_mode else {k: v for k, v in chunk.items() if k in keys}

    def _output_keys(self) -> set[str]:
        channels = self.graph.output_channels
        return {channels, _INTERRUPT} if isinstance(channels, str) else {*channels, _INTERRUPT}

    def as_tool(
        self,
        args_schema: type[BaseModel] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        arg_types: dict[str, type] | None = None,
    ) -> BaseTool:
        """The agent as a tool: it takes a task and returns the answer with its evidence.

        The tool's content (what a calling model reads) is the answer, or why there is
        none, followed by each subgoal and its result; its artifact is the full output
        state. Each call runs on a fresh thread, so the tool works with a checkpointed
        agent and calls never mix.

        Args:
            args_schema: The tool's input schema (default: `LumosToolInput`, one `task`).
                Its fields are the run input (`task`, `messages`, `variables`).
            name: The tool name (default: `lumos_agent`).
            description: The tool description.
            arg_types: Input field types, instead of `args_schema`.

        Returns:
            A `StructuredTool` with `response_format="content_and_artifact"`.
        """
        if args_schema is None:
            fields: dict[str, Any] = {k: (t, ...) for k, t in (arg_types or {}).items()}
            args_schema = create_model("LumosToolInput", **fields) if fields else LumosToolInput

        def run(config: RunnableConfig, **task: Any) -> tuple[str, dict[str, Any]]:
            result = self.invoke(task, self._tool_config(config))
            return _tool_content(result), result

        async def arun(config: RunnableConfig, **task: Any) -> tuple[str, dict[str, Any]]:
            result = await self.ainvoke(task, self._tool_config(config))
            return _tool_content(result), result

        return StructuredTool.from_function(
            func=run,
            coroutine=arun,
            name=name or "lumos_agent",
            description=description
            or "Solve a multi-step task by planning subgoals and executing tools. Input: the task.",
            args_schema=args_schema,
            response_format="content_and_artifact",
        )

    def _tool_config(self, config: RunnableConfig) -> RunnableConfig:
        if not isinstance(self.graph.checkpointer, BaseCheckpointSaver):
            return config
        # A fresh thread per call: the caller's thread (a parent graph's) is not this agent's.
        configurable = {"thread_id": f"lumos-tool-{uuid.uuid4().hex}"}
        return {**config, "configurable": configurable}


_GRAPH_OUTPUT = "version" in inspect.signature(CompiledStateGraph.invoke).parameters
"""Whether this LangGraph's `invoke` can return a `GraphOutput` (`version="v2"`, LangGraph 1.1+)."""


def _values_only(options: dict[str, Any]) -> bool:
    """Whether a run can stream only the values (`version="v2"`) and still return what `invoke` does.

    LangGraph's default (`v1`) `invoke` also streams every task's updates, only to find
    interrupts in them; `v2` carries the interrupts with the values, so a run does that
    work once per step instead of once per task. A caller's own `stream_mode` or
    `version` is passed on as given.
    """
    return _GRAPH_OUTPUT and "version" not in options and options.get("stream_mode", "values") == "values"


def _v1_output(output: Any) -> Any:
    """A `GraphOutput` as `invoke` returns it by default: the output, with `__interrupt__` if paused."""
    value, interrupts = output.value, list(output.interrupts)
    if not interrupts:
        return value
    return {**value, _INTERRUPT: interrupts} if isinstance(value, dict) else {_INTERRUPT: interrupts}


def _tool_content(result: dict[str, Any]) -> str:
    if result.get(_INTERRUPT):
        lines = ["No answer yet: the run paused for human review."]
    elif result.get("answer") is None:
        lines = [f"No answer found (stopped: {result.get('stop_reason')})."]
    else:
        lines = [str(result["answer"])]
    state: Any = result
    subgoals = result.get("subgoals") or []
    if subgoals:
        lines.append("Subgoals and evidence:")
    for subgoal in subgoals:
        found = subgoal_result(state, subgoal["index"])
        lines.append(f"{subgoal['index']}. {subgoal['text']}" + (f" -> {found}" if found else ""))
    whole_plan = subgoal_result(state, 0)  # one-time mode grounds the plan as one unit
    if whole_plan:
        lines.append(f"Result of the plan: {whole_plan}")
    return "\n".join(lines)


@contextmanager
def _reading_checkpoints(checkpointer: Any) -> Iterator[None]:
    """Re-raise a damaged SQLite checkpoint database as `CheckpointStoreError`."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        where = checkpoint_location(checkpointer)
        if where is None or isinstance(exc, _NOT_DAMAGE):
            raise
        raise damaged_store_error(where, exc) from exc


_NOT_DAMAGE = (sqlite3.ProgrammingError, sqlite3.OperationalError, sqlite3.IntegrityError)
"""SQLite errors of use (a closed connection, a lock, a constraint), not of a damaged file."""


def _takes_arguments_of(
    factory: Callable[_Params, Any],
) -> Callable[[Callable[..., _R]], Callable[_Params, _R]]:
    """Give the decorated function `factory`'s parameters (for type checkers and `help`)."""

    def decorate(func: Callable[..., _R]) -> Callable[_Params, _R]:
        returns = inspect.signature(func).return_annotation
        signature = inspect.signature(factory).replace(return_annotation=returns)
        func.__signature__ = signature  # type: ignore[attr-defined]
        return func

    return decorate


@_takes_arguments_of(create_lumos_graph)
def create_lumos_agent(*args: Any, **kwargs: Any) -> LumosAgent:
    """Create a `LumosAgent`: `create_lumos_graph(...)` wrapped as a Runnable.

    It takes exactly the arguments of `create_lumos_graph` (planner, grounder, tools,
    mode, domain, grounding, review, checkpointer, ...), and the agent behaves as its
    graph does: `agent.invoke(x, config)` and `agent.graph.invoke(x, config)` run the
    same way (the agent only checks input and config first).
    """
    return LumosAgent(create_lumos_graph(*args, **kwargs))
