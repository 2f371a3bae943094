"""Lumos maths toolkit (GSM8K / SVAMP actions) on top of SymPy instead of WolframAlpha.

Actions: `Calculator(formula)` (the shared `langchain_lumos.tools.calculator.CalculatorTool`),
`SetEquation(equation)`, `SolveEquation(equation)`, `Count(list)`,
`SolveInequality(inequality)`, `Define(variable)` and `Code(pseudo_code)` (the sandboxed
`langchain_lumos.tools.code.CodeTool`).

Every tool except `Code` declares the injected `variables` argument: the executor hands it
the *raw* action text and the whole variable store, and the tool binds variables itself with
the original Lumos rules; notation, parsing, bounds and output formatting are those of
`langchain_lumos.tools.expressions`. Each call runs in a killable worker under a deadline
(`timeout_s`). `SolveEquation` falls back to numeric roots when no closed form is found.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, Field

from langchain_lumos.tools.calculator import CalculatorTool
from langchain_lumos.tools.code import code_tools
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
    strip_connective,
    substitutions,
)
from langchain_lumos.tools.symbolic import InjectedVariables, SymbolicTool

__all__ = [
    "CountTool",
    "DefineTool",
    "SetEquationTool",
    "SolveEquationTool",
    "SolveInequalityTool",
    "count_items",
    "define",
    "maths_tools",
    "set_equation",
    "solve_equation",
    "solve_inequality",
]


def set_equation(equation: str, variables: Mapping[str, Any] | None = None) -> str:
    """`SetEquation(equation)`: bind, validate and tidy an equation for `SolveEquation`.

    `"eq, where x = 3"` (or `"eq, x = 3"`) substitutes the assignments into `eq`, like
    the original `", where"` rewrite.

    Args:
        equation: Raw action text, e.g. `"R1 + 5 = 20"`.
        variables: The variable store.

    Returns:
        The equation, each side simplified (`"3x + 5 = 20"`); an expression is returned
        tidied when it has no `=`.
    """
    text = normalize(bind_variables(equation, variables))
    segments = split_top_level(text) or [text]
    subs = substitutions(segments[1:]) if len(segments) > 1 else {}
    combined = combine_equations(segments[0])
    if combined is not None:
        return f"{format_expression(parse_expression(combined[0]).subs(subs))} = " + format_expression(
            parse_expression(combined[1]).subs(subs)
        )
    parts, ops = split_relation(segments[0])
    values = [parse_expression(p).subs(subs) for p in parts]
    return format_relation(values, ops)


def _equations(text: str) -> tuple[list[sympy.Expr], set[sympy.Symbol]]:
    """Equations (as `lhs - rhs`) of a comma-separated system, and all their symbols."""
    eqs: list[sympy.Expr] = []
    symbols: set[sympy.Symbol] = set()
    for segment in split_top_level(text):
        segment = strip_connective(segment)
        for piece in re.split(r"\s+and\s+", segment):
            combined = combine_equations(piece)
            if combined is not None:
                lhs, rhs = parse_expression(combined[0]), parse_expression(combined[1])
                symbols |= lhs.free_symbols | rhs.free_symbols
                eqs.append(lhs - rhs)
                continue
            parts, ops = split_relation(piece)
            if any(op != "=" for op in ops):
                msg = f"{piece!r} is not an equation; use SolveInequality for inequalities."
                raise ToolException(msg)
            values = [parse_expression(p) for p in parts]
            for value in values:
                symbols |= value.free_symbols
            if not ops:
                eqs.append(values[0])
            eqs.extend(a - b for a, b in itertools.pairwise(values))
    return eqs, symbols


def _solution_rank(solution: Mapping[sympy.Symbol, sympy.Expr]) -> tuple[int, int, int]:
    """Sort key: real before complex, then all-positive, then all-non-negative."""
    values = [sympy.sympify(v) for v in solution.values()]
    numeric = [v for v in values if v.is_number]
    real = all(v.is_real is not False for v in numeric)
    if not real:
        return (1, 1, 1)
    positive = all(bool(sympy.N(v) > 0) for v in numeric if v.is_real)
    nonneg = all(bool(sympy.N(v) >= 0) for v in numeric if v.is_real)
    return (0, 0 if positive else 1, 0 if nonneg else 1)


def solve_equation(equation: str, variables: Mapping[str, Any] | None = None) -> str | list[str]:
    """`SolveEquation(equation)`: solve one equation or a comma-separated system.

    Unknowns are the free symbols, sorted by name. When there are several solutions the first
    one (in SymPy's order) is taken among, by preference, those with all values positive, then
    all non-negative, then real, then any. This mirrors what the original effectively did with
    WolframAlpha (`x = ± 2` was read as `+2`; lists of solutions made the step fail).
    Symbols that stay free in an underdetermined system are left out of the answer.

    Args:
        equation: Raw action text, e.g. `"R2 = R4"` or `"R2=xy, R3=x/y"`; a bare
            expression means `expression = 0`.
        variables: The variable store.

    Returns:
        One value string for one unknown; otherwise a list of value strings, one per solved
        unknown in name order (spread over `R5, R6 = SolveEquation(...)`).

    Raises:
        ToolException: No unknowns, no solution, or unparseable input.
    """
    text = normalize(bind_variables(equation, variables))
    eqs, found = _equations(text)
    if not eqs:
        msg = "No equation to solve."
        raise ToolException(msg)
    symbols = sorted(found, key=lambda s: s.name)
    if not symbols:
        msg = f"No unknown to solve for in {text!r}."
        raise ToolException(msg)
    poly = _univariate_polynomial(eqs, symbols)
    if poly is not None and poly.degree() > _MAX_SYMBOLIC_DEGREE:
        solutions = _polynomial_roots(poly, symbols[0])  # no closed form to look for
    else:
        try:
            solutions = sympy.solve(eqs, symbols, dict=True)
        except NotImplementedError:
            solutions = _numeric_solution(eqs, symbols)
        except Exception as exc:
            msg = f"Cannot solve {text!r}: {exc}"
            raise ToolException(msg) from exc
    solutions = [s for s in solutions if s]
    if not solutions:
        try:  # no closed form found: look for numeric roots before giving up
            solutions = (
                _polynomial_roots(poly, symbols[0]) if poly is not None else _numeric_solution(eqs, symbols)
            )
        except ToolException:
            solutions = []
    if not solutions:
        msg = f"The equation {text!r} has no solution."
        raise ToolException(msg)
    best = min(enumerate(solutions), key=lambda item: (_solution_rank(item[1]), item[0]))[1]
    solved = sorted(best, key=lambda s: s.name)
    values = [format_expression(best[s]) for s in solved]
    return values[0] if len(values) == 1 else values


_MAX_SYMBOLIC_DEGREE = 4
"""Above this degree a one-unknown polynomial is solved numerically (no general closed form)."""


def _univariate_polynomial(eqs: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]) -> sympy.Poly | None:
    """The equation as a polynomial when it is one polynomial equation in one unknown."""
    if len(eqs) != 1 or len(symbols) != 1:
        return None
    try:
        poly = sympy.Poly(sympy.expand(eqs[0]), symbols[0])
    except (sympy.PolynomialError, sympy.GeneratorsNeeded):
        return None
    return poly if poly.degree() >= 1 and all(c.is_number for c in poly.coeffs()) else None


def _polynomial_roots(poly: sympy.Poly, symbol: sympy.Symbol) -> list[dict[sympy.Symbol, sympy.Expr]]:
    """Numeric roots (15 digits) of a one-unknown polynomial, real roots first."""
    try:
        roots = poly.nroots(n=15, maxsteps=200)
    except Exception as exc:
        msg = f"Cannot find the roots of {poly.as_expr()}: {exc}"
        raise ToolException(msg) from exc
    return [{symbol: r} for r in sorted(roots, key=lambda r: (not r.is_real, sympy.Abs(sympy.im(r))))]


def _numeric_solution(
    eqs: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]
) -> list[dict[sympy.Symbol, sympy.Expr]]:
    try:
        root = sympy.nsolve(list(eqs), list(symbols), [1] * len(symbols))
    except Exception as exc:
        msg = f"Cannot solve the equation(s) {list(eqs)}: {exc}"
        raise ToolException(msg) from exc
    return [dict(zip(symbols, list(root), strict=False))]


def _format_interval(symbol: sympy.Symbol, interval: sympy.Set) -> str:
    name = symbol.name
    if isinstance(interval, sympy.Interval):
        lo, hi = interval.start, interval.end
        if lo == -sympy.oo and hi == sympy.oo:
            return "all real numbers"
        if lo == -sympy.oo:
            return f"{name} {'<' if interval.right_open else '<='} {format_expression(hi)}"
        if hi == sympy.oo:
            return f"{name} {'>' if interval.left_open else '>='} {format_expression(lo)}"
        if lo == hi:
            return f"{name} = {format_expression(lo)}"
        left = "<" if interval.left_open else "<="
        right = "<" if interval.right_open else "<="
        return f"{format_expression(lo)} {left} {name} {right} {format_expression(hi)}"
    if isinstance(interval, sympy.FiniteSet):
        return " or ".join(f"{name} = {format_expression(v)}" for v in sorted(interval))
    if isinstance(interval, sympy.Union):
        return " or ".join(_format_interval(symbol, part) for part in interval.args)
    if interval is sympy.S.Reals:
        return "all real numbers"
    return str(interval.as_relational(symbol))


def solve_inequality(inequality: str, variables: Mapping[str, Any] | None = None) -> str:
    """`SolveInequality(inequality)`: solve one-variable inequalities (comma = "and").

    Args:
        inequality: Raw action text, e.g. `"5x - 3 > 12"` or `"1 < 2x + 1 <= 9"`.
        variables: The variable store.

    Returns:
        The solution set as text: `"x > 3"`, `"0 < x <= 4"`, `"x < -1 or x > 1"`,
        `"all real numbers"` or `"no solution"`.

    Raises:
        ToolException: Not an inequality, several unknowns, or unparseable input.
    """
    text = normalize(bind_variables(inequality, variables))
    relations: list[Any] = []
    for segment in split_top_level(text):
        for piece in re.split(r"\s+and\s+", strip_connective(segment)):
            parts, ops = split_relation(piece)
            if not ops:
                msg = f"{piece!r} is not an inequality."
                raise ToolException(msg)
            values = [parse_expression(p) for p in parts]
            relations.extend(
                RELATIONS[op](a, b, evaluate=False)
                for op, (a, b) in zip(ops, itertools.pairwise(values), strict=False)
            )
    symbols = sorted(set().union(*(r.free_symbols for r in relations)), key=lambda s: s.name)
    if len(symbols) != 1:
        msg = f"SolveInequality needs exactly one unknown, found {len(symbols)} in {text!r}."
        raise ToolException(msg)
    (symbol,) = symbols
    real = sympy.Symbol(symbol.name, real=True)
    solution: sympy.Set = sympy.S.Reals
    try:
        for relation in relations:
            rel = relation.subs(symbol, real)
            part = sympy.solveset(rel, real, domain=sympy.S.Reals)
            solution = sympy.Intersection(solution, part)
    except Exception as exc:
        msg = f"Cannot solve the inequality {text!r}: {exc}"
        raise ToolException(msg) from exc
    if solution is sympy.S.EmptySet or solution == sympy.S.EmptySet:
        return "no solution"
    return _format_interval(real, solution)


_ELLIPSIS = {"...", "…", "..", "....", "etc", "etc."}
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def count_items(items: str, variables: Mapping[str, Any] | None = None) -> str:
    """`Count(list)`: number of items, expanding `a, b, ..., z` sequences.

    A sequence with `...` is arithmetic by default. Terms that share a template and differ
    in one number (`2^0, 2^1, ..., 2^10`) count along that number. With at least three
    leading numeric terms the progression is checked to be arithmetic or geometric
    (`2, 4, 8, ..., 1024` counts 10). With two leading terms it is arithmetic when that
    gives a whole count, else geometric.

    Args:
        items: Raw action text, e.g. `"apples, pears, plums"` or `"1, 3, 5, ..., 99"`, or
            a variable holding a list.
        variables: The variable store.

    Returns:
        The count as a string.

    Raises:
        ToolException: A sequence whose count is not a whole positive number.
    """
    variables = variables or {}
    raw = items.strip()
    if raw in variables and isinstance(variables[raw], (list, tuple, set)):
        return str(len(variables[raw]))
    text = bind_variables(raw, variables).strip()
    if len(text) >= 2 and text[0] + text[-1] in {"[]", "{}", "()"}:
        text = text[1:-1]
    if not text.strip():
        return "0"
    if re.search(r",\s", text):
        terms = [t.strip() for t in re.split(r",\s+", text) if t.strip()]
    else:
        terms = split_top_level(text)
    dots = [i for i, t in enumerate(terms) if t in _ELLIPSIS]
    if not dots:
        return str(len(terms))
    head, last = terms[: dots[0]], terms[-1]
    tail_count = len(terms) - dots[0] - 1
    if len(head) < 2 or tail_count < 1:
        msg = f"A sequence needs two terms before '...' and one after it: {text!r}."
        raise ToolException(msg)
    return str(_sequence_count(head, last, tail_count))


def _whole(value: sympy.Expr) -> int | None:
    value = sympy.nsimplify(value)
    if value.is_Integer:
        return int(value)
    approx = sympy.N(value)
    if approx.is_real and abs(approx - round(approx)) < 1e-9:
        return round(approx)
    return None


def _sequence_count(head: Sequence[str], last: str, tail_count: int) -> int:
    templates = [_NUMBER_RE.sub("#", t.replace(" ", "")) for t in [*head, last]]
    numbers = [_NUMBER_RE.findall(t.replace(" ", "")) for t in [*head, last]]
    if len(set(templates)) == 1 and len(numbers[0]) > 1:
        varying = [i for i in range(len(numbers[0])) if len({n[i] for n in numbers}) > 1]
        if len(varying) == 1:
            seq = [sympy.Rational(n[varying[0]]) for n in numbers]
            count = _arithmetic_count(seq[:-1], seq[-1])
            if count is not None:
                return count
    values = [parse_expression(normalize(t)) for t in [*head, last]]
    if not all(v.is_number for v in values):
        msg = "Cannot count a sequence whose terms are not numbers."
        raise ToolException(msg)
    first_terms, final = values[:-1], values[-1]
    arithmetic = _arithmetic_count(first_terms, final)
    geometric = _geometric_count(first_terms, final)
    count = arithmetic if arithmetic is not None else geometric
    if count is None or count < len(first_terms) + tail_count:
        msg = "Cannot determine the number of terms of this sequence."
        raise ToolException(msg)
    return count


def _arithmetic_count(first: Sequence[sympy.Expr], last: sympy.Expr) -> int | None:
    diff = sympy.nsimplify(first[1] - first[0])
    if diff == 0 or any(sympy.nsimplify(b - a - diff) != 0 for a, b in itertools.pairwise(first)):
        return None
    count = _whole((last - first[0]) / diff + 1)
    return count if count is not None and count >= 1 else None


def _geometric_count(first: Sequence[sympy.Expr], last: sympy.Expr) -> int | None:
    if first[0] == 0:
        return None
    ratio = sympy.nsimplify(first[1] / first[0])
    if ratio in (0, 1, -1) or any(sympy.nsimplify(b - a * ratio) != 0 for a, b in itertools.pairwise(first)):
        return None
    target = sympy.nsimplify(last / first[0])
    try:
        k = round(float(sympy.log(sympy.Abs(target)) / sympy.log(sympy.Abs(ratio))))
    except (TypeError, ValueError, OverflowError):
        return None
    if k < 0 or k > 100_000 or sympy.nsimplify(ratio**k - target) != 0:
        return None
    return k + 1


def define(variable: str, variables: Mapping[str, Any] | None = None) -> Any:
    """`Define(variable)`: identity; a lone variable returns its stored value unchanged.

    Args:
        variable: Raw action text, e.g. `"p"`, `"15"`, `"R3"`.
        variables: The variable store.

    Returns:
        The (bound) argument.
    """
    variables = variables or {}
    raw = variable.strip()
    if raw in variables:
        return variables[raw]
    return bind_variables(raw, variables)


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


class SetEquationInput(BaseModel):
    """Arguments of `SetEquation`."""

    equation: str = Field(description="The equation to set up, e.g. '3x + 5 = 20'.")
    variables: InjectedVariables


class SolveEquationInput(BaseModel):
    """Arguments of `SolveEquation`."""

    equation: str = Field(
        description="Equation(s) to solve, comma-separated for a system, e.g. 'x + y = 10, x = 2y'."
    )
    variables: InjectedVariables


class CountInput(BaseModel):
    """Arguments of `Count` (the field is named `list` like the Lumos signature)."""

    list: str = Field(description="Comma-separated items, or a sequence like '1, 3, ..., 99'.")
    variables: InjectedVariables


class SolveInequalityInput(BaseModel):
    """Arguments of `SolveInequality`."""

    inequality: str = Field(description="The inequality, e.g. '5x - 3 > 12'.")
    variables: InjectedVariables


class DefineInput(BaseModel):
    """Arguments of `Define`."""

    variable: str = Field(description="A variable name or a number to define.")
    variables: InjectedVariables


class SetEquationTool(SymbolicTool):
    """Lumos `SetEquation(equation)`.

    Example:
        >>> SetEquationTool().invoke({"equation": "2x + x = 30"})
        '3x = 30'
    """

    name: str = "SetEquation"
    description: str = "Set up an equation to be solved."
    args_schema: type[BaseModel] = SetEquationInput

    def _action(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return set_equation, ()


class SolveEquationTool(SymbolicTool):
    """Lumos `SolveEquation(equation)`: a string for one unknown, a list for several.

    Example:
        >>> SolveEquationTool().invoke({"equation": "x + y = 10, x - y = 2"})
        ['6', '4']
    """

    name: str = "SolveEquation"
    description: str = "Solve the previous set equation."
    args_schema: type[BaseModel] = SolveEquationInput

    def _action(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return solve_equation, ()


class CountTool(SymbolicTool):
    """Lumos `Count(list)`.

    Example:
        >>> CountTool().invoke({"list": "2^0, 2^1, ..., 2^10"})
        '11'
    """

    name: str = "Count"
    description: str = "Count the number of elements in the given list."
    args_schema: type[BaseModel] = CountInput

    def _action(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return count_items, ()


class SolveInequalityTool(SymbolicTool):
    """Lumos `SolveInequality(inequality)`.

    Example:
        >>> SolveInequalityTool().invoke({"inequality": "5x - 3 > 12"})
        'x > 3'
    """

    name: str = "SolveInequality"
    description: str = "Solve the previous set inequality."
    args_schema: type[BaseModel] = SolveInequalityInput

    def _action(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return solve_inequality, ()


class DefineTool(SymbolicTool):
    """Lumos `Define(variable)`: returns its argument (a symbol, a number or a value).

    Example:
        >>> DefineTool().invoke({"variable": "p"})
        'p'
    """

    name: str = "Define"
    description: str = "Define a variable or a number for latter usage."
    args_schema: type[BaseModel] = DefineInput

    def _action(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return define, ()


def maths_tools(*, code_timeout_s: float = 5.0, timeout_s: float | None = 10.0) -> list[BaseTool]:
    """The Lumos maths action set.

    Args:
        code_timeout_s: Wall-clock limit of each sandboxed `Code` run.
        timeout_s: Deadline of every other action (run in a killable worker process);
            `None` runs them in the calling thread without one.

    Returns:
        `Calculator`, `SetEquation`, `SolveEquation`, `Count`, `SolveInequality`, `Code` and
        `Define` tools (`Code` only where its sandbox is available, see
        `langchain_lumos.tools.code.code_tools`).
    """
    if code_timeout_s <= 0 or (timeout_s is not None and timeout_s <= 0):
        msg = "code_timeout_s and timeout_s must be positive."
        raise ValueError(msg)
    return [
        CalculatorTool(timeout_s=timeout_s),
        SetEquationTool(timeout_s=timeout_s),
        SolveEquationTool(timeout_s=timeout_s),
        CountTool(timeout_s=timeout_s),
        SolveInequalityTool(timeout_s=timeout_s),
        *code_tools(timeout_s=code_timeout_s),
        DefineTool(timeout_s=timeout_s),
    ]
