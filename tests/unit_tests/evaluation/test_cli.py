"""`lumos eval`: model specs, dataset profiles, baselines, usage errors and `--compare`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from langchain_lumos.evaluation.cli import add_eval_parser, build_systems, eval_domain
from langchain_lumos.evaluation.harness import read_records
from langchain_lumos.evaluation.report import compare_runs


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="lumos")
    add_eval_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", *argv])
    return int(args.func(args))


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_dataset_profile_is_the_default() -> None:
    assert eval_domain("svamp").max_subgoals == 2
    assert eval_domain("gsm8k").max_subgoals == 8
    assert eval_domain("svamp", "maths").max_subgoals == 2  # a plain domain gets the profile
    assert eval_domain("fanoutqa").name == "complex_qa"  # no profile: the domain's defaults


def test_svamp_makes_the_original_two_planner_calls(tmp_path: Path) -> None:
    never_stops = ["Subgoal 1: a.", *[f"No, I will keep planning. Subgoal {k}: b." for k in range(2, 9)]]
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"planner": never_stops}), encoding="utf-8")
    systems = build_systems(
        ["lumos-iterative"], domain=eval_domain("svamp"), model_spec=f"scripted:{script}", dataset="svamp"
    )
    result = systems["lumos-iterative"].invoke("Tom has 2 apples and gets 3 more. How many?")
    assert result["usage"]["planner"]["calls"] == 2


def test_baselines_run_from_the_cli_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _jsonl(tmp_path / "toy.jsonl", [{"question": "What is 1 + 1?", "answer": "2"}])
    for name in ("run_a", "run_b"):
        code = _run(
            "--dataset", str(data), "--domain", "maths", "--systems", "react,cot,direct",
            "--model", "scripted", "--metric", "numeric", "--output", str(tmp_path / name),
            "--no-progress", "--no-plot",
        )  # fmt: skip
        assert code == 0
    records = read_records(tmp_path / "run_a" / "results.jsonl")
    assert {r["system"]: r["correct"] for r in records} == {"react": True, "cot": True, "direct": True}
    assert {r["system"]: r["model_calls"] for r in records} == {"react": 2, "cot": 1, "direct": 1}
    capsys.readouterr()
    assert _run("--compare", str(tmp_path / "run_a"), str(tmp_path / "run_b"), "--output", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "run_a accuracy" in out and "run_b mean_model_calls" in out
    rows = compare_runs([tmp_path / "run_a", tmp_path / "run_b"])
    by_system = {r["system"]: r for r in rows}
    assert set(by_system) == {"react", "cot", "direct"}
    assert by_system["cot"]["run_a accuracy"] == 1.0 and by_system["react"]["run_b mean_model_calls"] == 2.0
    assert (tmp_path / "compare.md").is_file() and (tmp_path / "compare.csv").is_file()
    assert (tmp_path / "compare.png").is_file()
    assert _run("--compare", str(tmp_path / "missing")) == 2


def test_usage_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _jsonl(tmp_path / "toy.jsonl", [{"question": "q", "answer": "a"}])
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    common = ("--dataset", str(data), "--model", "scripted", "--no-progress", "--no-plot")
    assert _run(*common, "--concurrency", "0") == 2
    assert "--concurrency must be at least 1" in capsys.readouterr().err
    assert _run(*common, "--output", str(blocker / "out")) == 2
    assert "is not a writable folder" in capsys.readouterr().err
    assert _run(*common, "--systems", "lumos-iterative,zero-shot") == 2
    assert "Unknown systems" in capsys.readouterr().err
    assert _run("--dataset", str(data), "--model", "gpt", "--output", str(tmp_path / "x")) == 2
    assert "Bad model spec" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing written before the arguments are checked
    assert _run("--model", "scripted") == 2
    assert "--dataset is required" in capsys.readouterr().err


def test_smollm2_modes_share_one_embedded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_lumos.testing import ScriptedLLM

    built: list[ScriptedLLM] = []

    def fake_loader(**_: object) -> ScriptedLLM:
        built.append(
            ScriptedLLM(
                responses={"": "Subgoal 1: Calculate.", "Should we stop": "Yes, I will stop planning."}
            )
        )
        return built[-1]

    monkeypatch.setattr("langchain_lumos.models.smollm2.load_default_llm", fake_loader)
    systems = build_systems(["lumos-i", "lumos-o"], domain="maths", model_spec="smollm2")
    for system in systems.values():
        system.invoke("What is 1 + 1?")
    assert any("Subgoals to be grounded" in p for p in built[0].prompts)  # Lumos-O's grounder
    assert any("Subgoal to be grounded" in p for p in built[0].prompts) or len(built[0].prompts) >= 2
    assert all(not m.prompts for m in built[1:])


def test_eval_builds_the_toolkit_lumos_run_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lumos eval` wires the QA tool as `lumos run` does (`preset_tools`): small-model style for smollm2."""
    import langchain_lumos.evaluation.cli as eval_cli
    from langchain_lumos.presets import preset_tools, resolve_models

    seen: dict[str, object] = {}

    def capture(model: object, tools: list[object], **kwargs: object) -> object:
        seen["tools"] = tools
        return object()

    monkeypatch.setattr(eval_cli, "create_react_baseline", capture)
    build_systems(["react"], domain="hotpotqa", model_spec="smollm2")
    run_tools = preset_tools(resolve_models("smollm2", domain="hotpotqa", mode="iterative"))[0]
    eval_qa = next(t for t in seen["tools"] if t.name == "QA")  # type: ignore[attr-defined]
    run_qa = next(t for t in run_tools if t.name == "QA")
    assert eval_qa.style == run_qa.style == "small"  # type: ignore[attr-defined]
    assert [t.name for t in seen["tools"]] == [t.name for t in run_tools]  # type: ignore[attr-defined]


def test_compare_runs_with_different_systems_writes_every_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _jsonl(tmp_path / "toy.jsonl", [{"question": "What is 1 + 1?", "answer": "2"}])
    for name, systems in (("run_a", "react"), ("run_b", "cot")):
        code = _run(
            "--dataset", str(data), "--domain", "maths", "--systems", systems, "--model", "scripted",
            "--metric", "numeric", "--output", str(tmp_path / name), "--no-progress", "--no-plot",
        )  # fmt: skip
        assert code == 0
    out = tmp_path / "cmp"
    assert (
        _run("--compare", str(tmp_path / "run_a"), str(tmp_path / "run_b"), "--output", str(out), "--no-plot")
        == 0
    )
    header = (out / "compare.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "run_a accuracy" in header and "run_b accuracy" in header  # react only in a, cot only in b
