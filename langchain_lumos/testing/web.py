"""A static web environment: in-memory pages and a transition table.

`StaticWebEnvironment` implements `langchain_lumos.tools.web.WebEnvironment` for tests,
examples and offline replays of Mind2Web candidate lists, without a browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_lumos.tools.web import WEB_OPS, WebAction, WebEnvironment, WebOp

__all__ = ["StaticWebEnvironment", "demo_web_environment"]


class StaticWebEnvironment(WebEnvironment):
    """In-memory pages with a transition table.

    Example:
        >>> home = StaticWebEnvironment(
        ...     ["[link] Flights", "[link] Cruises"],
        ...     transitions={"[link] Cruises": ["[combobox] Destination", "[button] Search"]},
        ... )
        >>> page = home.act("CLICK", "[link] Cruises")
        >>> str(page), page.candidates()
        ('[link] Cruises -> CLICK', ['[combobox] Destination', '[button] Search'])

    Args:
        candidates: The element strings of the current page.
        transitions: Next page per `(op, element)` key or per `element` key (any op): a list
            of element strings or another `StaticWebEnvironment` (whose own transitions
            are then used). Missing keys keep the same page. The table is shared by the states
            derived from this one.
        history: Operations already performed.
    """

    def __init__(
        self,
        candidates: Sequence[str],
        transitions: Mapping[tuple[str, str] | str, Sequence[str] | StaticWebEnvironment] | None = None,
        *,
        history: Sequence[WebAction] = (),
    ) -> None:
        if isinstance(candidates, str) or not all(isinstance(c, str) for c in candidates):
            msg = "candidates must be a sequence of element strings."
            raise TypeError(msg)
        self._candidates = list(candidates)
        self.transitions: Mapping[Any, Sequence[str] | StaticWebEnvironment] = dict(transitions or {})
        self.history = tuple(history)

    def candidates(self) -> list[str]:
        """The current page's element strings."""
        return list(self._candidates)

    def act(self, op: WebOp, element: str, value: str | None = None) -> StaticWebEnvironment:
        """Record the operation and move to the page the transition table gives."""
        if op not in WEB_OPS:
            msg = f"Unknown web operation {op!r}; expected one of {WEB_OPS}."
            raise ValueError(msg)
        if element not in self._candidates:
            msg = f"{element!r} is not an element of the current page."
            raise ValueError(msg)
        action = WebAction(op, element, value)
        nxt = self.transitions.get((op, element), self.transitions.get(element))
        history = (*self.history, action)
        if isinstance(nxt, StaticWebEnvironment):
            return StaticWebEnvironment(nxt.candidates(), nxt.transitions, history=history)
        page = self._candidates if nxt is None else list(nxt)
        return StaticWebEnvironment(page, self.transitions, history=history)

    def __repr__(self) -> str:
        return f"StaticWebEnvironment({len(self._candidates)} candidates, {len(self.history)} actions)"


def demo_web_environment() -> StaticWebEnvironment:
    """A small offline travel site for `web_agent` runs without a browser.

    `lumos run --domain web_agent` and the served web-agent graph start on it when no
    environment is given.

    Example:
        >>> demo_web_environment().act("CLICK", "[link] Hotels").candidates()[0]
        '[textbox] Destination'
    """
    search = ["[combobox] From", "[combobox] To", "[textbox] Depart date", "[button] Search flights"]
    return StaticWebEnvironment(
        ["[link] Flights", "[link] Hotels", "[link] Cruises", "[button] Sign in"],
        transitions={
            "[link] Flights": search,
            "[link] Hotels": ["[textbox] Destination", "[textbox] Check-in", "[button] Search hotels"],
            "[link] Cruises": ["[combobox] Destination", "[combobox] Nights", "[button] Search cruises"],
        },
    )
