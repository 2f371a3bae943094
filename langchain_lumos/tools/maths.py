"""Lumos maths toolkit (GSM8K / SVAMP actions) on top of SymPy instead of WolframAlpha.

Actions: ``Calculator(formula)``, ``SetEquation(equation)``, ``SolveEquation(equation)``,
``Count(list)``, ``SolveInequality(inequality)``, ``Define(variable)`` and ``Code(pseudo_code)``
(the sandboxed :class:`~langchain_lumos.tools.code.CodeTool`).

Every tool except ``Code`` declares the injected ``variables`` argument: the executor hands it
the *raw* action text and the whole variable store, and the tool binds variables itself with the
original Lumos rules (``eval/gsm/run_eval.py::execute``):

* If the raw text contains a function application (``R1(R9)``) or no operator among
  ``* / + - ^``, a variable is replaced by its value as-is.
* Otherwise a variable becomes ``(value)``, or ``:(value):`` when its value is an equation (it
  contains ``=``). Marked equations are *combined*: the surrounding formula is applied to both
  sides, so with ``R1 = "x + y = 10"`` and ``R2 = "x - y = 2"``, ``Calculator(R1 + R2)`` gives
  ``"2x = 12"``.
* ``R1(R9)`` substitutes the value of ``R9`` into the expression held by ``R1``. ``R1`` may hold
  an expression (its free symbols, sorted by name, are the parameters), ``y = <expr>`` or
  ``f(x) = <expr>``. ``R9`` may hold values (positional) or assignments such as ``x = 4``.

Output conventions (the released models compare final answers as strings):

* Integers print without a decimal point (``"18"``, never ``"18.0"``).
* Other numbers print as decimals rounded half-up to 6 decimal places, trailing zeros removed
  (``25/2 -> "12.5"``, ``1/3 -> "0.333333"``); a non-zero value that would round to 0 prints
  with 6 significant digits. Decimal inputs are made exact first (``0.1 + 0.2 -> "0.3"``).
* So that chains do not drift, a variable value with exactly 6 decimals (this rounding's
  signature) is read back as the simplest fraction with denominator <= 1000 within the rounding
  error, when there is one: ``R1 = Calculator(10/3)`` is ``"3.333333"`` and
  ``Calculator(R1 * 3)`` is ``"10"``.
* Symbolic results print in expanded form with ``^`` for powers and implicit multiplication
  after a number (``"2x^2 + 3x"``).

Input conventions: ``^`` is a power, ``2x`` and ``3(x + 1)`` are products, ``xy`` (a run of 2-3
lower-case letters that is not a known function) is ``x*y``, ``$``/``€``/``£`` are dropped,
``1,000`` is a thousand, ``50%`` is ``50/100``, ``20% of 50`` is ``20/100*50``. Text is parsed
with SymPy's tokenizer and transformations; the generated code is checked against a whitelist
(names, calls, arithmetic only; no attributes, no builtins) before evaluation, and huge powers
and factorials are refused.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Annotated, Any, NoReturn

import sympy
from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, InjectedToolArg, ToolException
from pydantic import BaseModel, Field
from sympy.parsing.sympy_parser import (
    convert_xor,
    function_exponentiation,
    implicit_application,
    implicit_multiplication,
    rationalize,
    split_symbols_custom,
    standard_transformations,
    stringify_expr,
)

from langchain_lumos.tools.code import CodeTool

__all__ = [
    "CalculatorTool",
    "CountTool",
    "DefineTool",
    "SetEquationTool",
    "SolveEquationTool",
    "SolveInequalityTool",
    "calculate",
    "count_items",
    "define",
    "maths_tools",
    "set_equation",
    "solve_equation",
    "solve_inequality",
]

_MATH_OPS = ("*", "/", "+", "-", "^")
_MAX_CHARS = 2000
_MAX_EXPONENT = 10_000
_MAX_SYMBOLIC_EXPONENT = 200
_MAX_FACTORIAL = 1000
_MAX_INT_DIGITS = 4000
_DECIMALS = 6

# --------------------------------------------------------------------------------------------
# Variable binding (the original `execute` substitution rules)
# --------------------------------------------------------------------------------------------

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LUMOS_VAR_RE = re.compile(r"R\d+")


def _value_text(value: Any) -> str:
    """Text of a stored variable value (lists are joined with ``", "``)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value)
    return _ROUNDED_RE.sub(_restore_fraction, str(value).strip())


_ROUNDED_RE = re.compile(r"(?<![\d.])(\d+\.\d{6})(?![\d.])")  # _DECIMALS places


def _restore_fraction(match: re.Match[str]) -> str:
    """``"3.333333"`` -> ``"(10/3)"`` when a simple fraction rounds to it (see module doc)."""
    rounded = Fraction(match.group(1))
    simple = rounded.limit_denominator(1000)
    if simple.denominator == 1 or abs(simple - rounded) > Fraction(1, 2 * 10**6):
        return match.group(1)
    return f"({simple.numerator}/{simple.denominator})"


def _var_spans(text: str, variables: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    """Spans of the variable references in ``text`` (whole identifiers only).

    Raises:
        ToolException: For an ``R<n>`` reference that is not in the store.
    """
    spans: list[tuple[int, int, str]] = []
    for match in _IDENT_RE.finditer(text):
        name = match.group(0)
        if name in variables:
            spans.append((match.start(), match.end(), name))
        elif _LUMOS_VAR_RE.fullmatch(name):
            msg = f"Unknown variable {name}: it has not been assigned by an earlier action."
            raise ToolException(msg)
    return spans


def _matching_paren(text: str, open_pos: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``open_pos``."""
    depth = 0
    for i in range(open_pos, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    msg = f"Unbalanced parentheses in {text!r}."
    raise ToolException(msg)


def _substitute(text: str, variables: Mapping[str, Any], *, wrap: bool) -> str:
    """Replace variable references, raw or wrapped as ``(v)`` / ``:(v):`` (equations)."""
    out: list[str] = []
    last = 0
    for start, end, name in _var_spans(text, variables):
        value = _value_text(variables[name])
        if wrap:
            value = f":({value}):" if "=" in value else f"({value})"
        out.append(text[last:start])
        out.append(value)
        last = end
    out.append(text[last:])
    return "".join(out)


def _bind(text: str, variables: Mapping[str, Any] | None) -> str:
    """Bind variables in raw action text with the original Lumos rules (see module doc)."""
    text = text.strip()
    if len(text) > _MAX_CHARS:
        msg = f"Input too long ({len(text)} characters; at most {_MAX_CHARS})."
        raise ToolException(msg)
    variables = variables or {}
    if not variables:
        _var_spans(text, variables)  # reports unknown R<n> references
        return text
    has_ops = any(op in text for op in _MATH_OPS)
    text = _apply_functions(text, variables)
    return _substitute(text, variables, wrap=has_ops)


def _apply_functions(text: str, variables: Mapping[str, Any]) -> str:
    """Rewrite every ``Rk(args)`` (``Rk`` bound) as ``(expr with args substituted)``.

    A variable holding a plain number before a parenthesis is left alone: ``R1(R2 + 3)`` with
    ``R1 = "5"`` is the product ``5 * (R2 + 3)``.
    """
    pos = 0
    while True:
        spans = [(s, e, n) for s, e, n in _var_spans(text, variables) if s >= pos and text[e : e + 1] == "("]
        if not spans:
            return text
        start, end, name = spans[0]
        value = _value_text(variables[name])
        if "=" not in value and not _parse(_normalize(value)).free_symbols:
            pos = end
            continue
        close = _matching_paren(text, end)
        result = _function_value(value, text[end + 1 : close], variables)
        replacement = f"({result})"
        text = f"{text[:start]}{replacement}{text[close + 1 :]}"
        pos = start + len(replacement)


def _function_value(func_text: str, args_text: str, variables: Mapping[str, Any]) -> str:
    """Evaluate the function held in ``func_text`` at ``args_text``; returns sympy text."""
    params: list[sympy.Symbol] | None = None
    body = func_text
    if "=" in func_text:
        lhs, body = (part.strip() for part in _normalize(func_text).split("=", 1))
        head = re.fullmatch(r"[A-Za-z_]\w*\s*\((.*)\)", lhs)
        if head:
            params = [sympy.Symbol(p.strip()) for p in head.group(1).split(",") if p.strip()]
    expr = _parse(_normalize(body))
    if params is None:
        params = sorted(expr.free_symbols, key=lambda s: s.name)
    mapping: dict[sympy.Symbol, sympy.Expr] = {}
    positional: list[sympy.Expr] = []
    inner = _normalize(_bind(args_text, variables)).replace(":(", "(").replace("):", ")")
    for clause in _split_top_level(inner):
        clause = _strip_connective(clause)
        if "=" in clause:
            name, value = clause.split("=", 1)
            mapping[sympy.Symbol(name.strip().strip("()").strip())] = _parse(value.strip("() "))
        elif clause:
            positional.append(_parse(clause))
    if len(positional) > len(params):
        msg = f"Too many arguments for function {func_text!r}: {args_text!r}."
        raise ToolException(msg)
    free = [p for p in params if p not in mapping]
    mapping.update(zip(free, positional, strict=False))
    return _sympy_text(expr.subs(mapping))


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _round(x: Any, ndigits: Any = 0) -> sympy.Expr:
    """``round(x[, n])`` for the parser namespace (half away from zero)."""
    value = sympy.nsimplify(sympy.sympify(x))
    n = int(ndigits)
    scaled = value * sympy.Integer(10) ** n
    rounded = sympy.floor(sympy.Abs(scaled) + sympy.Rational(1, 2)) * sympy.sign(scaled)
    return sympy.Integer(rounded) / sympy.Integer(10) ** n if n > 0 else sympy.Integer(rounded)


_FUNCTIONS: dict[str, Any] = {
    "sqrt": sympy.sqrt,
    "cbrt": sympy.cbrt,
    "root": sympy.root,
    "exp": sympy.exp,
    "log": sympy.log,
    "ln": sympy.log,
    "log10": lambda x: sympy.log(x, 10),
    "log2": lambda x: sympy.log(x, 2),
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "asin": sympy.asin,
    "acos": sympy.acos,
    "atan": sympy.atan,
    "floor": sympy.floor,
    "ceiling": sympy.ceiling,
    "ceil": sympy.ceiling,
    "abs": sympy.Abs,
    "Abs": sympy.Abs,
    "factorial": sympy.factorial,
    "factorial2": sympy.factorial2,
    "binomial": sympy.binomial,
    "choose": sympy.binomial,
    "comb": sympy.binomial,
    "gcd": sympy.gcd,
    "lcm": sympy.lcm,
    "min": sympy.Min,
    "max": sympy.Max,
    "Min": sympy.Min,
    "Max": sympy.Max,
    "mod": sympy.Mod,
    "Mod": sympy.Mod,
    "round": _round,
    "pi": sympy.pi,
}
# Names the SymPy transformations emit in generated code.
_CONSTRUCTORS: dict[str, Any] = {
    "Integer": sympy.Integer,
    "Float": sympy.Float,
    "Rational": sympy.Rational,
    "Symbol": sympy.Symbol,
    "Function": sympy.Function,
}
_NAMESPACE: dict[str, Any] = {**_FUNCTIONS, **_CONSTRUCTORS}


def _should_split(name: str) -> bool:
    """Split 2-3 letter lower-case names (``xy`` -> ``x*y``), keep longer words."""
    return name.isalpha() and name.islower() and 2 <= len(name) <= 3 and name not in _NAMESPACE


_TRANSFORMATIONS = (
    *standard_transformations,
    split_symbols_custom(_should_split),
    implicit_multiplication,
    implicit_application,
    function_exponentiation,
    convert_xor,
    rationalize,
)

_CHAR_OK_RE = re.compile(r"^[A-Za-z0-9_\s+\-*/^().,=<>!]*$")
_ATTRIBUTE_RE = re.compile(r"[A-Za-z_)\]]\s*\.")


def _normalize(text: str) -> str:
    """Normalise the notation the models write (currency, percent, unicode operators...)."""
    s = text.strip()
    for old, new in (
        ("×", "*"),
        ("·", "*"),
        ("∙", "*"),
        ("÷", "/"),
        ("−", "-"),
        ("–", "-"),
        ("—", "-"),
        ("≤", "<="),
        ("≥", ">="),
        ("≠", "!="),
        ("π", "pi"),
        ("√", "sqrt"),
        ("**", "^"),
    ):
        s = s.replace(old, new)
    s = re.sub(r"[$€£¥]", "", s)
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)
    s = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", s)
    s = s.replace("%", "/100")
    s = re.sub(r"\bof\b", "*", s)
    return s.strip()


def _approx(node: ast.AST) -> float | None:
    """Float value of a constant arithmetic AST subtree, ``None`` if symbolic."""
    try:
        return _approx_inner(node)
    except (OverflowError, ZeroDivisionError):
        return math.inf
    except (TypeError, ValueError):
        return None


def _approx_inner(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return float(sympy.Rational(node.value)) if isinstance(node.value, str) else node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in {"Integer", "Float", "Rational"}:
            vals = [_approx_inner(a) for a in node.args]
            if any(v is None for v in vals):
                return None
            return vals[0] / vals[1] if len(vals) == 2 else vals[0]  # type: ignore[operator]
        return None
    if isinstance(node, ast.UnaryOp):
        v = _approx_inner(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp):
        left, right = _approx_inner(node.left), _approx_inner(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, (ast.Div, ast.FloorDiv)):
            return left / right
        if isinstance(node.op, ast.Pow):
            return math.inf if abs(right) > _MAX_EXPONENT else float(abs(left) ** right)
        return None
    return None


_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Pow, ast.Mod)


def _check_ast(node: ast.AST, source: str) -> None:
    """Allow only arithmetic, whitelisted names and calls; refuse huge powers/factorials."""

    def bad(what: str) -> NoReturn:
        msg = f"Unsupported {what} in {source!r}."
        raise ToolException(msg)

    if isinstance(node, ast.Expression):
        _check_ast(node.body, source)
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _BINOPS):
            bad("operator")
        if isinstance(node.op, ast.Pow):
            base, exponent = _approx(node.left), _approx(node.right)
            limit = _MAX_EXPONENT if base is not None else _MAX_SYMBOLIC_EXPONENT
            if exponent is not None and abs(exponent) > limit and base not in (0.0, 1.0, -1.0):
                msg = f"Exponent too large in {source!r}."
                raise ToolException(msg)
        _check_ast(node.left, source)
        _check_ast(node.right, source)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            bad("operator")
        _check_ast(node.operand, source)
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Call):  # Function('f')(x)
            if not (isinstance(func.func, ast.Name) and func.func.id == "Function"):
                bad("call")
            _check_ast(func, source)
        elif not (isinstance(func, ast.Name) and func.id in _NAMESPACE):
            bad("function")
        elif func.id in {"factorial", "factorial2"} and node.args:
            value = _approx(node.args[0])
            if value is not None and abs(value) > _MAX_FACTORIAL:
                msg = f"Factorial argument too large in {source!r}."
                raise ToolException(msg)
        if node.keywords:
            bad("keyword argument")
        for arg in node.args:
            _check_ast(arg, source)
    elif isinstance(node, ast.Name):
        if node.id not in _NAMESPACE:
            bad(f"name {node.id!r}")
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str)) or isinstance(node.value, bool):
            bad("constant")
    else:
        bad(f"syntax ({type(node).__name__})")


def _parse(text: str) -> sympy.Expr:
    """Parse one (normalised) expression without relational operators.

    Raises:
        ToolException: When the text is not a supported arithmetic expression.
    """
    source = text.strip()
    if not source:
        msg = "Empty expression."
        raise ToolException(msg)
    if not _CHAR_OK_RE.match(source) or "__" in source or _ATTRIBUTE_RE.search(source):
        msg = f"Cannot parse {source!r}: unsupported characters."
        raise ToolException(msg)
    if re.search(r"[<>=]|!=", source):
        msg = f"Unexpected comparison or equation in expression {source!r}."
        raise ToolException(msg)
    try:
        code = stringify_expr(source, {}, dict(_NAMESPACE), _TRANSFORMATIONS)
        tree = ast.parse(code.strip(), mode="eval")
    except ToolException:
        raise
    except Exception as exc:
        msg = f"Cannot parse {source!r}: {exc}"
        raise ToolException(msg) from exc
    _check_ast(tree, source)
    try:
        value = eval(  # only whitelisted names/calls survive _check_ast
            compile(tree, "<lumos-maths>", "eval"), {"__builtins__": {}, **_NAMESPACE}, {}
        )
        return sympy.sympify(value)
    except ZeroDivisionError as exc:
        msg = f"Division by zero in {source!r}."
        raise ToolException(msg) from exc
    except Exception as exc:
        msg = f"Cannot evaluate {source!r}: {exc}"
        raise ToolException(msg) from exc


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside parentheses/brackets; empty pieces dropped."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


_REL_SPLIT_RE = re.compile(r"(<=|>=|!=|==|=|<|>)")


def _split_relation(text: str) -> tuple[list[str], list[str]]:
    """Split ``a = b < c`` into ``(["a", "b", "c"], ["=", "<"])`` (``==`` becomes ``=``)."""
    pieces = _REL_SPLIT_RE.split(text)
    parts = [p.strip() for p in pieces[0::2]]
    ops = ["=" if op == "==" else op for op in pieces[1::2]]
    if ops and any(not p for p in parts):
        msg = f"Incomplete relation {text!r}."
        raise ToolException(msg)
    return parts, ops


def _strip_connective(text: str) -> str:
    return re.sub(r"^\s*(where|and|with)\s+", "", text, flags=re.IGNORECASE).strip()


# --------------------------------------------------------------------------------------------
# Equation combining (`:(a = b):` markers)
# --------------------------------------------------------------------------------------------


def _combine(text: str) -> tuple[str, str] | None:
    """Apply the formula around ``:(l = r):`` markers to both sides; ``None`` if unmarked."""
    if ":(" not in text:
        return None
    left: list[str] = []
    right: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(":(", i):
            close = _matching_paren(text, i + 1)
            inner = text[i + 2 : close]
            if "=" not in inner:
                msg = f"Malformed equation marker in {text!r}."
                raise ToolException(msg)
            lhs, rhs = inner.split("=", 1)
            left.append(f"({lhs.strip()})")
            right.append(f"({rhs.strip().lstrip('=').strip()})")
            i = close + 1
            if text.startswith(":", i):
                i += 1
        else:
            left.append(text[i])
            right.append(text[i])
            i += 1
    return "".join(left), "".join(right)


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _check_finite(value: sympy.Expr, source: str = "") -> None:
    if value.has(sympy.zoo, sympy.nan) or value.has(sympy.oo) or value.has(-sympy.oo):
        where = f" in {source!r}" if source else ""
        msg = f"Division by zero or undefined result{where}."
        raise ToolException(msg)


def _format_decimal(d: Decimal) -> str:
    with localcontext() as ctx:
        ctx.prec = 200
        if d == 0:
            return "0"
        if abs(d) >= Decimal(10) ** 60:
            return format(d, ".15g")
        try:
            q = d.quantize(Decimal(1).scaleb(-_DECIMALS), rounding=ROUND_HALF_UP)
        except InvalidOperation:
            return format(d, ".15g")
        if q == 0:
            return format(d, f".{_DECIMALS}g")
        text = format(q.normalize(), "f")
        return "0" if text in {"-0", "0"} else text


def _format_number(value: sympy.Expr) -> str:
    """Plain numeric string: integers exact, others rounded to 6 decimals (see module doc)."""
    _check_finite(value)
    if value.is_Integer:
        number = int(value)
        if number.bit_length() > 13_000:
            msg = "Result too large to print."
            raise ToolException(msg)
        return str(number)
    if value.is_Rational:
        with localcontext() as ctx:
            ctx.prec = 80
            return _format_decimal(Decimal(int(value.p)) / Decimal(int(value.q)))
    if value.is_Float:
        return _format_decimal(Decimal(str(value)))
    re_part, im_part = value.as_real_imag()
    re_val = sympy.N(re_part, 40)
    im_val = sympy.N(im_part, 40)
    if abs(im_val) > sympy.Float("1e-30"):
        re_text = _format_decimal(Decimal(str(re_val)))
        im_text = _format_decimal(Decimal(str(abs(im_val))))
        imaginary = "I" if im_text == "1" else f"{im_text}*I"
        if re_text == "0":
            return f"-{imaginary}" if im_val < 0 else imaginary
        return f"{re_text} {'-' if im_val < 0 else '+'} {imaginary}"
    return _format_decimal(Decimal(str(re_val)))


def _sympy_text(expr: sympy.Expr) -> str:
    """Text that round-trips through :func:`_parse` (used between internal steps)."""
    return str(expr).replace("**", "^")


def _format_expr(expr: sympy.Expr) -> str:
    """Readable string of a numeric or symbolic result."""
    expr = sympy.sympify(expr)
    _check_finite(expr)
    if expr.is_number:
        return _format_number(expr)
    expr = sympy.expand(expr) if expr.is_polynomial() else sympy.simplify(expr)
    text = str(expr).replace("**", "^")
    return re.sub(r"(?<![A-Za-z_\d.])(\d+)\*(?=[a-df-zA-DF-Z(])", r"\1", text)


def _format_relation(parts: Sequence[sympy.Expr], ops: Sequence[str]) -> str:
    out = _format_expr(parts[0])
    for op, part in zip(ops, parts[1:], strict=False):
        out += f" {op} {_format_expr(part)}"
    return out


# --------------------------------------------------------------------------------------------
# Actions (pure functions, reusable without the tool wrappers)
# --------------------------------------------------------------------------------------------

_RELATIONS: dict[str, Callable[..., Any]] = {
    "<": sympy.Lt,
    ">": sympy.Gt,
    "<=": sympy.Le,
    ">=": sympy.Ge,
    "!=": sympy.Ne,
    "=": sympy.Eq,
}


def _substitutions(clauses: Sequence[str]) -> dict[sympy.Symbol, sympy.Expr]:
    subs: dict[sympy.Symbol, sympy.Expr] = {}
    for clause in clauses:
        clause = _strip_connective(clause)
        parts, ops = _split_relation(clause)
        if ops != ["="] or not _IDENT_RE.fullmatch(parts[0]):
            msg = f"Expected an assignment like 'x = 3' after the formula, got {clause!r}."
            raise ToolException(msg)
        subs[sympy.Symbol(parts[0])] = _parse(parts[1])
    return subs


def calculate(formula: str, variables: Mapping[str, Any] | None = None) -> str:
    """``Calculator(formula)``: evaluate or expand a formula.

    Args:
        formula: Raw action text, e.g. ``"28 * 1/7"``, ``"R1(R9)"``, ``"R1 + R2"``.
        variables: The variable store.

    Returns:
        The value (``"4"``), an expanded expression, an equation ``"lhs = rhs"`` when the
        formula combines equations, or ``"True"``/``"False"`` for a numeric comparison.

    Raises:
        ToolException: Unparseable formula, unknown variable, division by zero.
    """
    text = _normalize(_bind(formula, variables))
    combined = _combine(text)
    if combined is not None:
        lhs, rhs = combined
        return f"{_format_expr(_parse(lhs))} = {_format_expr(_parse(rhs))}"
    if re.fullmatch(r"\d+", text):
        return text
    segments = _split_top_level(text)
    if not segments:
        msg = "Empty formula."
        raise ToolException(msg)
    subs = _substitutions(segments[1:])
    parts, ops = _split_relation(segments[0])
    values = [_parse(p).subs(subs) for p in parts]
    if not ops:
        return _format_expr(values[0])
    if all(op == "=" for op in ops):
        return _format_relation(values, ops)
    truth = [_RELATIONS[op](a, b) for op, (a, b) in zip(ops, itertools.pairwise(values), strict=False)]
    if all(t in (sympy.true, sympy.false) for t in truth):
        return str(all(t == sympy.true for t in truth))
    return _format_relation(values, ops)


def set_equation(equation: str, variables: Mapping[str, Any] | None = None) -> str:
    """``SetEquation(equation)``: bind, validate and tidy an equation for ``SolveEquation``.

    ``"eq, where x = 3"`` (or ``"eq, x = 3"``) substitutes the assignments into ``eq``, like
    the original ``", where"`` rewrite.

    Args:
        equation: Raw action text, e.g. ``"R1 + 5 = 20"``.
        variables: The variable store.

    Returns:
        The equation, each side simplified (``"3x + 5 = 20"``); an expression is returned
        tidied when it has no ``=``.
    """
    text = _normalize(_bind(equation, variables))
    segments = _split_top_level(text) or [text]
    subs = _substitutions(segments[1:]) if len(segments) > 1 else {}
    combined = _combine(segments[0])
    if combined is not None:
        return f"{_format_expr(_parse(combined[0]).subs(subs))} = " + _format_expr(
            _parse(combined[1]).subs(subs)
        )
    parts, ops = _split_relation(segments[0])
    values = [_parse(p).subs(subs) for p in parts]
    return _format_relation(values, ops)


def _equations(text: str) -> tuple[list[sympy.Expr], set[sympy.Symbol]]:
    """Equations (as ``lhs - rhs``) of a comma-separated system, and all their symbols."""
    eqs: list[sympy.Expr] = []
    symbols: set[sympy.Symbol] = set()
    for segment in _split_top_level(text):
        segment = _strip_connective(segment)
        for piece in re.split(r"\s+and\s+", segment):
            combined = _combine(piece)
            if combined is not None:
                lhs, rhs = _parse(combined[0]), _parse(combined[1])
                symbols |= lhs.free_symbols | rhs.free_symbols
                eqs.append(lhs - rhs)
                continue
            parts, ops = _split_relation(piece)
            if any(op != "=" for op in ops):
                msg = f"{piece!r} is not an equation; use SolveInequality for inequalities."
                raise ToolException(msg)
            values = [_parse(p) for p in parts]
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
    """``SolveEquation(equation)``: solve one equation or a comma-separated system.

    Unknowns are the free symbols, sorted by name. When there are several solutions the first
    one (in SymPy's order) is taken among, by preference, those with all values positive, then
    all non-negative, then real, then any. This mirrors what the original effectively did with
    WolframAlpha (``x = ± 2`` was read as ``+2``; lists of solutions made the step fail).
    Symbols that stay free in an underdetermined system are left out of the answer.

    Args:
        equation: Raw action text, e.g. ``"R2 = R4"`` or ``"R2=xy, R3=x/y"``; a bare
            expression means ``expression = 0``.
        variables: The variable store.

    Returns:
        One value string for one unknown; otherwise a list of value strings, one per solved
        unknown in name order (spread over ``R5, R6 = SolveEquation(...)``).

    Raises:
        ToolException: No unknowns, no solution, or unparseable input.
    """
    text = _normalize(_bind(equation, variables))
    eqs, found = _equations(text)
    if not eqs:
        msg = "No equation to solve."
        raise ToolException(msg)
    symbols = sorted(found, key=lambda s: s.name)
    if not symbols:
        msg = f"No unknown to solve for in {text!r}."
        raise ToolException(msg)
    try:
        solutions = sympy.solve(eqs, symbols, dict=True)
    except NotImplementedError:
        solutions = _numeric_solution(eqs, symbols)
    except Exception as exc:
        msg = f"Cannot solve {text!r}: {exc}"
        raise ToolException(msg) from exc
    solutions = [s for s in solutions if s]
    if not solutions:
        msg = f"The equation {text!r} has no solution."
        raise ToolException(msg)
    best = min(enumerate(solutions), key=lambda item: (_solution_rank(item[1]), item[0]))[1]
    solved = sorted(best, key=lambda s: s.name)
    values = [_format_expr(best[s]) for s in solved]
    return values[0] if len(values) == 1 else values


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
            return f"{name} {'<' if interval.right_open else '<='} {_format_expr(hi)}"
        if hi == sympy.oo:
            return f"{name} {'>' if interval.left_open else '>='} {_format_expr(lo)}"
        if lo == hi:
            return f"{name} = {_format_expr(lo)}"
        left = "<" if interval.left_open else "<="
        right = "<" if interval.right_open else "<="
        return f"{_format_expr(lo)} {left} {name} {right} {_format_expr(hi)}"
    if isinstance(interval, sympy.FiniteSet):
        return " or ".join(f"{name} = {_format_expr(v)}" for v in sorted(interval))
    if isinstance(interval, sympy.Union):
        return " or ".join(_format_interval(symbol, part) for part in interval.args)
    if interval is sympy.S.Reals:
        return "all real numbers"
    return str(interval.as_relational(symbol))


def solve_inequality(inequality: str, variables: Mapping[str, Any] | None = None) -> str:
    """``SolveInequality(inequality)``: solve one-variable inequalities (comma = "and").

    Args:
        inequality: Raw action text, e.g. ``"5x - 3 > 12"`` or ``"1 < 2x + 1 <= 9"``.
        variables: The variable store.

    Returns:
        The solution set as text: ``"x > 3"``, ``"0 < x <= 4"``, ``"x < -1 or x > 1"``,
        ``"all real numbers"`` or ``"no solution"``.

    Raises:
        ToolException: Not an inequality, several unknowns, or unparseable input.
    """
    text = _normalize(_bind(inequality, variables))
    relations: list[Any] = []
    for segment in _split_top_level(text):
        for piece in re.split(r"\s+and\s+", _strip_connective(segment)):
            parts, ops = _split_relation(piece)
            if not ops:
                msg = f"{piece!r} is not an inequality."
                raise ToolException(msg)
            values = [_parse(p) for p in parts]
            relations.extend(
                _RELATIONS[op](a, b, evaluate=False)
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
    """``Count(list)``: number of items, expanding ``a, b, ..., z`` sequences.

    A sequence with ``...`` is arithmetic by default. Terms that share a template and differ
    in one number (``2^0, 2^1, ..., 2^10``) count along that number. With at least three
    leading numeric terms the progression is checked to be arithmetic or geometric
    (``2, 4, 8, ..., 1024`` counts 10). With two leading terms it is arithmetic when that
    gives a whole count, else geometric.

    Args:
        items: Raw action text, e.g. ``"apples, pears, plums"`` or ``"1, 3, 5, ..., 99"``, or
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
    text = _bind(raw, variables).strip()
    if len(text) >= 2 and text[0] + text[-1] in {"[]", "{}", "()"}:
        text = text[1:-1]
    if not text.strip():
        return "0"
    if re.search(r",\s", text):
        terms = [t.strip() for t in re.split(r",\s+", text) if t.strip()]
    else:
        terms = _split_top_level(text)
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
    values = [_parse(_normalize(t)) for t in [*head, last]]
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
    """``Define(variable)``: identity; a lone variable returns its stored value unchanged.

    Args:
        variable: Raw action text, e.g. ``"p"``, ``"15"``, ``"R3"``.
        variables: The variable store.

    Returns:
        The (bound) argument.
    """
    variables = variables or {}
    raw = variable.strip()
    if raw in variables:
        return variables[raw]
    return _bind(raw, variables)


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------

_VARIABLES_DESCRIPTION = "Injected by the executor: the Lumos variable store (R1, R2, ...)."


class CalculatorInput(BaseModel):
    """Arguments of ``Calculator``."""

    formula: str = Field(description="The formula, e.g. '28 * 1/7', 'R1 + R2' or 'R1(R9)'.")
    variables: Annotated[dict[str, Any], InjectedToolArg] = Field(
        default_factory=dict, description=_VARIABLES_DESCRIPTION
    )


class SetEquationInput(BaseModel):
    """Arguments of ``SetEquation``."""

    equation: str = Field(description="The equation to set up, e.g. '3x + 5 = 20'.")
    variables: Annotated[dict[str, Any], InjectedToolArg] = Field(
        default_factory=dict, description=_VARIABLES_DESCRIPTION
    )


class SolveEquationInput(BaseModel):
    """Arguments of ``SolveEquation``."""

    equation: str = Field(
        description="Equation(s) to solve, comma-separated for a system, e.g. 'x + y = 10, x = 2y'."
    )
    variables: Annotated[dict[str, Any], InjectedToolArg] = Field(
        default_factory=dict, description=_VARIABLES_DESCRIPTION
    )


class CountInput(BaseModel):
    """Arguments of ``Count`` (the field is named ``list`` like the Lumos signature)."""

    list: str = Field(description="Comma-separated items, or a sequence like '1, 3, ..., 99'.")
    variables: Annotated[dict[str, Any], InjectedToolArg] = Field(
        default_factory=dict, description=_VARIABLES_DESCRIPTION
    )


class SolveInequalityInput(BaseModel):
    """Arguments of ``SolveInequality``."""

    inequality: str = Field(description="The inequality, e.g. '5x - 3 > 12'.")
    variables: Annotated[dict[str, Any], InjectedToolArg] = Field(
        default_factory=dict, description=_VARIABLES_DESCRIPTION
    )


class DefineInput(BaseModel):
    """Arguments of ``Define``."""

    variable: str = Field(description="A variable name or a number to define.")
    variables: Annotated[dict[str, Any], InjectedToolArg] = Field(
        default_factory=dict, description=_VARIABLES_DESCRIPTION
    )


class _MathsTool(BaseTool):
    """Shared plumbing: one pure action function, sync and async (CPU-bound, in a thread)."""

    handle_tool_error: bool = False

    def _action(self, text: str, variables: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def _call(self, text: str, variables: dict[str, Any] | None) -> Any:
        return self._action(text, variables or {})

    async def _acall(self, text: str, variables: dict[str, Any] | None) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self._call, text, variables))

    @staticmethod
    def _text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The action's one text argument (its field name differs per action)."""
        values = [*args, *kwargs.values()]
        if len(values) != 1:
            msg = f"expected one argument, got {len(values)}"
            raise ToolException(msg)
        return str(values[0])

    def _run(
        self,
        *args: Any,
        variables: dict[str, Any] | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        return self._call(self._text(args, kwargs), variables)

    async def _arun(
        self,
        *args: Any,
        variables: dict[str, Any] | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        return await self._acall(self._text(args, kwargs), variables)


class CalculatorTool(_MathsTool):
    """Lumos ``Calculator(formula)`` with SymPy.

    Example:
        >>> CalculatorTool().invoke({"formula": "28 * 1/7"})
        '4'
    """

    name: str = "Calculator"
    description: str = "Calculate the input formula."
    args_schema: type[BaseModel] = CalculatorInput

    def _action(self, text: str, variables: Mapping[str, Any]) -> str:
        return calculate(text, variables)


class SetEquationTool(_MathsTool):
    """Lumos ``SetEquation(equation)``.

    Example:
        >>> SetEquationTool().invoke({"equation": "2x + x = 30"})
        '3x = 30'
    """

    name: str = "SetEquation"
    description: str = "Set up an equation to be solved."
    args_schema: type[BaseModel] = SetEquationInput

    def _action(self, text: str, variables: Mapping[str, Any]) -> str:
        return set_equation(text, variables)


class SolveEquationTool(_MathsTool):
    """Lumos ``SolveEquation(equation)``: a string for one unknown, a list for several.

    Example:
        >>> SolveEquationTool().invoke({"equation": "x + y = 10, x - y = 2"})
        ['6', '4']
    """

    name: str = "SolveEquation"
    description: str = "Solve the previous set equation."
    args_schema: type[BaseModel] = SolveEquationInput

    def _action(self, text: str, variables: Mapping[str, Any]) -> str | list[str]:
        return solve_equation(text, variables)


class CountTool(_MathsTool):
    """Lumos ``Count(list)``.

    Example:
        >>> CountTool().invoke({"list": "2^0, 2^1, ..., 2^10"})
        '11'
    """

    name: str = "Count"
    description: str = "Count the number of elements in the given list."
    args_schema: type[BaseModel] = CountInput

    def _action(self, text: str, variables: Mapping[str, Any]) -> str:
        return count_items(text, variables)


class SolveInequalityTool(_MathsTool):
    """Lumos ``SolveInequality(inequality)``.

    Example:
        >>> SolveInequalityTool().invoke({"inequality": "5x - 3 > 12"})
        'x > 3'
    """

    name: str = "SolveInequality"
    description: str = "Solve the previous set inequality."
    args_schema: type[BaseModel] = SolveInequalityInput

    def _action(self, text: str, variables: Mapping[str, Any]) -> str:
        return solve_inequality(text, variables)


class DefineTool(_MathsTool):
    """Lumos ``Define(variable)``: returns its argument (a symbol, a number or a value).

    Example:
        >>> DefineTool().invoke({"variable": "p"})
        'p'
    """

    name: str = "Define"
    description: str = "Define a variable or a number for latter usage."
    args_schema: type[BaseModel] = DefineInput

    def _action(self, text: str, variables: Mapping[str, Any]) -> Any:
        return define(text, variables)


def maths_tools(*, code_timeout_s: float = 5.0) -> list[BaseTool]:
    """The Lumos maths action set.

    Args:
        code_timeout_s: Wall-clock limit of each sandboxed ``Code`` run.

    Returns:
        ``Calculator``, ``SetEquation``, ``SolveEquation``, ``Count``, ``SolveInequality``,
        ``Code`` and ``Define`` tools.
    """
    if code_timeout_s <= 0:
        msg = "code_timeout_s must be positive."
        raise ValueError(msg)
    return [
        CalculatorTool(),
        SetEquationTool(),
        SolveEquationTool(),
        CountTool(),
        SolveInequalityTool(),
        CodeTool(timeout_s=code_timeout_s),
        DefineTool(),
    ]
