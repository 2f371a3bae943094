r"""Raw Lumos annotations -> planner and grounder training dialogues.

This reproduces the released conversion (`data/process_for_train.py` of allenai/lumos,
`collect_plan_data` / `collect_ground_data`) output for output, so the dialogues equal the
`ai2lumos/lumos_<domain>_<plan|ground>_<iterative|onetime>` datasets built from the same
raw records. The strings come from `langchain_lumos.prompts`. It also writes the
integrated formulation (`module="integrated"`, `integrated_dialogue`: one model writes each
subgoal with its actions), the paper's baseline, which the original released no data for.

A raw `subgoal_plan` is a list of blocks separated by blank lines::

    Subgoal 1: Obtain the number of the kids that Julius Caesar had.
    Action 1-1: R1 = KnowledgeQuery(Julius Caesar) = WikipediaPage(Julius Caesar).
    Action 1-2: R2 = ParagraphRetrieve(R1, Query: How many kids ...?) = Paragraph(...).
    Action 1-3: R3 = QA([R2], Question: How many kids did Julius Caesar have?) = 3.

Behaviours of the original kept on purpose (they shape the released data):

- Actions are read with the original's own rule (`parse_annotated_action`), not with
  `langchain_lumos.parsing.parse_actions`. Both agree on well-formed actions; they differ
  on the alias `Output = R9 = 40` (original target: `Output = (R9)`), on unbalanced
  parentheses (`R1 = Calculator((2+3) = 5` gives `(2+3` here) and on text after a closing
  parenthesis (`R1 = Calculator(3) + (4) = 7` gives `Calculator(3) + (4)` here; the core
  parser reports an error). Web-agent actions take everything between the first `(` and
  the last `)` and have no result.
- Iterative mode renames `Output` to `R{n+1}`, where `n` is the number of the last
  `R<k>` variable that ended an *earlier* subgoal. The original kept `n` in a variable that
  leaked across records, so a record whose first subgoal ends with `Output` used the
  previous record's `n` (and was dropped when it was the very first record).
  `convert_annotations` reproduces that; a lone call of `plan_dialogue`/`ground_dialogue`
  starts fresh.
- Iterative records with an empty subgoal block, or whose last action has no readable
  variable, are dropped (`ConversionSkipped`); one-time records are never dropped.
- Grounder user turns keep the original's trailing newline (`...Subgoal to be grounded:
  ...\n`); the fine-tuning template strips it. Later iterative complex QA turns list the
  raw annotated result of every earlier subgoal ("The execution result for Subgoal 1 is
  3.") — the training form; the evaluation scripts send only `Answer: ` parts.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from langchain_lumos.domains import Domain, get_domain
from langchain_lumos.integrated import integrated_line, integrated_request
from langchain_lumos.parsing import closing_paren
from langchain_lumos.prompts import (
    FEEDBACK_ALREADY,
    FEEDBACK_RESULT,
    GROUND_INSTRUCTION,
    GROUND_SUBGOAL,
    GROUND_SUBGOALS,
    GROUND_TASK,
    KEEP_PLANNING,
    PLAN_INSTRUCTION,
    PLAN_TASK,
    QA_RESULT,
    QA_RESULTS,
    STOP_PLANNING,
    Turn,
)
from langchain_lumos.training.annotations import AnnotationRecord, validate_messages

__all__ = [
    "AnnotatedAction",
    "ConversionResult",
    "ConversionSkipped",
    "Formulation",
    "Module",
    "VariableCarry",
    "convert_annotations",
    "ground_dialogue",
    "integrated_dialogue",
    "parse_annotated_action",
    "parse_subgoal_plan",
    "plan_dialogue",
    "run_to_dialogues",
    "runs_to_dialogues",
]

Formulation = Literal["iterative", "onetime"]
Module = Literal["plan", "ground", "integrated"]
"""`plan` / `ground`: the modular Lumos dialogues; `integrated`: one model writes each
subgoal with its actions (`langchain_lumos.integrated`)."""

_SHOULD_STOP = ". Should we stop planning?"
_FEEDBACK_HEAD = FEEDBACK_RESULT.split("{result}")[0]  # "The executed result for Subgoal {index} is "
_ALREADY_HEAD = FEEDBACK_ALREADY.split("{subgoal}")[0]  # "We have already "


class ConversionSkipped(ValueError):
    """The original conversion drops this record (the message says why)."""


@dataclasses.dataclass
class VariableCarry:
    """The number of the last `R<k>` that ended a subgoal (for the `Output` rename).

    The original kept it across records; share one instance over a dataset to get the
    exact same output.
    """

    last_index: int | None = None


@dataclasses.dataclass(frozen=True)
class AnnotatedAction:
    """One `Action i-j: R1 = Name(args) = result` line, read the way the original did."""

    variables: tuple[str, ...]
    name: str
    args: str
    result: str

    @property
    def target(self) -> str:
        """The grounder training form: `R1, R2 = Name(args)`."""
        return f"{', '.join(self.variables)} = {self.name}({self.args})"


@dataclasses.dataclass
class ConversionResult:
    """Converted records plus the input records the conversion dropped."""

    records: list[AnnotationRecord]
    skipped: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    """`(input index, reason)` of each dropped record."""


# ---------------------------------------------------------------------------------------
# Reading the raw plan
# ---------------------------------------------------------------------------------------


def parse_subgoal_plan(subgoal_plan: str) -> tuple[list[str], list[list[str]]]:
    """Split a raw plan into subgoal lines and their action lines.

    The plan starts at the first `Subgoal 1`; blocks are separated by a blank line; the
    first line of a block is the subgoal, the other lines its actions (verbatim, no
    stripping, as the original).
    """
    start = subgoal_plan.find("Subgoal 1")
    blocks = subgoal_plan[start:].split("\n\n")
    subgoals = [block.split("\n")[0] for block in blocks]
    actions = [block.split("\n")[1:] for block in blocks]
    return subgoals, actions


def _close_of(line: str, open_at: int) -> int:
    """Index where the parenthesis depth first returns to 0, scanning from `open_at`.

    Mirrors the original scan: without a `(` (`open_at == -1`) it gives `-1`, and an
    unbalanced `(` gives the last index of the line.
    """
    if open_at < 0:
        return open_at
    close_at = closing_paren(line, open_at)
    return len(line) - 1 if close_at is None else close_at


def parse_annotated_action(line: str, *, web: bool = False) -> AnnotatedAction:
    """Read one annotated action line with the original conversion's rule.

    Args:
        line: e.g. `Action 1-2: R2 = ParagraphRetrieve(R1, Query: ...) = Paragraph(...).`
        web: Web-agent rule: arguments between the first `(` and the last `)`, no result.

    Returns:
        The variables, name, arguments and annotated result (the text after the arguments'
        ` = `; the arguments themselves when there is no result).
    """
    eq = line.find(" = ")
    rhs_at = eq + 3
    open_at = line.find("(")
    variables = tuple(line[line.find(":") + 2 : rhs_at - 3].split(", "))
    name = line[rhs_at:open_at]
    if web:
        return AnnotatedAction(variables, name, line[open_at + 1 : line.rfind(")")], "")
    close_at = _close_of(line, open_at)
    last_eq = line.rfind(" = ")
    if close_at + 2 >= len(line):
        # The closing parenthesis ends the line: no annotated result.
        args = line[open_at + 1 : line.rfind(")")]
        return AnnotatedAction(variables, name, args, args)
    if close_at == open_at:
        # No parenthesis at all: an alias such as `Output = R9 = 40`.
        return AnnotatedAction(variables, "", line[rhs_at:last_eq].strip(), line[last_eq + 3 :].strip())
    if line[close_at + 2] != "=":
        # The parentheses close before the end of the arguments: cut at the last ` = `.
        return AnnotatedAction(variables, name, line[open_at + 1 : last_eq - 1], line[last_eq + 3 :].strip())
    return AnnotatedAction(variables, name, line[open_at + 1 : close_at], line[close_at + 3 :].strip())


# ---------------------------------------------------------------------------------------
# Domains
# ---------------------------------------------------------------------------------------


def _is_web(profile: Domain) -> bool:
    return profile.feedback == "already"


def _grounding_profile(domain: str | Domain) -> Domain:
    profile = get_domain(domain)
    if not profile.interface:
        msg = (
            f"No grounding interface is known for domain {profile.name!r} (the released conversion "
            "has none); pass a langchain_lumos.domains.Domain with its interface text."
        )
        raise ValueError(msg)
    return profile


def _fields(raw: Mapping[str, Any]) -> tuple[str, str]:
    task, plan = raw.get("task"), raw.get("subgoal_plan")
    if not isinstance(task, str) or not isinstance(plan, str):
        msg = "A raw annotation needs string fields 'task' and 'subgoal_plan'."
        raise TypeError(msg)
    return task, plan


def _last_variable_of(action_line: str) -> str:
    """The planner side's reading of the subgoal's last variable (raises like the original)."""
    return action_line.split(" = ")[0].split(":")[1].strip().split(", ")[-1]


def _track_variable(variable: str, text: str, carry: VariableCarry) -> str:
    """Update the carry from an `R<k>` variable, or rename `Output` in `text`."""
    try:
        if variable[0] == "R":
            carry.last_index = int(variable[1:])
            return text
    except (IndexError, ValueError):
        msg = f"unreadable last variable {variable!r}"
        raise ConversionSkipped(msg) from None
    if carry.last_index is None:
        msg = "'Output' ends a subgoal before any R<k> variable (no number to rename it to)"
        raise ConversionSkipped(msg)
    return text.replace("Output", f"R{carry.last_index + 1}")


# ---------------------------------------------------------------------------------------
# Planner and grounder dialogues
# ---------------------------------------------------------------------------------------


def _feedback(web: bool, index: int, subgoal: str, last_action: str) -> str:
    if web:
        text = subgoal[subgoal.find(": ") + 2 :]
        if not text:
            msg = f"empty subgoal text in {subgoal!r}"
            raise ConversionSkipped(msg)
        body = (_ALREADY_HEAD + text[0].lower() + text[1:]).strip(".")
    else:
        value = last_action[last_action.rfind("=") + 2 :].strip().strip(".")
        body = _FEEDBACK_HEAD.format(index=index) + value
    return body.strip() + _SHOULD_STOP


def plan_dialogue(
    raw: Mapping[str, Any],
    *,
    domain: str | Domain,
    formulation: Formulation = "iterative",
    carry: VariableCarry | None = None,
) -> list[Turn]:
    """The planner training dialogue of one raw annotation.

    Args:
        raw: A raw record with `task` and `subgoal_plan`.
        domain: `complex_qa`, `maths`, `web_agent`, `multimodal` (or a `Domain`); the
            web agent gets the "We have already ..." feedback.
        formulation: `iterative` (Lumos-I) or `onetime` (Lumos-O).
        carry: The `Output`-rename state shared over a dataset (see `VariableCarry`).

    Raises:
        ConversionSkipped: If the original conversion drops this record.
    """
    profile = get_domain(domain)
    task, plan = _fields(raw)
    subgoals, actions = parse_subgoal_plan(plan)
    turns: list[Turn] = [Turn(role="user", content=PLAN_INSTRUCTION + PLAN_TASK.format(task=task))]
    if formulation == "onetime":
        turns.append(Turn(role="assistant", content="; ".join(subgoals)))
        return turns
    _check_formulation(formulation)
    carry = carry if carry is not None else VariableCarry()
    web = _is_web(profile)
    for j, (subgoal, lines) in enumerate(zip(subgoals, actions, strict=True)):
        if not lines:
            msg = f"subgoal {j + 1} has no actions"
            raise ConversionSkipped(msg)
        feedback = _feedback(web, j + 1, subgoal, lines[-1])
        try:
            variable = _last_variable_of(lines[-1])
        except IndexError:
            msg = f"no variable in the last action {lines[-1]!r}"
            raise ConversionSkipped(msg) from None
        feedback = _track_variable(variable, feedback, carry)
        content = subgoal if j == 0 else f"{KEEP_PLANNING} {subgoal}"
        turns.append(Turn(role="assistant", content=content))
        turns.append(Turn(role="user", content=feedback))
    turns.append(Turn(role="assistant", content=STOP_PLANNING))
    return turns


def ground_dialogue(
    raw: Mapping[str, Any],
    *,
    domain: str | Domain,
    formulation: Formulation = "iterative",
    carry: VariableCarry | None = None,
) -> list[Turn]:
    """The grounder training dialogue of one raw annotation.

    Args:
        raw: A raw record with `task` and `subgoal_plan`.
        domain: `complex_qa`, `maths`, `web_agent` (or a `Domain` with its interface).
        formulation: `iterative` (one user/assistant pair per subgoal) or `onetime`
            (every subgoal in one turn, every action in one answer).
        carry: The `Output`-rename state shared over a dataset (see `VariableCarry`).

    Raises:
        ConversionSkipped: If the original conversion drops this record.
        ValueError: If the domain has no grounding interface (`multimodal`).
    """
    profile = _grounding_profile(domain)
    task, plan = _fields(raw)
    subgoals, actions = parse_subgoal_plan(plan)
    web = _is_web(profile)
    head = GROUND_INSTRUCTION + profile.interface + GROUND_TASK.format(task=task)
    if formulation == "onetime":
        targets = [parse_annotated_action(a, web=web).target for lines in actions for a in lines]
        return [
            Turn(role="user", content=head + GROUND_SUBGOALS.format(subgoals="; ".join(subgoals)) + "\n"),
            Turn(role="assistant", content="; ".join(targets)),
        ]
    _check_formulation(formulation)
    carry = carry if carry is not None else VariableCarry()
    results: dict[str, str] = {}
    turns: list[Turn] = []
    for j, (subgoal, lines) in enumerate(zip(subgoals, actions, strict=True)):
        if not lines:
            msg = f"subgoal {j + 1} has no actions"
            raise ConversionSkipped(msg)
        user = GROUND_SUBGOAL.format(subgoal=subgoal)
        if j == 0:
            user = head + user
        elif profile.results_in_grounding:
            user += QA_RESULTS + "".join(
                QA_RESULT.format(subgoal_id=key, answer=results[key]) for key in sorted(results)
            )
        parsed = [parse_annotated_action(a, web=web) for a in lines]
        results[subgoal[: subgoal.find(":")]] = parsed[-1].result
        answer = _track_variable(parsed[-1].variables[-1], "; ".join(p.target for p in parsed), carry)
        turns.append(Turn(role="user", content=user + "\n"))
        turns.append(Turn(role="assistant", content=answer))
    return turns


def integrated_dialogue(
    raw: Mapping[str, Any],
    *,
    domain: str | Domain,
    formulation: Formulation = "iterative",
    carry: VariableCarry | None = None,
) -> list[Turn]:
    """The integrated training dialogue of one raw annotation (one model plans and grounds).

    The original released no integrated data; the format (`langchain_lumos.integrated`)
    keeps the planner dialogue of `plan_dialogue` turn for turn, opens it with
    `integrated_request` (the integrated instruction, the domain's action interface, the
    task) and appends to each subgoal answer ` Actions: ` and the grounder answer of
    `ground_dialogue` for that subgoal. One-time: one answer, every `Subgoal k: ...
    Actions: ...` joined by `; `. Records are dropped exactly when the planner or grounder
    conversion drops them.

    Args:
        raw: A raw record with `task` and `subgoal_plan`.
        domain: A domain with an action interface (`complex_qa`, `maths`, `web_agent`, ...).
        formulation: `iterative` or `onetime`.
        carry: The `Output`-rename state shared over a dataset (see `VariableCarry`).

    Raises:
        ConversionSkipped: If the original conversion drops this record.
        ValueError: If the domain has no grounding interface.
    """
    profile = _grounding_profile(domain)
    _check_formulation(formulation)
    task, plan = _fields(raw)
    head = integrated_request(profile, task)
    if formulation == "onetime":
        subgoals, actions = parse_subgoal_plan(plan)
        web = _is_web(profile)
        lines = [
            integrated_line(subgoal, "; ".join(parse_annotated_action(a, web=web).target for a in block))
            for subgoal, block in zip(subgoals, actions, strict=True)
        ]
        return [head, Turn(role="assistant", content="; ".join(lines))]
    carry = carry if carry is not None else VariableCarry()
    start = carry.last_index
    plan_turns = plan_dialogue(raw, domain=profile, formulation="iterative", carry=carry)
    after = carry.last_index
    carry.last_index = start
    try:
        ground_turns = ground_dialogue(raw, domain=profile, formulation="iterative", carry=carry)
    finally:
        carry.last_index = after  # the dataset's carry follows the planner conversion
    answers = iter(t["content"] for t in ground_turns if t["role"] == "assistant")
    turns = [head]
    for turn in plan_turns[1:-1]:
        if turn["role"] == "assistant":
            turn = Turn(role="assistant", content=integrated_line(turn["content"], next(answers)))
        turns.append(turn)
    turns.append(plan_turns[-1])
    return turns


def _check_formulation(formulation: str) -> None:
    if formulation not in ("iterative", "onetime"):
        msg = f"formulation must be 'iterative' or 'onetime', got {formulation!r}"
        raise ValueError(msg)


def convert_annotations(
    raws: Iterable[Mapping[str, Any]],
    *,
    domain: str | Domain,
    formulation: Formulation = "iterative",
    module: Module = "plan",
    dataset: str | None = None,
) -> ConversionResult:
    """Convert raw annotations into unified training records, as the original did.

    Records the original drops are left out and listed in `skipped`; kept records get the
    ids `{dataset}_{i}` numbered over the kept records.

    Args:
        raws: Raw records (`task`, `subgoal_plan`, ...).
        domain: The domain id (or a `Domain`).
        formulation: `iterative` or `onetime`.
        module: `plan`, `ground`, or `integrated` (one model plans and grounds: see
            `integrated_dialogue`).
        dataset: The `dataset` field (default: the domain id).
    """
    _check_formulation(formulation)
    builders = {"plan": plan_dialogue, "ground": ground_dialogue, "integrated": integrated_dialogue}
    if module not in builders:
        msg = f"module must be 'plan', 'ground' or 'integrated', got {module!r}"
        raise ValueError(msg)
    name = (_grounding_profile(domain) if module != "plan" else get_domain(domain)).name
    build = builders[module]
    dataset = dataset or name
    carry = VariableCarry()
    out = ConversionResult(records=[])
    for i, raw in enumerate(raws):
        try:
            messages = build(raw, domain=domain, formulation=formulation, carry=carry)
        except ConversionSkipped as exc:
            out.skipped.append((i, str(exc)))
            continue
        out.records.append(
            AnnotationRecord(dataset=dataset, id=f"{dataset}_{len(out.records)}", messages=messages)
        )
    return out


# ---------------------------------------------------------------------------------------
# Agent runs -> training records
# ---------------------------------------------------------------------------------------


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        return None


def _default_match(answer: str, gold: str) -> bool:
    """Normalised exact match (SQuAD-style), or numeric equality when both are numbers."""
    a, g = _number(answer), _number(gold)
    if a is not None and g is not None:
        return abs(a - g) <= 1e-6 * max(1.0, abs(g))
    return _normalize(answer) == _normalize(gold)


def run_to_dialogues(
    result: Mapping[str, Any],
    *,
    dataset: str = "lumos_run",
    run_id: str | int = 0,
    gold: Any = None,
    match: Callable[[str, Any], bool] | None = None,
    modules: Sequence[Module] = ("plan", "ground"),
) -> list[AnnotationRecord]:
    """Turn a `LumosAgent` result into unified training records (fine-tune on your runs).

    The planner and grounder conversations (`planner_turns`, `grounder_turns`) are exactly
    what the models saw and answered, so each becomes one record, with the ids
    `{dataset}_{run_id}_plan` and `{dataset}_{run_id}_ground`.

    Args:
        result: The dict returned by `LumosAgent.invoke`.
        dataset: The `dataset` field (e.g. a domain id).
        run_id: Distinguishes records of several runs.
        gold: If given, keep the run only when its answer matches (a list: any of them).
        match: `(answer, gold) -> bool`; default normalised exact match, or numeric
            equality when both parse as numbers.
        modules: Which conversations to export.

    Returns:
        The records (none when the gold check fails or a conversation is empty).
    """
    if gold is not None:
        answer = result.get("answer")
        if answer is None:
            return []
        check = match or _default_match
        golds = gold if isinstance(gold, (list, tuple)) else [gold]
        if not any(check(str(answer), g) for g in golds):
            return []
    records: list[AnnotationRecord] = []
    for module in modules:
        key = {"plan": "planner_turns", "ground": "grounder_turns"}.get(module)
        if key is None:
            msg = f"modules must hold 'plan' and/or 'ground', got {module!r}"
            raise ValueError(msg)
        turns = [Turn(role=t["role"], content=t["content"]) for t in result.get(key) or []]
        if not turns:
            continue
        messages = validate_messages(turns, where=f"{key} of run {run_id}")
        records.append(
            AnnotationRecord(dataset=dataset, id=f"{dataset}_{run_id}_{module}", messages=messages)
        )
    return records


def runs_to_dialogues(
    results: Iterable[Mapping[str, Any]],
    *,
    golds: Sequence[Any] | None = None,
    dataset: str = "lumos_run",
    match: Callable[[str, Any], bool] | None = None,
    modules: Sequence[Module] = ("plan", "ground"),
) -> list[AnnotationRecord]:
    """`run_to_dialogues` over many runs (run ids are their positions)."""
    results = list(results)
    if golds is not None and len(golds) != len(results):
        msg = f"got {len(results)} results but {len(golds)} golds"
        raise ValueError(msg)
    records: list[AnnotationRecord] = []
    for i, result in enumerate(results):
        gold = golds[i] if golds is not None else None
        records += run_to_dialogues(
            result, dataset=dataset, run_id=i, gold=gold, match=match, modules=modules
        )
    return records
