r"""Mind2Web evaluation: the public test splits, candidate ranking, the Mind2Web metrics.

**Data.** Mind2Web's test splits (`test_task`, `test_website`, `test_domain`) are JSON
files holding lists of tasks, as a user stores them locally (`load_mind2web(folder)`):

```json
{"annotation_id": "...", "website": "...", "domain": "...", "subdomain": "...",
 "confirmed_task": "Find a flight ...", "action_reprs": ["[textbox] From -> TYPE: Atlanta", ...],
 "actions": [{"action_uid": "...", "operation": {"op": "TYPE", "original_op": "TYPE", "value": "Atlanta"},
              "cleaned_html": "<html ...>", "pos_candidates": [{"tag": "input", "backend_node_id": "136", ...}],
              "neg_candidates": [...]}]}
```

**Candidates.** Each step's candidate pool is either the top `top_k` of a precomputed
candidate ranking (MindAct's `scores_all_data.pkl`: `{"scores": {...}, "ranks": {...}}`
keyed by `"{annotation_id}_{action_uid}"` then `backend_node_id`; `load_ranker_scores`),
or, without scores, the first `top_k` candidates with the positives first (the Lumos
evaluation script's pool). A step whose positives are all outside the pool fails, as in
MindAct. Within the pool, the element a grounded action names is the top-1 of a pluggable
ranker (`rank(query, passages, k)`: `BM25Ranker` by default, or a `CrossEncoderRanker` over
`osunlp/MindAct_CandidateGeneration_deberta-v3-base` as the original) for the ranking query
of the Lumos script: `task is: {query}\nPrevious actions: {last 3 actions}` (SELECT adds
`The option contents should be close to '{text}'.`).

**Metrics**, as Mind2Web's `metric.py` computes them: element accuracy (the predicted
element is one of the positive candidates), operation F1 (token F1 between `"OP value"`
strings, the value dropped for CLICK), step success (both right, F1 = 1) and task success
(every step right). Step metrics are macro-averaged over tasks as the Mind2Web paper
reports them; micro averages are reported too.

**Modes.** `teacher_forced` (the Lumos evaluation): the planner hears the ground-truth
earlier steps as synthetic subgoals ("Subgoal 2: Type Atlanta in the textbox From" /
"We have already ..."), the original's `translate_action` with a seeded verb choice.
`free_running`: the planner hears its own earlier subgoals, and the previous actions in
the ranking query are the agent's own. Pages always follow the ground truth (an offline
replay cannot load the page a wrong click would give).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import random
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_lumos.domains import get_domain
from langchain_lumos.prompts import (
    KEEP_PLANNING,
    Turn,
    ground_followup,
    ground_request,
    plan_feedback,
    plan_request,
    render_prompt,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLanguageModel

    from langchain_lumos.tools.ranking import Ranker

__all__ = [
    "MINDACT_RANKER",
    "Candidate",
    "Mind2WebMode",
    "Mind2WebReport",
    "Mind2WebStep",
    "Mind2WebTask",
    "StepPrediction",
    "StepResult",
    "add_mind2web_parser",
    "candidate_text",
    "evaluate_mind2web",
    "load_mind2web",
    "load_ranker_scores",
    "mind2web_metrics",
    "operation_f1",
    "parse_web_action",
    "ranker_from_spec",
    "run_mind2web",
    "score_step",
    "target_action",
    "translate_action",
]

Mind2WebMode = Literal["teacher_forced", "free_running"]
_TEXT_ATTRS = ("aria_label", "placeholder", "title", "alt", "name", "value", "type", "role")


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate element of a step.

    Attributes:
        backend_node_id: The element id in the page snapshot.
        tag: The HTML tag.
        text: The element as text for ranking (tag, attributes, text content).
        positive: A ground-truth target of the step.
        score: The precomputed candidate-ranker score, if any.
        rank: The precomputed rank (0 = best), if any.
    """

    backend_node_id: str
    tag: str
    text: str
    positive: bool
    score: float | None = None
    rank: int | None = None


@dataclasses.dataclass(frozen=True)
class Mind2WebStep:
    """One ground-truth step: the operation and its candidates (positives first)."""

    action_uid: str
    op: str
    value: str
    repr: str
    candidates: tuple[Candidate, ...]

    @property
    def positive_ids(self) -> set[str]:
        """The ids of the positive candidates."""
        return {c.backend_node_id for c in self.candidates if c.positive}


@dataclasses.dataclass(frozen=True)
class Mind2WebTask:
    """One Mind2Web task."""

    annotation_id: str
    task: str
    website: str
    domain: str
    subdomain: str
    steps: tuple[Mind2WebStep, ...]


def _squash(text: str, words: int = 100) -> str:
    return " ".join(text.split()[:words])


def candidate_text(cleaned_html: str | None, candidate: Mapping[str, Any]) -> str:
    """A candidate element as ranking text: `(tag attributes text content)`.

    Read from the step's `cleaned_html` (the node with the candidate's `backend_node_id`)
    when `lxml` is installed and the node is there, else from the candidate's own `tag`
    and `attributes` (a JSON string in the dataset).
    """
    node_id = str(candidate.get("backend_node_id", ""))
    tag = str(candidate.get("tag", ""))
    if cleaned_html:
        try:
            from lxml import etree

            tree = etree.fromstring(cleaned_html.encode("utf-8"), etree.HTMLParser())
            nodes = tree.xpath(f'//*[@backend_node_id="{node_id}"]') if node_id.isalnum() else []
        except (ImportError, ValueError, etree.LxmlError):
            nodes = []
        if nodes:
            node = nodes[0]
            attrs = [str(node.attrib[a]) for a in _TEXT_ATTRS if node.attrib.get(a)]
            inner = " ".join(node.itertext())
            return _squash(f"({node.tag} {' '.join(attrs)} {inner})".replace(" )", ")"))
    raw = candidate.get("attributes") or "{}"
    try:
        attributes = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except json.JSONDecodeError:
        attributes = {}
    attrs = [str(attributes[a]) for a in _TEXT_ATTRS if attributes.get(a)]
    return _squash(f"({tag} {' '.join(attrs)})".replace(" )", ")"))


def load_ranker_scores(path: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """Precomputed candidate-ranker output: `{"scores": {sample: {node: s}}, "ranks": {...}}`.

    A pickle (MindAct's `scores_all_data.pkl`; only load files you trust) or a JSON file
    of the same shape; the sample key is `"{annotation_id}_{action_uid}"`. Without
    `ranks`, the ranks are derived from the scores (best first).

    Raises:
        ValueError: The file has no `scores`.
    """
    file = Path(path)
    if file.suffix == ".json":
        data = json.loads(file.read_text(encoding="utf-8"))
    else:
        with file.open("rb") as f:
            data = pickle.load(f)  # the user's own MindAct ranker output (trusted file)
    if not isinstance(data, Mapping) or "scores" not in data:
        msg = f"{file}: expected a mapping with 'scores' (and 'ranks') per sample."
        raise ValueError(msg)
    scores = {str(k): {str(n): float(s) for n, s in v.items()} for k, v in data["scores"].items()}
    if "ranks" in data:
        ranks = {str(k): {str(n): float(r) for n, r in v.items()} for k, v in data["ranks"].items()}
    else:
        ranks = {
            k: {n: float(i) for i, n in enumerate(sorted(v, key=lambda n: -v[n]))} for k, v in scores.items()
        }
    return {"scores": scores, "ranks": ranks}


def _task(
    row: Mapping[str, Any], ranking: Mapping[str, Mapping[str, Mapping[str, float]]] | None
) -> Mind2WebTask:
    annotation_id = str(row["annotation_id"])
    reprs = list(row.get("action_reprs") or [])
    steps = []
    for i, action in enumerate(row["actions"]):
        uid = str(action.get("action_uid", i))
        sample = f"{annotation_id}_{uid}"
        scores = (ranking or {}).get("scores", {}).get(sample, {})
        ranks = (ranking or {}).get("ranks", {}).get(sample, {})
        html = action.get("cleaned_html")
        cands = []
        for positive, key in ((True, "pos_candidates"), (False, "neg_candidates")):
            for c in action.get(key) or []:
                node = str(c["backend_node_id"])
                rank = ranks.get(node)
                cands.append(
                    Candidate(
                        node,
                        str(c.get("tag", "")),
                        candidate_text(html, c),
                        positive,
                        scores.get(node),
                        None if rank is None else int(rank),
                    )
                )
        operation = action.get("operation") or {}
        steps.append(
            Mind2WebStep(
                uid,
                str(operation.get("op", "")).upper(),
                str(operation.get("value", "")),
                str(reprs[i]) if i < len(reprs) else "",
                tuple(cands),
            )
        )
    return Mind2WebTask(
        annotation_id,
        str(row["confirmed_task"]).strip(),
        str(row.get("website", "")),
        str(row.get("domain", "")),
        str(row.get("subdomain", "")),
        tuple(steps),
    )


def load_mind2web(
    path: str | Path,
    *,
    limit: int | None = None,
    scores: str | Path | Mapping[str, Any] | None = None,
    split: str | None = None,
) -> list[Mind2WebTask]:
    """Load a Mind2Web split: one JSON file of tasks, or a folder of them (`test_domain/`).

    Args:
        path: The file or folder (files read in name order).
        limit: Keep the first `limit` tasks.
        split: A split folder under `path` (`test_task`, `test_website`, `test_domain`),
            for a data folder stored as the dataset ships it.
        scores: Precomputed candidate-ranker output (a path for `load_ranker_scores`, or
            the loaded mapping).

    Raises:
        ValueError: A folder without JSON files, a file that is not a JSON list of
            tasks, or a task missing `annotation_id`, `confirmed_task` or `actions`.
    """
    root = Path(path) / split if split else Path(path)
    files = sorted(root.glob("*.json")) if root.is_dir() else [root]
    if not files:
        splits = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("test"))
        msg = f"{root}: no Mind2Web JSON files" + (f"; pick a split: {splits}." if splits else ".")
        raise ValueError(msg)
    ranking = load_ranker_scores(scores) if isinstance(scores, (str, Path)) else scores
    tasks: list[Mind2WebTask] = []
    for file in files:
        rows = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            msg = f"{file}: expected a JSON list of Mind2Web tasks."
            raise ValueError(msg)
        for n, row in enumerate(rows):
            missing = [k for k in ("annotation_id", "confirmed_task", "actions") if k not in row]
            if missing:
                msg = f"{file}: task {n} lacks {missing}."
                raise ValueError(msg)
            tasks.append(_task(row, ranking))
            if limit is not None and len(tasks) >= limit:
                return tasks
    return tasks


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StepPrediction:
    """What the agent did at one step: the element (its id), the operation and value."""

    element: str | None
    op: str
    value: str = ""
    query: str = ""
    """The grounded action's query (what the ranker ranked the candidates against)."""


@dataclasses.dataclass(frozen=True)
class StepResult:
    """The scores of one step."""

    annotation_id: str
    step: int
    element_correct: bool
    operation_f1: float
    success: bool
    prediction: StepPrediction | None
    target: str
    in_pool: bool = True
    """A positive candidate was in the step's candidate pool."""


def target_action(op: str, value: str) -> str:
    """Mind2Web's target action string: `CLICK`, or `TYPE value` / `SELECT value`."""
    op = op.upper()
    return op if op == "CLICK" else f"{op} {value}".strip()


def operation_f1(prediction: str, label: str) -> float:
    """Token-set F1 between an `"OP value"` prediction and the target (Mind2Web's `calculate_f1`)."""
    pred, gold = set(prediction.strip().split()), set(label.strip().split())
    if not pred and not gold:
        return 1.0
    if not pred or not gold:
        return 0.0
    tp = len(pred & gold)
    precision, recall = tp / len(pred), tp / len(gold)
    if precision == 0 or recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def score_step(
    task: Mind2WebTask, index: int, prediction: StepPrediction | None, *, in_pool: bool = True
) -> StepResult:
    """Score one step's prediction (None, or no positive in the pool: the step fails)."""
    step = task.steps[index]
    target = target_action(step.op, step.value)
    if prediction is None or not in_pool:
        return StepResult(task.annotation_id, index, False, 0.0, False, prediction, target, in_pool)
    element = prediction.element is not None and prediction.element in step.positive_ids
    predicted = (
        prediction.op.upper()
        if prediction.op.upper() == "CLICK"
        else f"{prediction.op.upper()} {prediction.value}"
    )
    f1 = operation_f1(predicted, target)
    return StepResult(
        task.annotation_id, index, element, f1, element and f1 == 1.0, prediction, target, in_pool
    )


@dataclasses.dataclass(frozen=True)
class Mind2WebReport:
    """Mind2Web scores (fractions in [0, 1]).

    Attributes:
        element_accuracy: Macro average over tasks of the step element accuracy.
        operation_f1: Macro average over tasks of the step operation F1.
        step_success_rate: Macro average over tasks of the step success.
        task_success_rate: Share of tasks with every step successful.
        micro: The step metrics averaged over all steps (`element_accuracy`,
            `operation_f1`, `step_success_rate`).
        tasks: Tasks scored.
        steps: Steps scored.
        results: Every step's result.
    """

    element_accuracy: float
    operation_f1: float
    step_success_rate: float
    task_success_rate: float
    micro: dict[str, float]
    tasks: int
    steps: int
    results: tuple[StepResult, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The scores as a JSON-ready dict (without the per-step results)."""
        return {
            "element_accuracy": self.element_accuracy,
            "operation_f1": self.operation_f1,
            "step_success_rate": self.step_success_rate,
            "task_success_rate": self.task_success_rate,
            "micro": dict(self.micro),
            "tasks": self.tasks,
            "steps": self.steps,
        }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def mind2web_metrics(results: Iterable[StepResult]) -> Mind2WebReport:
    """Aggregate step results into the Mind2Web metrics (macro over tasks, and micro)."""
    steps = list(results)
    by_task: dict[str, list[StepResult]] = {}
    for r in steps:
        by_task.setdefault(r.annotation_id, []).append(r)
    per_task = list(by_task.values())
    return Mind2WebReport(
        element_accuracy=_mean([_mean([float(r.element_correct) for r in t]) for t in per_task]),
        operation_f1=_mean([_mean([r.operation_f1 for r in t]) for t in per_task]),
        step_success_rate=_mean([_mean([float(r.success) for r in t]) for t in per_task]),
        task_success_rate=_mean([float(all(r.success for r in t)) for t in per_task]),
        micro={
            "element_accuracy": _mean([float(r.element_correct) for r in steps]),
            "operation_f1": _mean([r.operation_f1 for r in steps]),
            "step_success_rate": _mean([float(r.success) for r in steps]),
        },
        tasks=len(per_task),
        steps=len(steps),
        results=tuple(steps),
    )


# ---------------------------------------------------------------------------------------
# The Lumos agent on Mind2Web
# ---------------------------------------------------------------------------------------

_CLICK_VERBS = ("Visit", "Click", "Find and go into", "Enter")
_TYPE_VERBS = ("Type", "Input", "Put text")
_SELECT_VERBS = ("Select", "Choose", "Pick up")


def translate_action(action_repr: str, rng: random.Random | None = None) -> str:
    """A ground-truth action repr as a synthetic subgoal (the original `translate_action`).

    `"[textbox] From -> TYPE: Atlanta"` becomes e.g. `"Type Atlanta in the textbox From"`;
    the verb is drawn from the original's lists with `rng` (seed it for repeatable runs).
    """
    rng = rng or random.Random(0)
    head, _, op = action_repr.partition(" -> ")
    tag_type = head[head.find("[") + 1 : head.find("]")]
    contents = head[head.find("]") + 1 :].strip()
    if "CLICK" in op or "HOVER" in op:
        return f"{rng.choice(_CLICK_VERBS)} {tag_type} {contents}"
    if "TYPE" in op:
        return f"{rng.choice(_TYPE_VERBS)} {op.split('TYPE:')[-1].strip()} in the {tag_type} {contents}"
    if "SELECT" in op:
        return f"{rng.choice(_SELECT_VERBS)} {op.split('SELECT:')[-1].strip()} in the {tag_type} {contents}"
    return f"{op.split(':')[0].strip().lower()} {tag_type} {contents}."


_ACTION_RE = re.compile(r"^\s*[^=]*=\s*(CLICK|TYPE|SELECT)\((.*)\)\s*\.?\s*$", re.DOTALL)


def parse_web_action(grounding: str) -> tuple[str, str, str] | None:
    """The first web action of a grounding: `(op, query, text)`, read as the original did.

    `R1 = TYPE(Env, QUERY: Type Atlanta as the departure, TEXT: Atlanta)` gives
    `("TYPE", "Type Atlanta as the departure", "Atlanta")`; None when the grounding has
    no CLICK/TYPE/SELECT action.
    """
    first = grounding.strip().split("\n")[0].split("; ")[0]
    match = _ACTION_RE.match(first)
    if not match:
        return None
    op, args = match.group(1), match.group(2)
    at = args.find(", QUERY:")
    if op == "CLICK":
        return op, args[at + len(", QUERY:") :].strip() if at >= 0 else args.strip(), ""
    end = args.rfind(", TEXT:")
    query = args[at + len(", QUERY:") : end if end > at else len(args)].strip() if at >= 0 else ""
    text = args[end + len(", TEXT:") :].strip() if end >= 0 else ""
    return op, query, text


def _pool(step: Mind2WebStep, top_k: int) -> list[Candidate]:
    ranked = [c for c in step.candidates if c.rank is not None]
    if ranked:
        return sorted((c for c in ranked if c.rank is not None and c.rank < top_k), key=lambda c: c.rank or 0)
    return list(step.candidates[:top_k])


def _choose(ranker: Ranker, query: str, pool: Sequence[Candidate]) -> Candidate | None:
    """The top-1 candidate, ranking each distinct element text once (ties: the first)."""
    texts: list[str] = []
    for c in pool:
        if c.text not in texts:
            texts.append(c.text)
    if not texts:
        return None
    best = ranker.rank(query, texts, 1)
    if not best:
        return None
    return next(c for c in pool if c.text == texts[best[0]])


def _call(model: BaseLanguageModel, prompt: str) -> str:
    from langchain_lumos.model_calls import call_model

    return call_model(model, prompt, stop=["\n"]).text.strip()


def _own_repr(candidate: Candidate | None, prediction: StepPrediction) -> str:
    head = f"[{candidate.tag}] {candidate.text}" if candidate is not None else "[element]"
    return f"{head} -> {prediction.op}" + (f": {prediction.value}" if prediction.op != "CLICK" else "")


def evaluate_mind2web(
    tasks: Sequence[Mind2WebTask],
    planner: BaseLanguageModel,
    grounder: BaseLanguageModel,
    *,
    mode: Mind2WebMode = "teacher_forced",
    ranker: Ranker | None = None,
    top_k: int = 50,
    seed: int = 0,
) -> Mind2WebReport:
    """Run the Lumos planner and grounder on Mind2Web tasks and score every step.

    At step `i` the planner writes the next subgoal (after the earlier steps as
    synthetic or its own subgoals, see the module docstring), the grounder grounds it
    into one `CLICK`/`TYPE`/`SELECT` action, and the ranker picks the element in the
    step's pool. The prompts are those of the original script (`eval` style, no
    exemplars, one line per call).

    Args:
        tasks: The tasks (`load_mind2web`).
        planner: The planner (an LLM or chat model; `lumos_web_agent_plan_iterative`).
        grounder: The grounder (`lumos_web_agent_ground_iterative`).
        mode: `teacher_forced` (as the Lumos evaluation) or `free_running`.
        ranker: Picks the element (default `BM25Ranker`).
        top_k: The candidate pool size per step.
        seed: Seed of the synthetic subgoals' verbs.

    Returns:
        The `Mind2WebReport`.

    Raises:
        ValueError: An unknown mode or a `top_k` below 1.
    """
    if mode not in ("teacher_forced", "free_running"):
        msg = f"mode must be 'teacher_forced' or 'free_running', got {mode!r}."
        raise ValueError(msg)
    if top_k < 1:
        msg = "top_k must be at least 1."
        raise ValueError(msg)
    if ranker is None:
        from langchain_lumos.tools.ranking import BM25Ranker

        ranker = BM25Ranker()
    domain = get_domain("mind2web")
    rng = random.Random(seed)
    results: list[StepResult] = []
    for task in tasks:
        plan_turns: list[Turn] = [plan_request(task.task)]
        ground_turns: list[Turn] = []
        own: list[str] = []  # the agent's own action reprs (free-running)
        for i, step in enumerate(task.steps):
            if i > 0:
                own_subgoal = plan_turns.pop()["content"]  # the planner's last answer
                if mode == "teacher_forced":  # replaced by the ground-truth step
                    syn = translate_action(task.steps[i - 1].repr, rng)
                    plan_turns.append(Turn(role="assistant", content=f"Subgoal {i}: {syn}"))
                    plan_turns.append(plan_feedback(domain, i, syn, ""))
                else:
                    plan_turns.append(Turn(role="assistant", content=own_subgoal))
                    text = own_subgoal.split(KEEP_PLANNING)[-1].strip()
                    plan_turns.append(plan_feedback(domain, i, text[text.find(":") + 1 :].strip(), ""))
            subgoal = _call(planner, render_prompt(plan_turns))
            plan_turns.append(Turn(role="assistant", content=subgoal))
            if i == 0:
                ground_turns.append(ground_request(domain, task.task, subgoal))
            else:
                ground_turns.append(ground_followup(domain, subgoal))
            grounding = _call(grounder, render_prompt(ground_turns))
            ground_turns.append(Turn(role="assistant", content=grounding))
            history = own if mode == "free_running" else [s.repr for s in task.steps[:i]]
            previous = "; ".join(history[max(i - 3, 0) : i])
            pool = _pool(step, top_k)
            in_pool = bool({c.backend_node_id for c in pool} & step.positive_ids)
            parsed = parse_web_action(grounding)
            if parsed is None:
                results.append(score_step(task, i, None, in_pool=in_pool))
                own.append("")
                continue
            op, query, text = parsed
            if op == "SELECT":
                query += f" The option contents should be close to '{text}'."
            chosen = _choose(ranker, f"task is: {query}\nPrevious actions: {previous}", pool)
            prediction = StepPrediction(chosen.backend_node_id if chosen else None, op, text, query)
            results.append(score_step(task, i, prediction, in_pool=in_pool))
            own.append(_own_repr(chosen, prediction))
    return mind2web_metrics(results)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

MINDACT_RANKER = "osunlp/MindAct_CandidateGeneration_deberta-v3-base"
"""The cross-encoder the original evaluation ranked candidates with."""


def ranker_from_spec(spec: str) -> Ranker:
    """`bm25` or `cross-encoder[:NAME_OR_PATH]` (default: the MindAct DeBERTa ranker).

    Raises:
        ValueError: An unknown ranker spec.
    """
    from langchain_lumos.tools.ranking import BM25Ranker, CrossEncoderRanker

    if spec == "bm25":
        return BM25Ranker()
    if spec == "cross-encoder" or spec.startswith("cross-encoder:"):
        return CrossEncoderRanker(spec.partition(":")[2] or MINDACT_RANKER)
    msg = f"Unknown ranker {spec!r}: use bm25 or cross-encoder[:NAME_OR_PATH]."
    raise ValueError(msg)


def add_mind2web_parser(subparsers: Any, name: str = "eval-mind2web") -> argparse.ArgumentParser:
    """Add the Mind2Web evaluation subcommand to an `argparse` subparsers object."""
    from langchain_lumos.presets import MODEL_SPEC_HELP

    p = subparsers.add_parser(
        name,
        help="evaluate Lumos on a local Mind2Web test split (element accuracy, operation F1, step success)",
        description="Run the Lumos web-agent planner and grounder on Mind2Web tasks stored locally and "
        "score them as Mind2Web does.",
    )
    p.add_argument(
        "--data", required=True, help="a Mind2Web split: a JSON file or a folder (e.g. test_domain/)"
    )
    p.add_argument("--model", required=True, help=f"model spec: {MODEL_SPEC_HELP}")
    p.add_argument(
        "--split", default=None, help="a split folder under --data (test_task, test_website, test_domain)"
    )
    p.add_argument("--scores", default=None, help="precomputed candidate ranks (MindAct scores_all_data.pkl)")
    p.add_argument("--top-k", type=int, default=50, help="candidate pool size per step")
    p.add_argument("--mode", default="teacher_forced", choices=["teacher_forced", "free_running"])
    p.add_argument("--ranker", default="bm25", help="bm25 or cross-encoder[:NAME_OR_PATH]")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N tasks")
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="write the scores (and every step) to this JSON file")
    p.set_defaults(func=run_mind2web)
    return p


def run_mind2web(args: argparse.Namespace) -> int:
    """Run the Mind2Web evaluation subcommand; returns the exit status."""
    from langchain_lumos.presets import resolve_models

    options = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}
    try:
        tasks = load_mind2web(args.data, limit=args.limit, scores=args.scores, split=args.split)
        models = resolve_models(args.model, domain="mind2web", mode="iterative", **options)
        report = evaluate_mind2web(
            tasks,
            models.planner,
            models.grounder,
            mode=args.mode,
            ranker=ranker_from_spec(args.ranker),
            top_k=args.top_k,
            seed=args.seed,
        )
    except (ValueError, OSError, ImportError) as exc:
        print(f"lumos: error: {exc}", file=sys.stderr)
        return 2
    scores = report.as_dict()
    print(json.dumps(scores, indent=1))
    if args.output:
        scores["results"] = [dataclasses.asdict(r) for r in report.results]
        Path(args.output).write_text(json.dumps(scores, indent=1), encoding="utf-8")
    return 0
