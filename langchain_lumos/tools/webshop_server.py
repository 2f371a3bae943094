"""A running WebShop server as a `ShopEnvironment` (the text environment over HTTP).

Princeton's WebShop serves its shop as a Flask site (`web_agent_site/app.py`, port 3000 by
default): `/<session>` (the search page; `fixed_<i>` sessions get goal `i`),
`/search_results/<session>/<keywords>/<page>`, `/item_page/<session>/<asin>/<keywords>/<page>/<options>`,
`/item_sub_page/...` and `/done/<session>/<asin>/<options>` (the reward page). Its text
environment reads the clickables of each page as WebShop's own `WebAgentTextEnv` does: the
text of every `.btn` button and `.product-link` link, lower-cased, in page order, then the
value of every option radio button. A click follows the page's own target (the button's
form action, the link's `href`, the radio's `data-url`), so the server decides every
transition and the reward, exactly as when WebShop's agents use it.

```python
from langchain_lumos.tools import webshop_tools
from langchain_lumos.tools.webshop_server import WebShopServerEnvironment

env = WebShopServerEnvironment("http://127.0.0.1:3000")
instruction = env.reset(0)  # session fixed_0
tools = webshop_tools(env)
```

Only the standard library is used (`urllib`, `html.parser`).
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser

from langchain_lumos.tools.webshop import ShopEnvironment, ShopStep

__all__ = ["WebShopPage", "WebShopServerEnvironment", "parse_webshop_page"]


@dataclass
class WebShopPage:
    """What the text environment reads from one WebShop page.

    Attributes:
        url: The page's URL.
        instruction: The instruction text (`#instruction-text`), "" when absent.
        targets: Every clickable (WebShop order) and how to follow it: `(method, url)`.
        products: `(asin, title)` of each result on a results page, in page order.
        features: The feature bullets of a features page.
        reward: The score of the done page (None elsewhere).
        has_search_bar: The page has the search form (`#search_input`).
        search_action: The search form's action URL.
        text: The visible text of the page, one line per text node.
    """

    url: str
    instruction: str = ""
    targets: dict[str, tuple[str, str]] = field(default_factory=dict)
    products: list[tuple[str, str]] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    reward: float | None = None
    has_search_bar: bool = False
    search_action: str = ""
    text: str = ""

    @property
    def clickables(self) -> list[str]:
        """The clickables, in WebShop order."""
        return list(self.targets)


class _PageParser(HTMLParser):
    """Collects buttons (with their form), product links, radios, bullets and the score."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = WebShopPage(url)
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._form: str = ""
        self._buttons: list[tuple[str, str]] = []  # (text, form action) in order
        self._links: list[tuple[str, str]] = []
        self._radios: list[tuple[str, str]] = []
        self._capture: str | None = None
        self._buffer: list[str] = []
        self._last_asin: str | None = None
        self._texts: list[str] = []
        self._in_reward = False
        self._in_bullets = 0
        self._link = ""

    def _classes(self, attrs: dict[str, str]) -> list[str]:
        return (attrs.get("class") or "").split()

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in attrs_list}
        classes = self._classes(attrs)
        if tag == "form":
            self._form = attrs.get("action", "")
            if attrs.get("id") == "form-buscar" or "search" in attrs.get("id", ""):
                self.page.search_action = self._form
        if tag == "input" and attrs.get("id") == "search_input":
            self.page.has_search_bar = True
            self.page.search_action = self.page.search_action or self._form
        if tag == "input" and attrs.get("type") == "radio":
            self._radios.append((attrs.get("value", ""), attrs.get("data-url", "")))
        if (tag == "button" and "btn" in classes) or (tag == "a" and "product-link" in classes):
            self._capture = tag
            self._buffer = []
            self._link = attrs.get("href", "")
        if tag == "h4" and "product-title" in classes:
            self._capture = "title"
            self._buffer = []
        if attrs.get("id") == "reward":
            self._in_reward = True
        if attrs.get("name") == "bulletpoints":
            self._in_bullets = 1
        elif self._in_bullets and tag == "li":
            self._capture = "li"
            self._buffer = []
        if attrs.get("id") == "instruction-text":
            self._capture = "instruction"
            self._buffer = []
        if tag not in ("input", "br", "img", "meta", "link"):
            self._stack.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._buffer).split())
        if self._capture == tag == "button":
            self._buttons.append((text, self._form))
            self._capture = None
        elif self._capture == tag == "a":
            self._links.append((text, self._link))
            self._last_asin = text
            self._capture = None
        elif self._capture == "title" and tag in ("h4", "h5"):
            if self._last_asin is not None:
                self.page.products.append((self._last_asin.lower(), text))
                self._last_asin = None
            self._capture = None
        elif self._capture == "li" and tag == "li":
            self.page.features.append(text)
            self._capture = None
        elif self._capture == "instruction" and tag == "div":
            self.page.instruction = text.removeprefix("Instruction:").strip()
            self._capture = None
        if tag == "form":
            self._form = ""
        if tag == "ul" and self._in_bullets:
            self._in_bullets = 0
        if any(open_tag == tag for open_tag, _ in self._stack):  # WebShop's pages close some tags wrongly
            while self._stack and self._stack.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._buffer.append(data)
        if data.strip():
            self._texts.append(" ".join(data.split()))
        if self._in_reward and self._stack and self._stack[-1][0] == "pre" and data.strip():
            with contextlib.suppress(ValueError):
                self.page.reward = float(data.strip())
            self._in_reward = False

    def result(self) -> WebShopPage:
        page = self.page
        for text, action in self._buttons:
            page.targets.setdefault(text.lower(), ("POST", action))
        for text, href in self._links:
            page.targets.setdefault(text.lower(), ("GET", href))
        for value, url in self._radios:
            page.targets.setdefault(value, ("GET", url))
        page.text = "\n".join(self._texts)
        return page


def parse_webshop_page(text: str, url: str = "") -> WebShopPage:
    """Read a WebShop HTML page the way the text environment reads it."""
    parser = _PageParser(url)
    parser.feed(text)
    parser.close()
    return parser.result()


class WebShopServerEnvironment(ShopEnvironment):
    """A session on a running WebShop server.

    Args:
        base_url: The server, e.g. `http://127.0.0.1:3000`.
        timeout: Seconds per HTTP request.

    `reset(goal_index)` opens session `fixed_<goal_index>` (the server's fixed goal
    `goal_index`); `reset(session="abc")` opens any session id. `reward` and `done` hold
    the episode's outcome once `buy now` was clicked.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:3000", *, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            msg = f"base_url must be an http(s) URL, got {base_url!r}."
            raise ValueError(msg)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = ""
        self.page: WebShopPage | None = None
        self.reward = 0.0
        self.done = False
        self.actions: list[str] = []
        """Every action of the episode, in the text environment's form (`search[...]`, `click[...]`)."""
        self._instruction = ""

    # -- HTTP ----------------------------------------------------------------------------

    def _url(self, target: str) -> str:
        return urllib.parse.urljoin(self.base_url + "/", target)

    def _open(self, method: str, target: str, form: dict[str, str] | None = None) -> WebShopPage:
        url = self._url(target)
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read().decode("utf-8", errors="replace")
                final = response.geturl()
        except urllib.error.HTTPError as exc:
            msg = f"The WebShop server answered {exc.code} for {url}."
            raise ValueError(msg) from None
        except (urllib.error.URLError, OSError) as exc:
            msg = f"Cannot reach the WebShop server at {self.base_url}: {exc}"
            raise ConnectionError(msg) from None
        page = parse_webshop_page(body, final)
        if page.instruction:
            self._instruction = page.instruction
        self.page = page
        return page

    def _require_page(self) -> WebShopPage:
        if self.page is None:
            msg = "Call reset() first: no WebShop session is open."
            raise ValueError(msg)
        return self.page

    # -- ShopEnvironment -------------------------------------------------------------------

    def reset(self, goal_index: int = 0, *, session: str | None = None) -> str:
        """Open a session on its search page; returns the instruction."""
        self.session = session or f"fixed_{goal_index}"
        self.reward, self.done, self.actions = 0.0, False, []
        self._instruction = ""
        self._open("GET", f"/{urllib.parse.quote(self.session)}")
        return self._instruction

    @property
    def instruction(self) -> str:
        """The session's instruction."""
        return self._instruction

    def search(self, query: str) -> list[tuple[str, str]]:
        """Submit the search form (going back to the search page first if needed)."""
        page = self._require_page()
        if not page.has_search_bar:
            target = page.targets.get("back to search")
            page = (
                self._open(*target) if target else self._open("GET", f"/{urllib.parse.quote(self.session)}")
            )
        if not page.has_search_bar:
            msg = "The WebShop page has no search bar."
            raise ValueError(msg)
        self.actions.append(f"search[{query}]")
        action = page.search_action or f"/{urllib.parse.quote(self.session)}"
        results = self._open("POST", action, {"search_query": query})
        return list(results.products)

    def click(self, target: str) -> ShopStep:
        """Click a clickable of the current page (asins and buttons case-insensitively)."""
        page = self._require_page()
        if self.done:
            msg = "The episode is over (the item was bought)."
            raise ValueError(msg)
        key = target.strip()
        found = page.targets.get(key) or page.targets.get(key.lower())
        if found is None:
            lowered = {k.lower(): v for k, v in page.targets.items()}
            found = lowered.get(key.lower())
        if found is None:
            msg = f"{target!r} is not clickable here; clickables: {page.clickables}."
            raise ValueError(msg)
        self.actions.append(f"click[{key.lower()}]")
        new = self._open(*found)
        if new.reward is not None:
            self.reward, self.done = new.reward, True
            return ShopStep([], reward=new.reward, done=True, observation=new.text)
        return ShopStep(new.clickables, observation=new.text)

    def clickables(self) -> list[str]:
        """The clickables of the current page."""
        return self._require_page().clickables

    def features(self) -> list[str]:
        """The product's feature bullets (read from its Features page, then back)."""
        page = self._require_page()
        target = page.targets.get("features")
        if target is None:
            return list(page.features)
        features = self._open(*target).features
        self.page = page  # the text environment stays on the product page
        return features

    def __repr__(self) -> str:
        return f"WebShopServerEnvironment({self.base_url!r}, session={self.session!r})"
