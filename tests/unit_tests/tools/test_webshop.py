"""Tests of the WebShop toolkit and the in-memory shop."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from langchain_core.tools import ToolException

from langchain_lumos.testing.shop import DEFAULT_PRODUCTS, InMemoryShop, Product, ShopGoal
from langchain_lumos.tools.webshop import (
    FeatureRetrieveTool,
    PickTool,
    SearchTool,
    WebShopClickTool,
    webshop_tools,
)

ITEM_BUTTONS = ["back to search", "< prev", "description", "features", "reviews", "buy now"]


def test_exemplar_episode_reaches_full_reward() -> None:
    """The second in-context exemplar of eval/webshop/examplars.py, action by action."""
    shop = InMemoryShop()
    instruction = shop.reset(1)
    search, click, retrieve, pick = webshop_tools(shop)
    assert [t.name for t in (search, click, retrieve, pick)] == [
        "Search",
        "Click",
        "FeatureRetrieve",
        "Pick",
    ]
    r1 = search.invoke({"query": instruction})
    assert r1.count(" ** ") == 1
    first, second = r1.split(" ** ")
    assert first.startswith("b099wh1rtm - African American Wall Art")
    assert second.startswith("b092qqbw4y - ")
    r2 = click.invoke({"item": "b099wh1rtm"})
    assert r2[:6] == ITEM_BUTTONS
    assert "16x20 inch" in r2
    r3 = retrieve.invoke({"feature_list": r2, "query": instruction})
    assert r3.split(", ")[:2] == ["turtles and african american couple", "16x20 inch"]
    assert click.invoke({"item": "< prev"})[0] == "back to search"
    r5 = click.invoke({"item": "b092qqbw4y"})
    r6 = retrieve.invoke({"feature_list": r5, "query": instruction})
    assert r6 == "16x24 inch, 20x30 inch"
    r7 = pick.invoke({"item_names": r1, "item_features": [r3, r6], "query": instruction})
    assert r7 == "b099wh1rtm"
    click.invoke({"item": "< prev"})
    click.invoke({"item": r7})
    click.invoke({"item": "Turtles and African American Couple"})  # case-insensitive
    click.invoke({"item": "16x20 inch"})
    reward = click.invoke({"item": "buy now"})
    assert reward == 1.0
    assert isinstance(reward, float)
    assert shop.actions[0].startswith("search[")
    assert shop.actions[-1] == "click[buy now]"


def test_rewards_are_partial_for_wrong_options_price_or_type() -> None:
    shop = InMemoryShop()
    shop.reset(0)  # women's top, a01#black, large, < $50, long sleeve + loose fit
    shop.search("women tops")
    shop.click("b094q7b3ss")
    shop.click("a02#white")
    shop.click("large")
    assert shop.buy() == pytest.approx(4 / 5)  # the colour is wrong

    shop.reset(0)
    shop.search("women tops")
    shop.click("b07jvq8t3m")  # same category, no long sleeve / loose fit, no options
    assert shop.buy() == pytest.approx(1 / 5)  # price only

    shop.reset(2)  # headphones
    shop.search("yoga mat")
    shop.click("b07d5jf1rr")
    shop.click("black")
    assert shop.buy() == pytest.approx(0.1 * 2 / 4)  # wrong type: option + price, scaled


def test_shop_pages_and_navigation() -> None:
    products = [
        Product(f"b00000000{i}", f"Blue mug number {i}", 5.0 + i, "mugs", {"size": ["small"]})
        for i in range(5)
    ]
    shop = InMemoryShop(products, [ShopGoal("a blue mug", "mugs")], page_size=2)
    assert shop.clickables() == ["search"]
    results = shop.search("blue mug")
    assert len(results) == 5
    assert shop.clickables()[:2] == ["back to search", "next >"]
    step = shop.click("next >")
    assert step.clickables[:3] == ["back to search", "< prev", "next >"]
    asin = step.clickables[-1]
    step = shop.click(asin)
    assert step.clickables == [*ITEM_BUTTONS, "small"]
    assert shop.features() == []  # products without bullets
    assert "Price: $" in shop.observation
    step = shop.click("description")
    assert step.clickables == ["back to search", "< prev"]
    assert shop.click("< prev").clickables[:6] == ITEM_BUTTONS
    assert shop.click("< prev").clickables[1] == "< prev"  # back on results page 2
    assert shop.click("back to search").clickables == ["search"]
    with pytest.raises(ValueError, match="not clickable"):
        shop.click("buy now")


def test_features_of_the_open_item() -> None:
    shop = InMemoryShop()
    shop.search("headphones")
    shop.click("b08hmwz5n2")
    assert shop.features() == list(DEFAULT_PRODUCTS[5].features)
    assert len(DEFAULT_PRODUCTS) == 10


def test_click_errors_and_finished_episode() -> None:
    shop = InMemoryShop()
    _, click, _, _ = webshop_tools(shop)
    with pytest.raises(ToolException, match="not clickable"):
        click.invoke({"item": "b099wh1rtm"})  # not on a results page yet
    shop.search("wall art")
    click.invoke({"item": "b099wh1rtm"})
    assert isinstance(click.invoke({"item": "buy now"}), float)
    with pytest.raises(ToolException, match="episode is over"):
        click.invoke({"item": "< prev"})
    with pytest.raises(ToolException, match="episode is over"):
        SearchTool(env=shop).invoke({"query": "mug"})


def test_feature_retrieve_skips_navigation_and_accepts_strings() -> None:
    tool = FeatureRetrieveTool()
    clickables = [*ITEM_BUTTONS, "black", "white", "large", "small"]
    assert tool.invoke({"feature_list": clickables, "query": "black shirt in large"}) == (
        "black, large, white"
    )
    assert tool.invoke({"feature_list": "red, blue", "query": "blue"}) == "blue, red"
    assert tool.invoke({"feature_list": ITEM_BUTTONS, "query": "anything"}) == ""


class ReverseRanker:
    def rank(self, query: str, passages: Sequence[str], k: int) -> list[int]:
        return list(range(len(passages) - 1, -1, -1))[:k]


def test_pick_pairs_items_with_features() -> None:
    names = "b1 - Red mug ** b2 - Blue mug"
    assert (
        PickTool().invoke(
            {"item_names": names, "item_features": ["red, small", "blue, large"], "query": "blue"}
        )
        == "b2"
    )
    # Only items with a string feature take part; without any, the first item wins.
    assert PickTool().invoke({"item_names": names, "item_features": [1.0, "red"], "query": "x"}) == "b2"
    assert PickTool().invoke({"item_names": names, "item_features": [], "query": "x"}) == "b1"
    # The original's stray trailing " *" is tolerated; a custom ranker is used.
    assert (
        PickTool(ranker=ReverseRanker()).invoke(
            {"item_names": names + " *", "item_features": ["a", "b"], "query": "x"}
        )
        == "b2"
    )
    with pytest.raises(ToolException, match="no items"):
        PickTool().invoke({"item_names": " ** ", "item_features": [], "query": "x"})


def test_validation() -> None:
    with pytest.raises(TypeError):
        webshop_tools(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        InMemoryShop([DEFAULT_PRODUCTS[0], DEFAULT_PRODUCTS[0]])
    with pytest.raises(ValueError, match="goal_index"):
        InMemoryShop().reset(99)
    with pytest.raises(ToolException, match="one item name"):
        WebShopClickTool(env=InMemoryShop()).invoke({"item": ""})


async def test_async_tools() -> None:
    shop = InMemoryShop()
    search, click, retrieve, pick = webshop_tools(shop)
    instruction = shop.reset(2)
    r1 = await search.ainvoke({"query": instruction})
    assert r1.startswith("b08hmwz5n2 - Wireless Bluetooth")
    page = await click.ainvoke({"item": "b08hmwz5n2"})
    features = await retrieve.ainvoke({"feature_list": page, "query": instruction})
    assert features.split(", ")[0] == "black"
    asin = await pick.ainvoke({"item_names": r1, "item_features": [features], "query": "x"})
    assert asin == "b08hmwz5n2"
    await click.ainvoke({"item": "black"})
    assert await click.ainvoke({"item": "buy now"}) == 1.0
