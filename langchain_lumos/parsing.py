"""Parsing of planner and grounder outputs: subgoals, the action grammar and variables.

The grammar accepts the surface forms the released Lumos models were trained on:

- subgoals: `Subgoal 1: ...`, one-time lists `Subgoal 1: ...; Subgoal 2: ...`, the
  `No, I will keep planning.` prefix and the original stop substring
  `Yes, I will stop planning` (the small-model profile adds looser stops, `loose_stop`);
- actions: `R1 = Name(args)` joined by `; ` (or, in exemplar strings, by
  ` || Action i-j: `), multi-output `R5, R6 = SolveEquation(...)`, `Output = ...`, aliases
  `Output = R9`, keyword markers (`Query:`, `QUERY:`, `TEXT:`, ...), bracketed variable
  lists `[R2, R5]`, nested and unbalanced parentheses, `; ` inside arguments, annotation
  suffixes (`= value`), `Action i-j:` prefixes, and the raw commands of the InterCode
  annotations (`R1 = find /testbed -type f.`, `R4 = GovernmentForm = "US Territory".`,
  `R1 = SHOW TABLES = airlines, flights.`), read with their sentence period dropped.

Variables are substituted by token (`R1` never touches `R10`), never by string replace.
Unparseable text gives `ActionError`/`PlanParse.error` values, never an exception; that
includes subgoal and variable numbers longer than `MAX_INDEX_DIGITS` digits.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from langchain_lumos.prompts import KEEP_PLANNING, STOP_PLANNING

__all__ = [
    "MAX_INDEX_DIGITS",
    "STOPWORDS",
    "Action",
    "ActionError",
    "ActionParse",
    "ParsedSubgoal",
    "PlanParse",
    "action_dependencies",
    "closing_paren",
    "drop_repeated_subgoals",
    "find_variables",
    "is_repeated_subgoal",
    "parse_actions",
    "parse_plan",
    "split_arguments",
    "subgoal_words",
    "substitute_variables",
]

_VAR = r"(?:R\d+|Output)"
_VARIABLE_RE = re.compile(r"(?<![\w.])(R\d+|Output|Env)(?![\w])")
_ACTION_LABEL_RE = re.compile(r"^\s*Action\s*\d+(?:\s*-\s*\d+)?\s*:\s*")
_ACTION_START_RE = re.compile(rf"\s*(?:Action\s*\d+(?:\s*-\s*\d+)?\s*:\s*)?{_VAR}(?:\s*,\s*{_VAR})*\s*=")
_ASSIGN_RE = re.compile(rf"^\s*({_VAR}(?:\s*,\s*{_VAR})*)\s*=\s*(.*)$", re.DOTALL)
_NAME_RE = re.compile(r"^([A-Za-z_][\w.]*)\s*\(")
_SUBGOAL_RE = re.compile(r"(?:^|;\s*)Subgoal\s+(\d+)\s*:\s*")
_KEYWORD_RE = re.compile(r",\s*([A-Za-z][A-Za-z_]*)\s*:\s")
_EXEMPLAR_SEP_RE = re.compile(r"\s*\|\|\s*(?=Action\s*\d+(?:\s*-\s*\d+)?\s*:)")
_ANNOTATED_HEAD_RE = re.compile(
    r"R\d+|Output|-?\d+(?:\.\d+)?|(?i:SHOW\s+TABLES|DESCRIBE\s+[\w.]+)"
)  # raw right-hand sides whose ` = ...` is an annotated result, not part of the action
_CONTINUATION_RE = re.compile(r",|[A-Z]{2,}\b")  # `COUNT(*) FROM ...`, `avg(GNP) , sum(...)`
_OPEN = {"(": ")", "[": "]", "{": "}"}

MAX_INDEX_DIGITS = 9
"""Longest subgoal or variable number read (`Subgoal 123456789:`, `R123456789`); longer
ones are parse errors (Python refuses to convert a 4,301-digit string to `int`)."""
_CLOSE = {v: k for k, v in _OPEN.items()}


# ---------------------------------------------------------------------------------------
# Subgoals
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParsedSubgoal:
    """One subgoal read from a planner output."""

    index: int
    """The number the planner gave it (`Subgoal 2:` -> 2)."""
    text: str
    """The subgoal without its label."""

    @property
    def label(self) -> str:
        """The id used in Lumos feedback, e.g. `Subgoal 2`."""
        return f"Subgoal {self.index}"

    @property
    def line(self) -> str:
        """The subgoal as the grounder sees it: `Subgoal 2: ...`."""
        return f"{self.label}: {self.text}"


@dataclasses.dataclass(frozen=True)
class PlanParse:
    """The reading of one planner output line."""

    raw: str
    stop: bool = False
    subgoals: tuple[ParsedSubgoal, ...] = ()
    error: str | None = None


_SUBGOAL_LABEL_RE = re.compile(r"^\s*(?:No,\s*I will keep planning\.\s*)?(?:Subgoal\s*\d+\s*:\s*)?", re.I)
STOPWORDS = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "by", "with", "from", "is", "are", "was"}
    | {"were", "that", "this"}
)
"""Function words a subgoal comparison ignores."""


def subgoal_words(text: str) -> frozenset[str]:
    """A subgoal's content words: no label, keep-planning phrase, punctuation, case or `STOPWORDS`."""
    words = re.sub(r"[^\w\s]", " ", _SUBGOAL_LABEL_RE.sub("", text).casefold()).split()
    return frozenset(w for w in words if w not in STOPWORDS)


def is_repeated_subgoal(subgoal: str, previous: Sequence[str]) -> bool:
    """Whether a subgoal only repeats one planned before (a small model looping).

    Labels (`Subgoal k:`), the keep-planning phrase, punctuation, case and function words
    are ignored: `"Subgoal 3: Obtain the birthplace of Kafka."` repeats
    `"Obtain birthplace of Kafka"`.

    Args:
        subgoal: The new subgoal (with or without its label).
        previous: The subgoals planned so far.
    """
    words = subgoal_words(subgoal)
    if not words:
        return bool(previous) and any(not subgoal_words(p) for p in previous)
    return any(words == subgoal_words(p) for p in previous)


def drop_repeated_subgoals(subgoals: Sequence[str], previous: Sequence[str] = ()) -> list[str]:
    """A plan without its repeats: each subgoal kept at its first occurrence.

    A small model often writes `Subgoal 1: X; Subgoal 2: X; Subgoal 3: X`; this keeps one X
    (and drops any subgoal that repeats one of `previous`).
    """
    kept: list[str] = []
    for subgoal in subgoals:
        if not is_repeated_subgoal(subgoal, [*previous, *kept]):
            kept.append(subgoal)
    return kept


def parse_plan(
    text: str, *, next_index: int = 1, loose_stop: bool = False, previous: Sequence[str] = ()
) -> PlanParse:
    """Read a planner output: a stop, one subgoal, or a `; `-joined list of subgoals.

    Args:
        text: The planner output (only its first line is used).
        next_index: The number to give a subgoal written without a `Subgoal k:` label.
        loose_stop: The small-model profile's rules (`Domain.loose_stop`): besides the
            original's `Yes, I will stop planning`, any "... will stop planning" (e.g.
            "No, I will stop planning.") stops, and so does a plan that only repeats
            subgoals of `previous` (`is_repeated_subgoal`); a subgoal that repeats an
            earlier one of the same line is dropped and the rest renumbered. The
            eval-compatible profile leaves it off.
        previous: The texts of the subgoals planned so far (for the repeated-subgoal stop).

    Returns:
        A `PlanParse`; `error` is set (and `subgoals` empty) when nothing usable was found.
    """
    line = text.strip().split("\n", 1)[0].strip()
    if not line:
        return PlanParse(raw=line, error="The planner returned an empty output.")
    # The original evaluation scripts check for this substring only.
    if STOP_PLANNING.rstrip(".") in line:
        return PlanParse(raw=line, stop=True)
    if loose_stop and "will stop planning" in line.lower():
        return PlanParse(raw=line, stop=True)
    body = line.split(KEEP_PLANNING)[-1].strip()
    matches = list(_SUBGOAL_RE.finditer(body))
    if not matches:
        if body.lower().startswith(("yes", "no,")) or len(body) < 3:
            return PlanParse(raw=line, error=f"No subgoal found in planner output {line!r}.")
        subgoals = [ParsedSubgoal(next_index, body.rstrip(";"))]
    else:
        subgoals = []
        for i, match in enumerate(matches):
            if len(match.group(1)) > MAX_INDEX_DIGITS:
                msg = f"Subgoal number with more than {MAX_INDEX_DIGITS} digits in planner output {line[:80]!r}."
                return PlanParse(raw=line, error=msg)
            end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
            sub = body[match.end() : end].strip().rstrip(";").strip()
            if sub:
                subgoals.append(ParsedSubgoal(int(match.group(1)), sub))
        if not subgoals:
            return PlanParse(raw=line, error=f"Empty subgoal in planner output {line!r}.")
    if loose_stop:
        kept = drop_repeated_subgoals([sg.text for sg in subgoals], previous)
        if not kept:  # it only repeats what was planned before
            return PlanParse(raw=line, stop=True)
        if len(kept) < len(subgoals):  # `Subgoal 1: X; Subgoal 2: X` is one subgoal
            first = subgoals[0].index
            subgoals = [ParsedSubgoal(first + i, text) for i, text in enumerate(kept)]
    return PlanParse(raw=line, subgoals=tuple(subgoals))


# ---------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Action:
    """One grounded action, e.g. `R2 = ParagraphRetrieve(R1, Query: Who ...?)`."""

    variables: tuple[str, ...]
    """Left-hand variables (`("R5", "R6")` for a multi-output action)."""
    name: str
    """The action name; empty for an alias such as `Output = R9`."""
    args: str
    """The raw argument text, between the balanced parentheses."""
    annotation: str | None = None
    """A trailing `= value` annotation (training data), if any."""

    @property
    def text(self) -> str:
        """The canonical surface form, as the grounder was trained to write it."""
        lhs = ", ".join(self.variables)
        return f"{lhs} = {self.name}({self.args})" if self.name else f"{lhs} = {self.args}"

    @property
    def references(self) -> tuple[str, ...]:
        """Variables read by the arguments, in order of first use."""
        return tuple(dict.fromkeys(find_variables(self.args)))


@dataclasses.dataclass(frozen=True)
class ActionError:
    """A piece of grounder output that is not a valid action."""

    text: str
    reason: str


@dataclasses.dataclass(frozen=True)
class ActionParse:
    """The reading of one grounder output line."""

    raw: str
    actions: tuple[Action, ...] = ()
    errors: tuple[ActionError, ...] = ()


def _split_actions(line: str) -> list[str]:
    """Split at each `;` that is followed by the start of a new action.

    A `;` inside an argument (`Question: a; b`) is kept because no `R<k> =` follows it;
    this also recovers the next action after an unbalanced parenthesis.
    """
    parts: list[str] = []
    for chunk in _EXEMPLAR_SEP_RE.split(line):
        start = 0
        for i, ch in enumerate(chunk):
            if ch == ";" and _ACTION_START_RE.match(chunk, i + 1):
                parts.append(chunk[start:i])
                start = i + 1
        parts.append(chunk[start:])
    return [p.strip() for p in parts if p.strip()]


def closing_paren(text: str, open_at: int) -> int | None:
    """Index of the `)` closing the `(` at `open_at`, or None if it is unbalanced."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return None


def _drop_sentence_period(text: str) -> str:
    """Drop the period that ends an annotation sentence (`... -type f.`, `{} + .`).

    A lone `.` is a path (`find .`) unless it follows the end of an `-exec` (`+`, `;`);
    `..` and `/.` are kept.
    """
    text = text.rstrip()
    if not text.endswith(".") or text.endswith("..") or text.endswith("/."):
        return text
    tokens = text.split()
    if tokens[-1] == "." and (len(tokens) < 2 or tokens[-2] not in ("+", ";", "\\;")):
        return text
    return text[:-1].rstrip()


def _raw_action(variables: tuple[str, ...], rhs: str, piece: str) -> Action | ActionError:
    """An alias (`Output = R9 = 40`), a value or a raw command (InterCode Bash/SQL)."""
    text = _drop_sentence_period(rhs)
    head, sep, tail = text.partition(" = ")
    if sep and _ANNOTATED_HEAD_RE.fullmatch(head.strip()):
        value, annotation = head.strip(), tail.strip() or None
    else:
        value, annotation = text.strip(), None  # `=` inside the action: `a.id = b.id`
    if not value:
        return ActionError(piece, "missing right-hand side")
    return Action(variables, "", value, annotation)


def _parse_one(piece: str) -> Action | ActionError:
    body = _ACTION_LABEL_RE.sub("", piece, count=1).strip()
    assign = _ASSIGN_RE.match(body)
    if not assign:
        return ActionError(piece, "expected `R<k> = Action(arguments)`")
    variables = tuple(v.strip() for v in assign.group(1).split(","))
    if any(len(v) > MAX_INDEX_DIGITS + 1 for v in variables if v.startswith("R")):
        return ActionError(piece[:80], f"variable number with more than {MAX_INDEX_DIGITS} digits")
    rhs = assign.group(2).strip()
    name_match = _NAME_RE.match(rhs)
    if not name_match:
        return _raw_action(variables, rhs, piece)
    name = name_match.group(1)
    open_at = name_match.end() - 1
    close_at = closing_paren(rhs, open_at)
    if close_at is None:
        # Unbalanced: everything after `(` up to an annotation (the maths variant's rule).
        cut = rhs.rfind(" = ")
        tail = rhs[: cut if cut > open_at else len(rhs)]
        args = tail[open_at + 1 :]
        annotation = rhs[cut + 3 :].strip() if cut > open_at else None
        return Action(variables, name, args.strip(), annotation or None)
    args = rhs[open_at + 1 : close_at]
    rest = rhs[close_at + 1 :].strip().lstrip(".").strip()  # `R1 = Search(...).` (WebShop exemplars)
    if _CONTINUATION_RE.match(rest):
        return _raw_action(variables, rhs, piece)  # SQL: `COUNT(*) FROM t`, `avg(a) , sum(b) FROM t`
    annotation = rest[1:].strip() if rest.startswith("=") else None
    if rest and annotation is None and not rest.startswith(";"):
        return ActionError(piece, f"unexpected text after the arguments: {rest!r}")
    return Action(variables, name, args.strip(), annotation or None)


def parse_actions(text: str) -> ActionParse:
    """Read a grounder output line into actions.

    Args:
        text: The grounder output (only its first line is used).

    Returns:
        An `ActionParse` with the valid actions in order and an `ActionError` for each
        piece that could not be read.
    """
    line = text.strip().split("\n", 1)[0].strip()
    if not line:
        return ActionParse(raw=line, errors=(ActionError("", "the grounder returned nothing"),))
    actions: list[Action] = []
    errors: list[ActionError] = []
    for piece in _split_actions(line):
        parsed = _parse_one(piece)
        if isinstance(parsed, ActionError):
            errors.append(parsed)
            continue
        actions.append(parsed)
        # `R1 = A(x); junk` keeps R1 and reports the junk.
        tail = piece[piece.find(parsed.args) + len(parsed.args) :].split(";", 1)
        if parsed.name and len(tail) == 2 and tail[1].strip():
            errors.append(ActionError(tail[1].strip(), "expected `R<k> = Action(arguments)`"))
    return ActionParse(raw=line, actions=tuple(actions), errors=tuple(errors))


def split_arguments(args: str) -> tuple[str | None, list[tuple[str, str]]]:
    """Split action arguments into a positional part and `Key: value` parts.

    Splits only at depth-0 `, Key:` boundaries, so `KnowledgeQuery(Albany, Georgia)` keeps
    one argument and `QA([R2, R5], Question: ...)` gives `("[R2, R5]", [("Question", ...)])`.
    A leading `Key: value` (WebShop's `Item_names: R1`) is a keyword, not positional.
    """
    cuts: list[tuple[int, int, str]] = []
    depth = 0
    for i, ch in enumerate(args):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE and depth > 0:
            depth -= 1
        elif ch == "," and depth == 0:
            match = _KEYWORD_RE.match(args, i)
            if match:
                cuts.append((i, match.end(), match.group(1)))
    lead = re.match(r"^\s*([A-Za-z][A-Za-z_]*)\s*:\s", args)
    segments: list[tuple[str | None, str]] = []
    prev_end, prev_key = 0, cast("str | None", None)
    if lead and (not cuts or lead.end() <= cuts[0][0]):
        prev_end, prev_key = lead.end(), lead.group(1)
    for start, end, key in cuts:
        segments.append((prev_key, args[prev_end:start].strip()))
        prev_end, prev_key = end, key
    segments.append((prev_key, args[prev_end:].strip()))
    positional: str | None = None
    keywords: list[tuple[str, str]] = []
    for name, value in segments:
        if name is None:
            positional = value if value else None
        else:
            keywords.append((name, value))
    return positional, keywords


def find_variables(text: str) -> list[str]:
    """Variables (`R<k>`, `Output`, `Env`) referenced in `text`, as whole tokens."""
    return _VARIABLE_RE.findall(text)


def substitute_variables(
    text: str,
    values: Mapping[str, Any],
    render: Callable[[str, Any], str] | None = None,
) -> str:
    """Replace whole-token variable references by their values.

    Args:
        text: Text with references such as `R1 + R10`.
        values: The variable store; unknown references are left as they are.
        render: How to render a value (default `str(value)`); gets the name and value.
    """
    fmt = render or (lambda _name, value: str(value))

    def _sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return fmt(name, values[name]) if name in values else name

    return _VARIABLE_RE.sub(_sub, text)


def action_dependencies(actions: Sequence[Action]) -> list[tuple[int, ...]]:
    """For each action, the indices of earlier actions it must run after.

    Every conflicting pair is ordered, as a compiler schedules instructions: an action
    runs after the latest earlier action assigning a variable it reads (read after
    write), after the latest earlier action assigning a variable it assigns too (write
    after write), and after every earlier action reading a variable it assigns (write
    after read), so `R1 = f(); R2 = g(R1); R1 = h()` gives `g` the first `R1`.
    References to variables computed before (earlier subgoals) create no dependency.
    """
    assigned: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    deps: list[tuple[int, ...]] = []
    for i, action in enumerate(actions):
        mine = {assigned[v] for v in action.references if v in assigned}
        for var in action.variables:
            if var in assigned:
                mine.add(assigned[var])
            mine.update(readers.get(var, ()))
        mine.discard(i)
        deps.append(tuple(sorted(mine)))
        for var in action.references:
            readers.setdefault(var, []).append(i)
        for var in action.variables:
            assigned[var] = i
            readers[var] = []
    return deps
