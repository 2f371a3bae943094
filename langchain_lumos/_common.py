"""Helpers shared by the planner, grounder and executor nodes (private)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseLanguageModel
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime, get_runtime

from langchain_lumos.context import LumosContext
from langchain_lumos.prompts import Domain
from langchain_lumos.state import LumosState

__all__ = [
    "ModelLike",
    "Setup",
    "budget_exhausted",
    "context_of",
    "current_batch",
    "emit",
    "make_node",
    "render_value",
    "runtime_and_context",
    "subgoal_result",
]

try:  # LangGraph's own node wrapper inspects signatures once, not on every call
    from langgraph._internal._runnable import RunnableCallable as _RunnableCallable

    _FAST_NODES = True
except ImportError:  # pragma: no cover - a future LangGraph moved it
    _FAST_NODES = False


def make_node(func: Callable[..., Any], afunc: Callable[..., Any] | None, name: str) -> Runnable[Any, Any]:
    """A graph node with a sync and an async body."""
    if _FAST_NODES:
        return _RunnableCallable(func, afunc, name=name)
    return RunnableLambda(func, afunc=afunc, name=name)


Mode = Literal["iterative", "onetime"]
ModelLike = BaseLanguageModel | Callable[[LumosState, Runtime[Any]], BaseLanguageModel]
ToolsLike = Sequence[BaseTool] | Callable[[Runtime[Any]], Sequence[BaseTool]]


@dataclasses.dataclass(frozen=True)
class Setup:
    """What the graph factory captured: models, tools, mode and domain."""

    planner: ModelLike
    grounder: ModelLike
    tools: ToolsLike
    mode: Mode
    domain: Domain
    grounding: Literal["text", "tool_calls"] = "text"

    def model(
        self, which: Literal["planner", "grounder"], state: LumosState, runtime: Runtime[Any]
    ) -> BaseLanguageModel:
        """Resolve the module's model (a fixed model or a `(state, runtime) -> model` callable)."""
        model = self.planner if which == "planner" else self.grounder
        if isinstance(model, BaseLanguageModel):
            return model
        return model(state, runtime)

    def tool_map(self, runtime: Runtime[Any]) -> dict[str, BaseTool]:
        """Tools by action name."""
        tools = self.tools(runtime) if callable(self.tools) else self.tools
        return {t.name: t for t in tools}

    def trace(self, module: str, **extra: Any) -> tuple[list[str], dict[str, Any]]:
        """Tags and metadata for a module call, so traces read as plan / ground / execute."""
        tags = ["lumos", f"lumos:{module}", f"lumos:{self.mode}", f"lumos:{self.domain.name}"]
        meta = {"lumos_module": module, "lumos_mode": self.mode, "lumos_domain": self.domain.name}
        meta.update({f"lumos_{k}": v for k, v in extra.items()})
        return tags, meta


def context_of(runtime: Runtime[Any] | None = None) -> LumosContext:
    """The run's `LumosContext` (defaults when none was passed)."""
    rt = runtime if runtime is not None else get_runtime()
    ctx = rt.context
    if ctx is None:
        return LumosContext()
    if isinstance(ctx, LumosContext):
        return ctx
    if isinstance(ctx, dict):
        return LumosContext(**ctx)
    msg = f"context must be a LumosContext or dict, got {type(ctx).__name__}"
    raise TypeError(msg)


def runtime_and_context() -> tuple[Runtime[Any], LumosContext]:
    """The current runtime and its Lumos context."""
    rt = get_runtime()
    return rt, context_of(rt)


def emit(event: str, **data: Any) -> None:
    """Write a typed event to the `custom` stream mode (a no-op when nobody listens)."""
    get_stream_writer()({"event": event, **data})


def render_value(value: Any, limit: int = 4000) -> str:
    """A variable's value as observation text."""
    text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def subgoal_result(state: LumosState, index: int) -> str | None:
    """The executed result of a subgoal: the output of its last action (final grounding)."""
    actions = [a for a in state.get("actions", []) if a["subgoal"] == index]
    if not actions:
        return None
    attempt = max(a["attempt"] for a in actions)
    ids = [a["id"] for a in actions if a["attempt"] == attempt]
    outputs = {o["action_id"]: o for o in state.get("observations", [])}
    for action_id in reversed(ids):
        if action_id in outputs:
            return outputs[action_id]["output"]
    return None


def current_batch(state: LumosState) -> list[Any]:
    """The actions of the latest grounding (iterative) or of the whole plan (one-time)."""
    actions = state.get("actions", [])
    if not actions:
        return []
    last = actions[-1]
    return [a for a in actions if a["subgoal"] == last["subgoal"] and a["attempt"] == last["attempt"]]


def model_tokens(state: LumosState) -> int:
    """Prompt + completion tokens spent by the planner and grounder."""
    usage = state.get("usage", {})
    return sum(
        usage.get(m, {}).get("prompt_tokens", 0) + usage.get(m, {}).get("completion_tokens", 0)
        for m in ("planner", "grounder")
    )


def budget_exhausted(
    state: LumosState, ctx: LumosContext, *, tokens: bool = True, reserve: int = 2
) -> str | None:
    """The name of the first exhausted budget (`budget:<name>`), or None.

    Args:
        state: The graph state.
        ctx: The run settings.
        tokens: Check the model-token budget (the executor does not: tools spend none).
        reserve: Graph steps to keep for finishing (executing an action and answering
            takes more than planning does).
    """
    if tokens and ctx.max_model_tokens is not None and model_tokens(state) >= ctx.max_model_tokens:
        return "budget:max_model_tokens"
    started = state.get("started_at")
    if ctx.time_limit_s is not None and started and time.time() - started >= ctx.time_limit_s:
        return "budget:time_limit"
    if state.get("remaining_steps", 100) <= reserve:
        return "budget:recursion_limit"
    return None
