"""`lumos eval --systems lumos-integrated`: the integrated formulation beside Lumos-I."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from langchain_lumos.evaluation.cli import SYSTEMS, add_eval_parser, build_systems, eval_domain
from langchain_lumos.evaluation.harness import read_records


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="lumos")
    add_eval_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", *argv])
    return int(args.func(args))


def test_integrated_is_a_system() -> None:
    assert "lumos-integrated" in SYSTEMS
    systems = build_systems(
        ["integrated"], domain=eval_domain("svamp"), model_spec="scripted", dataset="svamp"
    )
    agent = systems["lumos-integrated"]
    assert agent.name == "lumos-integrated"
    result = agent.invoke("Tom has 1 apple and gets 1 more. How many?")
    assert result["answer"] == "2"
    assert result["usage"]["planner"]["calls"] == 2
    assert result["usage"]["grounder"]["prompt_tokens"] == 0


def test_integrated_uses_the_specs_model(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"grounder": ["R1 = Calculator(3 + 4)"]}), encoding="utf-8")
    systems = build_systems(
        ["lumos-integrated", "lumos-iterative"],
        domain=eval_domain("svamp"),
        model_spec=f"scripted:{script}",
        dataset="svamp",
    )
    result = systems["lumos-integrated"].invoke("What is 3 + 4?")
    assert result["answer"] == "7"
    graph = systems["lumos-integrated"].graph
    assert graph is not systems["lumos-iterative"].graph


def test_eval_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "toy.jsonl"
    data.write_text(json.dumps({"question": "What is 1 + 1?", "answer": "2"}) + "\n", encoding="utf-8")
    code = _run(
        "--dataset", str(data), "--domain", "maths", "--systems", "lumos-integrated,lumos-iterative",
        "--model", "scripted", "--metric", "numeric", "--output", str(tmp_path / "run"),
        "--no-progress", "--no-plot",
    )  # fmt: skip
    assert code == 0
    assert "lumos-integrated" in capsys.readouterr().out
    records = {r["system"]: r for r in read_records(tmp_path / "run" / "results.jsonl")}
    assert records["lumos-integrated"]["correct"] is True
    assert records["lumos-integrated"]["error"] is None
    assert records["lumos-integrated"]["prompt_tokens"] > 0
