"""Graph-node plumbing: the node wrapper and the run's `LumosContext`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.pregel._read import ChannelRead
from langgraph.runtime import Runtime, get_runtime
from langgraph.types import Command

from langchain_lumos.context import LumosContext
from langchain_lumos.state import LumosState, state_keys, updated_state

__all__ = ["Route", "context_of", "make_node", "make_router", "runtime_and_context"]

try:  # LangGraph's own node wrapper inspects signatures once, not on every call
    from langgraph._internal._runnable import RunnableCallable as _RunnableCallable

    _FAST_NODES = True
except ImportError:  # pragma: no cover - a future LangGraph moved it
    _FAST_NODES = False


Route = Callable[[LumosState, Runtime[Any]], Any]
"""A router: `(state after the node's update, runtime) -> next node(s) or Sends`, or a
`Command` whose update the node adds to its own."""


def make_node(
    func: Callable[..., Any],
    afunc: Callable[..., Any] | None,
    name: str,
    *,
    route: Route | None = None,
    sent: bool = False,
) -> Runnable[Any, Any]:
    """A graph node with a sync and an async body.

    With `route`, the node routes itself (add it with `destinations=`): the bodies take
    `(input, config)` and return their update, and the node returns
    `Command(update=..., goto=route(state after the update, runtime))`. That is what a
    conditional edge with the same router decides, without LangGraph copying every channel
    to compute it. The state is the node's input or, for a node that runs tasks sent to
    it (`sent=True`: its input is a `Send` payload), the graph's state as the step began,
    read from LangGraph.

    Not traced itself: LangGraph already traces each node run as one span.
    """
    if route is not None:
        func, afunc = _routed(func, afunc, route, sent=sent)
    if _FAST_NODES:
        return _RunnableCallable(func, afunc, name=name, trace=False)
    return RunnableLambda(func, afunc=afunc, name=name)


def _routed(
    func: Callable[..., Any], afunc: Callable[..., Any] | None, route: Route, *, sent: bool
) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    def command(value: Any, config: RunnableConfig, update: dict[str, Any]) -> Command[Any]:
        # A sent task's input is its payload: read the state as the step began (no copy).
        state = ChannelRead.do_read(config, select=state_keys()) if sent else value
        goto = route(updated_state(state, update), get_runtime())
        if isinstance(goto, Command):  # the route adds to the update (e.g. the answer)
            return Command(update={**update, **(goto.update or {})}, goto=goto.goto)
        return Command(update=update, goto=goto)

    def routed(value: Any, config: RunnableConfig) -> Command[Any]:
        return command(value, config, func(value, config))

    if afunc is None:
        return routed, None
    body = afunc

    async def arouted(value: Any, config: RunnableConfig) -> Command[Any]:
        return command(value, config, await body(value, config))

    return routed, arouted


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
