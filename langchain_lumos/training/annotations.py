"""Lumos training annotations: the unified dialogue format and the raw conversion records.

Two JSON formats are handled:

- **Unified dialogues** (the `ai2lumos/lumos_*` datasets and `train_annots/*.jsonl`): one
  JSON object per line, `{"dataset", "id", "messages": [{"role", "content"}, ...]}`, with
  roles alternating `user`/`assistant`, starting with `user` and ending with `assistant`.
- **Raw conversion records** (GPT-4 annotations, `data/train/<domain>/converted/*.json`):
  `{"task", "natural_language_plan", "subgoal_plan", "ans"?}`, read from JSON Lines (as the
  original) or from a JSON array.

Every reading and writing function validates its records and reports problems with the
file name and line number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from typing_extensions import NotRequired, TypedDict

from langchain_lumos.domains import DOMAINS
from langchain_lumos.errors import LumosError
from langchain_lumos.prompts import Turn

__all__ = [
    "DATASET_IDS",
    "AnnotationError",
    "AnnotationRecord",
    "RawAnnotation",
    "read_annotations",
    "read_raw_annotations",
    "validate_messages",
    "validate_raw_annotation",
    "validate_record",
    "write_annotations",
    "write_raw_annotations",
]

DATASET_IDS = tuple(name for name, domain in DOMAINS.items() if domain.training_data)
"""The `dataset` values of the released Lumos training sets (domains with `training_data`)."""

PathLike = str | os.PathLike[str]


class AnnotationError(LumosError, ValueError):
    """A training annotation is malformed (the message names the file and line)."""


class AnnotationRecord(TypedDict):
    """One unified training dialogue."""

    dataset: str
    id: str
    messages: list[Turn]


class RawAnnotation(TypedDict):
    """One raw conversion record (GPT-4 annotated plan)."""

    task: str
    subgoal_plan: str
    natural_language_plan: NotRequired[str]
    ans: NotRequired[Any]


def _where(where: str) -> str:
    return f"{where}: " if where else ""


def validate_messages(messages: Any, *, where: str = "") -> list[Turn]:
    """Check a dialogue: a non-empty list of `{role, content}` alternating user/assistant.

    Args:
        messages: The value of a record's `messages` field.
        where: A location prefix for error messages (e.g. `train.jsonl:3`).

    Returns:
        The messages as `Turn` dicts (extra keys dropped).

    Raises:
        AnnotationError: If the dialogue is malformed.
    """
    at = _where(where)
    if not isinstance(messages, list) or not messages:
        msg = f"{at}'messages' must be a non-empty list, got {messages!r:.80}."
        raise AnnotationError(msg)
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            msg = f"{at}message {i} must be an object with 'role' and 'content'."
            raise AnnotationError(msg)
        role, content = message.get("role"), message.get("content")
        expected = "user" if i % 2 == 0 else "assistant"
        if role not in ("user", "assistant"):
            msg = f"{at}message {i} has role {role!r}; expected 'user' or 'assistant'."
            raise AnnotationError(msg)
        if role != expected:
            msg = (
                f"{at}message {i} has role {role!r} but roles must alternate user/assistant "
                f"starting with user (expected {expected!r})."
            )
            raise AnnotationError(msg)
        if not isinstance(content, str):
            msg = f"{at}message {i} content must be a string, got {type(content).__name__}."
            raise AnnotationError(msg)
        turns.append(Turn(role=role, content=content))
    if turns[-1]["role"] != "assistant":
        msg = f"{at}the dialogue must end with an assistant message (the training target)."
        raise AnnotationError(msg)
    return turns


def _check_fields(record: Any, keys: Sequence[str], at: str, what: str) -> None:
    """`record` is a JSON object whose `keys` are non-empty strings (else `AnnotationError`)."""
    if not isinstance(record, Mapping):
        msg = f"{at}{what} must be a JSON object, got {type(record).__name__}."
        raise AnnotationError(msg)
    for key in keys:
        value = record.get(key)
        if not isinstance(value, str) or not value.strip():
            msg = f"{at}field {key!r} must be a non-empty string, got {value!r:.80}."
            raise AnnotationError(msg)


def validate_record(record: Any, *, where: str = "") -> AnnotationRecord:
    """Check one unified record (`dataset`, `id`, `messages`).

    Raises:
        AnnotationError: If a field is missing or malformed.
    """
    at = _where(where)
    _check_fields(record, ("dataset", "id"), at, "a record")
    if "messages" not in record:
        msg = f"{at}missing field 'messages'."
        raise AnnotationError(msg)
    messages = validate_messages(record["messages"], where=where)
    return AnnotationRecord(dataset=record["dataset"], id=record["id"], messages=messages)


def validate_raw_annotation(record: Any, *, where: str = "") -> RawAnnotation:
    """Check one raw conversion record (`task`, `subgoal_plan`, optional extras).

    Raises:
        AnnotationError: If `task` or `subgoal_plan` is missing or not a string.
    """
    at = _where(where)
    _check_fields(record, ("task", "subgoal_plan"), at, "a raw annotation")
    nl_plan = record.get("natural_language_plan")
    if nl_plan is not None and not isinstance(nl_plan, str):
        msg = f"{at}field 'natural_language_plan' must be a string."
        raise AnnotationError(msg)
    out = RawAnnotation(task=record["task"], subgoal_plan=record["subgoal_plan"])
    if nl_plan is not None:
        out["natural_language_plan"] = nl_plan
    if "ans" in record:
        out["ans"] = record["ans"]
    return out


def _read_json_objects(path: Path) -> list[tuple[int, Any]]:
    """JSON Lines (one object a line; blank lines skipped) or a single JSON array."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"{path}:{exc.lineno}: invalid JSON: {exc.msg}."
            raise AnnotationError(msg) from None
        return [(i + 1, item) for i, item in enumerate(data)]
    items: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            msg = f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})."
            raise AnnotationError(msg) from None
    return items


def _write_json_lines(records: Sequence[Mapping[str, Any]], path: PathLike) -> int:
    """Write validated records as JSON Lines (parent folders created); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    return len(records)


def read_annotations(path: PathLike) -> list[AnnotationRecord]:
    """Read and validate a unified JSONL file.

    Raises:
        AnnotationError: On invalid JSON or a malformed record (with its line number).
        FileNotFoundError: If the file does not exist.
    """
    path = Path(path)
    return [validate_record(obj, where=f"{path}:{n}") for n, obj in _read_json_objects(path)]


def write_annotations(records: Iterable[Mapping[str, Any]], path: PathLike) -> int:
    """Validate and write unified records as JSONL (`dataset`, `id`, `messages` only).

    Returns:
        The number of records written.

    Raises:
        AnnotationError: If a record is malformed (nothing is written then).
    """
    return _write_json_lines([validate_record(r, where=f"record {i}") for i, r in enumerate(records)], path)


def read_raw_annotations(path: PathLike) -> list[RawAnnotation]:
    """Read and validate raw conversion records (JSON Lines or a JSON array).

    Raises:
        AnnotationError: On invalid JSON or a malformed record (with its line/item number).
    """
    path = Path(path)
    return [validate_raw_annotation(obj, where=f"{path}:{n}") for n, obj in _read_json_objects(path)]


def write_raw_annotations(records: Sequence[Mapping[str, Any]], path: PathLike) -> int:
    """Validate and write raw conversion records as JSON Lines.

    Returns:
        The number of records written.
    """
    return _write_json_lines(
        [validate_raw_annotation(r, where=f"record {i}") for i, r in enumerate(records)], path
    )
