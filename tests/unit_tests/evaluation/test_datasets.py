"""Dataset loaders: counts and answer preparation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from langchain_lumos.evaluation.cli import eval_domain
from langchain_lumos.evaluation.datasets import (
    DATASETS,
    data_dir,
    fanoutqa_answer_text,
    load_dataset,
    load_jsonl,
)

needs_fanoutqa = pytest.mark.skipif(
    importlib.util.find_spec("fanoutqa") is None, reason="fanoutqa not installed"
)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("hotpotqa", 7405),
        ("gsm8k", 1319),
        ("svamp", 1000),
        ("strategyqa", 2290),
        pytest.param("fanoutqa", 310, marks=needs_fanoutqa),
    ],
)
def test_counts(name: str, count: int) -> None:
    examples = load_dataset(name)
    assert len(examples) == count
    assert len({e.id for e in examples}) == count
    assert all(e.dataset == name and e.question for e in examples)
    assert name in DATASETS
    assert eval_domain(name).name == ("maths" if name in ("gsm8k", "svamp") else "complex_qa")


def test_packaged_files_and_readme() -> None:
    files = {p.name for p in data_dir().iterdir()}
    assert {
        "hotpotqa_dev.json",
        "gsm8k_test.jsonl",
        "svamp_test.json",
        "strategyqa_test.json",
        "README.md",
    } <= files
    assert "CC BY-SA 4.0" in (data_dir() / "README.md").read_text()


def test_hotpotqa_first() -> None:
    first = load_dataset("hotpotqa", limit=2)
    assert first[0].question == "Were Scott Derrickson and Ed Wood of the same nationality?"
    assert first[0].answer == "yes" and first[0].meta["type"] == "comparison"
    assert len(first) == 2


def test_gsm8k_answers() -> None:
    examples = load_dataset("gsm", limit=1319)
    assert examples[0].answer == "18"
    assert all("," not in e.answer and float(e.answer) is not None for e in examples)
    assert "####" in examples[0].meta["solution"]


def test_gsm8k_comma_removed(tmp_path: Path) -> None:
    from langchain_lumos.evaluation.datasets import load_gsm8k

    f = tmp_path / "g.jsonl"
    f.write_text(json.dumps({"question": "q", "answer": "work\n#### 1,234,567"}) + "\n")
    assert load_gsm8k(path=f)[0].answer == "1234567"


def test_svamp() -> None:
    first = load_dataset("svamp", limit=1)[0]
    assert first.id == "chal-1"
    assert first.question == (
        "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack "
        "How much do you have to pay to buy each pack?"
    )
    assert first.answer == "51"


def test_strategyqa_bool() -> None:
    examples = load_dataset("strategyqa", limit=3)
    assert [e.answer for e in examples] == [True, False, False]


@needs_fanoutqa
def test_fanoutqa() -> None:
    first = load_dataset("fanoutqa", limit=1)[0]
    assert first.id == "7dcbbbdc7f1120cd"
    assert isinstance(first.meta["answer_raw"], dict)
    assert "Pat Burrell - Right" in first.answer
    assert fanoutqa_answer_text([True, 3]) == "yes\n3"


def test_user_jsonl(tmp_path: Path) -> None:
    f = tmp_path / "mine.jsonl"
    rows = [
        {"q": "What is 2+2?", "a": "4", "extra": 1},
        {"q": "Capital of France?", "a": "Paris", "key": "k2"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    examples = load_jsonl(f, question_field="q", answer_field="a", id_field="key")
    assert [e.id for e in examples] == ["mine-0", "k2"]
    assert examples[0].meta == {"extra": 1} and examples[0].dataset == "mine"
    default = tmp_path / "d.jsonl"
    default.write_text(json.dumps({"question": "x", "answer": "y"}) + "\n")
    assert load_dataset(default)[0].answer == "y"
    with pytest.raises(ValueError, match="lacks"):
        load_jsonl(f)


def test_errors() -> None:
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("nope")
    with pytest.raises(ValueError):
        load_dataset("svamp", limit=-1)
