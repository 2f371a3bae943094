"""The FanOutQA path of `lumos annotate`: the real dev set -> a training file -> `finetune`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from langchain_lumos.evaluation.datasets import fanoutqa_file
from langchain_lumos.parsing import parse_actions
from langchain_lumos.training.annotate import add_annotate_parser
from langchain_lumos.training.annotations import read_annotations, read_raw_annotations


def _has_fanoutqa() -> bool:
    try:
        fanoutqa_file("dev")
    except (ImportError, FileNotFoundError):
        return False
    return True


pytestmark = pytest.mark.skipif(not _has_fanoutqa(), reason="the fanoutqa package is not installed")


def test_cli_writes_the_real_fanoutqa_dev_set_and_the_tiny_model_trains_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_torch_thread: None
) -> None:
    from langchain_lumos.training.finetune import finetune
    from tests.tiny_llama import build_tiny_llama

    parser = argparse.ArgumentParser(prog="lumos")
    add_annotate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["annotate", "--dataset", "fanoutqa", "--output", str(tmp_path / "out")])
    assert args.func(args) == 0  # no annotator model needed
    assert "kept 310 / rejected 0" in capsys.readouterr().out
    raw = read_raw_annotations(tmp_path / "out" / "fanoutqa_raw.jsonl")
    assert len(raw) == 310
    ground = read_annotations(tmp_path / "out" / "lumos_fanoutqa_ground_iterative.jsonl")
    plan = read_annotations(tmp_path / "out" / "lumos_fanoutqa_plan_iterative.jsonl")
    assert len(ground) == len(plan) == 310
    for record in ground:
        for turn in record["messages"][1::2]:
            assert not parse_actions(turn["content"]).errors
    result = finetune(
        build_tiny_llama(tmp_path / "tiny", seed=0),
        [str(tmp_path / "out" / "lumos_fanoutqa_plan_onetime.jsonl")],
        tmp_path / "tuned",
        max_steps=2,
        max_length=1024,
        warmup_ratio=0.0,
    )
    assert result.steps == 2 and result.num_examples == 310 and result.num_dropped == 0
    assert (tmp_path / "tuned" / "config.json").is_file()
