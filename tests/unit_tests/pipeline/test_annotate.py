"""`lumos annotate`: original conversion prompts, execution check with the real tools, resume."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from langchain_lumos.domains import get_domain
from langchain_lumos.evaluation.datasets import load_dataset
from langchain_lumos.testing import ScriptedChatModel
from langchain_lumos.training.annotate import (
    AnnotateSummary,
    GroundTruth,
    add_annotate_parser,
    annotate,
    check_annotation,
    conversion_messages,
    conversion_prompts,
    gsm8k_ground_truth,
    gsm8k_plan,
    load_ground_truth,
    run_annotate,
    strategyqa_plan,
)
from langchain_lumos.training.annotations import read_raw_annotations
from langchain_lumos.training.convert import convert_annotations

_CALC = re.compile(r"<<([^=<>]+)=([^<>]+)>>")


def _annotation(solution: str) -> str:
    """What a faithful annotator writes: one Calculator subgoal per `<<expr=value>>` step."""
    blocks = [
        f"Subgoal {k}: Calculate step {k}.\nAction {k}-1: R{k} = Calculator({expr}) = {value} "
        for k, (expr, value) in enumerate(_CALC.findall(solution), start=1)
    ]
    return "Subgoal-based plan:\n" + "\n\n".join(blocks)


FAULTS = {
    3: "Subgoal 1: Multiply.\nAction 1-1: R1 = Multiply(2, 3) = 6",
    5: "Subgoal 1: Divide.\nAction 1-1: R1 = Calculator(1 / 0) = 1",
    7: "Subgoal 1: Add.\nAction 1-1: R1 = Calculator(1 + 1) = 2",
    9: "Subgoal 1: Think hard.\nWe should add them up.",
    11: "Sorry, I cannot convert this plan.",
}
"""Annotations that must fail: unknown action, tool error, wrong answer, unreadable action, no subgoals."""


def _scripted_annotator(n: int = 50) -> tuple[ScriptedChatModel, list[GroundTruth]]:
    items = gsm8k_ground_truth(load_dataset("gsm8k", limit=n))
    examples = load_dataset("gsm8k", limit=n)
    responses: dict[str, str | AIMessage] = {
        ex.question: FAULTS.get(i, _annotation(ex.meta["solution"])) for i, ex in enumerate(examples)
    }
    return ScriptedChatModel(responses=responses, role="annotator"), items


def test_conversion_prompt_is_the_original() -> None:
    prompts = conversion_prompts()
    assert prompts["system"] == (
        "You are a helpful assist to convert natural language plans or structural action listinto "
        "subgoal-based plans and their corresponding structured actions."
    )  # the original's missing space, kept
    assert "allenai/lumos" in prompts["source"] and "MIT" in prompts["license"]
    maths = prompts["instructions"]["maths_gsm"]
    assert maths.startswith("Please convert natural language plans into a series of subgoals")
    assert "Action 5-1: R5 = SolveEquation(R2 = R4) = 1000 \n\n" in maths
    item = GroundTruth("x", "What is 2+3?", "2 + 3 = <<2+3=5>>5", "5", "gsm8k", "maths")
    system, user = conversion_messages(item)
    assert system.content == prompts["system"]
    assert user.content == maths + "Task: What is 2+3?\n\nNatural language plan: 2 + 3 = <<2+3=5>>5\n\n"
    qa = GroundTruth("y", "Q?", "plan", True, "strategyqa", "complex_qa")
    assert "'KnowledgeQuery', 'ParagraphRetrieve', 'QA'" in str(conversion_messages(qa)[1].content)


def test_a_registered_domain_brings_its_conversion_instruction() -> None:
    """The annotator's instruction is the domain's: a new domain needs no other table."""
    from langchain_lumos.domains import DOMAINS, Domain, register_domain

    toy = Domain(name="toy_maths", interface="", conversion_instruction="maths_gsm")
    try:
        register_domain(toy)
        item = GroundTruth("t", "What is 2+3?", "2 + 3 = 5", "5", "gsm8k", "toy_maths")
        assert str(conversion_messages(item)[1].content).startswith(
            conversion_prompts()["instructions"]["maths_gsm"]
        )
    finally:
        DOMAINS.pop("toy_maths", None)
    with pytest.raises(ValueError, match="No conversion instruction"):
        conversion_messages(GroundTruth("u", "Q?", "plan", "a", "x", "multimodal"))


def test_gsm8k_plan_reads_both_solution_formats() -> None:
    main = (
        "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
    )
    assert (
        gsm8k_plan(main)
        == "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day. She makes 9 * 2 = $<<9*2=18>>18."
    )
    socratic = "How many? ** Janet sells 9.\nHow much? ** She makes 18.\n#### 18"
    assert gsm8k_plan(socratic) == "Janet sells 9.\nHow much? She makes 18.\n"  # the original's split


def test_strategyqa_plan_is_the_original_conversion() -> None:
    row: dict[str, Any] = {
        "qid": "a",
        "question": "Are more people today related to Genghis Khan than Julius Caesar?",
        "answer": True,
        "facts": ["Julius Caesar had three children.", "Genghis Khan had sixteen children."],
        "decomposition": [
            "How many kids did Julius Caesar have?",
            "How many kids did Genghis Khan have?",
            "Is #2 greater than #1?",
        ],
        "evidence": [
            [[["Julius Caesar-75"]], ["no_evidence"], ["operation"]],
            [[["Julius Caesar-75"]], [["Genghis Khan-17"]], ["operation"]],
        ],
    }
    assert strategyqa_plan(row) == (
        "We find relevant facts: Julius Caesar had three children. Genghis Khan had sixteen children. "
        "We need to answer these questions: 1. How many kids did Julius Caesar have? (Can be answered based "
        "on paragraph 'Julius Caesar-75') 2. How many kids did Genghis Khan have? (Can be answered based on "
        "paragraph 'Genghis Khan-17') 3. Is #2 greater than #1? Based on these evidences and decomposed "
        "questions, the answer is True."
    )
    row["evidence"] = [row["evidence"][0]]
    assert strategyqa_plan(row) is None  # every annotator lacks evidence: the original skipped it


def test_execution_check_uses_the_real_maths_tools() -> None:
    tools = get_domain("gsm8k").create_tools()
    item = GroundTruth("x", "q", "p", "18", "gsm8k", "maths")
    good = "Subgoal 1: Eggs sold.\nAction 1-1: R1 = Calculator(16 - 3 - 4) = 9\n\nSubgoal 2: Money.\nAction 2-1: R2 = Calculator(R1 * 2) = 18"
    assert check_annotation(good, item, tools).kept
    wrong = good.replace("R1 * 2", "R1 * 3")  # the annotated value says 18, the tool says 27
    result = check_annotation(wrong, item, tools)
    assert (result.reason, result.prediction) == ("wrong_answer", "27")
    undefined = good.replace("R1 * 2", "R7 * 2")
    assert check_annotation(undefined, item, tools).reason == "argument_error"
    empty_block = "Subgoal 1: Eggs sold.\n\nSubgoal 2: Money.\nAction 2-1: R2 = Calculator(9 * 2) = 18"
    assert check_annotation(empty_block, item, tools).reason == "empty_subgoal"
    alias = good + "\nAction 2-2: Output = R2"
    assert check_annotation(alias, item, tools).kept
    assert check_annotation("   ", item, tools).reason == "empty"


def test_annotate_first_50_gsm8k_items_with_real_tool_execution(tmp_path: Path) -> None:
    annotator, items = _scripted_annotator(50)
    output = tmp_path / "gsm8k_raw.jsonl"
    summary = annotate(items, annotator, output, concurrency=4)
    rejected = [json.loads(line) for line in summary.rejected_output.read_text().splitlines()]
    kept = read_raw_annotations(output)
    print(summary.format())
    assert summary.total == 50 and summary.skipped == 0
    assert summary.kept == len(kept) and sum(summary.rejected.values()) == len(rejected)
    assert summary.kept + len(rejected) == 50
    reasons = {r["id"]: r["reason"] for r in rejected}
    assert reasons["gsm8k-3"] == "unknown_action"
    assert reasons["gsm8k-5"] == "tool_error"
    assert reasons["gsm8k-7"] == "wrong_answer"
    assert reasons["gsm8k-9"] == "parse_error"
    assert reasons["gsm8k-11"] == "no_subgoals"
    assert all(r["detail"] for r in rejected)
    # Faithful annotations mostly pass; the others really fail when the tools run them: a
    # solution whose last calculation is not the final answer (wrong_answer) or one
    # without calculations (no_subgoals).
    assert summary.kept == 39
    assert summary.rejected == {
        "wrong_answer": 6,
        "no_subgoals": 2,
        "unknown_action": 1,
        "tool_error": 1,
        "parse_error": 1,
    }
    golds = {ex.id: ex.answer for ex in load_dataset("gsm8k", limit=50)}
    for line in output.read_text().splitlines():
        record = json.loads(line)
        assert record["ans"] == golds[record["id"]] and record["dataset"] == "gsm8k"
    # The kept records are what `lumos convert` takes.
    converted = convert_annotations(kept, domain="maths", formulation="onetime", module="ground")
    assert len(converted.records) == summary.kept and not converted.skipped
    # Resuming skips everything already written.
    again = annotate(items, annotator, output)
    assert (again.skipped, again.kept, sum(again.rejected.values())) == (50, 0, 0)
    assert len(annotator.calls) == 50


def test_annotator_failures_are_recorded_and_retried_on_resume(tmp_path: Path) -> None:
    class Broken(ScriptedChatModel):
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            msg = "server down"
            raise ConnectionError(msg)

    items = gsm8k_ground_truth(load_dataset("gsm8k", limit=2))
    broken = Broken(responses=["x"])
    summary = annotate(items, broken, tmp_path / "raw.jsonl", max_attempts=2)
    assert summary.rejected == {"annotator_error": 2}
    annotator, _ = _scripted_annotator(2)
    resumed = annotate(items, annotator, tmp_path / "raw.jsonl")
    assert resumed.skipped == 0 and resumed.kept == 2


def test_user_jsonl_with_rationale(tmp_path: Path) -> None:
    data = tmp_path / "mine.jsonl"
    data.write_text(
        json.dumps({"id": "m1", "question": "2 apples and 3 more?", "answer": "5", "rationale": "2 + 3 = 5"})
        + "\n"
    )
    items = load_ground_truth(data, domain="maths")
    assert items[0].natural_language_plan == "2 + 3 = 5" and items[0].domain == "maths"
    annotator = ScriptedChatModel(responses=["Subgoal 1: Add.\nAction 1-1: R1 = Calculator(2 + 3) = 5"])
    summary = annotate(items, annotator, tmp_path / "out.jsonl")
    assert summary.kept == 1
    with pytest.raises(ValueError, match="domain="):
        load_ground_truth(data)


def test_cli_annotates_with_a_scripted_model_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = load_dataset("gsm8k", limit=3)
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps({"planner": {ex.question: _annotation(ex.meta["solution"]) for ex in examples}})
    )
    parser = argparse.ArgumentParser(prog="lumos")
    add_annotate_parser(parser.add_subparsers(dest="command"))
    output = tmp_path / "raw.jsonl"
    args = parser.parse_args(
        [
            "annotate",
            "--dataset",
            "gsm8k",
            "--limit",
            "3",
            "--model",
            f"scripted:{script}",
            "--output",
            str(output),
            "--no-progress",
        ]
    )
    assert args.func is run_annotate and args.func(args) == 0
    assert "kept 3 / rejected 0" in capsys.readouterr().out
    assert len(read_raw_annotations(output)) == 3


def test_summary_format() -> None:
    summary = AnnotateSummary(Path("a.jsonl"), Path("a.rejected.jsonl"), total=3, kept=1)
    summary.rejected.update({"tool_error": 2})
    assert summary.format().startswith("kept 1 / rejected 2 (tool_error 2); 0 already done")


def _exemplar_annotation() -> str:
    """The original's first complex-QA in-context annotation (Julius Caesar vs Genghis Khan)."""
    instruction = conversion_prompts()["instructions"]["qa"]
    start = instruction.index("Subgoal-based plan:\n") + len("Subgoal-based plan:\n")
    return instruction[start : instruction.index("Example 2:")].strip()


def test_strategyqa_annotation_runs_with_the_complex_qa_tools(tmp_path: Path) -> None:
    row = {
        "qid": "caesar",
        "question": "Are more people today related to Genghis Khan than Julius Caesar?",
        "answer": True,
        "facts": ["Julius Caesar had three children.", "Genghis Khan had sixteen children."],
        "decomposition": ["How many kids did Julius Caesar have?", "How many kids did Genghis Khan have?"],
        "evidence": [[[["Julius Caesar-75"]], [["Genghis Khan-17"]]]],
    }
    wrong = {**row, "qid": "caesar-false", "answer": False}
    data = tmp_path / "strategyqa_train.json"
    data.write_text(json.dumps([row, wrong]))
    items = load_ground_truth("strategyqa", path=data)
    assert [i.domain for i in items] == ["complex_qa", "complex_qa"]
    annotator = ScriptedChatModel(responses=[_exemplar_annotation()])
    qa = ScriptedChatModel(
        responses={
            "How many kids did Julius Caesar have?": "Answer: 3",
            "How many kids did Genghis Khan have?": "Answer: 16",
        }
    )
    summary = annotate(items, annotator, tmp_path / "raw.jsonl", qa_llm=qa, concurrency=1)
    assert summary.kept == 1 and summary.rejected == {"wrong_answer": 1}  # Calculator(R6 > R3) is yes
    kept = read_raw_annotations(tmp_path / "raw.jsonl")
    converted = convert_annotations(kept, domain="complex_qa", formulation="iterative", module="ground")
    assert len(converted.records) == 1
    with pytest.raises(ValueError, match="path="):
        load_ground_truth("strategyqa")


def test_hotpotqa_supporting_facts_become_the_plan() -> None:
    from langchain_lumos.training.annotate import hotpotqa_ground_truth

    row = {
        "_id": "h1",
        "question": "Which city is the capital of the country where the Eiffel Tower is?",
        "answer": "Paris",
        "supporting_facts": [["Eiffel Tower", 0], ["France", 1]],
        "context": [
            ["Eiffel Tower", ["The Eiffel Tower is in France.", "It is tall."]],
            ["France", ["France is in Europe.", "Its capital is Paris."]],
        ],
    }
    (item,) = hotpotqa_ground_truth([row])
    assert item.natural_language_plan == (
        "We find relevant facts: The Eiffel Tower is in France. Its capital is Paris. We need to answer these "
        "questions: 1. Which city is the capital of the country where the Eiffel Tower is? (Can be answered "
        "based on paragraph 'Eiffel Tower', 'France') Based on these evidences and decomposed questions, the "
        "answer is Paris."
    )
    with pytest.raises(ValueError, match="supporting_facts"):
        hotpotqa_ground_truth([{"_id": "x", "question": "q", "answer": "a"}])
