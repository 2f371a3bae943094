"""Tests of the Mind2Web-style web toolkit (CLICK / TYPE / SELECT)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.tools import ToolException

from langchain_lumos.testing.web import StaticWebEnvironment
from langchain_lumos.tools.ranking import Ranker
from langchain_lumos.tools.web import (
    CallableWebEnvironment,
    ClickTool,
    SelectTool,
    TypeTool,
    WebAction,
    WebEnvironment,
    web_agent_tools,
)

HOME = [
    "[link] Flights",
    "[link] Flight + Cruise",
    "[link] Hotels",
    "[button] Sign in",
]
CRUISE_PAGE = [
    "[textbox] Departure location",
    "[textbox] Destination",
    "[select] Number of nights",
    "[button] Search flight + cruise",
]


def _site() -> StaticWebEnvironment:
    results = StaticWebEnvironment(["[link] Carnival 6 nights", "[link] Royal 7 nights"])
    return StaticWebEnvironment(
        HOME,
        transitions={
            "[link] Flight + Cruise": CRUISE_PAGE,
            ("CLICK", "[button] Search flight + cruise"): results,
        },
    )


def test_click_type_select_thread_the_environment() -> None:
    click, type_, select = web_agent_tools()
    env = _site()
    r1 = click.invoke({"env": env, "query": "Enter the site for flight + cruise"})
    assert isinstance(r1, WebEnvironment)
    assert str(r1) == "[link] Flight + Cruise -> CLICK"
    assert r1.candidates() == CRUISE_PAGE
    r2 = type_.invoke({"env": r1, "query": "Type Atlanta as the departure location", "text": "Atlanta"})
    assert str(r2) == "[textbox] Departure location -> TYPE: Atlanta"
    r3 = select.invoke({"env": r2, "query": "Choose the number of nights", "text": "6 nights"})
    assert str(r3) == "[select] Number of nights -> SELECT: 6 nights"
    r4 = click.invoke({"env": r3, "query": "Search flight + cruise"})
    assert r4.candidates() == ["[link] Carnival 6 nights", "[link] Royal 7 nights"]
    assert [a.op for a in r4.history] == ["CLICK", "TYPE", "SELECT", "CLICK"]
    # Handles are values: earlier states are unchanged.
    assert env.candidates() == HOME
    assert str(env) == "StaticWebEnvironment(initial page)"
    assert r1.history == (WebAction("CLICK", "[link] Flight + Cruise"),)


def test_a_plain_candidate_list_is_accepted_as_env() -> None:
    result = ClickTool().invoke({"env": ["[button] Search", "[link] Help"], "query": "help"})
    assert str(result) == "[link] Help -> CLICK"


class RecordingRanker:
    """Ranker stub that records the queries it gets and picks the last passage."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def rank(self, query: str, passages: Sequence[str], k: int) -> list[int]:
        self.calls.append((query, list(passages)))
        return list(range(len(passages) - 1, -1, -1))[:k]


def test_pluggable_ranker_select_suffix_and_dedup() -> None:
    ranker = RecordingRanker()
    assert isinstance(ranker, Ranker)
    env = StaticWebEnvironment(["[select] Nights", "[select] Nights", "[button] Go"])
    select = SelectTool(ranker=ranker)
    result = select.invoke({"env": env, "query": "Pick the nights", "text": "6 nights"})
    query, passages = ranker.calls[-1]
    assert query == "Pick the nights The option contents should be close to '6 nights'."
    assert passages == ["[select] Nights", "[button] Go"]  # duplicates ranked once
    assert str(result) == "[button] Go -> SELECT: 6 nights"


def test_mindact_query_format_uses_last_three_actions() -> None:
    ranker = RecordingRanker()
    env = StaticWebEnvironment(["[a] A", "[b] B"])
    tool = ClickTool(ranker=ranker, mindact_query_format=True)
    for _ in range(4):
        env = tool.invoke({"env": env, "query": "go"})
    query = ranker.calls[-1][0]
    assert query.startswith("task is: go\nPrevious actions: ")
    assert query.count("-> CLICK") == 3


def test_errors_are_tool_exceptions() -> None:
    env = _site()
    with pytest.raises(ToolException, match="environment handle"):
        ClickTool().invoke({"env": "not an env", "query": "x"})
    with pytest.raises(ToolException, match="TEXT"):
        TypeTool().invoke({"env": env, "query": "departure", "text": "  "})
    with pytest.raises(ToolException, match="no candidate"):
        ClickTool().invoke({"env": StaticWebEnvironment([]), "query": "x"})
    with pytest.raises(ToolException, match="QUERY"):
        ClickTool().invoke({"env": env, "query": " "})


def test_static_environment_validation() -> None:
    env = StaticWebEnvironment(["[button] A"])
    with pytest.raises(ValueError, match="not an element"):
        env.act("CLICK", "[button] B")
    with pytest.raises(ValueError, match="Unknown web operation"):
        env.act("HOVER", "[button] A")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StaticWebEnvironment("[button] A")
    with pytest.raises(TypeError):
        web_agent_tools(ranker=object())  # type: ignore[arg-type]


def test_callable_environment_wraps_a_live_page() -> None:
    page: dict[str, Any] = {"elements": ["[textbox] Search", "[button] Go"], "log": []}

    def perform(op: str, element: str, value: str | None) -> None:
        page["log"].append((op, element, value))
        if element == "[button] Go":
            page["elements"] = ["[link] Result 1"]

    env = CallableWebEnvironment(lambda: page["elements"], perform)
    click, type_, _ = web_agent_tools()
    r1 = type_.invoke({"env": env, "query": "search box", "text": "shoes"})
    r2 = click.invoke({"env": r1, "query": "go button"})
    assert page["log"] == [("TYPE", "[textbox] Search", "shoes"), ("CLICK", "[button] Go", None)]
    assert r2.candidates() == ["[link] Result 1"]
    assert str(r2) == "[button] Go -> CLICK"
    assert len(r2.history) == 2


def test_callable_environment_failure_becomes_tool_exception() -> None:
    def perform(op: str, element: str, value: str | None) -> None:
        raise RuntimeError("element detached")

    env = CallableWebEnvironment(lambda: ["[button] Go"], perform)
    with pytest.raises(ToolException, match="element detached"):
        ClickTool().invoke({"env": env, "query": "go"})


async def test_async_tools_use_async_callables() -> None:
    log: list[str] = []

    async def aget() -> list[str]:
        log.append("aget")
        return ["[button] Buy", "[link] Cart"]

    async def aperform(op: str, element: str, value: str | None) -> None:
        log.append(f"{op} {element}")

    env = CallableWebEnvironment(lambda: [], lambda *a: None, aget_candidates=aget, aperform=aperform)
    result = await ClickTool().ainvoke({"env": env, "query": "open the cart"})
    assert str(result) == "[link] Cart -> CLICK"
    assert log == ["aget", "CLICK [link] Cart"]
    # Default async variants of a sync environment run in a thread.
    typed = await TypeTool().ainvoke({"env": _site(), "query": "Sign in button", "text": "me"})
    assert str(typed) == "[button] Sign in -> TYPE: me"
