"""Mind2Web: the real task schema, candidate pools from ranker scores, the metrics, both modes."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from langchain_lumos.evaluation.mind2web import (
    Mind2WebTask,
    StepPrediction,
    evaluate_mind2web,
    load_mind2web,
    load_ranker_scores,
    mind2web_metrics,
    operation_f1,
    parse_web_action,
    score_step,
    target_action,
    translate_action,
)
from langchain_lumos.testing import ScriptedLLM

PAGE_1 = (
    '<html backend_node_id="1"><body backend_node_id="2"><form backend_node_id="100">'
    '<input backend_node_id="136" type="text" placeholder="From" aria_label="Departure city"/>'
    '<input backend_node_id="140" type="text" placeholder="To" aria_label="Arrival city"/>'
    '<button backend_node_id="150">Search flights</button></form></body></html>'
)
PAGE_2 = (
    '<html backend_node_id="1"><body backend_node_id="2">'
    '<select backend_node_id="201" name="nights"><option>5 nights</option><option>6 nights</option></select>'
    '<select backend_node_id="202" name="cabins"><option>Interior</option></select></body></html>'
)
PAGE_3 = (
    '<html backend_node_id="1"><body backend_node_id="2"><button backend_node_id="301">Search</button>'
    '<a backend_node_id="302">Help</a></body></html>'
)
PAGE_B = (
    '<html backend_node_id="1"><body backend_node_id="2"><a backend_node_id="401">Sign in</a>'
    '<a backend_node_id="402">Departure deals</a></body></html>'
)


def _cand(node: str, tag: str) -> dict[str, Any]:
    return {
        "tag": tag,
        "attributes": json.dumps({"backend_node_id": node}),
        "backend_node_id": node,
        "is_original_target": True,
        "is_top_level_target": True,
    }


def _action(uid: str, op: str, value: str, html: str, pos: list[Any], neg: list[Any]) -> dict[str, Any]:
    return {
        "action_uid": uid,
        "raw_html": html,
        "cleaned_html": html,
        "operation": {"op": op, "original_op": op, "value": value},
        "pos_candidates": pos,
        "neg_candidates": neg,
    }


TASKS = [
    {
        "annotation_id": "a1",
        "website": "carnival",
        "domain": "Travel",
        "subdomain": "Cruise",
        "confirmed_task": "Find a 6-night cruise from Atlanta.",
        "action_reprs": [
            "[textbox] From -> TYPE: Atlanta",
            "[combobox] nights -> SELECT: 6 nights",
            "[button] Search -> CLICK",
        ],
        "actions": [
            _action(
                "u1",
                "TYPE",
                "Atlanta",
                PAGE_1,
                [_cand("136", "input")],
                [_cand("140", "input"), _cand("150", "button")],
            ),
            _action("u2", "SELECT", "6 nights", PAGE_2, [_cand("201", "select")], [_cand("202", "select")]),
            _action("u3", "CLICK", "", PAGE_3, [_cand("301", "button")], [_cand("302", "a")]),
        ],
    },
    {
        "annotation_id": "b1",
        "website": "united",
        "domain": "Travel",
        "subdomain": "Airlines",
        "confirmed_task": "Sign in to my account.",
        "action_reprs": ["[link] Sign in -> CLICK"],
        "actions": [_action("v1", "CLICK", "", PAGE_B, [_cand("401", "a")], [_cand("402", "a")])],
    },
]
# MindAct ranker output: the positive of task b1 ranks outside a top-1 pool.
SCORES = {
    "scores": {"b1_v1": {"401": 0.1, "402": 0.9}},
    "ranks": {"b1_v1": {"401": 1, "402": 0}},
}


@pytest.fixture
def split(tmp_path: Path) -> Path:
    folder = tmp_path / "test_domain"
    folder.mkdir()
    (folder / "test_domain_0.json").write_text(json.dumps(TASKS[:1]))
    (folder / "test_domain_1.json").write_text(json.dumps(TASKS[1:]))
    return folder


def test_metrics_are_mind2webs() -> None:
    assert target_action("CLICK", "ignored") == "CLICK" and target_action("type", "Atlanta") == "TYPE Atlanta"
    assert operation_f1("TYPE Atlanta", "TYPE Atlanta") == 1.0
    assert operation_f1("TYPE atlanta", "TYPE Atlanta") == pytest.approx(0.5)  # case-sensitive tokens
    assert operation_f1("", "") == 1.0 and operation_f1("CLICK", "") == 0.0
    assert operation_f1("SELECT 6 nights", "SELECT 6") == pytest.approx(0.8)


def test_loader_reads_the_real_schema_and_ranker_scores(split: Path, tmp_path: Path) -> None:
    pkl = tmp_path / "scores_all_data.pkl"
    pkl.write_bytes(pickle.dumps(SCORES))
    tasks = load_mind2web(split, scores=pkl)
    assert [t.annotation_id for t in tasks] == ["a1", "b1"]
    first = tasks[0].steps[0]
    assert (first.op, first.value, first.repr) == ("TYPE", "Atlanta", "[textbox] From -> TYPE: Atlanta")
    assert first.positive_ids == {"136"}
    assert first.candidates[0].text == "(input Departure city From text)"
    assert tasks[0].steps[2].candidates[0].text == "(button Search)"
    assert tasks[1].steps[0].candidates[0].rank == 1 and tasks[1].steps[0].candidates[1].score == 0.9
    assert load_ranker_scores(pkl)["ranks"]["b1_v1"]["402"] == 0
    assert len(load_mind2web(split.parent, split="test_domain")) == 2
    with pytest.raises(ValueError, match="pick a split: \\['test_domain'\\]"):
        load_mind2web(split.parent)
    only_scores = tmp_path / "scores.json"
    only_scores.write_text(json.dumps({"scores": SCORES["scores"]}))
    assert load_ranker_scores(only_scores)["ranks"]["b1_v1"] == {"402": 0, "401": 1}
    assert len(load_mind2web(split, limit=1)) == 1


def test_scores_macro_average_over_tasks(split: Path) -> None:
    tasks = load_mind2web(split)
    a, b = tasks
    results = [
        score_step(a, 0, StepPrediction("136", "TYPE", "Atlanta")),
        score_step(a, 1, StepPrediction("202", "SELECT", "6 nights")),  # wrong element
        score_step(a, 2, StepPrediction("301", "CLICK")),
        score_step(b, 0, StepPrediction("401", "TYPE", "x")),  # right element, wrong op
    ]
    report = mind2web_metrics(results)
    assert report.element_accuracy == pytest.approx((2 / 3 + 1) / 2)
    assert report.step_success_rate == pytest.approx((2 / 3 + 0) / 2)
    assert report.operation_f1 == pytest.approx((1 + 1 + 1) / 3 / 2 + 0)
    assert report.task_success_rate == 0.0
    assert report.micro["element_accuracy"] == pytest.approx(3 / 4)
    assert report.as_dict()["steps"] == 4


def test_parse_web_action_reads_the_original_argument_layout() -> None:
    assert parse_web_action("R1 = TYPE(Env, QUERY: Type Atlanta as the departure, TEXT: Atlanta)") == (
        "TYPE",
        "Type Atlanta as the departure",
        "Atlanta",
    )
    assert parse_web_action("R2 = CLICK(R1, QUERY: Click Search); R3 = CLICK(R2, QUERY: x)") == (
        "CLICK",
        "Click Search",
        "",
    )
    assert parse_web_action("I do not know") is None


def _models() -> tuple[ScriptedLLM, ScriptedLLM]:
    planner = ScriptedLLM(
        responses=[
            "Subgoal 1: Type Atlanta as the departure city.",
            "No, I will keep planning. Subgoal 2: Choose 6 nights.",
            "No, I will keep planning. Subgoal 3: Click the Search button.",
        ],
        by="turn",
        role="planner",
    )
    grounder = ScriptedLLM(
        responses=[
            "R1 = TYPE(Env, QUERY: Type Atlanta as the departure city, TEXT: Atlanta)",
            "R2 = SELECT(R1, QUERY: Choose the number of nights, TEXT: 6 nights)",
            "R3 = CLICK(R2, QUERY: Click the Search button)",
        ],
        by="turn",
        role="grounder",
    )
    return planner, grounder


def test_teacher_forced_run_with_a_pool_from_ranker_scores(split: Path) -> None:
    tasks: list[Mind2WebTask] = load_mind2web(split, scores=SCORES)
    planner, grounder = _models()
    report = evaluate_mind2web(tasks, planner, grounder, top_k=1)
    a_steps = [r for r in report.results if r.annotation_id == "a1"]
    assert [r.success for r in a_steps] == [True, True, True]
    assert [r.prediction.element for r in a_steps if r.prediction] == ["136", "201", "301"]
    b_step = next(r for r in report.results if r.annotation_id == "b1")
    assert not b_step.in_pool and not b_step.success  # its positive ranked outside the top-1 pool
    assert report.task_success_rate == 0.5 and report.step_success_rate == 0.5
    assert report.micro["step_success_rate"] == 0.75
    # The planner heard the ground-truth steps as synthetic subgoals.
    third = planner.prompts[2]
    assert "Atlanta in the textbox From" in third and "6 nights in the combobox nights" in third
    assert "We have already " in third and "keep planning" not in third  # its own answers replaced
    assert grounder.prompts[0].startswith("<|user|>\nPlease ground the given subgoal")
    assert "Subgoal to be grounded: Subgoal 2: Choose 6 nights." in grounder.prompts[1]


def test_free_running_planner_hears_its_own_subgoals(split: Path) -> None:
    tasks = load_mind2web(split, limit=1)
    planner, grounder = _models()
    report = evaluate_mind2web(tasks, planner, grounder, mode="free_running")
    assert report.task_success_rate == 1.0
    assert "We have already choose 6 nights. Should we stop planning?" in planner.prompts[2]
    assert "Atlanta in the textbox" not in planner.prompts[2]
    with pytest.raises(ValueError, match="mode"):
        evaluate_mind2web(tasks, planner, grounder, mode="replay")  # type: ignore[arg-type]


def test_translate_action_keeps_the_original_wording() -> None:
    assert translate_action("[button] Search -> CLICK").endswith("button Search")
    assert translate_action("[textbox] From -> TYPE: Atlanta").endswith("Atlanta in the textbox From")
    assert translate_action("[svg]  -> HOVER").split(" ", 1)[1] in ("svg", "go into svg", "svg ")


def test_cli_scores_a_split_with_a_scripted_model_spec(
    split: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from langchain_lumos.evaluation.mind2web import add_mind2web_parser

    planner, grounder = _models()
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"planner": planner.responses, "grounder": grounder.responses}))
    parser = argparse.ArgumentParser(prog="lumos")
    add_mind2web_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "scores.json"
    args = parser.parse_args(
        [
            "eval-mind2web",
            "--data",
            str(split),
            "--model",
            f"scripted:{script}",
            "--limit",
            "1",
            "--output",
            str(out),
        ]
    )
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["task_success_rate"] == 1.0
    assert len(json.loads(out.read_text())["results"]) == 3
