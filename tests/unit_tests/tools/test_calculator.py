"""The one Calculator: one input normalisation for maths and complex QA."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_lumos.executor import bind_arguments
from langchain_lumos.tools.calculator import CalculatorTool, calculate
from langchain_lumos.tools.complex_qa import complex_qa_tools
from langchain_lumos.tools.expressions import normalize
from langchain_lumos.tools.maths import maths_tools


def test_both_toolkits_share_the_calculator_class() -> None:
    llm = GenericFakeChatModel(messages=iter([AIMessage(content="Answer: x")]))
    qa_calc = next(t for t in complex_qa_tools(llm=llm) if t.name == "Calculator")
    maths_calc = next(t for t in maths_tools() if t.name == "Calculator")
    assert type(qa_calc) is type(maths_calc) is CalculatorTool
    assert (qa_calc.boolean_style, maths_calc.boolean_style) == ("yes/no", "True/False")


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        # `%` after a number with no operand after it is a percentage ...
        ("50%", "0.5"),
        ("10% * 200", "20"),
        ("20% of 50", "10"),
        ("200 * 15%", "30"),
        ("R1%", "0.12"),
        # ... and with an operand after it, the modulo
        ("7 % 3", "1"),
        ("R1 % 5", "2"),
        ("10 % (4)", "2"),
        # the rest of the shared notation
        ("1,000 + 2,500", "3500"),
        ("1.4 million / 2", "700000"),
        ("$12 × 3", "36"),
        ("2**10", "1024"),
        ("3 − 1", "2"),
        ("2 + 3 =", "5"),
        ("2010 - 1975?", "35"),
    ],
)
def test_one_normalisation(formula: str, expected: str) -> None:
    assert calculate(formula, {"R1": "12"}) == expected


def test_normalize_keeps_modulo_and_percent_apart() -> None:
    assert normalize("7 % 3") == "7 % 3"
    assert normalize("50% of 8") == "(50/100) * 8"
    assert normalize("x%") == "x/100"


def test_numeric_comparisons_answer_in_the_toolkit_style() -> None:
    assert calculate("1975 < 1980") == "True"
    assert calculate("1975 < 1980", boolean_style="yes/no") == "yes"
    assert calculate("3 = 4", boolean_style="yes/no") == "no"
    assert calculate("x + 1 = 3") == "x + 1 = 3"  # symbolic: the relation itself


def test_qa_results_bound_by_the_executor_become_their_numbers() -> None:
    llm = GenericFakeChatModel(messages=iter([AIMessage(content="Answer: x")]))
    calc = next(t for t in complex_qa_tools(llm=llm) if t.name == "Calculator")
    store = {
        "R3": "Question: When was B born?; Answer: July 4, 1980",
        "R4": "Question: When was A born?; Answer: 1975",
    }
    action = {"name": "Calculator", "args": "R3 - R4", "kwargs": None, "variables": ["R5"]}
    args = bind_arguments(calc, action, store)  # type: ignore[arg-type]
    assert args["formula"] == "R3 - R4" and args["variables"] == store
    assert calc.invoke(args) == "5"
    assert calc.invoke({**args, "formula": "R3 > R4"}) == "yes"
