"""Maths expressions: variable binding, notation, safe SymPy parsing, bounds and formatting.

The engine behind `Calculator` (`langchain_lumos.tools.calculator`) and the maths actions
(`langchain_lumos.tools.maths`); their shared tool base is `langchain_lumos.tools.symbolic`.

Variable binding follows the original Lumos rules (`eval/gsm/run_eval.py::execute`):

- If the raw text contains a function application (`R1(R9)`) or no operator among
  `* / + - ^`, a variable is replaced by its value as-is.
- Otherwise a variable becomes `(value)`, or `:(value):` when its value is an equation (it
  contains `=`). Marked equations are *combined*: the surrounding formula is applied to both
  sides, so with `R1 = "x + y = 10"` and `R2 = "x - y = 2"`, `Calculator(R1 + R2)` gives
  `"2x = 12"`.
- `R1(R9)` substitutes the value of `R9` into the expression held by `R1`. `R1` may hold an
  expression (its free symbols, sorted by name, are the parameters), `y = <expr>` or
  `f(x) = <expr>`. `R9` may hold values (positional) or assignments such as `x = 4`.
- A value that is a QA result (`"Question: ...; Answer: 4 July 1975"`) stands for the number
  in its answer (the one with most digits, so a date gives its year; `yes`/`no` give 1/0).

Notation (`normalize`, one set of rules for every toolkit): `^` and `**` are powers, `2x` and
`3(x + 1)` are products, `xy` (a run of 2-3 lower-case letters that is not a known function)
is `x*y`, `$`/`€`/`£`/`¥` are dropped, `1,000` is a thousand, `2 million` is 2000000,
`×`/`÷`/`−`/`≤`/`≥`/`≠`/`π`/`√` are their ASCII forms. `%` is a percentage (`50%` is
`50/100`, `20% of 50` is `20/100*50`, `R1%` is `R1/100`) unless an operand follows it (a
number, `(` or a name other than `of`): then it is the modulo (`7 % 3` is `1`). A trailing
`?`, `=` or sentence period is ignored.

Text is parsed with SymPy's tokenizer and transformations; the generated code is checked
against a whitelist (names, calls, arithmetic only; no attributes, no builtins), and sizes are
bounded before anything is evaluated: powers, factorials, binomials, `exp` and `round` digits
whose results would be huge are refused. The length of the input is checked before any
regular expression runs.

Output conventions (the released models compare final answers as strings):

- Integers print without a decimal point (`"18"`, never `"18.0"`).
- Other numbers print as decimals rounded half-up to 6 decimal places, trailing zeros removed
  (`25/2 -> "12.5"`, `1/3 -> "0.333333"`); a non-zero value that would round to 0 prints
  with 6 significant digits. Decimal inputs are made exact first (`0.1 + 0.2 -> "0.3"`).
- So that chains do not drift, a variable value with exactly 6 decimals (this rounding's
  signature) is read back as the simplest fraction with denominator <= 1000 within the
  rounding error, when there is one: `R1 = Calculator(10/3)` is `"3.333333"` and
  `Calculator(R1 * 3)` is `"10"`.
- Symbolic results print in expanded form with `^` for powers and implicit multiplication
  after a number (`"2x^2 + 3x"`).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any, NoReturn

import sympy
from langchain_core.tools import ToolException
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

from langchain_lumos.parsing import closing_paren
from langchain_lumos.tools.symbolic import MAX_INPUT_CHARS

__all__ = [
    "IDENT_RE",
    "MAX_INPUT_CHARS",
    "RELATIONS",
    "bind_variables",
    "check_finite",
    "combine_equations",
    "format_expression",
    "format_number",
    "format_relation",
    "normalize",
    "parse_expression",
    "replace_answers",
    "split_relation",
    "split_top_level",
    "strip_connective",
    "substitutions",
    "sympy_text",
]

_MATH_OPS = ("*", "/", "+", "-", "^")
_MAX_BOUND_CHARS = 4000
"""Longest text after variables are substituted (values can be long)."""
_MAX_EXPONENT = 10_000
_MAX_RESULT_BITS = 60_000
"""Largest exact intermediate result a power or binomial may produce (about 18,000 digits)."""
_MAX_EXP_ARGUMENT = 10_000
_MAX_ROUND_DIGITS = 100
_MAX_SYMBOLIC_EXPONENT = 200
_MAX_FACTORIAL = 1000
_MAX_INT_DIGITS = 4000
_DECIMALS = 6

# --------------------------------------------------------------------------------------------
# Variable binding (the original `execute` substitution rules)
# --------------------------------------------------------------------------------------------

IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LUMOS_VAR_RE = re.compile(r"R\d+")


def _value_text(value: Any) -> str:
    """Text of a stored variable value (lists are joined with `", "`)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value)
    return _ROUNDED_RE.sub(_restore_fraction, replace_answers(str(value).strip()))


_ROUNDED_RE = re.compile(r"(?<![\d.])(\d+\.\d{6})(?![\d.])")  # _DECIMALS places


def _restore_fraction(match: re.Match[str]) -> str:
    """`"3.333333"` -> `"(10/3)"` when a simple fraction rounds to it (see module doc)."""
    rounded = Fraction(match.group(1))
    simple = rounded.limit_denominator(1000)
    if simple.denominator == 1 or abs(simple - rounded) > Fraction(1, 2 * 10**6):
        return match.group(1)
    return f"({simple.numerator}/{simple.denominator})"


def _var_spans(text: str, variables: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    """Spans of the variable references in `text` (whole identifiers only).

    Raises:
        ToolException: For an `R<n>` reference that is not in the store.
    """
    spans: list[tuple[int, int, str]] = []
    for match in IDENT_RE.finditer(text):
        name = match.group(0)
        if name in variables:
            spans.append((match.start(), match.end(), name))
        elif _LUMOS_VAR_RE.fullmatch(name):
            msg = f"Unknown variable {name}: it has not been assigned by an earlier action."
            raise ToolException(msg)
    return spans


def _matching_paren(text: str, open_pos: int) -> int:
    """Index of the `)` closing the `(` at `open_pos` (ToolException if unbalanced)."""
    close = closing_paren(text, open_pos)
    if close is None:
        msg = f"Unbalanced parentheses in {text!r}."
        raise ToolException(msg)
    return close


def _substitute(text: str, variables: Mapping[str, Any], *, wrap: bool) -> str:
    """Replace variable references, raw or wrapped as `(v)` / `:(v):` (equations)."""
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


def bind_variables(text: str, variables: Mapping[str, Any] | None) -> str:
    """Bind variables in raw action text with the original Lumos rules (see module doc)."""
    text = text.strip()
    if len(text) > MAX_INPUT_CHARS:
        msg = f"Input too long ({len(text)} characters; at most {MAX_INPUT_CHARS})."
        raise ToolException(msg)
    variables = variables or {}
    if not variables:
        _var_spans(text, variables)  # reports unknown R<n> references
        return text
    has_ops = any(op in text for op in _MATH_OPS)
    text = _apply_functions(text, variables)
    return _substitute(text, variables, wrap=has_ops)


def _apply_functions(text: str, variables: Mapping[str, Any]) -> str:
    """Rewrite every `Rk(args)` (`Rk` bound) as `(expr with args substituted)`.

    A variable holding a plain number before a parenthesis is left alone: `R1(R2 + 3)` with
    `R1 = "5"` is the product `5 * (R2 + 3)`.
    """
    pos = 0
    while True:
        spans = [(s, e, n) for s, e, n in _var_spans(text, variables) if s >= pos and text[e : e + 1] == "("]
        if not spans:
            return text
        start, end, name = spans[0]
        value = _value_text(variables[name])
        if "=" not in value and not parse_expression(normalize(value)).free_symbols:
            pos = end
            continue
        close = _matching_paren(text, end)
        result = _function_value(value, text[end + 1 : close], variables)
        replacement = f"({result})"
        text = f"{text[:start]}{replacement}{text[close + 1 :]}"
        pos = start + len(replacement)


def _function_value(func_text: str, args_text: str, variables: Mapping[str, Any]) -> str:
    """Evaluate the function held in `func_text` at `args_text`; returns sympy text."""
    params: list[sympy.Symbol] | None = None
    body = func_text
    if "=" in func_text:
        lhs, body = (part.strip() for part in normalize(func_text).split("=", 1))
        head = re.fullmatch(r"[A-Za-z_]\w*\s*\((.*)\)", lhs)
        if head:
            params = [sympy.Symbol(p.strip()) for p in head.group(1).split(",") if p.strip()]
    expr = parse_expression(normalize(body))
    if params is None:
        params = sorted(expr.free_symbols, key=lambda s: s.name)
    mapping: dict[sympy.Symbol, sympy.Expr] = {}
    positional: list[sympy.Expr] = []
    inner = normalize(bind_variables(args_text, variables)).replace(":(", "(").replace("):", ")")
    for clause in split_top_level(inner):
        clause = strip_connective(clause)
        if "=" in clause:
            name, value = clause.split("=", 1)
            mapping[sympy.Symbol(name.strip().strip("()").strip())] = parse_expression(value.strip("() "))
        elif clause:
            positional.append(parse_expression(clause))
    if len(positional) > len(params):
        msg = f"Too many arguments for function {func_text!r}: {args_text!r}."
        raise ToolException(msg)
    free = [p for p in params if p not in mapping]
    mapping.update(zip(free, positional, strict=False))
    return sympy_text(expr.subs(mapping))


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _round(x: Any, ndigits: Any = 0) -> sympy.Expr:
    """`round(x[, n])` for the parser namespace (half away from zero)."""
    n = int(ndigits)
    if abs(n) > _MAX_ROUND_DIGITS:
        msg = f"round() to more than {_MAX_ROUND_DIGITS} digits is not supported."
        raise ToolException(msg)
    value = sympy.nsimplify(sympy.sympify(x))
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
    """Split 2-3 letter lower-case names (`xy` -> `x*y`), keep longer words."""
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

_CHAR_OK_RE = re.compile(r"^[A-Za-z0-9_\s+\-*/^%().,=<>!]*$")
_ATTRIBUTE_RE = re.compile(r"[A-Za-z_)\]]\s*\.")


_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_QA_ANSWER_RE = re.compile(
    r"(?:Question:(?:(?!Answer:).)*?)?Answer:\s*(?P<ans>.*?)"
    r"(?=\s+(?:\*\*|//|[-+*/^%]|[<>]=?|[=!]=|=)\s+|\)|;\s*Question:|\s*$)",
    re.S,
)
_ANSWER_NUMBER_RE = re.compile(
    r"(?<![\d.])-?\d+(?:\.\d+)?(?:\s*(?:thousand|million|billion|trillion)\b)?", re.I
)
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SCALE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)\b", re.I)
_OPERAND_AHEAD = r"(?=\s*(?:[\d(]|\.\d|(?!of\b)[A-Za-z_]))"
_PERCENT_NUMBER_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*%(?!" + _OPERAND_AHEAD[3:])
_PERCENT_RE = re.compile(r"%(?!" + _OPERAND_AHEAD[3:])
_REPLACEMENTS = (
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
)


def _answer_number(answer: str) -> str:
    """The number in a QA answer (the one with most digits: '4 July 1975' -> 1975)."""
    found = _ANSWER_NUMBER_RE.findall(_THOUSANDS_RE.sub("", answer))
    if not found:
        low = answer.strip().strip(".").lower()
        if low in {"yes", "no", "true", "false"}:
            return "(1)" if low in {"yes", "true"} else "(0)"
        msg = f"Calculator could not find a number in the answer {answer.strip()!r}."
        raise ToolException(msg)
    best = max(found, key=lambda s: len(re.sub(r"\D", "", s.split()[0])))
    return f"({best})"


def replace_answers(text: str) -> str:
    """Replace each QA result (`Question: ...; Answer: 1975`) in `text` by its number.

    Raises:
        ToolException: When an answer holds no number.
    """
    if "Answer:" not in text:
        return text
    return _QA_ANSWER_RE.sub(lambda m: _answer_number(m.group("ans")), text)


def normalize(text: str) -> str:
    """Normalise the notation the models write (see the module docstring).

    Raises:
        ToolException: When the text is too long (checked before any pattern runs) or holds a
            QA answer without a number.
    """
    if len(text) > _MAX_BOUND_CHARS:
        msg = f"Input too long ({len(text)} characters after substituting variables; at most {_MAX_BOUND_CHARS})."
        raise ToolException(msg)
    s = replace_answers(text.strip())
    for old, new in _REPLACEMENTS:
        s = s.replace(old, new)
    s = re.sub(r"[$€£¥]", "", s)
    s = _THOUSANDS_RE.sub("", s)
    s = _SCALE_RE.sub(lambda m: f"({m.group(1)}*{_SCALES[m.group(2).lower()]})", s)
    s = _PERCENT_NUMBER_RE.sub(r"(\1/100)", s)
    s = _PERCENT_RE.sub("/100", s)
    s = re.sub(r"\bof\b", "*", s)
    s = s.strip().rstrip("?").strip()
    s = re.sub(r"(?<=\d)\.$", "", s).strip()
    return s.rstrip("=").strip() if not s.endswith(("<=", ">=", "!=", "==")) else s


def _approx(node: ast.AST) -> float | None:
    """Float value of a constant arithmetic AST subtree, `None` if symbolic."""
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
        vals = [_approx_inner(a) for a in node.args]
        if not vals or any(v is None for v in vals):
            return None
        numbers = [float(v) for v in vals if v is not None]
        if node.func.id in {"Integer", "Float", "Rational"}:
            return numbers[0] / numbers[1] if len(numbers) == 2 else numbers[0]
        estimate = _APPROX_FUNCTIONS.get(node.func.id)
        return None if estimate is None else estimate(*numbers)
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


def _approx_exp(x: float) -> float:
    return math.inf if x > 709 else math.exp(x)


_APPROX_FUNCTIONS: dict[str, Callable[..., float]] = {
    "abs": abs,
    "Abs": abs,
    "floor": lambda x: float(math.floor(x)) if math.isfinite(x) else x,
    "ceiling": lambda x: float(math.ceil(x)) if math.isfinite(x) else x,
    "ceil": lambda x: float(math.ceil(x)) if math.isfinite(x) else x,
    "round": lambda x, *n: x,
    "min": min,
    "max": max,
    "Min": min,
    "Max": max,
    "sqrt": lambda x: math.sqrt(abs(x)),
    "exp": _approx_exp,
}
"""Float estimates of the functions whose values size later powers and arguments."""


def _log2_binomial(n: float, k: float) -> float:
    """About how many bits `binomial(n, k)` has (0 when it is trivially small)."""
    k = min(k, n - k)
    if not (math.isfinite(n) and math.isfinite(k)) or k <= 0 or n <= 0:
        return math.inf if math.isinf(n) or math.isinf(k) else 0.0
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


def _check_call_size(name: str, args: list[ast.expr], source: str) -> None:
    """Refuse calls whose exact result or evaluation would be huge."""
    values = [_approx(a) for a in args]
    if name in {"factorial", "factorial2"} and values and values[0] is not None:
        if abs(values[0]) > _MAX_FACTORIAL:
            msg = f"Factorial argument too large in {source!r}."
            raise ToolException(msg)
    elif name in {"binomial", "choose", "comb"} and len(values) == 2 and None not in values:
        n, k = float(values[0] or 0), float(values[1] or 0)
        if _log2_binomial(abs(n), abs(k)) > _MAX_RESULT_BITS:
            msg = f"Binomial coefficient too large in {source!r}."
            raise ToolException(msg)
    elif name == "exp" and values and values[0] is not None and abs(values[0]) > _MAX_EXP_ARGUMENT:
        msg = f"exp() argument too large in {source!r} (at most {_MAX_EXP_ARGUMENT})."
        raise ToolException(msg)
    elif (
        name == "round" and len(values) == 2 and values[1] is not None and abs(values[1]) > _MAX_ROUND_DIGITS
    ):
        msg = f"round() to more than {_MAX_ROUND_DIGITS} digits in {source!r}."
        raise ToolException(msg)


def _check_power_size(node: ast.BinOp, source: str) -> None:
    """Refuse a power whose exact value would have more than `_MAX_RESULT_BITS` bits."""
    base, exponent = _approx(node.left), _approx(node.right)
    if exponent is None:
        return
    if base is None:
        if abs(exponent) > _MAX_SYMBOLIC_EXPONENT:
            msg = f"Exponent too large in {source!r}."
            raise ToolException(msg)
        return
    if base in (0.0, 1.0, -1.0):
        return
    magnitude = math.inf if math.isinf(base) else abs(math.log2(abs(base))) if base else 0.0
    bits = abs(exponent) * max(magnitude, 1.0)
    if abs(exponent) > _MAX_EXPONENT or bits > _MAX_RESULT_BITS:
        msg = f"Exponent too large in {source!r}: the result would be too large."
        raise ToolException(msg)


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
            _check_power_size(node, source)
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
        else:
            _check_call_size(func.id, node.args, source)
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


def parse_expression(text: str) -> sympy.Expr:
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


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside parentheses/brackets; empty pieces dropped."""
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


def split_relation(text: str) -> tuple[list[str], list[str]]:
    """Split `a = b < c` into `(["a", "b", "c"], ["=", "<"])` (`==` becomes `=`)."""
    pieces = _REL_SPLIT_RE.split(text)
    parts = [p.strip() for p in pieces[0::2]]
    ops = ["=" if op == "==" else op for op in pieces[1::2]]
    if ops and any(not p for p in parts):
        msg = f"Incomplete relation {text!r}."
        raise ToolException(msg)
    return parts, ops


def strip_connective(text: str) -> str:
    """`text` without a leading `where`/`and`/`with`."""
    return re.sub(r"^\s*(where|and|with)\s+", "", text, flags=re.IGNORECASE).strip()


# --------------------------------------------------------------------------------------------
# Equation combining (`:(a = b):` markers)
# --------------------------------------------------------------------------------------------


def combine_equations(text: str) -> tuple[str, str] | None:
    """Apply the formula around `:(l = r):` markers to both sides; `None` if unmarked."""
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


def check_finite(value: sympy.Expr, source: str = "") -> None:
    """Raise `ToolException` for an infinite or undefined value (e.g. a division by zero)."""
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


def format_number(value: sympy.Expr) -> str:
    """Plain numeric string: integers exact, others rounded to 6 decimals (see module doc)."""
    check_finite(value)
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


def sympy_text(expr: sympy.Expr) -> str:
    """Text that round-trips through `parse_expression` (used between internal steps)."""
    return str(expr).replace("**", "^")


def format_expression(expr: sympy.Expr) -> str:
    """Readable string of a numeric or symbolic result."""
    expr = sympy.sympify(expr)
    check_finite(expr)
    if expr.is_number:
        return format_number(expr)
    expr = sympy.expand(expr) if expr.is_polynomial() else sympy.simplify(expr)
    text = str(expr).replace("**", "^")
    return re.sub(r"(?<![A-Za-z_\d.])(\d+)\*(?=[a-df-zA-DF-Z(])", r"\1", text)


def format_relation(parts: Sequence[sympy.Expr], ops: Sequence[str]) -> str:
    """`a op b op c` with each side formatted by `format_expression`."""
    out = format_expression(parts[0])
    for op, part in zip(ops, parts[1:], strict=False):
        out += f" {op} {format_expression(part)}"
    return out


RELATIONS: dict[str, Callable[..., Any]] = {
    "<": sympy.Lt,
    ">": sympy.Gt,
    "<=": sympy.Le,
    ">=": sympy.Ge,
    "!=": sympy.Ne,
    "=": sympy.Eq,
}


def substitutions(clauses: Sequence[str]) -> dict[sympy.Symbol, sympy.Expr]:
    """The assignments of `, where x = 3` clauses after a formula.

    Raises:
        ToolException: For a clause that is not `name = expression`.
    """
    subs: dict[sympy.Symbol, sympy.Expr] = {}
    for clause in clauses:
        clause = strip_connective(clause)
        parts, ops = split_relation(clause)
        if ops != ["="] or not IDENT_RE.fullmatch(parts[0]):
            msg = f"Expected an assignment like 'x = 3' after the formula, got {clause!r}."
            raise ToolException(msg)
        subs[sympy.Symbol(parts[0])] = parse_expression(parts[1])
    return subs
