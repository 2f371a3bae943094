"""`Calculator(formula)`: the one calculator of every Lumos toolkit (maths and complex QA).

Exact arithmetic and algebra on SymPy with the notation and output rules of
`langchain_lumos.tools.expressions` (one input normalisation for every domain). It binds
variables itself (the executor injects the variable store), combines equations, applies
functions held in variables (`R1(R9)`) and compares. QA results substituted into a formula
(`"Question: ...; Answer: 1975"`) count as the number in their answer, so complex-QA plans
such as `Calculator(R3 - R4)` over two QA results compute.

The original complex-QA Calculator asked an LLM (and the maths one asked WolframAlpha);
this one computes. Comparisons answer `"True"`/`"False"` (maths) or `"yes"`/`"no"` (the form
HotpotQA/StrategyQA answers take; `boolean_style="yes/no"`, as `complex_qa_tools` sets it).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from langchain_core.tools import ToolException
from pydantic import BaseModel, Field

from langchain_lumos.tools.symbolic import InjectedVariables, SymbolicTool

__all__ = ["BooleanStyle", "CalculatorInput", "CalculatorTool", "calculate"]

BooleanStyle = Literal["True/False", "yes/no"]
"""How a numeric comparison is answered."""


def calculate(
    formula: str, variables: Mapping[str, Any] | None = None, boolean_style: BooleanStyle = "True/False"
) -> str:
    """`Calculator(formula)`: evaluate or expand a formula (no deadline; the tool adds one).

    Args:
        formula: Raw action text, e.g. `"28 * 1/7"`, `"R1(R9)"`, `"R1 + R2"`.
        variables: The variable store.
        boolean_style: How a numeric comparison is answered: `"True"`/`"False"` or
            `"yes"`/`"no"`.

    Returns:
        The value (`"4"`), an expanded expression, an equation `"lhs = rhs"` when the
        formula combines equations or is symbolic, or the truth of a numeric comparison
        (`<`, `<=`, `>`, `>=`, `!=`, `=`/`==`).

    Raises:
        ToolException: Unparseable formula, unknown variable, division by zero, a result
            too large to compute.
    """
    # SymPy loads on the first calculation, not with the toolkit: a complex-QA agent that
    # never calculates does not pay its half-second import.
    import sympy

    from langchain_lumos.tools.expressions import (
        RELATIONS,
        bind_variables,
        combine_equations,
        format_expression,
        format_relation,
        normalize,
        parse_expression,
        split_relation,
        split_top_level,
        substitutions,
    )

    text = normalize(bind_variables(formula, variables))
    combined = combine_equations(text)
    if combined is not None:
        lhs, rhs = combined
        return f"{format_expression(parse_expression(lhs))} = {format_expression(parse_expression(rhs))}"
    if re.fullmatch(r"\d+", text):
        return text
    segments = split_top_level(text)
    if not segments:
        msg = "Empty formula: Calculator needs a formula."
        raise ToolException(msg)
    subs = substitutions(segments[1:])
    parts, ops = split_relation(segments[0])
    values = [parse_expression(p).subs(subs) for p in parts]
    if not ops:
        return format_expression(values[0])
    if not all(v.is_number for v in values):
        return format_relation(values, ops)
    truth = [RELATIONS[op](a, b) for op, (a, b) in zip(ops, itertools.pairwise(values), strict=False)]
    if not all(t in (sympy.true, sympy.false) for t in truth):
        return format_relation(values, ops)
    holds = all(t == sympy.true for t in truth)
    if boolean_style == "yes/no":
        return "yes" if holds else "no"
    return str(holds)


class CalculatorInput(BaseModel):
    """Arguments of `Calculator`."""

    formula: str = Field(description="The formula, e.g. '28 * 1/7', 'R1 + R2' or 'R1(R9)'.")
    variables: InjectedVariables


class CalculatorTool(SymbolicTool):
    """Lumos `Calculator(formula)` with SymPy, under a deadline (see the module docstring).

    Example:
        >>> CalculatorTool().invoke({"formula": "28 * 1/7"})
        '4'
    """

    name: str = "Calculator"
    description: str = "Calculate the input formula."
    args_schema: type[BaseModel] = CalculatorInput

    boolean_style: BooleanStyle = "True/False"
    """How numeric comparisons are answered (`complex_qa_tools` uses `"yes/no"`)."""

    def _action(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return calculate, (self.boolean_style,)
