"""Lumos WebShop toolkit: ``Search``, ``Click``, ``FeatureRetrieve`` and ``Pick``.

Action formats follow ``eval/webshop/{run_eval,shop_tool}.py`` of the original:

* ``R1 = Search(<instruction>)`` returns the top two results as
  ``"asin - title ** asin - title"`` (the original leaves a stray trailing ``" *"``; this
  implementation returns the clean form used in the in-context exemplars).
* ``R2 = Click(b09s3bn15c)`` (an asin, an option value such as ``black``, ``< prev``,
  ``buy now``...) returns the new page's clickables (a list), or the reward (a float in
  ``[0, 1]``) once the episode is done.
* ``R3 = FeatureRetrieve(R2, Query: ...)`` returns the three option values of a clickables list
  most relevant to the query (best first, joined with ``", "``); navigation buttons are skipped,
  as the original's ``clickables[6:]`` did.
* ``R7 = Pick(Item_names: R1, Item_features: [R3, R6], Query: ...)`` ranks
  ``"asin - title. Available features: ..."`` and returns the best asin.

The shop is any :class:`ShopEnvironment` (adapt the Princeton WebShop gym env with a few lines);
:class:`InMemoryShop` is a small self-contained shop with WebShop-style pages and rewards for
tests and examples. The original ranked with the ``cross-encoder/stsb-roberta-large``
cross-encoder; the default here is :class:`~langchain_lumos.tools._ranking.BM25Ranker`, and any
:class:`~langchain_lumos.tools._ranking.Ranker` can be passed.
"""

from __future__ import annotations

import asyncio
import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, Field

from langchain_lumos.tools._ranking import BM25Ranker, Ranker

__all__ = [
    "DEFAULT_GOALS",
    "DEFAULT_PRODUCTS",
    "NAVIGATION_CLICKABLES",
    "FeatureRetrieveTool",
    "InMemoryShop",
    "PickTool",
    "Product",
    "SearchTool",
    "ShopEnvironment",
    "ShopGoal",
    "ShopStep",
    "WebShopClickTool",
    "webshop_tools",
]

NAVIGATION_CLICKABLES = frozenset(
    {"search", "back to search", "< prev", "next >"} | {"description", "features", "reviews", "buy now"}
)
"""Clickables that are page navigation, not product options."""

_ITEM_BUTTONS = ("back to search", "< prev", "description", "features", "reviews", "buy now")


@dataclass(frozen=True)
class ShopStep:
    """Result of a click.

    Attributes:
        clickables: The clickables of the new page (WebShop order: buttons, then products or
            options).
        reward: The episode reward (non-zero only once done).
        done: Whether the episode ended (``buy now``).
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
        """Search and go to the results page; returns ``(asin, title)`` pairs, best first."""

    @abstractmethod
    def click(self, target: str) -> ShopStep:
        """Click a clickable of the current page (case-insensitive).

        Raises:
            ValueError: ``target`` is not clickable on the current page.
        """

    @abstractmethod
    def clickables(self) -> list[str]:
        """The clickables of the current page."""

    @abstractmethod
    def features(self) -> list[str]:
        """Feature bullets of the product on screen ([] when no product page is open)."""

    def buy(self) -> float:
        """Click ``buy now`` on the current product page and return the reward."""
        return self.click("buy now").reward

    async def asearch(self, query: str) -> list[tuple[str, str]]:
        """Async :meth:`search`; by default runs the sync method in a thread."""
        return await asyncio.get_running_loop().run_in_executor(None, self.search, query)

    async def aclick(self, target: str) -> ShopStep:
        """Async :meth:`click`; by default runs the sync method in a thread."""
        return await asyncio.get_running_loop().run_in_executor(None, self.click, target)


@dataclass(frozen=True)
class Product:
    """A product of :class:`InMemoryShop`.

    Attributes:
        asin: Lower-case product id (e.g. ``"b09s3bn15c"``).
        title: Product title.
        price: Price in dollars.
        category: Product type, used by the type part of the reward.
        options: Option name -> values, e.g. ``{"color": ["black", "white"]}``.
        attributes: Attributes the reward matches (``"long sleeve"``, ``"machine wash"``).
        features: Feature bullets (the "Features" page).
        description: Description text.
    """

    asin: str
    title: str
    price: float
    category: str
    options: Mapping[str, Sequence[str]] = field(default_factory=dict)
    attributes: Sequence[str] = ()
    features: Sequence[str] = ()
    description: str = ""

    def option_values(self) -> list[str]:
        """All option values, in option order."""
        return [v for values in self.options.values() for v in values]

    def search_text(self) -> str:
        """The text the search engine indexes."""
        return " ".join([self.title, self.category, *self.attributes, *self.option_values(), *self.features])


@dataclass(frozen=True)
class ShopGoal:
    """A WebShop-style goal.

    Attributes:
        instruction: The instruction shown to the agent.
        category: Wanted product type.
        attributes: Wanted attributes.
        options: Wanted option values (any option name).
        price_upper: Price limit in dollars.
        asin: The product the goal was written for (informational).
    """

    instruction: str
    category: str
    attributes: Sequence[str] = ()
    options: Sequence[str] = ()
    price_upper: float = float("inf")
    asin: str = ""


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


DEFAULT_PRODUCTS: tuple[Product, ...] = (
    Product(
        "b09s3bn15c",
        "Mens Linen Shirt, Men's Striped Shirts Casual Short Sleeve Button Down Shirts",
        21.99,
        "men's shirts",
        {"color": ["blue", "white", "black"], "size": ["medium", "large", "x-large"]},
        ("short sleeve", "button down", "machine wash"),
        ("Linen blend fabric", "Casual regular fit", "Button down collar"),
        "A breathable striped linen shirt for summer.",
    ),
    Product(
        "b094q7b3ss",
        "Women Cold Shoulder Tops, Summer Butterfly Print Shirts Casual Long Sleeve Tunic Tee",
        26.99,
        "women's tops, tees & blouses",
        {"color": ["a01#black", "a02#white", "a03#pink"], "size": ["small", "large", "x-large"]},
        ("long sleeve", "loose fit", "slim fit"),
        ("Soft polyester fabric", "Cold shoulder design", "Loose fit tunic"),
        "A casual butterfly print tunic with cold shoulders.",
    ),
    Product(
        "b07jvq8t3m",
        "Women's Classic Crew Neck T-Shirt Slim Fit Short Sleeve Cotton Tee",
        12.5,
        "women's tops, tees & blouses",
        {"color": ["black", "navy", "red"], "size": ["small", "medium", "large"]},
        ("short sleeve", "slim fit", "machine wash"),
        ("100% cotton", "Crew neck", "Tagless label"),
        "An everyday cotton tee.",
    ),
    Product(
        "b099wh1rtm",
        "African American Wall Art Canvas Prints Modern Artwork Living Room Decor Ready To Hang",
        45.0,
        "wall art",
        {
            "color": ["turtles and african american couple", "black girl"],
            "size": ["12x16 inch", "16x20 inch", "16x24 inch"],
        },
        ("ready hang", "solid wood", "living room"),
        ("Framed canvas on solid wood bars", "Ready to hang", "Fade resistant inks"),
        "Modern canvas wall art for living rooms and bedrooms.",
    ),
    Product(
        "b092qqbw4y",
        "Sencillez Canvas Wall Art Abstract Turquoise Marble Gold Foil Art for Bedroom Office",
        79.0,
        "wall art",
        {"size": ["16x24 inch", "20x30 inch"]},
        ("living room", "bedroom"),
        ("Gold foil details", "Stretched canvas", "Hanging kit included"),
        "Abstract marble art with gold foil.",
    ),
    Product(
        "b08hmwz5n2",
        "Wireless Bluetooth Over Ear Headphones with Noise Cancelling and Long Battery Life",
        59.99,
        "headphones",
        {"color": ["black", "silver"]},
        ("noise cancelling", "wireless", "long battery life"),
        ("40 hour battery", "Active noise cancelling", "Built-in microphone"),
        "Comfortable over-ear headphones.",
    ),
    Product(
        "b07zq3x1kd",
        "Organic Medium Roast Ground Coffee, Fair Trade Colombian Beans, 12 oz Bag",
        11.49,
        "coffee",
        {"size": ["12 ounce", "2 pound"], "flavor name": ["medium roast", "dark roast"]},
        ("organic", "fair trade", "gluten free"),
        ("USDA organic", "Single origin Colombia", "Ground for drip brewers"),
        "Smooth medium roast coffee.",
    ),
    Product(
        "b08kw3ts6p",
        "Men's Lightweight Running Shoes Breathable Mesh Athletic Sneakers Non Slip",
        39.99,
        "men's shoes",
        {"color": ["black", "grey", "blue"], "size": ["9", "10", "11"]},
        ("non slip", "lightweight", "rubber sole"),
        ("Breathable mesh upper", "Cushioned insole", "Rubber outsole"),
        "Running shoes for daily training.",
    ),
    Product(
        "b09b2ltq8w",
        "Shockproof Phone Case for iPhone 13 with Screen Protector, Slim Clear Cover",
        9.99,
        "phone cases",
        {"color": ["clear", "black", "purple"]},
        ("shockproof", "slim", "wireless charging compatible"),
        ("Military grade drop protection", "Raised edges", "Wireless charging compatible"),
        "A slim clear case.",
    ),
    Product(
        "b07d5jf1rr",
        "Extra Thick Yoga Mat Non Slip Exercise Mat with Carrying Strap",
        24.95,
        "yoga mats",
        {"color": ["purple", "blue", "black"], "size": ["72 x 24 inch", "72 x 26 inch"]},
        ("non slip", "extra thick", "eco friendly"),
        ("1/2 inch thick", "Non slip texture", "Carrying strap included"),
        "A cushioned exercise mat.",
    ),
)
"""Ten small products used by :class:`InMemoryShop` when none are given."""

DEFAULT_GOALS: tuple[ShopGoal, ...] = (
    ShopGoal(
        "Find me slim fit, loose fit women's tops, tees & blouses with long sleeve, short sleeve "
        "with color: a01#black, and size: large, and price lower than 50.00 dollars",
        "women's tops, tees & blouses",
        ("long sleeve", "loose fit"),
        ("a01#black", "large"),
        50.0,
        "b094q7b3ss",
    ),
    ShopGoal(
        "Find me ready hang wall art with solid wood for living room with color: turtles and "
        "african american couple, and size: 16x20 inch, and price lower than 70.00 dollars",
        "wall art",
        ("ready hang", "solid wood", "living room"),
        ("turtles and african american couple", "16x20 inch"),
        70.0,
        "b099wh1rtm",
    ),
    ShopGoal(
        "i need noise cancelling wireless headphones in black, and price lower than 80.00 dollars",
        "headphones",
        ("noise cancelling", "wireless"),
        ("black",),
        80.0,
        "b08hmwz5n2",
    ),
)
"""Goals for the default products."""


class InMemoryShop(ShopEnvironment):
    """A tiny WebShop: search page, result pages, item pages, detail pages, and rewards.

    Clickables follow WebShop's layout: results ``["back to search", "next >", asin...]``
    (``"< prev"`` from page 2 on), item pages
    ``["back to search", "< prev", "description", "features", "reviews", "buy now", option...]``.

    The reward for buying product ``p`` with selected options ``o`` for goal ``g`` mirrors
    WebShop's formula: ``r_type * (|attrs matched| + |options matched| + [price <= limit]) /
    (|g.attributes| + |g.options| + 1)``, with ``r_type = 1`` when ``p.category`` equals
    ``g.category`` and ``0.1`` otherwise (WebShop scores the type by text similarity; this is a
    simplification). An attribute matches when it is one of ``p.attributes`` or occurs in the
    title; an option matches when it was selected (case-insensitive).

    Args:
        products: The catalogue (default: :data:`DEFAULT_PRODUCTS`).
        goals: The goals (default: :data:`DEFAULT_GOALS`); index 0 is active until
            :meth:`reset`.
        page_size: Results per page.
        ranker: Search ranker (default ``BM25Ranker()``).
    """

    def __init__(
        self,
        products: Sequence[Product] | None = None,
        goals: Sequence[ShopGoal] | None = None,
        *,
        page_size: int = 10,
        ranker: Ranker | None = None,
    ) -> None:
        self.products = list(DEFAULT_PRODUCTS if products is None else products)
        self.goals = list(DEFAULT_GOALS if goals is None else goals)
        if not self.products or page_size < 1:
            msg = "InMemoryShop needs at least one product and page_size >= 1."
            raise ValueError(msg)
        asins = [p.asin.lower() for p in self.products]
        if len(set(asins)) != len(asins):
            msg = "Product asins must be unique."
            raise ValueError(msg)
        self.page_size = page_size
        self.ranker: Ranker = ranker if ranker is not None else BM25Ranker()
        self._by_asin = {p.asin.lower(): p for p in self.products}
        self.reset(0)

    # -- session -----------------------------------------------------------------------------

    def reset(self, goal_index: int = 0) -> str:
        """Start a new episode on the search page; returns the instruction."""
        if self.goals and not 0 <= goal_index < len(self.goals):
            msg = f"goal_index must be in [0, {len(self.goals)})."
            raise ValueError(msg)
        self.goal: ShopGoal | None = self.goals[goal_index] if self.goals else None
        self.page = "search"
        self.results: list[str] = []
        self.result_page = 1
        self.asin: str | None = None
        self.selected: dict[str, str] = {}
        self.done = False
        self.reward = 0.0
        self.actions: list[str] = []
        return self.instruction

    @property
    def instruction(self) -> str:
        """The active goal's instruction."""
        return self.goal.instruction if self.goal else ""

    # -- pages -------------------------------------------------------------------------------

    def _page_asins(self) -> list[str]:
        start = (self.result_page - 1) * self.page_size
        return self.results[start : start + self.page_size]

    def clickables(self) -> list[str]:
        """WebShop-ordered clickables of the current page."""
        if self.done:
            return []
        if self.page == "search":
            return ["search"]
        if self.page == "results":
            buttons = ["back to search"]
            if self.result_page > 1:
                buttons.append("< prev")
            if self.result_page * self.page_size < len(self.results):
                buttons.append("next >")
            return buttons + self._page_asins()
        if self.page == "item":
            return [*_ITEM_BUTTONS, *self._product().option_values()]
        return ["back to search", "< prev"]  # description / features / reviews

    def _product(self) -> Product:
        assert self.asin is not None
        return self._by_asin[self.asin]

    def features(self) -> list[str]:
        """Feature bullets of the product on screen."""
        if self.asin is None or self.page not in {"item", "description", "features", "reviews"}:
            return []
        return list(self._product().features)

    @property
    def observation(self) -> str:
        """A WebShop-like ``[SEP]``-joined text of the current page."""
        if self.done:
            return f"Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] {self.reward}"
        if self.page == "search":
            return f"WebShop [SEP] Instruction: [SEP] {self.instruction} [SEP] Search"
        if self.page == "results":
            parts = [b.title() for b in self.clickables() if b not in self._page_asins()]
            parts.append(f"Page {self.result_page} (Total results: {len(self.results)})")
            for asin in self._page_asins():
                product = self._by_asin[asin]
                parts += [asin.upper(), product.title, f"${product.price:.2f}"]
            return " [SEP] ".join(parts)
        product = self._product()
        if self.page == "item":
            parts = ["Back to Search", "< Prev"]
            for name, values in product.options.items():
                parts += [name, *values]
            parts += [product.title, f"Price: ${product.price:.2f}", "Rating: N.A."]
            parts += ["Description", "Features", "Reviews", "Buy Now"]
            return " [SEP] ".join(parts)
        body = {
            "description": [product.description],
            "features": list(product.features),
            "reviews": ["No reviews yet."],
        }[self.page]
        return " [SEP] ".join(["Back to Search", "< Prev", *body])

    # -- actions -----------------------------------------------------------------------------

    def search(self, query: str) -> list[tuple[str, str]]:
        """Rank every product against ``query`` and open results page 1."""
        if self.done:
            msg = "The episode is over; call reset()."
            raise ValueError(msg)
        docs = [p.search_text() for p in self.products]
        order = self.ranker.rank(query, docs, len(docs))
        self.results = [self.products[i].asin.lower() for i in order]
        self.result_page = 1
        self.page = "results"
        self.asin = None
        self.selected = {}
        self.actions.append(f"search[{query}]")
        return [(asin, self._by_asin[asin].title) for asin in self.results]

    def click(self, target: str) -> ShopStep:
        """Click a clickable of the current page (case-insensitive)."""
        if self.done:
            msg = "The episode is over; call reset()."
            raise ValueError(msg)
        wanted = _norm(target)
        options = {_norm(c): c for c in self.clickables()}
        if wanted not in options or wanted == "search":
            msg = f"{target!r} is not clickable on this page. Clickables: " + ", ".join(self.clickables())
            raise ValueError(msg)
        self.actions.append(f"click[{wanted}]")
        if wanted == "back to search":
            self.page, self.asin, self.selected = "search", None, {}
        elif wanted == "next >":
            self.result_page += 1
        elif wanted == "< prev":
            if self.page == "results":
                self.result_page -= 1
            elif self.page == "item":
                self.page, self.asin, self.selected = "results", None, {}
            else:
                self.page = "item"
        elif self.page == "results":
            self.page, self.asin, self.selected = "item", wanted, {}
        elif wanted in {"description", "features", "reviews"}:
            self.page = wanted
        elif wanted == "buy now":
            self.reward = self._reward()
            self.done = True
            return ShopStep([], self.reward, True, self.observation)
        else:  # an option value
            product = self._product()
            for name, values in product.options.items():
                if wanted in {_norm(v) for v in values}:
                    self.selected[name] = options[wanted]
                    break
        return ShopStep(self.clickables(), 0.0, False, self.observation)

    def _reward(self) -> float:
        """WebShop-style reward of buying the open product with the selected options."""
        if self.goal is None:
            return 0.0
        product = self._product()
        attrs = {_norm(a) for a in product.attributes}
        title = _norm(product.title)
        matched_attrs = sum(1 for a in self.goal.attributes if _norm(a) in attrs or _norm(a) in title)
        chosen = {_norm(v) for v in self.selected.values()}
        matched_opts = sum(1 for o in self.goal.options if _norm(o) in chosen)
        price_ok = 1 if product.price <= self.goal.price_upper else 0
        total = len(self.goal.attributes) + len(self.goal.options) + 1
        r_type = 1.0 if _norm(product.category) == _norm(self.goal.category) else 0.1
        return round(r_type * (matched_attrs + matched_opts + price_ok) / total, 4)


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


class SearchInput(BaseModel):
    """Arguments of ``Search``."""

    query: str = Field(description="What to search for (usually the whole instruction).")


class WebShopClickInput(BaseModel):
    """Arguments of ``Click``."""

    item: str = Field(description="What to click: a product asin, an option value, '< prev', 'buy now'...")


class FeatureRetrieveInput(BaseModel):
    """Arguments of ``FeatureRetrieve``."""

    feature_list: list[str] | str = Field(
        description="Clickables of a product page (the result of Click) or a feature list."
    )
    query: str = Field(description="What the features should be relevant to.")


class PickInput(BaseModel):
    """Arguments of ``Pick``."""

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
    """WebShop ``Search(query)``: the top results as ``"asin - title ** asin - title"``."""

    name: str = "Search"
    description: str = "Search related items according to the Query."
    metadata: dict[str, Any] | None = Field(default_factory=lambda: {"lumos_sequential": True})
    """Actions on the shop session run in plan order."""
    args_schema: type[BaseModel] = SearchInput
    handle_tool_error: bool = False
    env: Any
    """The :class:`ShopEnvironment`."""
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
    """WebShop ``Click(item)``: the new page's clickables, or the reward once bought."""

    name: str = "Click"
    description: str = "Click the Item to check more information."
    metadata: dict[str, Any] | None = Field(default_factory=lambda: {"lumos_sequential": True})
    """Actions on the shop session run in plan order."""
    args_schema: type[BaseModel] = WebShopClickInput
    handle_tool_error: bool = False
    env: Any
    """The :class:`ShopEnvironment`."""

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
    """A :class:`~langchain_lumos.tools._ranking.Ranker`; ``None`` means ``BM25Ranker()``."""

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
    """WebShop ``FeatureRetrieve(feature_list, Query: ...)``: the top-3 relevant options."""

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
    """WebShop ``Pick(Item_names: ..., Item_features: [...], Query: ...)``: the best asin.

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
        env: The shop (e.g. :class:`InMemoryShop` or an adapter over the WebShop gym env).
        ranker: Ranker for ``FeatureRetrieve`` and ``Pick`` (default ``BM25Ranker()``).

    Returns:
        ``Search``, ``Click``, ``FeatureRetrieve`` and ``Pick`` tools.
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
