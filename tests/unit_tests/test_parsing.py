"""The subgoal parser and the action grammar, including malformed model output."""

from __future__ import annotations

import pytest

from langchain_lumos.parsing import (
    action_dependencies,
    find_variables,
    parse_actions,
    parse_plan,
    split_arguments,
    substitute_variables,
)


def _triples(text: str) -> list[tuple[tuple[str, ...], str, str]]:
    return [(a.variables, a.name, a.args) for a in parse_actions(text).actions]


# -- subgoals ------------------------------------------------------------------------------


def test_single_subgoal() -> None:
    p = parse_plan("Subgoal 1: Find the director of Titanic.\nignored second line")
    assert not p.stop and p.error is None
    assert [(s.index, s.text) for s in p.subgoals] == [(1, "Find the director of Titanic.")]
    assert p.subgoals[0].line == "Subgoal 1: Find the director of Titanic."


def test_keep_planning_prefix() -> None:
    p = parse_plan("No, I will keep planning. Subgoal 2: Find his birth year.")
    assert [(s.index, s.text) for s in p.subgoals] == [(2, "Find his birth year.")]


def test_stop_planning() -> None:
    assert parse_plan("Yes, I will stop planning.").stop
    assert parse_plan("Yes, I will stop planning").stop
    assert parse_plan("No, I will stop planning.").stop  # what small general models write
    assert not parse_plan("No, I will keep planning. Subgoal 2: x").stop


def test_onetime_list_with_semicolons_inside_subgoals() -> None:
    p = parse_plan("Subgoal 1: Find A; note B; Subgoal 2: Find C; Subgoal 3: Compare them.")
    assert [(s.index, s.text) for s in p.subgoals] == [
        (1, "Find A; note B"),
        (2, "Find C"),
        (3, "Compare them."),
    ]


@pytest.mark.parametrize("text", ["", "   ", "No, I will", "Yes"])
def test_unreadable_plans_are_errors_not_exceptions(text: str) -> None:
    p = parse_plan(text)
    assert p.error and not p.subgoals and not p.stop


def test_unlabelled_subgoal_gets_next_index() -> None:
    p = parse_plan("Look up the population of Paris", next_index=3)
    assert [(s.index, s.text) for s in p.subgoals] == [(3, "Look up the population of Paris")]


# -- actions -------------------------------------------------------------------------------


def test_complex_qa_chain_and_semicolon_inside_argument() -> None:
    text = (
        "R1 = KnowledgeQuery(Albany, Georgia); R2 = ParagraphRetrieve(R1, Query: What is the population of "
        "Albany, Georgia?); R3 = QA([R2], Question: What is the population; roughly?)"
    )
    assert _triples(text) == [
        (("R1",), "KnowledgeQuery", "Albany, Georgia"),
        (("R2",), "ParagraphRetrieve", "R1, Query: What is the population of Albany, Georgia?"),
        (("R3",), "QA", "[R2], Question: What is the population; roughly?"),
    ]


def test_multi_output_and_output_variable() -> None:
    assert _triples("R5, R6 = SolveEquation(R2=xy, R3=x/y); Output = Calculator(R13 / 8)") == [
        (("R5", "R6"), "SolveEquation", "R2=xy, R3=x/y"),
        (("Output",), "Calculator", "R13 / 8"),
    ]


def test_alias_and_annotation_suffix() -> None:
    [alias] = parse_actions("Output = R9 = 40").actions
    assert (alias.variables, alias.name, alias.args, alias.annotation) == (("Output",), "", "R9", "40")
    assert alias.text == "Output = R9"
    [a] = parse_actions(
        "Action 1-2: R2 = ParagraphRetrieve(R1, Query: How many kids?) = Paragraph(Julius Caesar-75)."
    ).actions
    assert (a.name, a.args, a.annotation) == (
        "ParagraphRetrieve",
        "R1, Query: How many kids?",
        "Paragraph(Julius Caesar-75).",
    )
    assert a.text == "R2 = ParagraphRetrieve(R1, Query: How many kids?)"


def test_trailing_period_after_an_action() -> None:
    # The original WebShop exemplars end actions with `).`
    assert _triples("R1 = Search(red shoes).; R2 = Click(b01)") == [
        (("R1",), "Search", "red shoes"),
        (("R2",), "Click", "b01"),
    ]


def test_nested_parentheses_and_function_application() -> None:
    assert _triples("R10 = Calculator(R1(R9)); R11 = Calculator((2 + 3) * (4 - 1))") == [
        (("R10",), "Calculator", "R1(R9)"),
        (("R11",), "Calculator", "(2 + 3) * (4 - 1)"),
    ]


def test_unbalanced_parentheses_recover_next_action() -> None:
    assert _triples("R1 = Calculator((2+3) * 4; R2 = Define(x)") == [
        (("R1",), "Calculator", "(2+3) * 4"),
        (("R2",), "Define", "x"),
    ]
    assert _triples("R3 = Calculator(5 * (2 + 1) = 15") == [(("R3",), "Calculator", "5 * (2 + 1)")]


def test_web_and_webshop_markers() -> None:
    [click, typ, sel] = parse_actions(
        "R1 = CLICK(Env, QUERY: Enter the site); R3 = TYPE(R2, QUERY: Type Atlanta, TEXT: Atlanta); "
        "R7 = SELECT(R6, QUERY: Choose nights, TEXT: 6 nights)"
    ).actions
    assert split_arguments(click.args) == ("Env", [("QUERY", "Enter the site")])
    assert split_arguments(typ.args) == ("R2", [("QUERY", "Type Atlanta"), ("TEXT", "Atlanta")])
    assert split_arguments(sel.args) == ("R6", [("QUERY", "Choose nights"), ("TEXT", "6 nights")])
    [pick] = parse_actions("R7 = Pick(Item_names: R1, Item_features: [R3, R6], Query: blue shoes)").actions
    assert split_arguments(pick.args) == (
        None,
        [("Item_names", "R1"), ("Item_features", "[R3, R6]"), ("Query", "blue shoes")],
    )


def test_commas_without_keyword_do_not_split() -> None:
    assert split_arguments("Albany, Georgia") == ("Albany, Georgia", [])
    assert split_arguments("[R2, R5], Question: Who is older, A or B?") == (
        "[R2, R5]",
        [("Question", "Who is older, A or B?")],
    )
    assert split_arguments("2^0, 2^1, ..., 2^10") == ("2^0, 2^1, ..., 2^10", [])


@pytest.mark.parametrize(
    ("text", "n_ok", "n_err"),
    [
        ("garbage", 0, 1),
        ("", 0, 1),
        ("R1 = KnowledgeQuery(x); nonsense; R2 = QA([R1], Question: y)", 2, 1),
        ("R1 = KnowledgeQuery(x) trailing words", 0, 1),
        ("R1 =", 0, 1),
        ("KnowledgeQuery(x)", 0, 1),
    ],
)
def test_malformed_lines_give_structured_errors(text: str, n_ok: int, n_err: int) -> None:
    parsed = parse_actions(text)
    assert (len(parsed.actions), len(parsed.errors)) == (n_ok, n_err)
    assert all(e.reason for e in parsed.errors)


def test_semicolon_without_new_action_stays_in_argument() -> None:
    [qa] = parse_actions("R3 = QA([R2], Question: a; b)").actions
    assert qa.args == "[R2], Question: a; b"
    parsed = parse_actions("R1 = KnowledgeQuery(x); nonsense; R2 = QA([R1], Question: y)")
    assert [a.name for a in parsed.actions] == ["KnowledgeQuery", "QA"]
    assert [e.text for e in parsed.errors] == ["nonsense"]


# -- variables -----------------------------------------------------------------------------


def test_substitution_is_by_token() -> None:
    values = {"R1": "A", "R10": "B"}
    assert substitute_variables("R1 + R10 - R1x + xR1 + R2D2", values) == "A + B - R1x + xR1 + R2D2"
    assert find_variables("QA([R2, R15], Question: Env Output)") == ["R2", "R15", "Env", "Output"]
    assert substitute_variables("R1 * 2", {"R1": "3 + 4"}, lambda _n, v: f"({v})") == "(3 + 4) * 2"


def test_dependency_graph() -> None:
    actions = parse_actions(
        "R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B); R3 = ParagraphRetrieve(R1, Query: q); "
        "R4 = ParagraphRetrieve(R2, Query: q); R5 = QA([R3, R4], Question: q); R6 = Calculator(R0 + 1)"
    ).actions
    assert action_dependencies(actions) == [(), (), (0,), (1,), (2, 3), ()]
