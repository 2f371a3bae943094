"""Built prompts must equal, byte for byte, what the original Lumos scripts sent."""

from __future__ import annotations

import pytest

from langchain_lumos.domains import COMPLEX_QA, MATHS, WEB_AGENT, WEBSHOP, get_domain
from langchain_lumos.prompts import (
    Turn,
    feedback_result,
    final_qa_context,
    final_qa_question,
    ground_followup,
    ground_request,
    join_forced_prefix,
    onetime_qa_question,
    plan_feedback,
    plan_request,
    render_prompt,
    tool_interface,
)
from tests.unit_tests.fidelity import original

Q = "Who directed the film that won Best Picture in 1998?"
# The original scripts' texts, verbatim (one copy, in the fidelity reference).
PLAN_HEAD = original.PLAN_PREFIX
GROUND_HEAD = original.GROUND_HEAD
QA_IFACE = original.QA_ACTIONS
MATHS_IFACE = original.MATHS_ACTIONS


def test_planner_first_prompt_eval() -> None:
    turns = [plan_request(f"  {Q} ")]
    expected = (
        "<|user|>\nPlease provide a reasonable subgoal-based plan to solve the given task.\n"
        f"Task: {Q}; Initial Environment Description: None.\n<|assistant|>\n"
    )
    assert render_prompt(turns) == expected


def test_planner_iterative_second_turn_eval() -> None:
    turns = [
        plan_request(Q),
        Turn(role="assistant", content="Subgoal 1: Find the 1998 Best Picture winner. "),
        plan_feedback(
            COMPLEX_QA, 1, "Find the 1998 Best Picture winner.", "Question: Which film won?; Answer: Titanic"
        ),
    ]
    expected = (
        f"<|user|>\n{PLAN_HEAD}Task: {Q}; Initial Environment Description: None.\n<|assistant|>\n"
        "Subgoal 1: Find the 1998 Best Picture winner.\n\n<|user|>\n"
        "The executed result for Subgoal 1 is Question: Which film won?; Answer: Titanic. "
        "Should we stop planning?\n<|assistant|>\n"
    )
    assert render_prompt(turns) == expected


def test_planner_train_exact_style() -> None:
    turns = [
        plan_request(Q),
        Turn(role="assistant", content="Subgoal 1: Find X."),
        plan_feedback(COMPLEX_QA, 1, "Find X.", "Titanic"),
    ]
    expected = (
        f"<s><|user|>\n{PLAN_HEAD}Task: {Q}; Initial Environment Description: None.\n<|assistant|>\n"
        "Subgoal 1: Find X.</s>\n<|user|>\n"
        "The executed result for Subgoal 1 is Titanic. Should we stop planning?\n<|assistant|>\n"
    )
    assert render_prompt(turns, style="train") == expected


def test_complex_qa_grounder_first_and_followup() -> None:
    first = ground_request(COMPLEX_QA, Q, "Subgoal 1: Find the 1998 Best Picture winner.")
    assert first["content"] == (
        f"{GROUND_HEAD}{QA_IFACE}Task: {Q} \nSubgoal to be grounded: Subgoal 1: Find the 1998 Best Picture winner."
    )
    follow = ground_followup(
        COMPLEX_QA,
        "No, I will keep planning. Subgoal 2: Find its director.",
        [("Subgoal 1", "Question: Which film won?; Answer: Titanic")],
    )
    assert follow["content"] == (
        "Subgoal to be grounded: Subgoal 2: Find its director. The grounding could be based on the "
        "following results: The execution result for Subgoal 1 is Titanic"
    )
    turns = [first, Turn(role="assistant", content="R1 = KnowledgeQuery(Best Picture 1998)"), follow]
    assert render_prompt(turns) == (
        f"<|user|>\n{first['content']}\n<|assistant|>\nR1 = KnowledgeQuery(Best Picture 1998)"
        f"\n\n<|user|>\n{follow['content']}\n<|assistant|>\n"
    )


def test_complex_qa_followup_without_answers_keeps_the_phrase() -> None:
    follow = ground_followup(COMPLEX_QA, "Subgoal 2: X.", [("Subgoal 1", "No answer.")])
    assert (
        follow["content"]
        == "Subgoal to be grounded: Subgoal 2: X. The grounding could be based on the following results:"
    )


def test_complex_qa_onetime_grounder_plural() -> None:
    plan = "Subgoal 1: Find the winner.; Subgoal 2: Find its director."
    turn = ground_request(COMPLEX_QA, Q, plan, onetime=True)
    assert render_prompt([turn]) == (
        f"<|user|>\n{GROUND_HEAD}{QA_IFACE}Task: {Q} \nSubgoals to be grounded: {plan}\n<|assistant|>\n"
    )


def test_maths_grounder_keeps_keep_planning_prefix_like_the_eval_script() -> None:
    task = "Tom has 3 apples and buys 4 more. How many?"
    first = ground_request(MATHS, task, "Subgoal 1: Add the apples.")
    assert (
        first["content"]
        == f"{GROUND_HEAD}{MATHS_IFACE}Task: {task} \nSubgoal to be grounded: Subgoal 1: Add the apples."
    )
    follow = ground_followup(MATHS, "No, I will keep planning. Subgoal 2: Report it.", [("Subgoal 1", "7")])
    assert follow["content"] == "Subgoal to be grounded: No, I will keep planning. Subgoal 2: Report it."


def test_maths_feedback() -> None:
    assert (
        plan_feedback(MATHS, 2, "x", "40")["content"]
        == "The executed result for Subgoal 2 is 40. Should we stop planning?"
    )


def test_web_agent_feedback_and_interface() -> None:
    turn = plan_feedback(WEB_AGENT, 1, "Click the search button.", "ignored")
    assert turn["content"] == "We have already click the search button. Should we stop planning?"
    assert (
        plan_feedback(WEB_AGENT, 2, "Type Atlanta", "ignored")["content"]
        == "We have already type Atlanta. Should we stop planning?"
    )
    req = ground_request(WEB_AGENT, "Book a flight", "Subgoal 1: Click search.")
    assert req["content"].startswith(
        GROUND_HEAD + "The available action list is 'CLICK', 'TYPE', 'SELECT'.\nCLICK(Env, Query):"
    )
    assert req["content"].endswith(
        "according to Query.\n\nTask: Book a flight \nSubgoal to be grounded: Subgoal 1: Click search."
    )


def test_webshop_feedback_prefix_and_exemplars() -> None:
    assert (
        plan_feedback(WEBSHOP, 3, "x", "[b01, b02]")["content"]
        == "The executed result for Subgoal 3 is [b01, b02]"
    )
    exemplar = (
        Turn(role="user", content="Task A"),
        Turn(role="assistant", content="R1 = Search(a)"),
    )
    prompt = render_prompt(
        [Turn(role="user", content="Task B")], exemplars=[exemplar], assistant_prefix=WEBSHOP.ground_prefix
    )
    assert (
        prompt == "<|user|>\nTask A\n<|assistant|>\nR1 = Search(a)\n\n<|user|>\nTask B\n<|assistant|>\nR1 = "
    )


def test_render_style_errors() -> None:
    with pytest.raises(ValueError, match="style"):
        render_prompt([plan_request("x")], style="chat")  # type: ignore[arg-type]


def test_tool_interface_for_custom_tools() -> None:
    from langchain_core.tools import tool

    @tool("Lookup")
    def lookup(query: str) -> str:
        """Look a word up."""
        return query

    @tool("Add")
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    assert tool_interface([lookup, add]) == (
        "The available action list is 'Lookup' and 'Add'.\nLookup(query): Look a word up.; Add(a, b): Add two numbers.\n\n"
    )


def test_feedback_result_per_domain() -> None:
    record = "Question: Who directed Titanic?; Answer: James Cameron"
    assert feedback_result(COMPLEX_QA, record) == record
    assert feedback_result(MATHS, "x = 41") == "41"
    assert feedback_result(MATHS, ["5", "3"]) == "5, 3"
    # WebShop: the raw value, a list as its Python repr, "=" kept, "" as the original's "buy now".
    clickables = ["< prev", "black", "large", "buy now"]
    assert feedback_result(WEBSHOP, clickables) == "['< prev', 'black', 'large', 'buy now']"
    assert feedback_result(WEBSHOP, "size = large") == "size = large"
    assert feedback_result(WEBSHOP, "") == "buy now"


def test_final_qa_builders() -> None:
    results = ["Question: a?; Answer: b", "Question: c?; Answer: d"]
    assert final_qa_context(results) == "Question: a?; Answer: b; Question: c?; Answer: d;"
    assert final_qa_context([]) == ""
    assert final_qa_question(get_domain("hotpotqa"), " Who? ") == "Who?"
    assert final_qa_question(COMPLEX_QA, "Who?") == "Who?"
    assert final_qa_question(get_domain("strategyqa"), "Is it? ") == "Is it? Must answer yes/no."


def test_onetime_last_qa_question() -> None:
    task = "Was the director of Titanic born before 1960?"
    own = "Was James Cameron born before 1960?"
    assert onetime_qa_question(COMPLEX_QA, task, own, position=5) == task
    assert onetime_qa_question(get_domain("hotpotqa"), task, own, position=5) == task
    strategy = get_domain("strategyqa")
    assert onetime_qa_question(strategy, task, own, position=5) == own + " Must answer yes/no."
    assert onetime_qa_question(strategy, task, own, position=0) == own  # the original's `if idx:`


def test_join_forced_prefix() -> None:
    assert join_forced_prefix("R1 = ", "Search(red shoes)") == "R1 = Search(red shoes)"
    assert join_forced_prefix("R1 = ", " R1 = Search(red shoes)") == "R1 = Search(red shoes)"
    assert (
        join_forced_prefix("R1 = ", "R1 = R1 =Search(x); R2 = Click(R1)") == "R1 = Search(x); R2 = Click(R1)"
    )
    assert join_forced_prefix("R1 = ", "R10 = Search(x)") == "R1 = R10 = Search(x)"
    assert join_forced_prefix("", " R1 = Search(x) ") == "R1 = Search(x)"


def test_history_prefix_repeats_the_forced_prefix_in_eval_style_only() -> None:
    exemplar = (Turn(role="user", content="A"), Turn(role="assistant", content="R1 = Search(a)"))
    turns = [
        Turn(role="user", content="B"),
        Turn(role="assistant", content="R1 = Search(b)"),
        Turn(role="user", content="C"),
        Turn(role="assistant", content="R2 = Click(R1)"),
        Turn(role="user", content="D"),
    ]
    assert render_prompt(turns, exemplars=[exemplar], history_prefix="R1 = ") == (
        "<|user|>\nA\n<|assistant|>\nR1 = Search(a)\n\n"
        "<|user|>\nB\n<|assistant|>\nR1 = R1 = Search(b)\n\n<|user|>\nC\n<|assistant|>\nR2 = Click(R1)"
        "\n\n<|user|>\nD\n<|assistant|>\n"
    )
    assert render_prompt(turns, style="train", history_prefix="R1 = ") == render_prompt(turns, style="train")
    assert "R1 = R1" not in render_prompt(turns, style="train", history_prefix="R1 = ")


def test_first_grounding_keeps_the_planner_output_except_webshop() -> None:
    line = "No, I will keep planning. Subgoal 1: Find X."
    assert ground_request(COMPLEX_QA, Q, line)["content"].endswith(f"Subgoal to be grounded: {line}")
    assert ground_request(WEBSHOP, Q, line)["content"].endswith("Subgoal to be grounded: Subgoal 1: Find X.")
    assert ground_followup(COMPLEX_QA, line)["content"].startswith(
        "Subgoal to be grounded: Subgoal 1: Find X."
    )
