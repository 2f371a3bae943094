"""Conversion of raw Lumos annotations into training dialogues, and the JSONL format.

The expected dialogues below are literal: derived by hand from the logic of the original
`data/process_for_train.py` (collect_plan_data / collect_ground_data).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.tools import tool

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.parsing import parse_actions
from langchain_lumos.prompts import ground_request, plan_request
from langchain_lumos.training.annotations import (
    AnnotationError,
    read_annotations,
    read_raw_annotations,
    validate_messages,
    write_annotations,
    write_raw_annotations,
)
from langchain_lumos.training.cli import main as cli_main
from langchain_lumos.training.convert import (
    ConversionSkipped,
    convert_annotations,
    ground_dialogue,
    parse_annotated_action,
    parse_subgoal_plan,
    plan_dialogue,
    run_to_dialogues,
    runs_to_dialogues,
)
from tests.unit_tests.fidelity import original

FIXTURES = Path(__file__).parent / "fixtures"

PLAN = "Please provide a reasonable subgoal-based plan to solve the given task.\nTask: {}; Initial Environment Description: None."
# The original scripts' texts, verbatim (one copy, in the fidelity reference).
GROUND = original.GROUND_HEAD
QA_HEAD = GROUND + original.QA_ACTIONS
MATHS_HEAD = GROUND + original.MATHS_ACTIONS
WEB_HEAD = GROUND + original.WEB_ACTIONS
SHOP_HEAD = GROUND + original.WEBSHOP_ACTIONS
STOP = "Yes, I will stop planning."


def u(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def a(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def raws(domain: str) -> list[dict[str, Any]]:
    return [dict(r) for r in read_raw_annotations(FIXTURES / f"{domain}.jsonl")]


QA_TASK = "Who was born first, James Cameron or Elon Musk?"
QA_PLAN_ITERATIVE = [
    u(PLAN.format(QA_TASK)),
    a("Subgoal 1: Obtain the birth year of James Cameron."),
    u("The executed result for Subgoal 1 is 1954. Should we stop planning?"),
    a("No, I will keep planning. Subgoal 2: Obtain the birth year of Elon Musk."),
    u("The executed result for Subgoal 2 is 1971. Should we stop planning?"),
    a("No, I will keep planning. Subgoal 3: Determine who was born first."),
    u("The executed result for Subgoal 3 is James Cameron. Should we stop planning?"),
    a(STOP),
]
QA_A1 = (
    "R1 = KnowledgeQuery(James Cameron); R2 = ParagraphRetrieve(R1, Query: When was James Cameron born?); "
    "R3 = QA([R2], Question: When was James Cameron born?)"
)
QA_A2 = (
    "R4 = KnowledgeQuery(Elon Musk); R5 = ParagraphRetrieve(R4, Query: When was Elon Musk born?); "
    "R6 = QA([R5], Question: When was Elon Musk born?)"
)
QA_A3 = (
    "R7 = Calculator(R3 < R6); R8 = QA([R3, R6], Question: Who was born first, James Cameron or Elon Musk?)"
)
QA_GROUND_ITERATIVE = [
    u(
        QA_HEAD
        + f"Task: {QA_TASK} \nSubgoal to be grounded: Subgoal 1: Obtain the birth year of James Cameron.\n"
    ),
    a(QA_A1),
    u(
        "Subgoal to be grounded: Subgoal 2: Obtain the birth year of Elon Musk. The grounding could be based on "
        "the following results: The execution result for Subgoal 1 is 1954.\n"
    ),
    a(QA_A2),
    u(
        "Subgoal to be grounded: Subgoal 3: Determine who was born first. The grounding could be based on the "
        "following results: The execution result for Subgoal 1 is 1954. The execution result for Subgoal 2 is "
        "1971.\n"
    ),
    a(QA_A3),
]
QA_SUBGOALS = (
    "Subgoal 1: Obtain the birth year of James Cameron.; Subgoal 2: Obtain the birth year of Elon Musk.; "
    "Subgoal 3: Determine who was born first."
)
QA_PLAN_ONETIME = [u(PLAN.format(QA_TASK)), a(QA_SUBGOALS)]
QA_GROUND_ONETIME = [
    u(QA_HEAD + f"Task: {QA_TASK} \nSubgoals to be grounded: {QA_SUBGOALS}\n"),
    a(f"{QA_A1}; {QA_A2}; {QA_A3}"),
]

MATHS_TASK = (
    "Two numbers add up to 10 and differ by 2. Double the larger one and multiply it by the smaller one."
)
MATHS_PLAN_ITERATIVE = [
    u(PLAN.format(MATHS_TASK)),
    a("Subgoal 1: Define the unknowns and set up the equations."),
    # The value is the text after the LAST "=" of the last action: "x - y = 2." -> "2".
    u("The executed result for Subgoal 1 is 2. Should we stop planning?"),
    a("No, I will keep planning. Subgoal 2: Solve the equations."),
    u("The executed result for Subgoal 2 is 6, 4. Should we stop planning?"),
    a("No, I will keep planning. Subgoal 3: Double the larger number with a function."),
    u("The executed result for Subgoal 3 is 12. Should we stop planning?"),
    a("No, I will keep planning. Subgoal 4: Calculate the final answer."),
    u("The executed result for Subgoal 4 is 48. Should we stop planning?"),
    a(STOP),
]
MATHS_GROUND_ITERATIVE = [
    u(
        MATHS_HEAD
        + f"Task: {MATHS_TASK} \nSubgoal to be grounded: Subgoal 1: Define the unknowns and set up the equations.\n"
    ),
    a("R1 = Define(x); R2 = SetEquation(x + y = 10); R3 = SetEquation(x - y = 2)"),
    u("Subgoal to be grounded: Subgoal 2: Solve the equations.\n"),
    a("R4, R5 = SolveEquation(R2, R3)"),
    u("Subgoal to be grounded: Subgoal 3: Double the larger number with a function.\n"),
    a("R6 = Define(f(t) = t * 2); R7 = Calculator(R6(R4))"),
    u("Subgoal to be grounded: Subgoal 4: Calculate the final answer.\n"),
    a("R8 = Calculator(R7 * R5)"),  # Output renamed to R{7 + 1}
]
MATHS_GROUND_ONETIME = [
    u(
        MATHS_HEAD
        + f"Task: {MATHS_TASK} \nSubgoals to be grounded: Subgoal 1: Define the unknowns and set up the "
        "equations.; Subgoal 2: Solve the equations.; Subgoal 3: Double the larger number with a function.; "
        "Subgoal 4: Calculate the final answer.\n"
    ),
    a(
        "R1 = Define(x); R2 = SetEquation(x + y = 10); R3 = SetEquation(x - y = 2); R4, R5 = SolveEquation(R2, R3); "
        "R6 = Define(f(t) = t * 2); R7 = Calculator(R6(R4)); Output = Calculator(R7 * R5)"
    ),
]
COUNT_TASK = "How many of 2^0, 2^1 and 2^2 are there?"
COUNT_GROUND_ITERATIVE = [
    u(MATHS_HEAD + f"Task: {COUNT_TASK} \nSubgoal to be grounded: Subgoal 1: Count the numbers.\n"),
    a("R1 = Count(2^0, 2^1, 2^2)"),
    u("Subgoal to be grounded: Subgoal 2: Return the answer.\n"),
    a("R2 = (R1)"),  # the original renders the alias `Output = R1 = 3` as `Output = (R1)`
]
COUNT_GROUND_ONETIME = [
    u(
        MATHS_HEAD
        + f"Task: {COUNT_TASK} \nSubgoals to be grounded: Subgoal 1: Count the numbers.; Subgoal 2: "
        "Return the answer.\n"
    ),
    a("R1 = Count(2^0, 2^1, 2^2); Output = (R1)"),
]

WEB_TASK = "Find a flight + cruise from Atlanta for 6 nights."
WEB_PLAN_ITERATIVE = [
    u(PLAN.format(WEB_TASK)),
    a("Subgoal 1: Enter the site for flight + cruise."),
    u("We have already enter the site for flight + cruise. Should we stop planning?"),
    a("No, I will keep planning. Subgoal 2: Type Atlanta as the departure location."),
    u("We have already type Atlanta as the departure location. Should we stop planning?"),
    a("No, I will keep planning. Subgoal 3: Select 6 nights as the duration."),
    u("We have already select 6 nights as the duration. Should we stop planning?"),
    a(STOP),
]
WEB_GROUND_ITERATIVE = [
    u(
        WEB_HEAD
        + f"Task: {WEB_TASK} \nSubgoal to be grounded: Subgoal 1: Enter the site for flight + cruise.\n"
    ),
    a("R1 = CLICK(Env, QUERY: Enter the site for flight + cruise)"),
    u("Subgoal to be grounded: Subgoal 2: Type Atlanta as the departure location.\n"),
    a(
        "R2 = CLICK(R1, QUERY: Click the departure box); "
        "R3 = TYPE(R2, QUERY: Type Atlanta as the departure location, TEXT: Atlanta)"
    ),
    u("Subgoal to be grounded: Subgoal 3: Select 6 nights as the duration.\n"),
    a("R4 = SELECT(R3, QUERY: Select the duration (nights), TEXT: 6 nights)"),
]

SHOP_TASK = "i need a long clip-in hair extension, and price lower than 40.00 dollars"
SHOP_GROUND_ITERATIVE = [
    u(
        SHOP_HEAD
        + f"Task: {SHOP_TASK} \nSubgoal to be grounded: Subgoal 1: Search two relevant items and the "
        "product names according to the instruction.\n"
    ),
    a("R1 = Search(i need a long clip-in hair extension)"),
    u("Subgoal to be grounded: Subgoal 2: Pick the most relevant item.\n"),
    a(
        "R2 = Click(B09QQLDJ93); R3 = FeatureRetrieve(R2, Query: long clip-in hair extension); "
        "R4 = Pick(Item_names: R1, Item_features: [R3], Query: long clip-in hair extension)"
    ),
]


# ---------------------------------------------------------------------------------------
# Dialogues per domain and formulation
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "index", "module", "formulation", "expected"),
    [
        ("complex_qa", 0, "plan", "iterative", QA_PLAN_ITERATIVE),
        ("complex_qa", 0, "ground", "iterative", QA_GROUND_ITERATIVE),
        ("complex_qa", 0, "plan", "onetime", QA_PLAN_ONETIME),
        ("complex_qa", 0, "ground", "onetime", QA_GROUND_ONETIME),
        ("maths", 0, "plan", "iterative", MATHS_PLAN_ITERATIVE),
        ("maths", 0, "ground", "iterative", MATHS_GROUND_ITERATIVE),
        ("maths", 0, "ground", "onetime", MATHS_GROUND_ONETIME),
        ("maths", 1, "ground", "iterative", COUNT_GROUND_ITERATIVE),
        ("maths", 1, "ground", "onetime", COUNT_GROUND_ONETIME),
        ("web_agent", 0, "plan", "iterative", WEB_PLAN_ITERATIVE),
        ("web_agent", 0, "ground", "iterative", WEB_GROUND_ITERATIVE),
        ("webshop", 0, "ground", "iterative", SHOP_GROUND_ITERATIVE),
    ],
)
def test_dialogues_match_the_original_conversion(
    domain: str, index: int, module: str, formulation: str, expected: list[dict[str, str]]
) -> None:
    build = plan_dialogue if module == "plan" else ground_dialogue
    got = build(raws(domain)[index], domain=domain, formulation=formulation)  # type: ignore[arg-type]
    assert got == expected
    validate_messages(got)


def test_maths_onetime_plan_and_count_plan() -> None:
    rows = raws("maths")
    onetime = plan_dialogue(rows[0], domain="maths", formulation="onetime")
    assert onetime[1]["content"] == (
        "Subgoal 1: Define the unknowns and set up the equations.; Subgoal 2: Solve the equations.; "
        "Subgoal 3: Double the larger number with a function.; Subgoal 4: Calculate the final answer."
    )
    assert plan_dialogue(rows[1], domain="maths")[1:] == [
        a("Subgoal 1: Count the numbers."),
        u("The executed result for Subgoal 1 is 3. Should we stop planning?"),
        a("No, I will keep planning. Subgoal 2: Return the answer."),
        u("The executed result for Subgoal 2 is 3. Should we stop planning?"),
        a(STOP),
    ]


def test_builders_agree_with_prompt_helpers() -> None:
    for domain in ("complex_qa", "maths", "web_agent", "webshop"):
        raw = raws(domain)[0]
        subgoals, _ = parse_subgoal_plan(raw["subgoal_plan"])
        plan = plan_dialogue(raw, domain=domain)
        assert plan[0] == plan_request(raw["task"])
        it = ground_dialogue(raw, domain=domain)
        assert (
            it[0]["content"] == ground_request(domain_of(domain), raw["task"], subgoals[0])["content"] + "\n"
        )
        one = ground_dialogue(raw, domain=domain, formulation="onetime")
        joined = "; ".join(subgoals)
        assert (
            one[0]["content"]
            == ground_request(domain_of(domain), raw["task"], joined, onetime=True)["content"] + "\n"
        )


def domain_of(name: str) -> Any:
    from langchain_lumos.domains import get_domain

    return get_domain(name)


# ---------------------------------------------------------------------------------------
# Action reading
# ---------------------------------------------------------------------------------------


def test_annotated_actions_agree_with_core_parser_on_well_formed_lines() -> None:
    lines = [
        line
        for domain in ("complex_qa", "maths", "webshop")
        for raw in raws(domain)
        for block in parse_subgoal_plan(raw["subgoal_plan"])[1]
        for line in block
        if "Output = R1" not in line
    ]
    assert len(lines) > 15
    for line in lines:
        ours = parse_annotated_action(line)
        core = parse_actions(line)
        assert not core.errors, line
        assert core.actions[0].text == ours.target, line


@pytest.mark.parametrize(
    ("line", "web", "target", "result"),
    [
        (
            "Action 1-3: R3 = QA([R2], Question: When?) = 1954.",
            False,
            "R3 = QA([R2], Question: When?)",
            "1954.",
        ),
        (
            "Action 2-1: R4, R5 = SolveEquation(R2, R3) = 6, 4.",
            False,
            "R4, R5 = SolveEquation(R2, R3)",
            "6, 4.",
        ),
        ("Action 3-2: R7 = Calculator(R6(R4)) = 12.", False, "R7 = Calculator(R6(R4))", "12."),
        ("Action 2-1: Output = R9 = 40", False, "Output = (R9)", "40"),
        # parentheses closing early: cut at the last " = " (the core parser calls it an error)
        ("Action 1-1: R1 = Calculator(3) + (4) = 7", False, "R1 = Calculator(3) + (4)", "7"),
        # unbalanced: up to the last ")" and the result is the arguments
        ("Action 1-1: R1 = Calculator((2+3) = 5", False, "R1 = Calculator((2+3)", "(2+3"),
        ("Action 1-1: R1 = Calculator(2 + 3)", False, "R1 = Calculator(2 + 3)", "2 + 3"),
        (
            "Action 1-1: R1 = CLICK(Env, QUERY: Open (menu)) = x",
            True,
            "R1 = CLICK(Env, QUERY: Open (menu))",
            "",
        ),
    ],
)
def test_parse_annotated_action_reproduces_original_rules(
    line: str, web: bool, target: str, result: str
) -> None:
    action = parse_annotated_action(line, web=web)
    assert action.target == target
    assert action.result == result


def test_parse_subgoal_plan_starts_at_subgoal_1() -> None:
    subgoals, actions = parse_subgoal_plan(
        "Plan:\nSubgoal 1: A.\nAction 1-1: R1 = X(a) = 1.\n\nSubgoal 2: B."
    )
    assert subgoals == ["Subgoal 1: A.", "Subgoal 2: B."]
    assert actions == [["Action 1-1: R1 = X(a) = 1."], []]


# ---------------------------------------------------------------------------------------
# Datasets: ids, drops and the Output carry
# ---------------------------------------------------------------------------------------


def test_convert_annotations_drops_empty_blocks_and_numbers_kept_records() -> None:
    rows = raws("complex_qa")
    plan = convert_annotations(rows, domain="complex_qa", module="plan")
    assert [r["id"] for r in plan.records] == ["complex_qa_0", "complex_qa_1"]
    assert [r["dataset"] for r in plan.records] == ["complex_qa", "complex_qa"]
    assert plan.skipped == [(1, "subgoal 1 has no actions")]
    assert plan.records[1]["messages"] == [
        u(PLAN.format("What is the population of Albany, Georgia?")),
        a("Subgoal 1: Obtain the population of Albany, Georgia."),
        u("The executed result for Subgoal 1 is 75,249. Should we stop planning?"),
        a(STOP),
    ]
    ground = convert_annotations(rows, domain="complex_qa", module="ground")
    assert len(ground.records) == 2 and [i for i, _ in ground.skipped] == [1]
    assert ground.records[1]["messages"][1] == a(
        "R1 = KnowledgeQuery(Albany, Georgia); R2 = ParagraphRetrieve(R1, Query: What is the population of "
        "Albany, Georgia?); R3 = QA([R2], Question: What is the population of Albany, Georgia?)"
    )
    # One-time conversion never drops: the empty block contributes nothing.
    onetime = convert_annotations(rows, domain="complex_qa", formulation="onetime", module="ground")
    assert len(onetime.records) == 3 and not onetime.skipped
    assert onetime.records[1]["messages"][0]["content"].endswith(
        "Subgoals to be grounded: Subgoal 1: Find the page of Albany, Georgia.; Subgoal 2: Obtain the population.\n"
    )
    assert onetime.records[1]["messages"][1]["content"].startswith("R1 = KnowledgeQuery(Albany, Georgia); ")


def test_output_rename_carries_across_records_like_the_original() -> None:
    rows = raws("maths")
    # Alone, a record whose first subgoal ends with Output is dropped (no earlier R<k>).
    with pytest.raises(ConversionSkipped):
        ground_dialogue(rows[2], domain="maths")
    with pytest.raises(ConversionSkipped):
        plan_dialogue(rows[2], domain="maths")
    # Over the dataset the original's leaked counter (R1 from the previous record) is used.
    ground = convert_annotations(rows, domain="maths", module="ground")
    assert not ground.skipped
    assert ground.records[2]["messages"][1] == a("R2 = Calculator(28 * 1/7)")
    assert ground.records[0]["messages"] == MATHS_GROUND_ITERATIVE
    plan = convert_annotations(rows, domain="maths", module="plan")
    assert plan.records[2]["messages"][2] == u(
        "The executed result for Subgoal 1 is 4. Should we stop planning?"
    )


def test_feedback_output_rename_in_planner_turn() -> None:
    raw = {
        "task": "t",
        "subgoal_plan": "Subgoal 1: A.\nAction 1-1: R3 = Calculator(1 + 1) = 2.\n\n"
        "Subgoal 2: B.\nAction 2-1: Output = Calculator(R3) = Output",
    }
    turns = plan_dialogue(raw, domain="maths")
    assert turns[4] == u("The executed result for Subgoal 2 is R4. Should we stop planning?")


def test_multimodal_plans_but_has_no_grounding_interface() -> None:
    raw = raws("complex_qa")[0]
    result = convert_annotations([raw], domain="multimodal", module="plan")
    assert result.records[0]["id"] == "multimodal_0"
    assert result.records[0]["messages"] == QA_PLAN_ITERATIVE
    with pytest.raises(ValueError, match="No grounding interface"):
        convert_annotations([raw], domain="multimodal", module="ground")
    with pytest.raises(ValueError, match="Unknown Lumos domain"):
        plan_dialogue(raw, domain="chess")
    with pytest.raises(ValueError, match="formulation"):
        convert_annotations([raw], domain="maths", formulation="twice")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# JSONL reading / writing / validation
# ---------------------------------------------------------------------------------------


def test_jsonl_round_trip(tmp_path: Path) -> None:
    records = convert_annotations(raws("web_agent"), domain="web_agent", module="ground").records
    path = tmp_path / "out" / "web.jsonl"
    assert write_annotations(records, path) == 1
    assert read_annotations(path) == records
    assert json.loads(path.read_text().splitlines()[0])["messages"] == WEB_GROUND_ITERATIVE
    raw_path = tmp_path / "raw.jsonl"
    write_raw_annotations(raws("maths"), raw_path)
    assert read_raw_annotations(raw_path) == raws("maths")
    array_path = tmp_path / "raw.json"
    array_path.write_text(json.dumps(raws("maths")))
    assert read_raw_annotations(array_path)[0]["ans"] == 48


GOOD = {"dataset": "maths", "id": "maths_0", "messages": [u("q"), a("x")]}


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", r"bad\.jsonl:2: invalid JSON"),
        (json.dumps({**GOOD, "messages": []}), r"bad\.jsonl:2: 'messages' must be a non-empty list"),
        (
            json.dumps({**GOOD, "messages": [a("x")]}),
            r":2: message 0 has role 'assistant' but roles must alternate",
        ),
        (json.dumps({**GOOD, "messages": [u("q"), u("q")]}), r":2: message 1 has role 'user'"),
        (
            json.dumps({**GOOD, "messages": [u("q"), a("x"), u("y")]}),
            r":2: the dialogue must end with an assistant",
        ),
        (json.dumps({**GOOD, "messages": [{"role": "system", "content": "s"}]}), r"role 'system'"),
        (
            json.dumps({**GOOD, "messages": [u("q"), {"role": "assistant", "content": 3}]}),
            r"content must be a string",
        ),
        (json.dumps({**GOOD, "messages": [u("q"), "x"]}), r"message 1 must be an object"),
        (
            json.dumps({"dataset": "maths", "messages": GOOD["messages"]}),
            r":2: field 'id' must be a non-empty",
        ),
        (json.dumps({"dataset": "maths", "id": "x"}), r":2: missing field 'messages'"),
        ("[1, 2]", r":2: a record must be a JSON object"),
    ],
)
def test_read_annotations_reports_line_numbers(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n\n")
    with pytest.raises(AnnotationError, match=error):
        read_annotations(path)


def test_raw_annotation_errors_and_write_validation(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_text(
        json.dumps({"task": "t", "subgoal_plan": "Subgoal 1: x"}) + "\n" + json.dumps({"task": "t"}) + "\n"
    )
    with pytest.raises(AnnotationError, match=r"raw\.jsonl:2: field 'subgoal_plan'"):
        read_raw_annotations(path)
    with pytest.raises(AnnotationError, match="record 1: message 0"):
        write_annotations([GOOD, {**GOOD, "messages": [a("x")]}], tmp_path / "never.jsonl")
    assert not (tmp_path / "never.jsonl").exists()


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


def test_cli_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "maths_ground.jsonl"
    argv = ["convert", "--input", str(FIXTURES / "maths.jsonl"), "--domain", "maths"]
    assert cli_main([*argv, "--formulation", "iterative", "--module", "ground", "--output", str(out)]) == 0
    records = read_annotations(out)
    assert [r["id"] for r in records] == ["maths_0", "maths_1", "maths_2"]
    assert records[1]["messages"] == COUNT_GROUND_ITERATIVE
    assert "wrote 3 records" in capsys.readouterr().out
    qa_out = tmp_path / "qa.jsonl"
    qa_argv = ["convert", "--input", str(FIXTURES / "complex_qa.jsonl"), "--domain", "complex_qa"]
    assert cli_main([*qa_argv, "--module", "plan", "--output", str(qa_out)]) == 0
    assert "skipped record 1" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    assert (
        cli_main(
            ["convert", "--input", str(bad), "--domain", "maths", "--module", "plan", "--output", str(out)]
        )
        == 2
    )
    assert "bad.jsonl:1: invalid JSON" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Agent runs -> records
# ---------------------------------------------------------------------------------------


@tool("Calculator")
def calculator(formula: str) -> str:
    """Calculate the input formula."""
    left, op, right = formula.split()
    values = {"+": int(left) + int(right), "*": int(left) * int(right)}
    return str(values[op])


def _run() -> dict[str, Any]:
    planner = FakeListLLM(
        responses=["Subgoal 1: Add 2 and 3.", "No, I will keep planning. Subgoal 2: Multiply it by 4.", STOP]
    )
    grounder = FakeListLLM(responses=["R1 = Calculator(2 + 3)", "R2 = Calculator(R1 * 4)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths")
    return agent.invoke("What is (2 + 3) * 4?")


def test_run_to_dialogues_reproduces_the_agent_turns(tmp_path: Path) -> None:
    result = _run()
    assert result["answer"] == "20"
    records = run_to_dialogues(result, dataset="maths", run_id=7, gold="20")
    assert [r["id"] for r in records] == ["maths_7_plan", "maths_7_ground"]
    assert records[0]["messages"] == result["planner_turns"]
    assert records[1]["messages"] == result["grounder_turns"]
    assert records[0]["messages"][-1] == a(STOP)
    assert records[1]["messages"][1] == a("R1 = Calculator(2 + 3)")
    assert records[1]["messages"][3] == a("R2 = Calculator(R1 * 4)")
    write_annotations(records, tmp_path / "runs.jsonl")
    assert read_annotations(tmp_path / "runs.jsonl") == records
    # Gold filtering: numeric and normalised matches keep, mismatches drop.
    assert len(run_to_dialogues(result, gold="20.0")) == 2
    assert len(run_to_dialogues(result, gold=["19", "20"], modules=("plan",))) == 1
    assert run_to_dialogues(result, gold="21") == []
    assert run_to_dialogues(result, gold="x", match=lambda ans, gold: True) != []
    assert len(runs_to_dialogues([result, result], golds=["20", "0"])) == 2
    with pytest.raises(ValueError, match="modules"):
        run_to_dialogues(result, modules=("execute",))  # type: ignore[arg-type]
