"""Tests of the SymPy maths toolkit (Calculator, SetEquation, SolveEquation, Count, ...)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import BaseTool, ToolException

from langchain_lumos.tools.calculator import CalculatorTool, calculate
from langchain_lumos.tools.code import CodeTool
from langchain_lumos.tools.maths import (
    CountTool,
    DefineTool,
    SetEquationTool,
    SolveEquationTool,
    SolveInequalityTool,
    count_items,
    define,
    maths_tools,
    set_equation,
    solve_equation,
    solve_inequality,
)


def _run(tool: BaseTool, text: str, store: dict[str, Any]) -> Any:
    """Invoke like the executor does: the raw text plus the injected variable store."""
    field = next(iter(tool.tool_call_schema.model_fields))  # type: ignore[union-attr]
    return tool.invoke({field: text, "variables": store})


def test_gsm8k_chain_like_the_executor() -> None:
    """Spec 2.5 style chain: each result is stored and substituted into the next action."""
    tools = {t.name: t for t in maths_tools()}
    store: dict[str, Any] = {}
    plan = [
        ("R1", "Calculator", "28 * 1/7"),  # 4
        ("R2", "Calculator", "R1 * 3"),  # 12
        ("R3", "Calculator", "28 - R1 - R2"),  # 12
        ("R4", "SetEquation", "2x + R1 = R3"),  # 2x + 4 = 12
        ("R5", "SolveEquation", "R4"),  # 4
        ("Output", "Calculator", "R5 * 2.5"),  # 10
    ]
    for var, name, args in plan:
        store[var] = _run(tools[name], args, store)
    assert store["R1"] == "4"
    assert store["R2"] == "12"
    assert store["R3"] == "12"
    assert store["R4"] == "2x + 4 = 12"
    assert store["R5"] == "4"
    assert store["Output"] == "10"


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("28 * 1/7", "4"),
        ("18.0", "18"),
        ("0.5 * 36", "18"),
        ("25/2", "12.5"),
        ("1/3", "0.333333"),
        ("2/3", "0.666667"),
        ("0.1 + 0.2", "0.3"),
        ("$1,200 * 15%", "180"),
        ("20% of 50", "10"),
        ("3 × 4 − 2", "10"),
        ("2^10", "1024"),
        ("5!", "120"),
        ("sqrt(16) + 1", "5"),
        ("sqrt(2)", "1.414214"),
        ("(x+1)^2", "x^2 + 2x + 1"),
        ("2x(x+3)", "2x^2 + 6x"),
        ("3x + 2, where x = 5", "17"),
        ("10 - 3 > 5", "True"),
        ("42", "42"),
    ],
)
def test_calculator_values(formula: str, expected: str) -> None:
    assert calculate(formula) == expected


def test_calculator_substitution_rules() -> None:
    store = {"R1": "4", "R2": "3x + 5", "R3": "20", "R10": "1000"}
    # R1 never touches R10; values are wrapped in parentheses when operators are present.
    assert calculate("R10 - R1", store) == "996"
    assert calculate("R1 - R3", store) == "-16"
    assert calculate("2 * R2", store) == "6x + 10"
    # No operator: the raw value.
    assert calculate("R3", store) == "20"
    # A number before a parenthesis is a product.
    assert calculate("R1(R3 + 1)", store) == "84"


def test_calculator_function_application() -> None:
    store = {
        "R1": "3x + 2",
        "R2": "f(t) = 2t^2",
        "R3": "y = 3x + 2",
        "R4": "x = 4",
        "R7": "3",
        "R9": "5",
    }
    assert calculate("R1(R9)", store) == "17"
    assert calculate("R2(R7)", store) == "18"
    assert calculate("R3(R4)", store) == "14"
    assert calculate("R1(R9) + R7", store) == "20"
    assert calculate("R1(x = 1)", store) == "5"


def test_calculator_combines_equations() -> None:
    store = {"R1": "x + y = 10", "R2": "x - y = 2"}
    assert calculate("R1 + R2", store) == "2x = 12"
    assert calculate("R1 - R2", store) == "2y = 8"
    assert calculate("2 * R1", store) == "2x + 2y = 20"


def test_set_equation() -> None:
    store = {"R2": "3x + 5", "R3": "20"}
    assert set_equation("R2 = R3", store) == "3x + 5 = 20"
    assert set_equation("2x + x = 30") == "3x = 30"
    assert set_equation("x + y = 10, where y = 3") == "x + 3 = 10"


def test_solve_equation_single_and_combined() -> None:
    store = {"R2": "3b + 15", "R4": "45", "R5": "y = 3x + 2"}
    assert solve_equation("R2 = R4", store) == "10"
    assert solve_equation("x + 10 = 25") == "15"
    assert solve_equation("0.2p = 30") == "150"
    # R5 holds an equation: `R5 = 14` chains to y = 3x + 2 = 14.
    assert solve_equation("R5 = 14", store) == ["4", "14"]


def test_solve_equation_systems_spread_over_variables() -> None:
    # `R5, R6 = SolveEquation(R2=xy, R3=x/y)`: values in symbol-name order (x, y).
    assert solve_equation("R2=xy, R3=x/y", {"R2": "24", "R3": "6"}) == ["12", "2"]
    store = {"R1": "x + y = 10", "R2": "x - y = 2"}
    assert solve_equation("R1, R2", store) == ["6", "4"]
    assert solve_equation("a + b + c = 6, a - b = 0, c = 2a") == ["1.5", "1.5", "3"]


def test_solve_equation_prefers_positive_real_solutions() -> None:
    assert solve_equation("x^2 = 16") == "4"
    assert solve_equation("x^2 - 5x + 6 = 0") == "2"
    assert solve_equation("(x + 3)(x + 5) = 0") == "-5"
    assert solve_equation("2^n = 1024") == "10"
    assert solve_equation("x^2 + 1 = 0") == "-I"


def test_solve_equation_errors() -> None:
    with pytest.raises(ToolException, match="no solution"):
        solve_equation("x + 1 = x")
    with pytest.raises(ToolException, match="No unknown"):
        solve_equation("3 = 3")
    with pytest.raises(ToolException, match="SolveInequality"):
        solve_equation("x > 3")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("apples, pears, plums", "3"),
        ("[1, 2, 3, 4]", "4"),
        ("2^0, 2^1, ..., 2^10", "11"),
        ("1, 3, 5, ..., 99", "50"),
        ("2, 4, 8, ..., 1024", "10"),
        ("3, 6, 9, …, 30", "10"),
        ("5, 10, ..., 100", "20"),
        ("1, 2, 3, ..., 9, 10", "10"),
    ],
)
def test_count(items: str, expected: str) -> None:
    assert count_items(items) == expected


def test_count_variables_and_errors() -> None:
    assert count_items("R1", {"R1": ["a", "b"]}) == "2"
    assert count_items("R1, R2, R3", {"R1": "1", "R2": "2", "R3": "3"}) == "3"
    with pytest.raises(ToolException, match="two terms"):
        count_items("1, ..., 10")
    with pytest.raises(ToolException, match="number of terms"):
        count_items("1, 4, ..., 11")


@pytest.mark.parametrize(
    ("inequality", "expected"),
    [
        ("5x - 3 > 12", "x > 3"),
        ("2x + 1 <= 9", "x <= 4"),
        ("1 < 2x + 1 <= 9", "0 < x <= 4"),
        ("x^2 > 1", "x < -1 or x > 1"),
        ("x^2 < 0", "no solution"),
        ("x^2 >= 0", "all real numbers"),
        ("x > 2, x < 5", "2 < x < 5"),
        ("3x ≤ 20", "x <= 6.666667"),
    ],
)
def test_solve_inequality(inequality: str, expected: str) -> None:
    assert solve_inequality(inequality) == expected


def test_solve_inequality_errors() -> None:
    with pytest.raises(ToolException, match="not an inequality"):
        solve_inequality("x + 1")
    with pytest.raises(ToolException, match="one unknown"):
        solve_inequality("x + y > 1")


def test_define() -> None:
    assert define("p") == "p"
    assert define("15") == "15"
    assert define("R1", {"R1": ["a", "b"]}) == ["a", "b"]
    assert define("R1 + 1", {"R1": "3x"}) == "(3x) + 1"


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("1/0", "Division by zero"),
        ("R9 + 1", "Unknown variable R9"),
        ("9^9^9", "Exponent too large"),
        ("factorial(100000)", "Factorial argument too large"),
        ("__import__('os').system('ls')", "unsupported characters"),
        ("x.__class__", "unsupported characters"),
        ("(1 + 2", "Cannot parse"),
        ("3 +* 4", "Cannot parse"),
        ("", "Empty"),
    ],
)
def test_calculator_errors(formula: str, message: str) -> None:
    with pytest.raises(ToolException, match=message):
        CalculatorTool().invoke({"formula": formula})


def test_builtins_are_not_reachable() -> None:
    # Unknown names become symbols, never Python objects.
    assert calculate("open + eval") == "eval + open"


def test_tool_schemas_follow_the_lumos_signatures() -> None:
    expected = {
        "Calculator": ["formula"],
        "SetEquation": ["equation"],
        "SolveEquation": ["equation"],
        "Count": ["list"],
        "SolveInequality": ["inequality"],
        "Define": ["variable"],
        "Code": ["pseudo_code"],
    }
    tools = maths_tools(code_timeout_s=2)
    assert [t.name for t in tools] == [
        "Calculator",
        "SetEquation",
        "SolveEquation",
        "Count",
        "SolveInequality",
        "Code",
        "Define",
    ]
    for tool in tools:
        assert list(tool.tool_call_schema.model_fields) == expected[tool.name]  # type: ignore[union-attr]
        if tool.name != "Code":
            assert "variables" in tool.get_input_schema().model_fields
    code = next(t for t in tools if t.name == "Code")
    assert isinstance(code, CodeTool)
    assert code.timeout_s == 2
    with pytest.raises(ValueError, match="positive"):
        maths_tools(code_timeout_s=0)


async def test_async_tools() -> None:
    store = {"R1": "x + y = 10", "R2": "x - y = 2"}
    assert await SolveEquationTool().ainvoke({"equation": "R1, R2", "variables": store}) == [
        "6",
        "4",
    ]
    assert await CalculatorTool().ainvoke({"formula": "28 * 1/7"}) == "4"
    assert await SetEquationTool().ainvoke({"equation": "2x = 8"}) == "2x = 8"
    assert await CountTool().ainvoke({"list": "1, 2, ..., 10"}) == "10"
    assert await SolveInequalityTool().ainvoke({"inequality": "x - 1 > 0"}) == "x > 1"
    assert await DefineTool().ainvoke({"variable": "p"}) == "p"
    with pytest.raises(ToolException):
        await CalculatorTool().ainvoke({"formula": "1/0"})


def test_rounded_values_do_not_drift_in_chains() -> None:
    third = calculate("10/3")
    assert third == "3.333333"
    assert calculate("R1 * 3", {"R1": third}) == "10"
    assert calculate("R1 * 7", {"R1": calculate("1/7")}) == "1"
    # Values that are not a simple fraction's rounding stay as they are.
    assert calculate("R1 * 1", {"R1": "14.206699"}) == "14.206699"
    assert calculate("R1 + 1", {"R1": "2.5"}) == "3.5"
