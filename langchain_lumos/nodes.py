"""Graph-node plumbing: the node wrapper and the run's `LumosContext`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.runtime import Runtime, get_runtime

from langchain_lumos.context import LumosContext

__all__ = ["context_of", "make_node", "make_router", "runtime_and_context"]

try:  # LangGraph's own node wrapper inspects signatures once, not on every call
    from langgraph._internal._runnable import RunnableCallable as _RunnableCallable

    _FAST_NODES = True
except ImportError:  # pragma: no cover - a future LangGraph moved it
    _FAST_NODES = False


def make_node(func: Callable[..., Any], afunc: Callable[..., Any] | None, name: str) -> Runnable[Any, Any]:
    """A graph node with a sync and an async body.

    Not traced itself: LangGraph already traces each node run as one span.
    """
    if _FAST_NODES:
        return _RunnableCallable(func, afunc, name=name, trace=False)
    return RunnableLambda(func, afunc=afunc, name=name)


def make_router(func: Callable[..., Any], name: str) -> Runnable[Any, Any]:
    """A conditional edge's router, hidden from traces (it is control flow, not work).

    An untraced router runs outside the node's context: one that needs the run's runtime
    takes it as a `runtime` parameter (LangGraph injects it).
    """

    async def afunc(state: Any, **kwargs: Any) -> Any:
        return func(state, **kwargs)

    if _FAST_NODES:
        return _RunnableCallable(func, afunc, name=name, trace=False)
    return RunnableLambda(func, afunc=afunc, name=name)  # pragma: no cover


_DEFAULT_CONTEXT = LumosContext()
"""The settings of a run given no context (shared: nodes only read a context)."""


def context_of(runtime: Runtime[Any] | None = None) -> LumosContext:
    """The run's `LumosContext` (defaults when none was passed)."""
    rt = runtime if runtime is not None else get_runtime()
    ctx = rt.context
    if ctx is None:
        return _DEFAULT_CONTEXT
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
