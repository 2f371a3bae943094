"""LangChain standard unit tests for the maths, web-agent and WebShop tools."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_lumos.testing import InMemoryShop, StaticWebEnvironment
from langchain_lumos.tools.calculator import CalculatorTool
from langchain_lumos.tools.maths import (
    CountTool,
    DefineTool,
    SetEquationTool,
    SolveEquationTool,
    SolveInequalityTool,
)
from langchain_lumos.tools.web import ClickTool, SelectTool, TypeTool
from langchain_lumos.tools.webshop import (
    FeatureRetrieveTool,
    PickTool,
    SearchTool,
    WebShopClickTool,
)

_ENV = StaticWebEnvironment(["[textbox] From", "[select] Nights", "[button] Search"])


# -- maths ---------------------------------------------------------------------------------


class TestCalculatorStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return CalculatorTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"formula": "28 * 1/7"}


class TestSetEquationStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return SetEquationTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"equation": "3x + 5 = 20"}


class TestSolveEquationStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return SolveEquationTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"equation": "x + y = 10, x - y = 2"}


class TestCountStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return CountTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"list": "2^0, 2^1, ..., 2^10"}


class TestSolveInequalityStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return SolveInequalityTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"inequality": "5x - 3 > 12"}


class TestDefineStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return DefineTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"variable": "p"}


# -- web agent -----------------------------------------------------------------------------


class TestWebClickStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return ClickTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"env": _ENV, "query": "Click the search button"}


class TestWebTypeStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return TypeTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"env": _ENV, "query": "Type the departure city", "text": "Atlanta"}


class TestWebSelectStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return SelectTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"env": _ENV, "query": "Select the number of nights", "text": "6 nights"}


# -- WebShop -------------------------------------------------------------------------------


class TestWebShopSearchStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return SearchTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"env": InMemoryShop()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "noise cancelling headphones"}


class TestWebShopClickStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return WebShopClickTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"env": InMemoryShop()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"item": "b08hmwz5n2"}


class TestFeatureRetrieveStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return FeatureRetrieveTool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"feature_list": ["buy now", "black", "silver"], "query": "black headphones"}


class TestPickStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return PickTool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {
            "item_names": "b1 - Red mug ** b2 - Blue mug",
            "item_features": ["red", "blue"],
            "query": "a blue mug",
        }
