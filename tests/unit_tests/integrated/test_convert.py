"""Raw annotations -> integrated training dialogues, and `lumos convert --module integrated`."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.tools import tool

from langchain_lumos.integrated import INTEGRATED_INSTRUCTION, create_integrated_agent
from langchain_lumos.prompts import MATHS_INTERFACE, WEB_INTERFACE, render_prompt
from langchain_lumos.testing import ScriptedLLM
from langchain_lumos.training.annotations import read_annotations, read_raw_annotations
from langchain_lumos.training.cli import main as cli_main
from langchain_lumos.training.convert import ConversionSkipped, convert_annotations, integrated_dialogue

FIXTURES = Path(__file__).parent.parent / "training" / "fixtures"


@tool
def Calculator(formula: str) -> str:
    """Calculate the input formula."""
    left, _, right = formula.partition("+")
    return str(int(left) + int(right))


WEB_TASK = "Find a flight + cruise from Atlanta for 6 nights."


def u(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def a(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


WEB_ITERATIVE = [
    u(INTEGRATED_INSTRUCTION + WEB_INTERFACE + f"Task: {WEB_TASK}; Initial Environment Description: None."),
    a(
        "Subgoal 1: Enter the site for flight + cruise. Actions: "
        "R1 = CLICK(Env, QUERY: Enter the site for flight + cruise)"
    ),
    u("We have already enter the site for flight + cruise. Should we stop planning?"),
    a(
        "No, I will keep planning. Subgoal 2: Type Atlanta as the departure location. Actions: "
        "R2 = CLICK(R1, QUERY: Click the departure box); "
        "R3 = TYPE(R2, QUERY: Type Atlanta as the departure location, TEXT: Atlanta)"
    ),
    u("We have already type Atlanta as the departure location. Should we stop planning?"),
    a(
        "No, I will keep planning. Subgoal 3: Select 6 nights as the duration. Actions: "
        "R4 = SELECT(R3, QUERY: Select the duration (nights), TEXT: 6 nights)"
    ),
    u("We have already select 6 nights as the duration. Should we stop planning?"),
    a("Yes, I will stop planning."),
]
WEB_ONETIME = [
    WEB_ITERATIVE[0],
    a(
        "Subgoal 1: Enter the site for flight + cruise. Actions: "
        "R1 = CLICK(Env, QUERY: Enter the site for flight + cruise); "
        "Subgoal 2: Type Atlanta as the departure location. Actions: "
        "R2 = CLICK(R1, QUERY: Click the departure box); "
        "R3 = TYPE(R2, QUERY: Type Atlanta as the departure location, TEXT: Atlanta); "
        "Subgoal 3: Select 6 nights as the duration. Actions: "
        "R4 = SELECT(R3, QUERY: Select the duration (nights), TEXT: 6 nights)"
    ),
]
MATHS_HEAD = INTEGRATED_INSTRUCTION + MATHS_INTERFACE
# Records 2 and 3 of maths.jsonl: `Output` is renamed after the last R<k> of an earlier
# subgoal, and the number leaks into the next record (R2), as the original conversion did.
COUNT_AND_QUOTIENT = [
    [
        u(
            MATHS_HEAD
            + "Task: How many of 2^0, 2^1 and 2^2 are there?; Initial Environment Description: None."
        ),
        a("Subgoal 1: Count the numbers. Actions: R1 = Count(2^0, 2^1, 2^2)"),
        u("The executed result for Subgoal 1 is 3. Should we stop planning?"),
        a("No, I will keep planning. Subgoal 2: Return the answer. Actions: R2 = (R1)"),
        u("The executed result for Subgoal 2 is 3. Should we stop planning?"),
        a("Yes, I will stop planning."),
    ],
    [
        u(MATHS_HEAD + "Task: What is 28 divided by 7?; Initial Environment Description: None."),
        a("Subgoal 1: Calculate the quotient. Actions: R2 = Calculator(28 * 1/7)"),
        u("The executed result for Subgoal 1 is 4. Should we stop planning?"),
        a("Yes, I will stop planning."),
    ],
]


def test_web_agent_iterative_record() -> None:
    raws = read_raw_annotations(FIXTURES / "web_agent.jsonl")
    result = convert_annotations(raws, domain="web_agent", module="integrated")
    assert result.records == [{"dataset": "web_agent", "id": "web_agent_0", "messages": WEB_ITERATIVE}]
    assert result.skipped == []


def test_web_agent_onetime_record() -> None:
    raws = read_raw_annotations(FIXTURES / "web_agent.jsonl")
    result = convert_annotations(raws, domain="web_agent", module="integrated", formulation="onetime")
    assert result.records == [{"dataset": "web_agent", "id": "web_agent_0", "messages": WEB_ONETIME}]


def test_maths_output_rename_carries_across_records() -> None:
    raws = read_raw_annotations(FIXTURES / "maths.jsonl")
    result = convert_annotations(raws, domain="maths", module="integrated", dataset="gsm8k")
    assert [r["id"] for r in result.records] == ["gsm8k_0", "gsm8k_1", "gsm8k_2"]
    assert [r["messages"] for r in result.records[1:]] == COUNT_AND_QUOTIENT


@pytest.mark.parametrize("domain", ["complex_qa", "maths", "web_agent"])
def test_integrated_is_the_planner_dialogue_with_the_grounder_answers(domain: str) -> None:
    raws = read_raw_annotations(FIXTURES / f"{domain}.jsonl")
    plan = convert_annotations(raws, domain=domain, module="plan")
    ground = convert_annotations(raws, domain=domain, module="ground")
    integrated = convert_annotations(raws, domain=domain, module="integrated")
    assert integrated.skipped == plan.skipped == ground.skipped
    for p, g, i in zip(plan.records, ground.records, integrated.records, strict=True):
        answers = [t["content"] for t in g["messages"] if t["role"] == "assistant"]
        expected = [
            t if t["role"] == "user" else {**t, "content": f"{t['content']} Actions: {answers[k // 2]}"}
            for k, t in enumerate(p["messages"][1:-1])
        ]
        assert i["messages"][1:] == [*expected, p["messages"][-1]]
        assert i["messages"][0]["content"].startswith(INTEGRATED_INSTRUCTION)


def test_dropped_records_are_reported() -> None:
    raw = {"task": "t", "subgoal_plan": "Subgoal 1: Nothing to do."}
    with pytest.raises(ConversionSkipped, match="no actions"):
        integrated_dialogue(raw, domain="maths")
    with pytest.raises(ValueError, match="grounding interface"):
        integrated_dialogue(raw, domain="multimodal")
    with pytest.raises(ValueError, match="'plan', 'ground' or 'integrated'"):
        convert_annotations([raw], domain="maths", module="both")  # type: ignore[arg-type]


def test_cli_convert_integrated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "web_integrated.jsonl"
    argv = ["convert", "--input", str(FIXTURES / "web_agent.jsonl"), "--domain", "web_agent"]
    assert cli_main([*argv, "--module", "integrated", "--output", str(out)]) == 0
    assert read_annotations(out) == [{"dataset": "web_agent", "id": "web_agent_0", "messages": WEB_ITERATIVE}]
    assert "wrote 1 records" in capsys.readouterr().out
    assert cli_main([*argv, "--module", "integrated", "--formulation", "onetime", "--output", str(out)]) == 0
    assert read_annotations(out)[0]["messages"] == WEB_ONETIME


def test_the_agent_sends_what_the_training_dialogue_holds() -> None:
    """A model trained on an integrated dialogue sees the same prompts when it runs."""
    raw = {
        "task": "What is 2 + 3 + 4?",
        "subgoal_plan": "Subgoal 1: Add 2 and 3.\nAction 1-1: R1 = Calculator(2 + 3) = 5.\n\n"
        "Subgoal 2: Add 4 to it.\nAction 2-1: R2 = Calculator(R1 + 4) = 9.",
    }
    dialogue = integrated_dialogue(raw, domain="maths")
    answers = [t["content"] for t in dialogue if t["role"] == "assistant"]
    model = ScriptedLLM(responses=answers, by="turn", role="integrated")
    result = create_integrated_agent(model, [Calculator], domain="maths").invoke(raw["task"])
    assert result["answer"] == "9"
    assert model.prompts == [render_prompt(dialogue[: 2 * k + 1]) for k in range(len(answers))]
