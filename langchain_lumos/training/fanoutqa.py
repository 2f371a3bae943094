r"""FanOutQA's gold decompositions as Lumos training data (no annotator model needed).

Every FanOutQA question ships a gold decomposition: sub-questions, each with its answer,
its evidence page and the sub-questions it depends on (sometimes nested). These map onto
Lumos subgoals and complex-QA actions directly:

```
Subgoal 1: Obtain the answer to "Who were the first 5 picks in the 1998 MLB Draft?".
Action 1-1: R1 = KnowledgeQuery(1998 Major League Baseball draft) = WikipediaPage(1998 Major League Baseball draft).
Action 1-2: R2 = ParagraphRetrieve(R1, Query: Who were the first 5 picks in the 1998 MLB Draft?) = Paragraph(1998 Major League Baseball draft).
Action 1-3: R3 = QA([R2], Question: Who were the first 5 picks in the 1998 MLB Draft?) = Pat Burrell, Mark Mulder, ...
```

A sub-question with its own decomposition becomes the subgoals of its parts followed by a
`QA` over their answers; with more than one top-level sub-question a last subgoal answers
the original question over every top-level answer. `write_fanoutqa_training_set` writes
the raw annotations and the planner and grounder dialogues (`lumos annotate --dataset
fanoutqa`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_lumos.training.annotations import (
    RawAnnotation,
    validate_raw_annotation,
    write_annotations,
    write_raw_annotations,
)

__all__ = [
    "FANOUTQA_FINAL_SUBGOAL",
    "FANOUTQA_SUBGOAL",
    "fanoutqa_annotation",
    "fanoutqa_annotations",
    "read_fanoutqa",
    "write_fanoutqa_training_set",
]

FANOUTQA_SUBGOAL = 'Obtain the answer to "{question}".'
"""The subgoal text of one FanOutQA sub-question."""
FANOUTQA_FINAL_SUBGOAL = "Answer the question based on the results above."
"""The last subgoal when the question has several top-level sub-questions."""


def _one_line(answer: Any) -> str:
    """A gold answer (str, number, bool, list or dict) on one line."""
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    if isinstance(answer, list):
        return ", ".join(_one_line(a) for a in answer)
    if isinstance(answer, dict):
        return ", ".join(f"{k}: {_one_line(v)}" for k, v in answer.items())
    return " ".join(str("" if answer is None else answer).split())


def _text(value: Any) -> str:
    return " ".join(str(value).split())


class _Plan:
    """Subgoal blocks and the variable counter of one record."""

    def __init__(self) -> None:
        self.blocks: list[list[str]] = []
        self.next_var = 1

    def var(self) -> str:
        name = f"R{self.next_var}"
        self.next_var += 1
        return name

    def subgoal(self, text: str, actions: Sequence[tuple[str, str, str]]) -> str:
        """Add a subgoal with `(name, arguments, result)` actions; returns its last variable."""
        k = len(self.blocks) + 1
        lines = [f"Subgoal {k}: {text}"]
        last = ""
        for j, (name, args, result) in enumerate(actions, start=1):
            last = self.var()
            args = args.replace("{prev}", f"R{self.next_var - 2}")
            lines.append(f"Action {k}-{j}: {last} = {name}({args}) = {result}.")
        self.blocks.append(lines)
        return last


def _add_node(plan: _Plan, node: Mapping[str, Any], where: str) -> str:
    question = _text(node.get("question", ""))
    if not question:
        msg = f"{where}: a sub-question without text."
        raise ValueError(msg)
    answer = _one_line(node.get("answer"))
    children = node.get("decomposition") or []
    if children:
        parts = [_add_node(plan, child, f"{where}.{i}") for i, child in enumerate(children)]
        qa = ("QA", f"[{', '.join(parts)}], Question: {question}", answer)
        return plan.subgoal(FANOUTQA_SUBGOAL.format(question=question), [qa])
    evidence = node.get("evidence") or {}
    title = _text(evidence.get("title", ""))
    if not title:
        msg = f"{where}: sub-question {question!r} has neither evidence nor a decomposition."
        raise ValueError(msg)
    actions = [
        ("KnowledgeQuery", title, f"WikipediaPage({title})"),
        ("ParagraphRetrieve", f"{{prev}}, Query: {question}", f"Paragraph({title})"),
        ("QA", f"[{{prev}}], Question: {question}", answer),
    ]
    return plan.subgoal(FANOUTQA_SUBGOAL.format(question=question), actions)


def _order(nodes: Sequence[Mapping[str, Any]], where: str) -> list[Mapping[str, Any]]:
    """The sub-questions with every dependency first (stable otherwise)."""
    by_id = {str(n.get("id")): n for n in nodes}
    done: set[str] = set()
    out: list[Mapping[str, Any]] = []

    def visit(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        key = str(node.get("id"))
        if key in done:
            return
        if key in path:
            msg = f"{where}: circular depends_on through sub-question {key}."
            raise ValueError(msg)
        for dep in node.get("depends_on") or []:
            if str(dep) in by_id:
                visit(by_id[str(dep)], (*path, key))
        done.add(key)
        out.append(node)

    for node in nodes:
        visit(node, ())
    return out


def fanoutqa_annotation(row: Mapping[str, Any], *, where: str = "") -> RawAnnotation:
    """One FanOutQA question (with its gold decomposition) as a raw Lumos annotation.

    Args:
        row: A FanOutQA record: `question`, `answer`, `decomposition` (each item:
            `question`, `answer`, `evidence.title`, `depends_on`, nested `decomposition`).
        where: A location for error messages (e.g. the record id).

    Returns:
        `{"task", "natural_language_plan", "subgoal_plan", "ans"}`.

    Raises:
        ValueError: A record without a question or decomposition, a sub-question with
            neither evidence nor parts, or circular dependencies.
    """
    where = where or str(row.get("id", "record"))
    question = _text(row.get("question", ""))
    nodes = row.get("decomposition") or []
    if not question or not nodes:
        msg = f"{where}: a FanOutQA record needs a question and a decomposition."
        raise ValueError(msg)
    plan = _Plan()
    tops = [_add_node(plan, node, f"{where}[{i}]") for i, node in enumerate(_order(nodes, where))]
    answer = _one_line(row.get("answer"))
    if len(tops) > 1:
        qa = ("QA", f"[{', '.join(tops)}], Question: {question}", answer)
        plan.subgoal(FANOUTQA_FINAL_SUBGOAL, [qa])
    subgoals = [block[0] for block in plan.blocks]
    record: dict[str, Any] = {
        "task": question,
        "natural_language_plan": "\n".join(subgoals),
        "subgoal_plan": "\n\n".join("\n".join(block) for block in plan.blocks),
        "ans": answer,
    }
    return validate_raw_annotation(record, where=where)


def fanoutqa_annotations(
    rows: Iterable[Mapping[str, Any]],
) -> tuple[list[RawAnnotation], list[tuple[str, str]]]:
    """Convert FanOutQA records; a malformed record is rejected with its reason.

    Returns:
        The raw annotations and the `(record id, reason)` of every rejected record.
    """
    kept: list[RawAnnotation] = []
    rejected: list[tuple[str, str]] = []
    for i, row in enumerate(rows):
        key = str(row.get("id", i))
        try:
            kept.append(fanoutqa_annotation(row, where=key))
        except ValueError as exc:
            rejected.append((key, str(exc)))
    return kept, rejected


def read_fanoutqa(path: str | Path | None = None, *, split: str = "dev") -> list[dict[str, Any]]:
    """FanOutQA records from a JSON file (default: the installed `fanoutqa` package's split).

    Raises:
        ImportError: No path and no `fanoutqa` package.
        ValueError: The file is not a JSON list of records.
    """
    if path is None:
        from langchain_lumos.evaluation.datasets import fanoutqa_file

        path = fanoutqa_file(split)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        msg = f"{path}: expected a JSON list of FanOutQA records."
        raise ValueError(msg)
    return data


def write_fanoutqa_training_set(
    output_dir: str | Path,
    *,
    path: str | Path | None = None,
    split: str = "dev",
    formulations: Sequence[str] = ("iterative", "onetime"),
) -> dict[str, Any]:
    """Write FanOutQA as Lumos training data: raw annotations and unified dialogues.

    Files in `output_dir`: `fanoutqa_raw.jsonl` (for `lumos convert`) and
    `lumos_fanoutqa_<plan|ground>_<formulation>.jsonl` (for `lumos train`), with
    `dataset="fanoutqa"`.

    Args:
        output_dir: The folder to write.
        path: A FanOutQA JSON file (default: the installed package's split).
        split: The package split when no path is given.
        formulations: `iterative` and/or `onetime`.

    Returns:
        `{"raw": path, "files": {name: path}, "kept": n, "rejected": [(id, reason), ...]}`.
    """
    from langchain_lumos.training.convert import convert_annotations

    out = Path(output_dir)
    kept, rejected = fanoutqa_annotations(read_fanoutqa(path, split=split))
    raw_path = out / "fanoutqa_raw.jsonl"
    write_raw_annotations(kept, raw_path)
    files: dict[str, Path] = {}
    for formulation in formulations:
        for module in ("plan", "ground"):
            result = convert_annotations(
                kept,
                domain="complex_qa",
                formulation=formulation,  # type: ignore[arg-type]
                module=module,
                dataset="fanoutqa",
            )
            name = f"lumos_fanoutqa_{module}_{formulation}.jsonl"
            write_annotations(result.records, out / name)
            files[name] = out / name
    return {"raw": raw_path, "files": files, "kept": len(kept), "rejected": rejected}
