"""Lumos web-agent toolkit (Mind2Web style): `CLICK`, `TYPE` and `SELECT`.

The web page is an environment *handle* threaded through Lumos variables::

    R1 = CLICK(Env, QUERY: Enter the site for flight + cruise)
    R2 = TYPE(R1, QUERY: Type Atlanta as the departure location, TEXT: Atlanta)
    R3 = SELECT(R2, QUERY: Choose the number of nights, TEXT: 6 nights)

The user stores the initial handle as the variable `Env`. Each tool ranks the handle's
candidate elements against the query (default `langchain_lumos.tools.ranking.BM25Ranker`;
any object with `rank(query, passages, k) -> list[int]` fits, e.g. a
`langchain_lumos.tools.ranking.CrossEncoderRanker` over the MindAct DeBERTa checkpoint),
performs the operation on the top-1 element and returns the new handle. `str(handle)` is the
Mind2Web action repr, e.g. `"[button] Search -> CLICK"` or `"[textbox] From -> TYPE: Atlanta"`,
so observations read well.

Environments:

* `langchain_lumos.testing.web.StaticWebEnvironment`: in-memory pages and a transition table
  (tests, examples, offline replays of Mind2Web candidate lists).
* `CallableWebEnvironment`: wraps user callables, e.g. a Playwright page: one callable
  lists the current page's element strings, another performs an operation.
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, Field

from langchain_lumos.tools.ranking import BM25Ranker, Ranker

__all__ = [
    "WEB_OPS",
    "CallableWebEnvironment",
    "ClickTool",
    "SelectTool",
    "TypeTool",
    "WebAction",
    "WebEnvironment",
    "WebOp",
    "web_agent_tools",
]

WebOp = Literal["CLICK", "TYPE", "SELECT"]
WEB_OPS: tuple[str, ...] = ("CLICK", "TYPE", "SELECT")
"""The web operations, in Mind2Web order."""


@dataclass(frozen=True)
class WebAction:
    """One performed operation.

    Attributes:
        op: `"CLICK"`, `"TYPE"` or `"SELECT"`.
        element: The chosen candidate element string.
        value: The typed text or selected option (`None` for `CLICK`).
    """

    op: str
    element: str
    value: str | None = None

    def __str__(self) -> str:
        """Mind2Web action repr: `"<element> -> OP"` or `"<element> -> OP: value"`."""
        suffix = f": {self.value}" if self.value is not None and self.op != "CLICK" else ""
        return f"{' '.join(self.element.split())} -> {self.op}{suffix}"


class WebEnvironment(ABC):
    """A web page state: candidate elements and the operations that lead to the next state.

    Handles are treated as immutable values: `act` returns the *next* handle, so Lumos
    variables keep earlier states (`R1`, `R2`...).
    """

    history: tuple[WebAction, ...] = ()
    """Operations performed so far, oldest first."""

    @property
    def last_action(self) -> WebAction | None:
        """The operation that led to this state (`None` for the initial state)."""
        return self.history[-1] if self.history else None

    @abstractmethod
    def candidates(self) -> list[str]:
        """The candidate element strings of the current page (e.g. `"[button] Search"`)."""

    @abstractmethod
    def act(self, op: WebOp, element: str, value: str | None = None) -> WebEnvironment:
        """Perform `op` on `element` (one of `candidates`) and return the new state."""

    async def acandidates(self) -> list[str]:
        """Async `candidates`; by default runs the sync method in a thread."""
        return await asyncio.get_running_loop().run_in_executor(None, self.candidates)

    async def aact(self, op: WebOp, element: str, value: str | None = None) -> WebEnvironment:
        """Async `act`; by default runs the sync method in a thread."""
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self.act, op, element, value)
        )

    def __str__(self) -> str:
        last = self.last_action
        return str(last) if last is not None else f"{type(self).__name__}(initial page)"


class CallableWebEnvironment(WebEnvironment):
    """Adapter for a live browser (or any backend) through user callables.

    Example (Playwright, sketched)::

        def elements() -> list[str]:
            return [
                f"[{h.evaluate('e => e.tagName.toLowerCase()')}] {h.inner_text()}"
                for h in page.query_selector_all("a, button, input, select")
            ]


        def perform(op: str, element: str, value: str | None) -> None:
            handle = locate(page, element)  # your element-string -> locator mapping
            if op == "CLICK":
                handle.click()
            elif op == "TYPE":
                handle.fill(value or "")
            else:
                handle.select_option(label=value)


        env = CallableWebEnvironment(elements, perform)

    The callables act on the live page, so every handle reads the *current* page; `history`
    still records which operations led to each handle.

    Args:
        get_candidates: Returns the current page's element strings.
        perform: Performs `(op, element, value)`; its return value is ignored unless it is a
            `WebEnvironment`, which then becomes the next handle.
        aget_candidates: Optional async version of `get_candidates`.
        aperform: Optional async version of `perform`.
        history: Operations already performed.
    """

    def __init__(
        self,
        get_candidates: Callable[[], Sequence[str]],
        perform: Callable[[str, str, str | None], Any],
        *,
        aget_candidates: Callable[[], Awaitable[Sequence[str]]] | None = None,
        aperform: Callable[[str, str, str | None], Awaitable[Any]] | None = None,
        history: Sequence[WebAction] = (),
    ) -> None:
        if not callable(get_candidates) or not callable(perform):
            msg = "get_candidates and perform must be callables."
            raise TypeError(msg)
        self.get_candidates = get_candidates
        self.perform = perform
        self.aget_candidates = aget_candidates
        self.aperform = aperform
        self.history = tuple(history)

    def _next(self, action: WebAction, result: Any) -> WebEnvironment:
        if isinstance(result, WebEnvironment):
            return result
        return CallableWebEnvironment(
            self.get_candidates,
            self.perform,
            aget_candidates=self.aget_candidates,
            aperform=self.aperform,
            history=(*self.history, action),
        )

    def candidates(self) -> list[str]:
        """The live page's element strings."""
        return [str(c) for c in self.get_candidates()]

    def act(self, op: WebOp, element: str, value: str | None = None) -> WebEnvironment:
        """Perform the operation through `perform`."""
        return self._next(WebAction(op, element, value), self.perform(op, element, value))

    async def acandidates(self) -> list[str]:
        """Uses `aget_candidates` when given, else the sync callable in a thread."""
        if self.aget_candidates is None:
            return await super().acandidates()
        return [str(c) for c in await self.aget_candidates()]

    async def aact(self, op: WebOp, element: str, value: str | None = None) -> WebEnvironment:
        """Uses `aperform` when given, else the sync callable in a thread."""
        if self.aperform is None:
            return await super().aact(op, element, value)
        result = await self.aperform(op, element, value)
        return self._next(WebAction(op, element, value), result)

    def __repr__(self) -> str:
        return f"CallableWebEnvironment({len(self.history)} actions)"


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


class ClickInput(BaseModel):
    """Arguments of `CLICK(Env, QUERY)`."""

    env: Any = Field(description="The web environment handle (the variable Env or a result).")
    query: str = Field(description="What to click, in natural language.")


class TypeInput(BaseModel):
    """Arguments of `TYPE(Env, QUERY, TEXT)`."""

    env: Any = Field(description="The web environment handle (the variable Env or a result).")
    query: str = Field(description="Which field to type into, in natural language.")
    text: str = Field(description="The text to type.")


class SelectInput(BaseModel):
    """Arguments of `SELECT(Env, QUERY, TEXT)`."""

    env: Any = Field(description="The web environment handle (the variable Env or a result).")
    query: str = Field(description="Which selection box to use, in natural language.")
    text: str = Field(description="The option to select.")


def _as_environment(env: Any) -> WebEnvironment:
    if isinstance(env, WebEnvironment):
        return env
    if isinstance(env, (list, tuple)) and env and all(isinstance(c, str) for c in env):
        from langchain_lumos.testing.web import StaticWebEnvironment  # a plain candidate list

        return StaticWebEnvironment(env)
    msg = (
        "The first argument must be a web environment handle (the variable Env or the result "
        f"of an earlier CLICK/TYPE/SELECT), got {type(env).__name__}: {str(env)[:80]!r}."
    )
    raise ToolException(msg)


class _WebActionTool(BaseTool):
    """Shared ranking + acting logic of the three Mind2Web actions."""

    handle_tool_error: bool = False
    metadata: dict[str, Any] | None = Field(default_factory=lambda: {"lumos_sequential": True})
    """A live page is shared state: actions run in plan order."""
    ranker: Any = None
    """A `langchain_lumos.tools.ranking.Ranker`; `None` means `BM25Ranker()`."""
    mindact_query_format: bool = False
    """Rank with the MindAct query `"task is: {query}\\nPrevious actions: {last 3}"` (set it
    for the MindAct cross-encoder); the default ranks with the query text alone."""

    _op: str = "CLICK"

    def _ranker(self) -> Ranker:
        if self.ranker is None:
            self.ranker = BM25Ranker()
        return self.ranker

    def _ranking_query(self, env: WebEnvironment, query: str, text: str | None) -> str:
        if self._op == "SELECT":
            query = f"{query} The option contents should be close to '{text}'."
        if self.mindact_query_format:
            previous = "; ".join(str(a) for a in env.history[-3:])
            query = f"task is: {query}\nPrevious actions: {previous}"
        return query

    def _choose(self, env: WebEnvironment, candidates: list[str], query: str, text: str | None) -> str:
        unique = list(dict.fromkeys(candidates))
        if not unique:
            msg = "The current page has no candidate elements."
            raise ToolException(msg)
        if not query.strip():
            msg = f"{self.name} needs a QUERY describing the element."
            raise ToolException(msg)
        best = self._ranker().rank(self._ranking_query(env, query, text), unique, 1)
        return unique[best[0]] if best else unique[0]

    def _check_text(self, text: str | None) -> str | None:
        if self._op == "CLICK":
            return None
        if text is None or not str(text).strip():
            msg = f"{self.name} needs a TEXT argument."
            raise ToolException(msg)
        return str(text).strip()

    def _act(self, env: Any, query: str, text: str | None) -> WebEnvironment:
        handle = _as_environment(env)
        value = self._check_text(text)
        element = self._choose(handle, handle.candidates(), query, value)
        try:
            return handle.act(self._op, element, value)  # type: ignore[arg-type]
        except ToolException:
            raise
        except Exception as exc:
            msg = f"{self._op} on {element!r} failed: {exc}"
            raise ToolException(msg) from exc

    def _run(
        self,
        env: Any,
        query: str,
        text: str | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> WebEnvironment:
        return self._act(env, query, text)

    async def _arun(
        self,
        env: Any,
        query: str,
        text: str | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> WebEnvironment:
        return await self._aact(env, query, text)

    async def _aact(self, env: Any, query: str, text: str | None) -> WebEnvironment:
        handle = _as_environment(env)
        value = self._check_text(text)
        candidates = await handle.acandidates()
        loop = asyncio.get_running_loop()
        element = await loop.run_in_executor(
            None, functools.partial(self._choose, handle, candidates, query, value)
        )
        try:
            return await handle.aact(self._op, element, value)  # type: ignore[arg-type]
        except ToolException:
            raise
        except Exception as exc:
            msg = f"{self._op} on {element!r} failed: {exc}"
            raise ToolException(msg) from exc


class ClickTool(_WebActionTool):
    """Mind2Web `CLICK(Env, QUERY: ...)`: click the best-matching element.

    Example:
        >>> from langchain_lumos.testing.web import StaticWebEnvironment
        >>> env = StaticWebEnvironment(["[link] Flights", "[button] Search"])
        >>> str(ClickTool().invoke({"env": env, "query": "Search"}))
        '[button] Search -> CLICK'
    """

    name: str = "CLICK"
    description: str = "Click the relevant html region in Env according to Query."
    args_schema: type[BaseModel] = ClickInput
    _op: str = "CLICK"


class TypeTool(_WebActionTool):
    """Mind2Web `TYPE(Env, QUERY: ..., TEXT: ...)`: type into the best-matching element."""

    name: str = "TYPE"
    description: str = "Type Text into the relevant html region in Env according to Query."
    args_schema: type[BaseModel] = TypeInput
    _op: str = "TYPE"


class SelectTool(_WebActionTool):
    """Mind2Web `SELECT(Env, QUERY: ..., TEXT: ...)`: pick an option of a selection box.

    The ranking query gets the original suffix
    `" The option contents should be close to '{text}'."`.
    """

    name: str = "SELECT"
    description: str = "Select the value Text of the relevant selection box in Env according to Query."
    args_schema: type[BaseModel] = SelectInput
    _op: str = "SELECT"


def web_agent_tools(*, ranker: Ranker | None = None, mindact_query_format: bool = False) -> list[BaseTool]:
    """The Lumos web-agent action set: `CLICK`, `TYPE`, `SELECT`.

    Args:
        ranker: Element ranker shared by the three tools (default `BM25Ranker()`).
        mindact_query_format: Rank with the MindAct `task is: ...` query format.

    Returns:
        The three tools.
    """
    if ranker is not None and not hasattr(ranker, "rank"):
        msg = "ranker must have a rank(query, passages, k) method."
        raise TypeError(msg)
    shared = ranker if ranker is not None else BM25Ranker()
    return [
        ClickTool(ranker=shared, mindact_query_format=mindact_query_format),
        TypeTool(ranker=shared, mindact_query_format=mindact_query_format),
        SelectTool(ranker=shared, mindact_query_format=mindact_query_format),
    ]
