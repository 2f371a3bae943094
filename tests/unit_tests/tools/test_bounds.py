"""No model-written maths input can hang a tool: sizes are bounded, heavy work has a deadline."""

from __future__ import annotations

import time

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import BaseTool, ToolException

from langchain_lumos.tools.calculator import CalculatorTool, calculate
from langchain_lumos.tools.complex_qa import complex_qa_tools
from langchain_lumos.tools.maths import SolveEquationTool, solve_equation
from langchain_lumos.tools.worker import call_with_deadline, shutdown_workers


@pytest.fixture(scope="module", autouse=True)
def _started_worker() -> None:
    """Start a worker first: timings below measure the calls, not the interpreter start-up."""
    assert CalculatorTool().invoke({"formula": "1 + 1"}) == "2"


def _qa_calculator() -> BaseTool:
    llm = GenericFakeChatModel(messages=iter([AIMessage(content="Answer: x")]))
    return complex_qa_tools(llm=llm)[3]


def _observation(tool: BaseTool, arg: str, text: str) -> tuple[str, float]:
    start = time.monotonic()
    try:
        out = str(tool.invoke({arg: text}))
    except ToolException as exc:
        out = f"ToolException: {exc}"
    return out, time.monotonic() - start


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("10^abs(1000000000)", "too large"),
        ("(10^10000)^10000", "too large"),
        ("round(1.5, 1000000000)", "round"),
        ("binomial(10^9, 10^8)", "too large"),
        ("exp(10000000) // 81", "too large"),
        ("1" * 10_000, "too long"),
    ],
)
@pytest.mark.parametrize("toolkit", ["maths", "complex_qa"])
def test_huge_calculations_are_refused_fast(formula: str, match: str, toolkit: str) -> None:
    tool = CalculatorTool(timeout_s=5) if toolkit == "maths" else _qa_calculator()
    out, elapsed = _observation(tool, "formula", formula)
    assert out.startswith("ToolException") and match in out
    assert elapsed < 2.5


def test_bounds_hold_without_the_worker_too() -> None:
    start = time.monotonic()
    for formula in ["10^abs(1000000000)", "(10^10000)^10000", "round(1.5, 1000000000)"]:
        with pytest.raises(ToolException):
            calculate(formula)
    with pytest.raises(ToolException, match="too long"):
        calculate("9" * 10_000)
    assert time.monotonic() - start < 2


def test_long_digit_runs_are_checked_before_any_pattern() -> None:
    start = time.monotonic()
    with pytest.raises(ToolException, match="too long"):
        CalculatorTool(timeout_s=None).invoke({"formula": "7" * 10_000})
    assert time.monotonic() - start < 0.5


def test_reasonable_large_values_still_compute() -> None:
    assert calculate("2^100") == str(2**100)
    assert calculate("binomial(50, 25)") == "126410606437752"
    assert calculate("round(2.567, 2)") == "2.57"
    assert calculate("exp(0)") == "1"


def test_symbolic_solve_hang_is_stopped_by_the_deadline() -> None:
    tool = SolveEquationTool(timeout_s=1.5)
    tool.invoke({"equation": "x + 1 = 3"})  # a started worker: start-up is not timed
    out, elapsed = _observation(tool, "equation", "2x e^36 = x + 1")
    assert "took longer than 1.5 s" in out
    assert elapsed < 3
    assert tool.invoke({"equation": "x + 1 = 3"}) == "2"  # a fresh worker replaces the killed one


def test_high_degree_polynomial_has_a_numeric_solution() -> None:
    assert solve_equation("(x+1)^20 = 3") == "0.056467"
    assert solve_equation("x^5 = 32") == "2"
    with pytest.raises(ToolException, match="no solution"):
        solve_equation("x + 1 = x + 2")


def test_comparison_inside_arithmetic_is_an_observation() -> None:
    out, _ = _observation(_qa_calculator(), "formula", "-(1<2)")
    assert out.startswith("ToolException")


def test_worker_reraises_the_function_error_and_runs_in_process_without_deadline() -> None:
    with pytest.raises(ToolException, match="Division by zero"):
        call_with_deadline(calculate, "1/0", {}, timeout_s=5)
    assert call_with_deadline(calculate, "1 + 1", {}, timeout_s=None) == "2"
    shutdown_workers()
    assert call_with_deadline(calculate, "2 * 3", {}, timeout_s=5) == "6"


def test_a_worker_that_dies_becomes_an_observation() -> None:
    import os

    with pytest.raises(ToolException, match="worker process died"):
        call_with_deadline(os._exit, 3, timeout_s=5)
    assert call_with_deadline(calculate, "3 * 3", {}, timeout_s=5) == "9"
