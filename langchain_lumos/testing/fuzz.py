"""A seeded fuzzer of Lumos model outputs: full agent runs on generated planner and grounder lines.

A Lumos agent executes whatever its planner and grounder write, so model output is
untrusted input. `generate_cases` writes seeded cases (each a planner script and a grounder
script, replayed in call order), and `fuzz_agent` / `afuzz_agent` run every case as
a full agent run against real tools (yours or the package's) with scripted models, and
report what went wrong:

* crashes: an exception escaped `invoke`, or a run ended without a `stop_reason`;
* hangs: a run took longer than `time_bound_s` (or never returned);
* wrong results: a `reassign` case (variables reassigned in one grounding, e.g.
  `R1 = Calculator(1 + 1); R2 = Calculator(R1 * 10); R1 = Calculator(5 + 5)`) whose
  actions all succeeded but whose final variables differ from executing the actions in
  order.

Families of outputs (`FAMILIES`, with default weights): `valid` lines, `truncated`,
`unbalanced` and `nested` parentheses, `semicolons` inside arguments, `huge_index`
(`Subgoal <5000 digits>:`, `R<5000 digits> = ...`), `unknown_action`,
`undefined_variable`, `prose`, `empty`, `unicode`, `long_line`, `stop_phrases` (repeated
or contradictory stop/keep phrases), `reassign` (checked against the expected values),
`hang` (maths that would run for hours: `10^abs(1000000000)`, `(10^10000)^10000`,
`round(1.5, 1000000000)`, `SolveEquation(x^x^x = 10)`, ...), `huge_number` (numbers past
Python's 4,300-digit int-string limit: `x*10^4400`, `Count(1, 2, ..., 10^5000)`) and
`mixed` (several mutations at once).

Example:
    ```python
    from langchain_lumos import LumosContext
    from langchain_lumos.testing.fuzz import fuzz_agent
    from langchain_lumos.tools import maths_tools

    report = fuzz_agent(
        maths_tools(timeout_s=1.0),
        domain="maths",
        mode="iterative",
        n=200,
        context=LumosContext(action_timeout_s=3, time_limit_s=8, max_subgoals=4),
    )
    print(report.summary())
    assert not report.failures()
    ```

`fuzz_agent` runs your own tools too: valid lines then use their names (with generic
arguments for names the fuzzer does not know); the `reassign`, `hang` and `huge_number`
families need a `Calculator`. `FuzzOutcome.reproducer()` prints a failing case's scripts, and
`fuzz_agent(tools, cases=[...])` reruns it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.language_models import BaseLanguageModel
from langchain_core.tools import BaseTool

from langchain_lumos.testing.models import ScriptedLLM

if TYPE_CHECKING:
    from langchain_lumos.domains import Domain

__all__ = [
    "FAMILIES",
    "FuzzCase",
    "FuzzOutcome",
    "FuzzReport",
    "afuzz_agent",
    "fuzz_agent",
    "generate_cases",
]

Mode = Literal["iterative", "onetime"]

FAMILIES: Mapping[str, float] = {
    "valid": 10.0,
    "truncated": 6.0,
    "unbalanced": 6.0,
    "nested": 4.0,
    "semicolons": 5.0,
    "huge_index": 5.0,
    "unknown_action": 5.0,
    "undefined_variable": 5.0,
    "prose": 4.0,
    "empty": 4.0,
    "unicode": 5.0,
    "long_line": 3.0,
    "stop_phrases": 5.0,
    "reassign": 12.0,
    "huge_number": 4.0,
    "hang": 4.0,
    "mixed": 8.0,
}
"""Every family of generated outputs and its default weight (how often it is drawn)."""

_NEEDS_CALCULATOR = ("reassign", "hang", "huge_number")

STOP = "Yes, I will stop planning."
KEEP = "No, I will keep planning."

# -- cases and outcomes ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FuzzCase:
    """One generated run: the task, the planner's and the grounder's outputs in call order."""

    index: int
    """The case number (its seed is `f"{seed}:{index}"`)."""
    family: str
    """The family of outputs it was drawn from (see `FAMILIES`)."""
    task: str
    """The task of the run (unique per case)."""
    planner: tuple[str, ...]
    """The planner's output for each call (the last one repeats)."""
    grounder: tuple[str, ...]
    """The grounder's output for each call (the last one repeats)."""
    expected: Mapping[str, str] | None = None
    """Variables the run must end with (the `reassign` family), else None."""


@dataclasses.dataclass(frozen=True)
class FuzzOutcome:
    """What one case's run did."""

    case: FuzzCase
    seconds: float
    """Wall-clock time of the run."""
    stop_reason: str | None
    error: str | None = None
    """`<type>: <message>` of an exception that escaped the run (or a missing stop reason)."""
    hung: bool = False
    """The run took longer than the time bound (or did not return at all)."""
    wrong: str | None = None
    """How the variables differed from `case.expected` (all actions having succeeded)."""
    checked: bool = False
    """Whether `case.expected` was checked (every action of the run succeeded)."""
    outputs: int = 0
    """How many model outputs (planner and grounder calls) the run consumed."""

    @property
    def failed(self) -> bool:
        """A crash, a hang or a wrong result."""
        return self.error is not None or self.hung or self.wrong is not None

    def reproducer(self) -> str:
        """The case as a short text: family, task and the scripts (long lines shortened)."""

        def short(text: str) -> str:
            return repr(text if len(text) <= 300 else f"{text[:200]}...<{len(text)} chars>...{text[-60:]}")

        planner = ", ".join(short(p) for p in self.case.planner)
        grounder = ", ".join(short(g) for g in self.case.grounder)
        what = self.error or ("hang" if self.hung else self.wrong) or f"ok ({self.stop_reason})"
        return (
            f"case {self.case.index} ({self.case.family}): {what} after {self.seconds:.1f} s\n"
            f"  planner=[{planner}]\n  grounder=[{grounder}]"
        )


@dataclasses.dataclass
class FuzzReport:
    """The outcomes of a fuzzing session and their counts."""

    outcomes: list[FuzzOutcome]
    seconds: float
    """Wall-clock time of the whole session."""
    time_bound_s: float
    """The time bound a run was held to."""

    @property
    def crashes(self) -> list[FuzzOutcome]:
        """Runs an exception escaped from (or that ended without a stop reason)."""
        return [o for o in self.outcomes if o.error is not None]

    @property
    def hangs(self) -> list[FuzzOutcome]:
        """Runs over the time bound."""
        return [o for o in self.outcomes if o.hung]

    @property
    def wrong(self) -> list[FuzzOutcome]:
        """Runs whose checked variables were wrong."""
        return [o for o in self.outcomes if o.wrong is not None]

    @property
    def checked(self) -> int:
        """How many runs had their expected variables checked."""
        return sum(o.checked for o in self.outcomes)

    @property
    def expected(self) -> int:
        """How many runs carried expected variables."""
        return sum(o.case.expected is not None for o in self.outcomes)

    @property
    def outputs(self) -> int:
        """Model outputs consumed over all runs."""
        return sum(o.outputs for o in self.outcomes)

    @property
    def stop_reasons(self) -> Counter[str]:
        """How often each stop reason ended a run (`None` for runs without one)."""
        return Counter(str(o.stop_reason) for o in self.outcomes)

    @property
    def families(self) -> Counter[str]:
        """How many runs each family had."""
        return Counter(o.case.family for o in self.outcomes)

    @property
    def runs_per_s(self) -> float:
        """Runs per second over the session."""
        return len(self.outcomes) / self.seconds if self.seconds > 0 else 0.0

    def failures(self) -> list[FuzzOutcome]:
        """Every crash, hang and wrong result."""
        return [o for o in self.outcomes if o.failed]

    def summary(self) -> str:
        """The counts as a few lines of text, then a reproducer of each failure (at most 20)."""
        slowest = max((o.seconds for o in self.outcomes), default=0.0)
        lines = [
            f"runs: {len(self.outcomes)}  model outputs: {self.outputs}  seconds: {self.seconds:.1f}  "
            f"runs/s: {self.runs_per_s:.1f}  slowest run: {slowest:.1f} s (bound {self.time_bound_s:g} s)",
            f"crashes: {len(self.crashes)}  hangs: {len(self.hangs)}  wrong results: {len(self.wrong)} "
            f"(checked {self.checked} of {self.expected})",
            "stop reasons: " + ", ".join(f"{k}={v}" for k, v in sorted(self.stop_reasons.items())),
        ]
        failures = self.failures()
        lines += [o.reproducer() for o in failures[:20]]
        if len(failures) > 20:
            lines.append(f"... and {len(failures) - 20} more failures")
        return "\n".join(lines)


# -- generation ------------------------------------------------------------------------------------

_SUBGOALS = (
    "Calculate the total number of apples.",
    "Find the population of Albany, Georgia.",
    "Determine the difference between the two values.",
    "Obtain the birth year of the director.",
    "Solve the equation for x.",
    "Count the items in the list.",
    "Answer whether the statement is true.",
)
_ENTITIES = ("Albert Einstein", "Paris", "Albany, Georgia", "Genghis Khan", "The Police", "Mount Everest")
_QUESTIONS = ("When was he born?", "What is the population?", "Who directed it?", "How tall is it?")
_PROSE = (
    "I think the answer is 42.",
    "Sure! Here is the plan you asked for:",
    "As an AI language model, I cannot browse the internet.",
    "Let me think step by step. First we add the numbers, then we divide.",
    "The answer is: yes",
    "Thank you for your question",
    "ok",
    "?",
)
_UNKNOWN_ACTIONS = (
    "R1 = Frobnicate(1 + 1)",
    "R1 = calculator(1 + 1)",
    "R1 = CALCULATOR(2 * 3)",
    "R1 = Calculator.evaluate(1 + 1)",
    "R1 = __import__(os)",
    "R1 = os.system(ls)",
    "R1 = Search(cheap shoes)",
    "R1 = CLICK(Env, button)",
    "R1 = (1 + 1)",
    "R1 = Calculator",
    "Output = Unknown()",
    "R1 = Calculator(1 + 1)(2)",
)
_UNICODE = (
    "\u200b",
    "\u200f",
    "\u202e",
    "\ufeff",
    "\u00a0",
    "\u0301",
    "\U0001f600",
    "\u4e2d\u6587",
    "\u0661\u0662",  # Arabic-Indic digits: `\d` matches them
    "\uff11\uff0b\uff11",  # full-width 1+1
    "\x00",
    "\x1b[31m",
    "\ud800",  # a lone surrogate (undecodable if re-encoded)
    "\u2212",  # minus sign
    "\u00d7",  # multiplication sign
    "\u221a",  # square root
)
_HANGS = (
    "10^abs(1000000000)",
    "(10^10000)^10000",
    "round(1.5, 1000000000)",
    "binomial(10^9, 10^8)",
    "exp(10000000) // 81",
    "factorial(10^8)",
    "9^9^9^9",
    "2^(2^40)",
    "10^-(10^10)",
    "isprime(10^100000 + 1)",
    "(x + 1)^100000",
    "(x + y + z)^60",
    "1" * 10000,
    "1" * 10000 + " + " + "2" * 10000,
)
_HUGE_NUMBERS = (
    "x*10^4400",
    "10^4400 + x",
    "10^4400 * y - 1",
    "10^4400",
    "7^5200",
    "10^4400 / 3",
    "10^4400 > 1",
    "(3^3^3)^(3^2)",
    "1e999999",
    "0.5^-99999",
    "floor(pi * 10^9999)",
    "9" * 1999,
    "9" * 2001,
    "1/10^4400",
)
_HUGE_ACTIONS = (
    "Count(1, 2, ..., 10^5000)",
    "Count(10^4400, 1)",
    "Define(10^4400)",
    "SetEquation(x = 10^4400 y)",
    "SolveEquation(x = 10^4400)",
    "SolveEquation(x*10^4400 = 1)",
    "SolveInequality(x > 10^4400)",
)
_SOLVER_HANGS = (
    "SolveEquation(x^x^x = 10)",
    "SolveEquation(x^7 + sin(x) = e^x, cos(y) = x^3)",
    "SolveEquation(2x e^36 = x + 1)",
    "SolveEquation((x+1)^20 = 3)",
    "SolveEquation(x^(10^9) = 2)",
    "SolveInequality(x^(10^9) > 2)",
    "Count(1, 2, ..., 10^9)",
)


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(n - 1))


class _Writer:
    """Valid lines over the given action names, with fresh variable numbers."""

    def __init__(self, rng: random.Random, actions: Sequence[str]) -> None:
        self.rng = rng
        self.actions = list(actions)
        self.next_var = 1

    def var(self) -> str:
        name = f"R{self.next_var}"
        self.next_var += 1
        return name

    def earlier(self) -> str:
        k = self.next_var - 1
        return f"R{self.rng.randint(1, k)}" if k >= 1 else str(self.rng.randint(1, 9))

    def args(self, name: str) -> str:
        rng = self.rng
        a, b = rng.randint(0, 99), rng.randint(1, 99)
        if name == "Calculator":
            return rng.choice(
                (f"{a} + {b}", f"{a} * {b} / {b}", f"{self.earlier()} + {b}", f"{a}^2 - {b}", f"{a} > {b}")
            )
        if name == "SetEquation":
            return rng.choice((f"x + {a} = {b}", f"{self.earlier()} = 2x", f"3x + {a} = {b}, where x = 1"))
        if name == "SolveEquation":
            return rng.choice((f"x + {a} = {b}", f"x^2 = {b * b}", "x + y = 10, x - y = 2"))
        if name == "Count":
            return ", ".join(str(rng.randint(0, 9)) for _ in range(rng.randint(1, 6)))
        if name == "SolveInequality":
            return rng.choice((f"{b}x - 3 > {a}", f"x^2 < {b}"))
        if name == "Define":
            return rng.choice(("x", "p", str(a)))
        if name == "Code":
            return rng.choice((f"print({a} + {b})", f"print(sum(range({b})))"))
        if name == "KnowledgeQuery":
            return rng.choice(_ENTITIES)
        if name == "ParagraphRetrieve":
            return f"{self.earlier()}, Query: {rng.choice(_QUESTIONS)}"
        if name == "QA":
            return f"[{self.earlier()}], Question: {rng.choice(_QUESTIONS)}"
        return rng.choice((str(a), self.earlier(), rng.choice(_ENTITIES), f"{self.earlier()}, {a}"))

    def action(self) -> str:
        rng = self.rng
        names = [n for n in self.actions if n != "Code" or rng.random() < 0.2] or self.actions
        name = rng.choice(names)
        if name == "SolveEquation" and rng.random() < 0.2:
            return f"{self.var()}, {self.var()} = SolveEquation(x + y = 10, x - y = 2)"
        if rng.random() < 0.05 and self.next_var > 1:
            return f"Output = {self.earlier()}"
        args = self.args(name)
        return f"{self.var()} = {name}({args})"

    def grounding(self, count: int | None = None) -> str:
        return "; ".join(self.action() for _ in range(count or self.rng.randint(1, 3)))


def _plan(rng: random.Random, mode: Mode, count: int) -> list[str]:
    """A valid plan: one-time `Subgoal 1: ...; Subgoal 2: ...`, or iterative turns then a stop.

    The subgoals differ (a repeated subgoal stops planning under the small-model profile's
    loose stop rules, which would cut a valid plan short).
    """
    texts = rng.sample(_SUBGOALS, count)
    if mode == "onetime":
        return ["; ".join(f"Subgoal {i}: {t}" for i, t in enumerate(texts, start=1))]
    turns = [f"Subgoal 1: {texts[0]}"]
    turns += [f"{KEEP} Subgoal {i}: {t}" for i, t in enumerate(texts[1:], start=2)]
    return [*turns, STOP]


def _mutate(rng: random.Random, line: str, family: str, writer: _Writer, *, planner: bool) -> str:
    """One mutation of a valid line."""
    if family == "truncated":
        return line[: rng.randrange(len(line))] if line else line
    if family == "unbalanced":
        choice = rng.randrange(4)
        if choice == 0:
            return line.replace(")", "", 1)
        if choice == 1:
            at = rng.randrange(len(line) + 1)
            return line[:at] + rng.choice("()[]{}") + line[at:]
        if choice == 2:
            return line + ")" * rng.randint(1, 50)
        return "(" * rng.randint(1, 50) + line
    if family == "nested":
        depth = rng.choice((2, 20, 200, 2000))
        if planner:
            return f"Subgoal 1: {'(' * depth}compute{')' * depth}"
        inner = rng.choice(("1 + 1", writer.earlier(), "x"))
        name = rng.choice(writer.actions)
        return f"{writer.var()} = {name}({'(' * depth}{inner}{')' * depth})"
    if family == "semicolons":
        if planner:
            return rng.choice(
                (
                    f"Subgoal 1: Compute a; b; c; {line}",
                    "Subgoal 1: A; Subgoal 1: B; Subgoal 1: C",
                    "Subgoal 2: first; Subgoal 1: second",
                    f"{line}; ; ;",
                )
            )
        name = rng.choice(writer.actions)
        return rng.choice(
            (
                f"R1 = {name}(a; b; c)",
                f"R1 = {name}(1; R2 = {name}(2)",
                f"R1 = QA([R1], Question: first; R2 = second?); R2 = {name}(R1)",
                f"{line}; ; ; R9 =",
                f"R1 = {name}(1 + 1;); R2 = {name}(R1;)",
                f"{line};{line}",
            )
        )
    if family == "huge_index":
        big = _digits(rng, rng.choice((4301, 5000, 20000)))
        if planner:
            return rng.choice(
                (
                    f"Subgoal {big}: Calculate it.",
                    f"{KEEP} Subgoal {big}: Calculate it.",
                    f"Subgoal 1: A; Subgoal {big}: B",
                    f"Subgoal 1: Use R{big}.",
                )
            )
        name = rng.choice(writer.actions)
        return rng.choice(
            (
                f"R{big} = {name}(1 + 1)",
                f"R1 = {name}(R{big} + 1)",
                f"R1, R{big} = {name}(x + y = 10, x - y = 2)",
                f"Output = R{big}",
                f"Action {big}-{big}: R1 = {name}(2)",
                f"R1 = {name}({big})",
            )
        )
    if family == "unknown_action":
        if planner:
            return rng.choice(("R1 = Calculator(1 + 1)", "Action 1-1: R1 = Frobnicate(x)", "Subgoal: none"))
        return rng.choice(_UNKNOWN_ACTIONS)
    if family == "undefined_variable":
        if planner:
            return f"Subgoal 1: Use the value of R{rng.randint(5, 99)}."
        name = rng.choice(writer.actions)
        return rng.choice(
            (
                f"R1 = {name}(R{rng.randint(5, 99)} + 1)",
                f"R2 = {name}(R2)",
                f"Output = R{rng.randint(5, 99)}",
                f"R1 = {name}(Env)",
                f"R1 = {name}([R7, R8], Question: what?)",
                f"R3 = {name}(Output)",
            )
        )
    if family == "prose":
        return rng.choice(_PROSE) + (f" {line}" if rng.random() < 0.3 else "")
    if family == "empty":
        return rng.choice(
            ("", " ", "\n", "\t \n ", ";", "=", "R1 =", "R1 = ()", "Subgoal 1:", "Subgoal 1: ;")
        )
    if family == "unicode":
        out = list(line)
        for _ in range(rng.randint(1, 5)):
            out.insert(rng.randrange(len(out) + 1), rng.choice(_UNICODE))
        return "".join(out)
    if family == "long_line":
        size = rng.choice((10_000, 50_000, 200_000))
        if planner:
            return rng.choice((f"Subgoal 1: {'a ' * (size // 2)}", line * (size // max(len(line), 1))))
        name = rng.choice(writer.actions)
        return rng.choice(
            (
                f"R1 = {name}({' + '.join(['1'] * (size // 4))})",
                "; ".join(f"R{i} = {name}({i})" for i in range(1, size // 20)),
                f"R1 = {name}({'x' * size})",
                line + " " * size,
            )
        )
    if family == "stop_phrases":
        if planner:
            return rng.choice(
                (
                    STOP * rng.randint(2, 50),
                    KEEP * rng.randint(2, 50),
                    f"{KEEP * rng.randint(2, 20)} {line}",
                    f"{KEEP} {STOP}",
                    f"{STOP} {line}",
                    "No, I will stop planning.",
                    "Yes, I will keep planning.",
                    KEEP,
                    f"{line} {STOP}",
                )
            )
        return rng.choice((STOP, KEEP, f"{line}; {STOP}", f"{KEEP} {line}"))
    msg = f"unknown family {family!r}"
    raise ValueError(msg)


_MUTATIONS = tuple(f for f in FAMILIES if f not in ("valid", "reassign", "hang", "huge_number", "mixed"))


def _mutant(rng: random.Random, line: str, family: str, writer: _Writer, *, planner: bool) -> str:
    if family != "mixed":
        return _mutate(rng, line, family, writer, planner=planner)
    for name in rng.sample([m for m in _MUTATIONS if m != "long_line"], rng.randint(2, 3)):
        line = _mutate(rng, line, name, writer, planner=planner)
    return line


def _reassign(rng: random.Random, mode: Mode, count: int) -> tuple[list[str], list[str], dict[str, str]]:
    """Calculator chains reassigning a few variables, and the values executing them in order gives."""
    pool = [f"R{i}" for i in range(1, rng.randint(2, 4) + 1)]
    values: dict[str, int] = {}
    segments: list[list[str]] = []
    for _ in range(count):
        segment: list[str] = []
        for _ in range(rng.randint(2, 4)):
            target = rng.choice(pool)
            for _attempt in range(10):
                text, value = _expression(rng, values)
                if abs(value) < 10**9:
                    break
            else:
                text, value = "1 + 1", 2
            segment.append(f"{target} = Calculator({text})")
            values[target] = value
        segments.append(segment)
    expected = {k: str(v) for k, v in values.items()}
    planner = _plan(rng, mode, count)
    if mode == "onetime":
        return planner, ["; ".join(a for s in segments for a in s)], expected
    return planner, ["; ".join(s) for s in segments], expected


def _expression(rng: random.Random, values: Mapping[str, int]) -> tuple[str, int]:
    """A Calculator formula over known variables (or constants) and its integer value."""
    ops: dict[str, Callable[[int, int], int]] = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
    }
    names = list(values)

    def operand() -> tuple[str, int]:
        if names and rng.random() < 0.7:
            name = rng.choice(names)
            return name, values[name]
        c = rng.randint(0, 20)
        return str(c), c

    (lt, lv), (rt, rv) = operand(), operand()
    op = rng.choice(list(ops))
    return f"{lt} {op} {rt}", ops[op](lv, rv)


def _hang(rng: random.Random, writer: _Writer) -> str:
    solvers = [s for s in _SOLVER_HANGS if s.split("(", 1)[0] in writer.actions]
    if solvers and rng.random() < 0.25:
        return f"{writer.var()} = {rng.choice(solvers)}"
    return f"{writer.var()} = Calculator({rng.choice(_HANGS)})"


def _huge(rng: random.Random, writer: _Writer) -> str:
    actions = [a for a in _HUGE_ACTIONS if a.split("(", 1)[0] in writer.actions]
    if actions and rng.random() < 0.4:
        return f"{writer.var()} = {rng.choice(actions)}"
    return f"{writer.var()} = Calculator({rng.choice(_HUGE_NUMBERS)})"


def _case(
    index: int, seed: int, mode: Mode, actions: Sequence[str], families: Mapping[str, float]
) -> FuzzCase:
    rng = random.Random(f"{seed}:{index}")
    family = rng.choices(list(families), weights=list(families.values()))[0]
    count = rng.randint(1, 3)
    task = f"Fuzz case {index} ({family}): what is the result?"
    if family == "reassign":
        planner, grounder, expected = _reassign(rng, mode, count)
        return FuzzCase(index, family, task, tuple(planner), tuple(grounder), expected)
    writer = _Writer(rng, actions)
    planner = _plan(rng, mode, count)
    if mode == "onetime":
        grounder = [writer.grounding(count + rng.randint(0, 2))]
    else:
        grounder = [writer.grounding() for _ in range(count)]
    if family in ("hang", "huge_number"):
        at = rng.randrange(len(grounder))
        parts = grounder[at].split("; ")
        parts.insert(rng.randrange(len(parts) + 1), (_hang if family == "hang" else _huge)(rng, writer))
        grounder[at] = "; ".join(parts)
    elif family != "valid":
        target = rng.choice(("planner", "grounder", "grounder", "both"))
        if target in ("planner", "both"):
            at = rng.randrange(len(planner))
            planner[at] = _mutant(rng, planner[at], family, writer, planner=True)
        if target in ("grounder", "both"):
            at = rng.randrange(len(grounder))
            grounder[at] = _mutant(rng, grounder[at], family, writer, planner=False)
    return FuzzCase(index, family, task, tuple(planner), tuple(grounder))


def generate_cases(
    n: int,
    *,
    seed: int = 0,
    mode: Mode = "iterative",
    actions: Sequence[str] = (
        "Calculator",
        "SetEquation",
        "SolveEquation",
        "Count",
        "SolveInequality",
        "Define",
    ),
    families: Mapping[str, float] | None = None,
    start: int = 0,
) -> list[FuzzCase]:
    """Generate `n` seeded cases (the same seed gives the same cases).

    Args:
        n: How many cases.
        seed: The seed; case `i` depends only on the seed, `i` and the other arguments.
        mode: `iterative` (a planner turn per subgoal, then a stop) or `onetime` (one plan
            line, one grounding line).
        actions: The action names valid lines use (your tools' names). The `reassign`,
            `hang` and `huge_number` families are left out without a `Calculator`.
        families: Weights by family (default `FAMILIES`); a family missing or weighted 0
            is not drawn.
        start: The number of the first case.

    Returns:
        The cases, numbered from `start`.

    Raises:
        ValueError: `n` negative, no actions, an unknown family or no positive weight.
    """
    if n < 0:
        msg = f"n must be at least 0, got {n}."
        raise ValueError(msg)
    if mode not in ("iterative", "onetime"):
        msg = f"mode must be 'iterative' or 'onetime', got {mode!r}."
        raise ValueError(msg)
    if not actions:
        msg = "actions must name at least one action."
        raise ValueError(msg)
    weights = dict(FAMILIES if families is None else families)
    unknown = sorted(set(weights) - set(FAMILIES))
    if unknown:
        msg = f"Unknown families {unknown}; choose among {sorted(FAMILIES)}."
        raise ValueError(msg)
    if "Calculator" not in actions:
        weights = {k: v for k, v in weights.items() if k not in _NEEDS_CALCULATOR}
    weights = {k: v for k, v in weights.items() if v > 0}
    if not weights:
        msg = "No family has a positive weight."
        raise ValueError(msg)
    return [_case(i, seed, mode, actions, weights) for i in range(start, start + n)]


# -- running ---------------------------------------------------------------------------------------


_REPEAT_LAST = 64


def _script(outputs: Sequence[str]) -> list[str]:
    """Outputs in call order, the last one repeating (persistent garbage stays garbage)."""
    outputs = list(outputs) or [""]
    return outputs + [outputs[-1]] * _REPEAT_LAST


def _check(
    case: FuzzCase, result: Mapping[str, Any], domain: Domain | None = None, mode: Mode = "iterative"
) -> tuple[bool, str | None]:
    """Whether the expected variables could be checked (all actions succeeded), and what differed.

    Every scripted action must have run: a valid plan cut short is a wrong result too,
    unless the small profile's hop rule stopped it (`profiles.stops_small_plan`: the
    planner's next subgoal ignores the answer found), which is not checked.
    """
    if case.expected is None:
        return False, None
    observations = result.get("observations", [])
    if not observations or any(o.get("status") != "success" for o in observations):
        return False, None
    scripted = sum(len(line.split("; ")) for line in case.grounder)
    if len(observations) < scripted:
        if domain is not None and _hop_rule_stopped(case, result, domain, mode):
            return False, None
        return True, f"only {len(observations)} of the {scripted} actions ran ({result.get('stop_reason')})"
    variables = result.get("variables", {})
    diff = {k: (v, variables.get(k)) for k, v in case.expected.items() if str(variables.get(k)) != v}
    if not diff:
        return True, None
    text = ", ".join(f"{k}: expected {want}, got {got!r}" for k, (want, got) in diff.items())
    return True, text


def _hop_rule_stopped(case: FuzzCase, result: Mapping[str, Any], domain: Domain, mode: Mode) -> bool:
    """Whether the small profile's hop rule ended the plan before its next scripted subgoal."""
    from langchain_lumos.parsing import parse_plan
    from langchain_lumos.profiles import stops_small_plan_at

    subgoals = result.get("subgoals", [])
    if result.get("stop_reason") != "planner_stop" or not subgoals or len(case.planner) <= len(subgoals):
        return False
    parsed = parse_plan(case.planner[len(subgoals)], next_index=len(subgoals) + 1)
    return bool(parsed.subgoals) and stops_small_plan_at(domain, mode, result, parsed.subgoals[0].text)


async def afuzz_agent(
    tools: Sequence[BaseTool],
    *,
    domain: str | Domain = "maths",
    mode: Mode = "iterative",
    n: int = 100,
    seed: int = 0,
    cases: Sequence[FuzzCase] | None = None,
    families: Mapping[str, float] | None = None,
    context: Any = None,
    time_bound_s: float | None = None,
    concurrency: int = 4,
    sync: bool = False,
    agent_kwargs: Mapping[str, Any] | None = None,
    on_outcome: Callable[[FuzzOutcome], None] | None = None,
) -> FuzzReport:
    """Run generated (or given) cases as full Lumos agent runs, `concurrency` at a time.

    Each case gets its own scripted planner and grounder (`ScriptedLLM`, replaying its
    outputs in call order, the last one repeating; counting calls, not prompt turns, so
    few-shot exemplars in a profile's prompts do not shift the script)
    through one agent built once with
    `create_lumos_agent(planner, grounder, tools, mode=mode, domain=domain)`. Runs use
    `ainvoke`, or `invoke` on `concurrency` threads with `sync=True`.

    Args:
        tools: The tools to execute the generated actions with.
        domain: The agent's domain (`maths`, `complex_qa`, ...) or `Domain` (e.g. the
            small-model profile, `langchain_lumos.profiles.small_model_profile`).
        mode: `iterative` or `onetime`.
        n: How many cases to generate (ignored when `cases` are given).
        seed: The generation seed.
        cases: Cases to run instead of generated ones (e.g. one failure, to reproduce it).
        families: Family weights for generation (default `FAMILIES`).
        context: The run settings (`LumosContext`); default: `action_timeout_s=5`,
            `time_limit_s=10`, `max_subgoals=4`, `max_regrounds=1`.
        time_bound_s: A run taking longer is a hang (default: the context's
            `time_limit_s` plus 5 s). A run not returned after three times the bound is
            abandoned (and counted as a hang).
        concurrency: How many runs at once.
        sync: Run with `invoke` (on threads) instead of `ainvoke`.
        agent_kwargs: More arguments of `create_lumos_agent` (e.g. `handle_tool_errors`).
        on_outcome: Called with each outcome as it arrives (progress, logging).

    Returns:
        A `FuzzReport`.
    """
    from langchain_lumos.agent import create_lumos_agent
    from langchain_lumos.context import LumosContext
    from langchain_lumos.domains import get_domain

    if concurrency < 1:
        msg = f"concurrency must be at least 1, got {concurrency}."
        raise ValueError(msg)
    ctx = (
        context
        if context is not None
        else LumosContext(action_timeout_s=5.0, time_limit_s=10.0, max_subgoals=4, max_regrounds=1)
    )
    if time_bound_s is None:
        time_bound_s = (ctx.time_limit_s or 60.0) + 5.0
    if cases is None:
        cases = generate_cases(n, seed=seed, mode=mode, actions=[t.name for t in tools], families=families)
    models: dict[str, tuple[ScriptedLLM, ScriptedLLM]] = {}

    def pick(which: int) -> Callable[[Mapping[str, Any], Any], BaseLanguageModel]:
        def resolve(state: Mapping[str, Any], runtime: Any) -> BaseLanguageModel:
            return models[state["task"]][which]

        return resolve

    agent = create_lumos_agent(
        pick(0), pick(1), list(tools), mode=mode, domain=domain, **(agent_kwargs or {})
    )
    resolved = get_domain(domain)
    gate = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()
    threads = (
        concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="lumos-fuzz") if sync else None
    )

    async def run(case: FuzzCase) -> FuzzOutcome:
        async with gate:
            planner = ScriptedLLM(responses=_script(case.planner), by="call", role="planner")
            grounder = ScriptedLLM(responses=_script(case.grounder), by="call", role="grounder")
            models[case.task] = (planner, grounder)
            task = {"task": case.task}
            start = time.perf_counter()
            result: Mapping[str, Any] | None = None
            error: str | None = None
            abandoned = False
            try:
                pending: Awaitable[dict[str, Any]]
                if sync:
                    pending = loop.run_in_executor(
                        threads, functools.partial(agent.invoke, task, context=ctx)
                    )
                else:
                    pending = agent.ainvoke(task, context=ctx)
                result = await asyncio.wait_for(pending, timeout=3 * time_bound_s)
            except asyncio.TimeoutError:
                abandoned = True
            except Exception as exc:  # a crash: what the fuzzer is looking for
                error = f"{type(exc).__name__}: {str(exc)[:500]}"
            seconds = time.perf_counter() - start
            del models[case.task]
            stop_reason = result.get("stop_reason") if result is not None else None
            if result is not None and not stop_reason:
                error = "the run ended without a stop_reason"
            checked, wrong = _check(case, result, resolved, mode) if result is not None else (False, None)
            outcome = FuzzOutcome(
                case=case,
                seconds=seconds,
                stop_reason=stop_reason,
                error=error,
                hung=abandoned or seconds > time_bound_s,
                wrong=wrong,
                checked=checked,
                outputs=len(planner.calls) + len(grounder.calls),
            )
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    start = time.perf_counter()
    try:
        outcomes = list(await asyncio.gather(*(run(c) for c in cases)))
    finally:
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)
    return FuzzReport(outcomes=outcomes, seconds=time.perf_counter() - start, time_bound_s=time_bound_s)


def fuzz_agent(tools: Sequence[BaseTool], **kwargs: Any) -> FuzzReport:
    """`afuzz_agent` from synchronous code (it runs its own event loop); the same arguments."""
    return asyncio.run(afuzz_agent(tools, **kwargs))
