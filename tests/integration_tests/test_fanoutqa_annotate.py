"""FanOutQA gold decompositions -> raw Lumos annotations -> training dialogues (no annotator model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_lumos.parsing import parse_actions
from langchain_lumos.training.annotations import read_annotations, read_raw_annotations
from langchain_lumos.training.convert import convert_annotations
from langchain_lumos.training.fanoutqa import (
    fanoutqa_annotation,
    fanoutqa_annotations,
    write_fanoutqa_training_set,
)


def _leaf(
    id_: str, question: str, answer: Any, title: str, depends_on: list[str] | None = None
) -> dict[str, Any]:
    return {
        "id": id_,
        "question": question,
        "answer": answer,
        "decomposition": [],
        "depends_on": depends_on or [],
        "evidence": {
            "pageid": 1,
            "revid": 2,
            "title": title,
            "url": f"https://en.wikipedia.org/wiki/{title}",
        },
    }


# The real FanOutQA schema (fanout-final-dev.json); a dependency listed after its dependant
# and a nested decomposition without evidence.
ROWS: list[dict[str, Any]] = [
    {
        "id": "q1",
        "question": "What is the batting hand of each of the first two picks in the 1998 MLB draft?",
        "answer": {"Pat Burrell": "Right", "Mark Mulder": "Left"},
        "categories": ["Sports"],
        "decomposition": [
            _leaf("b", "What is the batting hand of Pat Burrell?", "Right", "Pat Burrell", ["a"]),
            _leaf(
                "a",
                "Who were the first 2 picks in the 1998 MLB Draft?",
                ["Pat Burrell", "Mark Mulder"],
                "1998 Major League Baseball draft",
            ),
            _leaf("c", "What is the batting hand of Mark Mulder?", "Left", "Mark Mulder", ["a"]),
        ],
    },
    {
        "id": "q2",
        "question": "How many people live on the largest continent?",
        "answer": 4700000000,
        "decomposition": [
            {
                "id": "n",
                "question": "What is the population of the largest continent?",
                "answer": 4700000000,
                "depends_on": [],
                "evidence": None,
                "decomposition": [
                    _leaf("n1", "Find the largest continent", "Asia", "Continent"),
                    _leaf("n2", "What is the population of Asia?", 4700000000, "Asia (continent)", ["n1"]),
                ],
            }
        ],
    },
    {
        "id": "broken",
        "question": "Q?",
        "answer": "x",
        "decomposition": [{"id": "z", "question": "Q1?", "answer": "x"}],
    },
]


def test_gold_decomposition_maps_onto_subgoals_and_actions() -> None:
    raw = fanoutqa_annotation(ROWS[0])
    blocks = raw["subgoal_plan"].split("\n\n")
    assert blocks[0].splitlines() == [
        'Subgoal 1: Obtain the answer to "Who were the first 2 picks in the 1998 MLB Draft?".',
        "Action 1-1: R1 = KnowledgeQuery(1998 Major League Baseball draft) = "
        "WikipediaPage(1998 Major League Baseball draft).",
        "Action 1-2: R2 = ParagraphRetrieve(R1, Query: Who were the first 2 picks in the 1998 MLB Draft?) = "
        "Paragraph(1998 Major League Baseball draft).",
        "Action 1-3: R3 = QA([R2], Question: Who were the first 2 picks in the 1998 MLB Draft?) = "
        "Pat Burrell, Mark Mulder.",
    ]  # the dependency comes first
    assert blocks[1].startswith('Subgoal 2: Obtain the answer to "What is the batting hand of Pat Burrell?"')
    assert blocks[-1].splitlines() == [
        "Subgoal 4: Answer the question based on the results above.",
        "Action 4-1: R10 = QA([R3, R6, R9], Question: What is the batting hand of each of the first two "
        "picks in the 1998 MLB draft?) = Pat Burrell: Right, Mark Mulder: Left.",
    ]
    assert raw["ans"] == "Pat Burrell: Right, Mark Mulder: Left" and raw["task"] == ROWS[0]["question"]


def test_nested_parts_come_before_their_qa_and_bad_records_are_rejected() -> None:
    kept, rejected = fanoutqa_annotations(ROWS)
    assert len(kept) == 2 and [r[0] for r in rejected] == ["broken"]
    assert "neither evidence nor a decomposition" in rejected[0][1]
    nested = kept[1]["subgoal_plan"].split("\n\n")
    assert len(nested) == 3  # two parts and the parent's QA; one top-level: no extra subgoal
    assert nested[2].splitlines()[1] == (
        "Action 3-1: R7 = QA([R3, R6], Question: What is the population of the largest continent?) = 4700000000."
    )


def test_training_set_converts_and_parses(tmp_path: Path) -> None:
    source = tmp_path / "fanout-final-dev.json"
    source.write_text(json.dumps(ROWS), encoding="utf-8")
    written = write_fanoutqa_training_set(tmp_path / "out", path=source)
    assert written["kept"] == 2 and len(written["rejected"]) == 1
    assert len(read_raw_annotations(written["raw"])) == 2
    ground = read_annotations(written["files"]["lumos_fanoutqa_ground_iterative.jsonl"])
    assert len(ground) == 2 and ground[0]["dataset"] == "fanoutqa"
    first = ground[0]["messages"][1]["content"]
    assert first == (
        "R1 = KnowledgeQuery(1998 Major League Baseball draft); R2 = ParagraphRetrieve(R1, Query: Who were "
        "the first 2 picks in the 1998 MLB Draft?); R3 = QA([R2], Question: Who were the first 2 picks in "
        "the 1998 MLB Draft?)"
    )
    for formulation in ("iterative", "onetime"):
        result = convert_annotations(
            read_raw_annotations(written["raw"]),
            domain="complex_qa",
            formulation=formulation,
            module="ground",
        )
        assert not result.skipped
        for record in result.records:
            for turn in record["messages"][1::2]:
                assert not parse_actions(turn["content"]).errors
    plan = read_annotations(written["files"]["lumos_fanoutqa_plan_onetime.jsonl"])
    assert plan[0]["messages"][1]["content"].count("Subgoal ") == 4


def test_tiny_model_fine_tunes_on_the_fanoutqa_set(tmp_path: Path, one_torch_thread: None) -> None:
    from langchain_lumos.training.finetune import finetune
    from tests.tiny_llama import build_tiny_llama

    source = tmp_path / "fanout-final-dev.json"
    source.write_text(json.dumps(ROWS), encoding="utf-8")
    written = write_fanoutqa_training_set(tmp_path / "out", path=source, formulations=("iterative",))
    result = finetune(
        build_tiny_llama(tmp_path / "tiny", seed=0),
        [str(p) for p in written["files"].values()],
        tmp_path / "tuned",
        max_steps=2,
        max_length=2048,
        warmup_ratio=0.0,
    )
    assert result.steps == 2 and result.num_examples == 4 and result.num_dropped == 0
    assert (tmp_path / "tuned" / "config.json").is_file()
