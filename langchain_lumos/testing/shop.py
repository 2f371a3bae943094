"""An in-memory WebShop: a small catalogue with WebShop-style pages and rewards.

`InMemoryShop` implements `langchain_lumos.tools.webshop.ShopEnvironment` for tests, examples
and dry runs of the WebShop toolkit without the Princeton WebShop server; `DEFAULT_PRODUCTS`
and `DEFAULT_GOALS` are its ten products and three goals.

Example:
    >>> from langchain_lumos.tools.webshop import webshop_tools
    >>> shop = InMemoryShop()
    >>> search, click, *_ = webshop_tools(shop)
    >>> search.invoke({"query": "noise cancelling headphones"}).split(" - ")[0]
    'b08hmwz5n2'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from langchain_lumos.tools.ranking import BM25Ranker, Ranker
from langchain_lumos.tools.webshop import ITEM_BUTTONS, ShopEnvironment, ShopStep

__all__ = ["DEFAULT_GOALS", "DEFAULT_PRODUCTS", "InMemoryShop", "Product", "ShopGoal"]


@dataclass(frozen=True)
class Product:
    """A product of `InMemoryShop`.

    Attributes:
        asin: Lower-case product id (e.g. `"b09s3bn15c"`).
        title: Product title.
        price: Price in dollars.
        category: Product type, used by the type part of the reward.
        options: Option name -> values, e.g. `{"color": ["black", "white"]}`.
        attributes: Attributes the reward matches (`"long sleeve"`, `"machine wash"`).
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
"""Ten small products used by `InMemoryShop` when none are given."""

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

    Clickables follow WebShop's layout: results `["back to search", "next >", asin...]`
    (`"< prev"` from page 2 on), item pages
    `["back to search", "< prev", "description", "features", "reviews", "buy now", option...]`.

    The reward for buying product `p` with selected options `o` for goal `g` mirrors
    WebShop's formula: `r_type * (|attrs matched| + |options matched| + [price <= limit]) /
    (|g.attributes| + |g.options| + 1)`, with `r_type = 1` when `p.category` equals
    `g.category` and `0.1` otherwise (WebShop scores the type by text similarity; this is a
    simplification). An attribute matches when it is one of `p.attributes` or occurs in the
    title; an option matches when it was selected (case-insensitive).

    Args:
        products: The catalogue (default: `DEFAULT_PRODUCTS`).
        goals: The goals (default: `DEFAULT_GOALS`); index 0 is active until
            `reset`.
        page_size: Results per page.
        ranker: Search ranker (default `BM25Ranker()`).
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
            return [*ITEM_BUTTONS, *self._product().option_values()]
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
        """A WebShop-like `[SEP]`-joined text of the current page."""
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
        """Rank every product against `query` and open results page 1."""
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
