"""Evaluation datasets: HotpotQA, GSM8K, SVAMP, StrategyQA, FanOutQA and user JSONL.

Every loader returns `Example` records with the question and gold answer prepared exactly
as the original Lumos evaluation scripts prepared them (GSM8K: the text after `####`
without thousands commas; SVAMP: `Body + " " + Question` and the integral answer as text;
StrategyQA: a bool).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "DATASETS",
    "Example",
    "data_dir",
    "fanoutqa_answer_text",
    "fanoutqa_file",
    "load_dataset",
    "load_fanoutqa",
    "load_gsm8k",
    "load_hotpotqa",
    "load_jsonl",
    "load_strategyqa",
    "load_svamp",
]


@dataclasses.dataclass(frozen=True)
class Example:
    """One evaluation question.

    Attributes:
        id: Unique id within the dataset.
        question: The task given to the agent.
        answer: The gold answer (a string; a bool for StrategyQA).
        dataset: The dataset name (`hotpotqa`, `gsm8k`, ..., or `jsonl`).
        meta: Anything else the source has (question type, the raw answer, ...).
    """

    id: str
    question: str
    answer: Any
    dataset: str
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


def data_dir() -> Path:
    """The folder of the evaluation question sets.

    `LUMOS_EVAL_DATA` when set, else the `langchain-lumos-evalsets` distribution (`evalsets/`
    in the repository; `make install` installs it).

    Raises:
        FileNotFoundError: Neither is there.
    """
    env = os.environ.get("LUMOS_EVAL_DATA")
    if env:
        return Path(env)
    try:
        return Path(str(resources.files("langchain_lumos_evalsets")))
    except ModuleNotFoundError:
        msg = (
            "The evaluation question sets are not installed: `pip install ./evalsets` from a "
            "langchain-lumos checkout (or set LUMOS_EVAL_DATA to a folder holding hotpotqa_dev.json, "
            "gsm8k_test.jsonl, svamp_test.json, strategyqa_test.json), or pass path= to the loader."
        )
        raise FileNotFoundError(msg) from None


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                msg = f"{path}:{number}: not a JSON line ({exc.msg})."
                raise ValueError(msg) from exc


def _cut(items: Iterable[Example], limit: int | None) -> list[Example]:
    if limit is not None and limit < 0:
        msg = f"limit must be >= 0, got {limit}."
        raise ValueError(msg)
    out: list[Example] = []
    for item in items:
        if limit is not None and len(out) >= limit:
            break
        out.append(item)
    return out


def load_hotpotqa(limit: int | None = None, *, path: str | Path | None = None) -> list[Example]:
    """HotpotQA dev (7,405 questions; no context paragraphs)."""
    rows = _read_json(Path(path) if path else data_dir() / "hotpotqa_dev.json")
    return _cut(
        (
            Example(
                id=f"hotpotqa-{i}",
                question=row["question"].strip(),
                answer=row["answer"],
                dataset="hotpotqa",
                meta={"type": row.get("type")},
            )
            for i, row in enumerate(rows)
        ),
        limit,
    )


def _gsm_answer(solution: str) -> str:
    if "####" not in solution:
        msg = f"GSM8K answer has no '####' final answer: {solution[-80:]!r}"
        raise ValueError(msg)
    final = solution.split("####")[1].strip()
    return re.sub(r"(\d),(\d)", r"\1\2", final)


def load_gsm8k(limit: int | None = None, *, path: str | Path | None = None) -> list[Example]:
    """GSM8K test (1,319 problems); the answer is the number after `####`, commas removed."""
    rows = _read_jsonl(Path(path) if path else data_dir() / "gsm8k_test.jsonl")
    return _cut(
        (
            Example(
                id=f"gsm8k-{i}",
                question=row["question"].strip(),
                answer=_gsm_answer(row["answer"]),
                dataset="gsm8k",
                meta={"solution": row["answer"]},
            )
            for i, row in enumerate(rows)
        ),
        limit,
    )


def _svamp_answer(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def load_svamp(limit: int | None = None, *, path: str | Path | None = None) -> list[Example]:
    """SVAMP (1,000 problems); question `Body + " " + Question`, integral answers as `"51"`."""
    rows = _read_json(Path(path) if path else data_dir() / "svamp_test.json")
    return _cut(
        (
            Example(
                id=str(row.get("ID", f"svamp-{i}")),
                question=(row["Body"] + " " + row["Question"]).strip(),
                answer=_svamp_answer(row["Answer"]),
                dataset="svamp",
                meta={"equation": row.get("Equation"), "type": row.get("Type")},
            )
            for i, row in enumerate(rows)
        ),
        limit,
    )


def load_strategyqa(limit: int | None = None, *, path: str | Path | None = None) -> list[Example]:
    """StrategyQA as used by the Lumos evaluation (2,290 yes/no questions; bool answers)."""
    rows = _read_json(Path(path) if path else data_dir() / "strategyqa_test.json")
    return _cut(
        (
            Example(
                id=f"strategyqa-{i}",
                question=row["question"].strip(),
                answer=bool(row["answer"]),
                dataset="strategyqa",
            )
            for i, row in enumerate(rows)
        ),
        limit,
    )


def fanoutqa_answer_text(answer: Any) -> str:
    """A FanOutQA answer (str, number, bool, list or dict) as one string."""
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    if isinstance(answer, list):
        return "\n".join(map(fanoutqa_answer_text, answer))
    if isinstance(answer, dict):
        return "\n".join(f"{k} - {fanoutqa_answer_text(v)}" for k, v in answer.items())
    return "" if answer is None else str(answer)


def fanoutqa_file(split: str) -> Path:
    """The path of a FanOutQA split (`dev`, `test`) in the installed `fanoutqa` package.

    Raises:
        ImportError: The `fanoutqa` package is not installed.
        FileNotFoundError: It has no file for that split.
    """
    spec = importlib.util.find_spec("fanoutqa")  # locate only: never import its network code
    if spec is None or not spec.submodule_search_locations:
        msg = "FanOutQA needs the 'fanoutqa' package: pip install fanoutqa"
        raise ImportError(msg)
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / f"fanout-final-{split}.json"
        if candidate.is_file():
            return candidate
    msg = f"The installed 'fanoutqa' package has no fanout-final-{split}.json."
    raise FileNotFoundError(msg)


def load_fanoutqa(limit: int | None = None, *, path: str | Path | None = None) -> list[Example]:
    """FanOutQA dev (310 questions), read from the installed `fanoutqa` package's JSON.

    The gold `answer` is the answer as text; `meta["answer_raw"]` keeps the structured
    answer (dict/list/...) that the FanOutQA loose accuracy scores against.
    """
    rows = _read_json(Path(path) if path else fanoutqa_file("dev"))
    return _cut(
        (
            Example(
                id=str(row["id"]),
                question=row["question"].strip(),
                answer=fanoutqa_answer_text(row["answer"]),
                dataset="fanoutqa",
                meta={"answer_raw": row["answer"], "categories": row.get("categories", [])},
            )
            for row in rows
        ),
        limit,
    )


def load_jsonl(
    path: str | Path,
    limit: int | None = None,
    *,
    question_field: str = "question",
    answer_field: str = "answer",
    id_field: str = "id",
    dataset: str | None = None,
) -> list[Example]:
    """User data: a JSONL file (or a JSON list) of objects with a question and an answer.

    Args:
        path: The file.
        limit: Keep the first `limit` examples.
        question_field: Field holding the question.
        answer_field: Field holding the gold answer.
        id_field: Field holding the id (default: `<file stem>-<line index>` when absent).
        dataset: The dataset name recorded on each example (default: the file stem).
    """
    file = Path(path)
    rows = _read_json(file) if file.suffix == ".json" else _read_jsonl(file)
    name = dataset or file.stem

    def build() -> Iterable[Example]:
        for i, row in enumerate(rows):
            if question_field not in row or answer_field not in row:
                msg = f"{file}: example {i} lacks {question_field!r} or {answer_field!r}."
                raise ValueError(msg)
            meta = {k: v for k, v in row.items() if k not in (question_field, answer_field, id_field)}
            yield Example(
                id=str(row.get(id_field, f"{name}-{i}")),
                question=str(row[question_field]).strip(),
                answer=row[answer_field],
                dataset=name,
                meta=meta,
            )

    return _cut(build(), limit)


DATASETS: dict[str, Callable[..., list[Example]]] = {
    "hotpotqa": load_hotpotqa,
    "gsm8k": load_gsm8k,
    "svamp": load_svamp,
    "strategyqa": load_strategyqa,
    "fanoutqa": load_fanoutqa,
}
"""Built-in datasets by name."""

_ALIASES = {"gsm": "gsm8k", "hotpot": "hotpotqa", "strategy_qa": "strategyqa", "fanout": "fanoutqa"}


def load_dataset(name_or_path: str | Path, limit: int | None = None, **kwargs: Any) -> list[Example]:
    """Load a built-in dataset by name, or a user JSONL/JSON file by path.

    Args:
        name_or_path: `hotpotqa`, `gsm8k`, `svamp`, `strategyqa`, `fanoutqa`, or a path.
        limit: Keep the first `limit` examples.
        **kwargs: For files, the `load_jsonl` field options.

    Returns:
        The examples, in file order.
    """
    key = str(name_or_path).lower()
    key = _ALIASES.get(key, key)
    if key in DATASETS:
        return DATASETS[key](limit, **kwargs)
    path = Path(name_or_path)
    if path.is_file():
        return load_jsonl(path, limit, **kwargs)
    msg = f"Unknown dataset {str(name_or_path)!r}: use one of {sorted(DATASETS)} or a JSONL path."
    raise ValueError(msg)
