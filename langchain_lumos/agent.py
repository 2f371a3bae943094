"""`LumosAgent`: the Lumos graph as a LangChain Runnable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, Command

from langchain_lumos.context import LumosContext
from langchain_lumos.graph import Review, create_lumos_graph
from langchain_lumos.prompts import Domain
from langchain_lumos.setup import ModelLike, ToolsLike

__all__ = ["LumosAgent", "create_lumos_agent"]

LumosInput = str | dict[str, Any] | Sequence[BaseMessage] | Command | None


def _as_input(value: LumosInput) -> dict[str, Any] | Command | None:
    if value is None or isinstance(value, Command):
        return value  # None resumes the thread in `config`; Command answers an interrupt
    if isinstance(value, str):
        if not value.strip():
            msg = "The task is empty."
            raise ValueError(msg)
        return {"task": value}
    if isinstance(value, dict):
        if not value.get("task") and not value.get("messages"):
            msg = "Input needs a 'task' (or 'messages' ending with the task)."
            raise ValueError(msg)
        return value
    if isinstance(value, Sequence) and all(isinstance(m, BaseMessage) for m in value):
        if not any(isinstance(m, HumanMessage) for m in value):
            msg = "Messages input needs a human message holding the task."
            raise ValueError(msg)
        return {"messages": list(value)}
    msg = f"Lumos input must be a task string, a dict or messages, got {type(value).__name__}."
    raise TypeError(msg)


class LumosAgent(Runnable[LumosInput, dict[str, Any]]):
    """A Lumos agent (planner, grounder, executor) usable anywhere a Runnable is.

    `invoke` returns the final state: `answer`, `stop_reason`, `subgoals`, `actions`,
    `observations`, `variables`, `usage` and the module conversations. `stream` and
    `astream` yield typed module events by default (`stream_mode="custom"`): each a
    dict with `event` in `subgoal_planned`, `actions_grounded`, `regrounded`,
    `action_started`, `action_finished`, `planning_stopped`, `final_answer`.

    Use `agent.graph` as a subgraph node of a larger graph, and `agent.as_tool()` to hand
    the agent to another agent.

    Example:
        ```python
        agent = create_lumos_agent(planner, grounder, tools, mode="iterative")
        result = agent.invoke("Which band released the album ...?")
        print(result["answer"], result["subgoals"])
        ```
    """

    def __init__(self, graph: CompiledStateGraph, *, name: str = "lumos") -> None:
        self.graph = graph
        self.name = name

    @property
    def InputType(self) -> Any:
        """The accepted input type."""
        return LumosInput

    def _kwargs(
        self, context: LumosContext | dict[str, Any] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        out = dict(kwargs)
        if context is not None:
            out["context"] = context
        if self.graph.checkpointer is not None:
            # Save every step before the next starts: a crash never loses finished tool calls.
            out.setdefault("durability", "sync")
        return out

    def invoke(
        self,
        input: LumosInput,
        config: RunnableConfig | None = None,
        *,
        context: LumosContext | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Run the agent to its answer (or to a review interrupt).

        `input` is the task (a string, `{"task": ...}` or messages), a `Command` answering
        a review interrupt, or None to resume the thread named in `config`.
        """
        return self.graph.invoke(_as_input(input), config, **self._kwargs(context, kwargs))

    async def ainvoke(
        self,
        input: LumosInput,
        config: RunnableConfig | None = None,
        *,
        context: LumosContext | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Async `invoke`."""
        return await self.graph.ainvoke(_as_input(input), config, **self._kwargs(context, kwargs))

    def stream(
        self,
        input: LumosInput,
        config: RunnableConfig | None = None,
        *,
        context: LumosContext | dict[str, Any] | None = None,
        stream_mode: Any = "custom",
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Stream module events (`custom`), or any LangGraph stream mode."""
        yield from self.graph.stream(
            _as_input(input), config, stream_mode=stream_mode, **self._kwargs(context, kwargs)
        )

    async def astream(
        self,
        input: LumosInput,
        config: RunnableConfig | None = None,
        *,
        context: LumosContext | dict[str, Any] | None = None,
        stream_mode: Any = "custom",
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Async `stream`."""
        async for chunk in self.graph.astream(
            _as_input(input), config, stream_mode=stream_mode, **self._kwargs(context, kwargs)
        ):
            yield chunk

    def as_tool(  # type: ignore[override]
        self,
        name: str = "lumos_agent",
        description: str = "Solve a multi-step task by planning subgoals and executing tools. Input: the task.",
    ) -> BaseTool:
        """The agent as a tool that takes a task and returns the answer."""

        def run(task: str) -> str:
            return str(self.invoke(task).get("answer"))

        async def arun(task: str) -> str:
            return str((await self.ainvoke(task)).get("answer"))

        return StructuredTool.from_function(func=run, coroutine=arun, name=name, description=description)

    def get_graph(self, config: RunnableConfig | None = None) -> Any:
        """The graph's drawable structure."""
        return self.graph.get_graph(config)


def create_lumos_agent(
    planner: ModelLike,
    grounder: ModelLike,
    tools: ToolsLike,
    *,
    mode: Literal["iterative", "onetime"] = "iterative",
    domain: str | Domain = "complex_qa",
    grounding: Literal["text", "tool_calls"] = "text",
    review: Sequence[Review] = (),
    context_schema: type[LumosContext] = LumosContext,
    checkpointer: Checkpointer = None,
    store: Any = None,
    name: str = "lumos",
) -> LumosAgent:
    """Create a `LumosAgent`; arguments as in `create_lumos_graph`."""
    graph = create_lumos_graph(
        planner,
        grounder,
        tools,
        mode=mode,
        domain=domain,
        grounding=grounding,
        review=review,
        context_schema=context_schema,
        checkpointer=checkpointer,
        store=store,
        name=name,
    )
    return LumosAgent(graph, name=name)
