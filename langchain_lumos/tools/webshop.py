"""Lumos WebShop toolkit: `Search`, `Click`, `FeatureRetrieve` and `Pick`.

Action formats follow `eval/webshop/{run_eval,shop_tool}.py` of the original:

* `R1 = Search(<instruction>)` returns the top two results as
  `"asin - title ** asin - title"` (the original leaves a stray trailing `" *"`; this
  implementation returns the clean form used in the in-context exemplars).
* `R2 = Click(b09s3bn15c)` (an asin, an option value such as `black`, `< prev`,
  `buy now`...) returns the new page's clickables (a list), or the reward (a float in
  `[0, 1]`) once the episode is done.
* `R3 = FeatureRetrieve(R2, Query: ...)` returns the three option values of a clickables list
  most relevant to the query (best first, joined with `", "`); navigation buttons are skipped,
  as the original's `clickables[6:]` did.
* `R7 = Pick(Item_names: R1, Item_features: [R3, R6], Query: ...)` ranks
  `"asin - title. Available features: ..."` and returns the best asin.

The shop is any `ShopEnvironment` (adapt the Princeton WebShop gym env with a few lines);
`langchain_lumos.testing.shop.InMemoryShop` is a small self-contained shop with WebShop-style
pages and rewards for tests and examples. The original ranked with the `cross-encoder/stsb-roberta-large`
cross-encoder; the default here is `langchain_lumos.tools.ranking.BM25Ranker`, and any
`langchain_lumos.tools.ranking.Ranker` can be passed.
"""

from __future__ import annotations

import asyncio
import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, Field

from langchain_lumos.tools.ranking import BM25Ranker, Ranker

__all__ = [
    "ITEM_BUTTONS",
    "NAVIGATION_CLICKABLES",
    "FeatureRetrieveTool",
    "PickTool",
    "SearchTool",
    "ShopEnvironment",
    "ShopStep",
    "WebShopClickTool",
    "webshop_tools",
]

NAVIGATION_CLICKABLES = frozenset(
    {"search", "back to search", "< prev", "next >"} | {"description", "features", "reviews", "buy now"}
)
"""Clickables that are page navigation, not product options."""

ITEM_BUTTONS = ("back to search", "< prev", "description", "features", "reviews", "buy now")
"""The buttons that open a WebShop product page, in WebShop order (its options follow)."""


@dataclass(frozen=True)
class ShopStep:
    """Result of a click.

    Attributes:
        clickables: The clickables of the new page (WebShop order: buttons, then products or
            options).
        reward: The episode reward (non-zero only once done).
        done: Whether the episode ended (`buy now`).
        observation: A text rendering of the new page.
    """

    clickables: list[str]
    reward: float = 0.0
    done: bool = False
    observation: str = ""


class ShopEnvironment(ABC):
    """A WebShop-like shop session (stateful: clicks move through pages)."""

    @property
    def instruction(self) -> str:
        """The shopping instruction of the current episode ("" when unknown)."""
        return ""

    @abstractmethod
    def search(self, query: str) -> list[tuple[str, str]]:
        """Search and go to the results page; returns `(asin, title)` pairs, best first."""

    @abstractmethod
    def click(self, target: str) -> ShopStep:
        """Click a clickable of the current page (case-insensitive).

        Raises:
            ValueError: `target` is not clickable on the current page.
        """

    @abstractmethod
    def clickables(self) -> list[str]:
        """The clickables of the current page."""

    @abstractmethod
    def features(self) -> list[str]:
        """Feature bullets of the product on screen ([] when no product page is open)."""

    def buy(self) -> float:
        """Click `buy now` on the current product page and return the reward."""
        return self.click("buy now").reward

    async def asearch(self, query: str) -> list[tuple[str, str]]:
        """Async `search`; by default runs the sync method in a thread."""
        return await asyncio.get_running_loop().run_in_executor(None, self.search, query)

    async def aclick(self, target: str) -> ShopStep:
        """Async `click`; by default runs the sync method in a thread."""
        return await asyncio.get_running_loop().run_in_executor(None, self.click, target)


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


class SearchInput(BaseModel):
    """Arguments of `Search`."""

    query: str = Field(description="What to search for (usually the whole instruction).")


class WebShopClickInput(BaseModel):
    """Arguments of `Click`."""

    item: str = Field(description="What to click: a product asin, an option value, '< prev', 'buy now'...")


class FeatureRetrieveInput(BaseModel):
    """Arguments of `FeatureRetrieve`."""

    feature_list: list[str] | str = Field(
        description="Clickables of a product page (the result of Click) or a feature list."
    )
    query: str = Field(description="What the features should be relevant to.")


class PickInput(BaseModel):
    """Arguments of `Pick`."""

    item_names: list[str] | str = Field(
        description="Items as 'asin - title ** asin - title' (the result of Search)."
    )
    item_features: list[Any] | str = Field(
        description="Features of each item, in the same order (results of FeatureRetrieve)."
    )
    query: str = Field(description="What the item should match.")


def _check_env(env: Any) -> ShopEnvironment:
    if not isinstance(env, ShopEnvironment):
        msg = f"env must be a ShopEnvironment, got {type(env).__name__}."
        raise TypeError(msg)
    return env


class SearchTool(BaseTool):
    """WebShop `Search(query)`: the top results as `"asin - title ** asin - title"`."""

    name: str = "Search"
    description: str = "Search related items according to the Query."
    metadata: dict[str, Any] | None = Field(default_factory=lambda: {"lumos_sequential": True})
    """Actions on the shop session run in plan order."""
    args_schema: type[BaseModel] = SearchInput
    handle_tool_error: bool = False
    env: Any
    """The `ShopEnvironment`."""
    top_k: int = 2
    """How many results to return (the original: 2)."""

    def _format(self, results: Sequence[tuple[str, str]]) -> str:
        if not results:
            msg = "The search returned no products."
            raise ToolException(msg)
        return " ** ".join(f"{asin} - {title}" for asin, title in results[: self.top_k])

    def _run(self, query: str, run_manager: CallbackManagerForToolRun | None = None) -> str:
        env = _check_env(self.env)
        try:
            results = env.search(query.strip())
        except ValueError as exc:
            raise ToolException(str(exc)) from exc
        return self._format(results)

    async def _arun(self, query: str, run_manager: AsyncCallbackManagerForToolRun | None = None) -> str:
        env = _check_env(self.env)
        try:
            results = await env.asearch(query.strip())
        except ValueError as exc:
            raise ToolException(str(exc)) from exc
        return self._format(results)


class WebShopClickTool(BaseTool):
    """WebShop `Click(item)`: the new page's clickables, or the reward once bought."""

    name: str = "Click"
    description: str = "Click the Item to check more information."
    metadata: dict[str, Any] | None = Field(default_factory=lambda: {"lumos_sequential": True})
    """Actions on the shop session run in plan order."""
    args_schema: type[BaseModel] = WebShopClickInput
    handle_tool_error: bool = False
    env: Any
    """The `ShopEnvironment`."""

    @staticmethod
    def _target(item: Any) -> str:
        if not isinstance(item, str) or not item.strip():
            msg = f"Click needs one item name (an asin, an option, '< prev'...), got {item!r}."
            raise ToolException(msg)
        return item.strip()

    @staticmethod
    def _result(step: ShopStep) -> list[str] | float:
        return float(step.reward) if step.done else list(step.clickables)

    def _run(self, item: str, run_manager: CallbackManagerForToolRun | None = None) -> list[str] | float:
        env = _check_env(self.env)
        try:
            step = env.click(self._target(item))
        except (ValueError, KeyError) as exc:
            raise ToolException(str(exc)) from exc
        return self._result(step)

    async def _arun(
        self, item: str, run_manager: AsyncCallbackManagerForToolRun | None = None
    ) -> list[str] | float:
        env = _check_env(self.env)
        try:
            step = await env.aclick(self._target(item))
        except (ValueError, KeyError) as exc:
            raise ToolException(str(exc)) from exc
        return self._result(step)


class _RankingTool(BaseTool):
    handle_tool_error: bool = False
    ranker: Any = None
    """A `langchain_lumos.tools.ranking.Ranker`; `None` means `BM25Ranker()`."""

    def _ranker(self) -> Ranker:
        if self.ranker is None:
            self.ranker = BM25Ranker()
        return self.ranker

    async def _in_thread(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args))


def _option_features(feature_list: Any) -> list[str]:
    if isinstance(feature_list, str):
        items = [f.strip() for f in feature_list.split(", ")]
    elif isinstance(feature_list, (list, tuple)):
        items = [str(f).strip() for f in feature_list]
    else:
        msg = (
            "FeatureRetrieve needs the clickables list of a product page (the result of Click), "
            f"got {type(feature_list).__name__}."
        )
        raise ToolException(msg)
    return [f for f in items if f and _norm(f) not in NAVIGATION_CLICKABLES]


class FeatureRetrieveTool(_RankingTool):
    """WebShop `FeatureRetrieve(feature_list, Query: ...)`: the top-3 relevant options."""

    name: str = "FeatureRetrieve"
    description: str = "Select the most relevant features from Feature_list according to Query."
    args_schema: type[BaseModel] = FeatureRetrieveInput
    top_k: int = 3
    """How many features to keep (the original: 3)."""

    def _retrieve(self, feature_list: Any, query: str) -> str:
        features = list(dict.fromkeys(_option_features(feature_list)))
        if not features:
            return ""
        order = self._ranker().rank(query, features, self.top_k)
        return ", ".join(features[i] for i in order)

    def _run(
        self,
        feature_list: list[str] | str,
        query: str,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        return self._retrieve(feature_list, query)

    async def _arun(
        self,
        feature_list: list[str] | str,
        query: str,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> str:
        return await self._in_thread(self._retrieve, feature_list, query)


def _item_names(item_names: Any) -> list[str]:
    if isinstance(item_names, str):
        items = item_names.split(" ** ")
    elif isinstance(item_names, (list, tuple)):
        items = [str(i) for i in item_names]
    else:
        msg = f"Pick needs Item_names like 'asin - title ** asin - title', got {item_names!r}."
        raise ToolException(msg)
    items = [re.sub(r"\s*\*+$", "", i).strip() for i in items]
    items = [i for i in items if i]
    if not items:
        msg = "Pick got no items to choose from."
        raise ToolException(msg)
    return items


class PickTool(_RankingTool):
    """WebShop `Pick(Item_names: ..., Item_features: [...], Query: ...)`: the best asin.

    Items are paired with features by position; only items with a string feature value take
    part (as in the original). Without any, the first item's asin is returned.
    """

    name: str = "Pick"
    description: str = (
        "Pick the most relevant item from Item_names according to Query, Item_names and Item_features."
    )
    args_schema: type[BaseModel] = PickInput

    def _pick(self, item_names: Any, item_features: Any, query: str) -> str:
        items = _item_names(item_names)
        features = [item_features] if isinstance(item_features, str) else list(item_features)
        candidates = [
            f"{item}. Available features: {feature}"
            for item, feature in zip(items, features, strict=False)
            if isinstance(feature, str)
        ]
        if not candidates:
            return items[0].split(" - ")[0].strip()
        order = self._ranker().rank(query, candidates, 1)
        best = candidates[order[0]] if order else candidates[0]
        return best.split(" - ")[0].strip()

    def _run(
        self,
        item_names: list[str] | str,
        item_features: list[Any] | str,
        query: str,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        return self._pick(item_names, item_features, query)

    async def _arun(
        self,
        item_names: list[str] | str,
        item_features: list[Any] | str,
        query: str,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> str:
        return await self._in_thread(self._pick, item_names, item_features, query)


def webshop_tools(env: ShopEnvironment, *, ranker: Ranker | None = None) -> list[BaseTool]:
    """The Lumos WebShop action set bound to a shop session.

    Args:
        env: The shop (e.g. `langchain_lumos.testing.shop.InMemoryShop` or an adapter over the WebShop gym env).
        ranker: Ranker for `FeatureRetrieve` and `Pick` (default `BM25Ranker()`).

    Returns:
        `Search`, `Click`, `FeatureRetrieve` and `Pick` tools.
    """
    _check_env(env)
    if ranker is not None and not hasattr(ranker, "rank"):
        msg = "ranker must have a rank(query, passages, k) method."
        raise TypeError(msg)
    shared = ranker if ranker is not None else BM25Ranker()
    return [
        SearchTool(env=env),
        WebShopClickTool(env=env),
        FeatureRetrieveTool(ranker=shared),
        PickTool(ranker=shared),
    ]
