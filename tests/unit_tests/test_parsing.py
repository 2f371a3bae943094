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


def test_stop_planning_eval_rule_is_the_original_substring() -> None:
    assert parse_plan("Yes, I will stop planning.").stop
    assert parse_plan("Yes, I will stop planning").stop
    assert not parse_plan("No, I will keep planning. Subgoal 2: x").stop
    # The eval-compatible rule is `"Yes, I will stop planning" in output` only.
    strict = parse_plan("No, I will stop planning.")
    assert not strict.stop and strict.error
    assert not parse_plan("I will stop planning now").stop
    repeat = parse_plan("No, I will keep planning. Subgoal 2: Find X.", previous=["Find X."])
    assert not repeat.stop and [s.text for s in repeat.subgoals] == ["Find X."]


def test_loose_stop_rules_of_the_small_model_profile() -> None:
    assert parse_plan("No, I will stop planning.", loose_stop=True).stop  # what small models write
    assert parse_plan("I will stop planning now", loose_stop=True).stop
    # A subgoal that only repeats an earlier one stops the plan.
    assert parse_plan(
        "No, I will keep planning. Subgoal 3: find x", loose_stop=True, previous=["Find X."]
    ).stop
    fresh = parse_plan("Subgoal 3: Find Y.", loose_stop=True, previous=["Find X."])
    assert not fresh.stop and [s.text for s in fresh.subgoals] == ["Find Y."]
    # A one-time line that repeats itself keeps each subgoal once, renumbered.
    line = "Subgoal 1: Obtain the birthplace of Kafka.; Subgoal 2: Obtain birthplace of Kafka; Subgoal 3: Find Y."
    deduped = parse_plan(line, loose_stop=True)
    assert [(s.index, s.text) for s in deduped.subgoals] == [
        (1, "Obtain the birthplace of Kafka."),
        (2, "Find Y."),
    ]
    assert len(parse_plan(line).subgoals) == 3  # the eval profile keeps what the model wrote


@pytest.mark.parametrize("digits", [10, 4301, 10_000])
def test_huge_subgoal_numbers_are_parse_errors(digits: int) -> None:
    p = parse_plan(f"Subgoal {'9' * digits}: Find X.")
    assert p.error and "digits" in p.error and not p.subgoals
    p = parse_plan(f"Subgoal 1: A; Subgoal {'1' * digits}: B")
    assert p.error and not p.subgoals
    assert parse_plan(f"Subgoal {'9' * 9}: Find X.").subgoals[0].index == 999_999_999


@pytest.mark.parametrize("digits", [10, 4301, 10_000])
def test_huge_variable_numbers_are_parse_errors(digits: int) -> None:
    parsed = parse_actions(f"R{'7' * digits} = Calculator(1 + 1); R2 = Calculator(R1 * 2)")
    assert [a.variables for a in parsed.actions] == [("R2",)]
    assert len(parsed.errors) == 1 and "digits" in parsed.errors[0].reason
    assert parse_actions(f"R{'7' * 9} = Calculator(1)").actions


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


# -- the annotation families of the original conversion prompts ----------------------------
# Action lines copied verbatim from allenai/lumos `data/incontext.py` (one block per family),
# each with the action it means: (variables, name, args, annotation).

ANNOTATED_LINES = [
    # instruction_maths_prm
    (
        "Action 1-1: R1 = Calculator((x-y) - (x+y)) = -2y ",
        (("R1",), "Calculator", "(x-y) - (x+y)", "-2y"),
    ),
    (
        "Action 3-1: R5, R6 = SolveEquation(R2=xy, R3=x/y) = -9/8, -3/5 ",
        (("R5", "R6"), "SolveEquation", "R2=xy, R3=x/y", "-9/8, -3/5"),
    ),
    (
        "Action 4-1: Output = Calculator(R4(R5, R6)) = 123/40 ",
        (("Output",), "Calculator", "R4(R5, R6)", "123/40"),
    ),
    ("Action 4-1: R9 = Code(If R8 > 0, R8, -R8) = 64 ", (("R9",), "Code", "If R8 > 0, R8, -R8", "64")),
    (
        "Action 3-1: R8 = SolveEquation(R4 + R5 + R6 = 12296) = 64 ",
        (("R8",), "SolveEquation", "R4 + R5 + R6 = 12296", "64"),
    ),
    # instruction_maths_gsm
    ("Action 2-1: R2 = Calculator(40% * p) = 2p/5 ", (("R2",), "Calculator", "40% * p", "2p/5")),
    ("Action 1-1: R1 = Define(p) = p ", (("R1",), "Define", "p", "p")),
    # instruction_qa
    (
        "Action 1-2: R2 = ParagraphRetrieve(R1, Query: How many kids did Julius Caesar have?) = "
        "Paragraph(Julius Caesar-75). ",
        (
            ("R2",),
            "ParagraphRetrieve",
            "R1, Query: How many kids did Julius Caesar have?",
            "Paragraph(Julius Caesar-75).",
        ),
    ),
    (
        "Action 1-1: R1 = KnowledgeQuery(Albany, Georgia) = WikipediaPage(Albany, Georgia). ",
        (("R1",), "KnowledgeQuery", "Albany, Georgia", "WikipediaPage(Albany, Georgia)."),
    ),
    (
        "Action 3-1: R7 = QA([R3, R6], Question: Does Monoamine Oxidase raise the levels of these chemicals?) "
        "= False. ",
        (
            ("R7",),
            "QA",
            "[R3, R6], Question: Does Monoamine Oxidase raise the levels of these chemicals?",
            "False.",
        ),
    ),
    ("Action 5-1: R9 = Calculator(R7 < R8) = False. ", (("R9",), "Calculator", "R7 < R8", "False.")),
    # instruction_web_agent
    (
        "Action 1-1: R1 = CLICK(Env, QUERY: Enter the site for flight + cruise). ",
        (("R1",), "CLICK", "Env, QUERY: Enter the site for flight + cruise", None),
    ),
    (
        "Action 3-1: R3 = TYPE(R2, QUERY: Type Atlanta as the departure location, TEXT: Atlanta). ",
        (("R3",), "TYPE", "R2, QUERY: Type Atlanta as the departure location, TEXT: Atlanta", None),
    ),
    (
        "Action 4-1: R4 = CLICK(R3, QUERY: Choose the option Atlanta, GA (ATL)). ",
        (("R4",), "CLICK", "R3, QUERY: Choose the option Atlanta, GA (ATL)", None),
    ),
    # instruction_icode (Bash): raw commands ending in a sentence period
    (
        "Action 1-1: R1 = find /testbed -name '*.php' -type f. ",
        (("R1",), "", "find /testbed -name '*.php' -type f", None),
    ),
    (
        "Action 2-2: R3 = find /testbed -name '*.php' -type f | xargs wc -l | sort -nr. ",
        (("R3",), "", "find /testbed -name '*.php' -type f | xargs wc -l | sort -nr", None),
    ),
    (
        "Action 3-1: R4 = find /system/folder3/temp -type d -empty -exec rmdir -vp --ignore-fail-on-non-empty {} +. ",
        (
            ("R4",),
            "",
            "find /system/folder3/temp -type d -empty -exec rmdir -vp --ignore-fail-on-non-empty {} +",
            None,
        ),
    ),
    (
        "Action 3-1: R3 = cat /system/folder1/data.csv | rev | cut -d, -f-5. ",
        (("R3",), "", "cat /system/folder1/data.csv | rev | cut -d, -f-5", None),
    ),
    (
        "Action 3-1: R3 = find /system -type f -mtime +31 -exec rm -f {} \\;. ",
        (("R3",), "", "find /system -type f -mtime +31 -exec rm -f {} \\;", None),
    ),
    (
        "Action 1-2: R2 = find /system -type f -name '*.txt' -exec md5sum {} + . ",
        (("R2",), "", "find /system -type f -name '*.txt' -exec md5sum {} +", None),
    ),
    (
        "Action 2-1: R3 = find /system -type f -name '*.txt' -exec md5sum {} + | awk '{print $1}'. ",
        (("R3",), "", "find /system -type f -name '*.txt' -exec md5sum {} + | awk '{print $1}'", None),
    ),
    # instruction_icode_sql: annotated observations, `=` inside conditions, calls inside SQL
    (
        "Action 1-1: R1 = SHOW TABLES = airlines, airports, flights. ",
        (("R1",), "", "SHOW TABLES", "airlines, airports, flights"),
    ),
    (
        "Action 2-3: R4 = DESCRIBE flights = Airline (type: INT), FlightNo (type: INT), SourceAirport "
        "(type: VARCHAR(255)), DestAirport (type: VARCHAR(255)). ",
        (
            ("R4",),
            "",
            "DESCRIBE flights",
            "Airline (type: INT), FlightNo (type: INT), SourceAirport (type: VARCHAR(255)), "
            "DestAirport (type: VARCHAR(255))",
        ),
    ),
    ("Action 3-1: R5 = AirportName FROM airports. ", (("R5",), "", "AirportName FROM airports", None)),
    (
        "Action 4-1: R6 = AirportCode NOT IN (SELECT SourceAirport FROM Flights UNION SELECT DestAirport FROM Flights). ",
        (
            ("R6",),
            "",
            "AirportCode NOT IN (SELECT SourceAirport FROM Flights UNION SELECT DestAirport FROM Flights)",
            None,
        ),
    ),
    (
        'Action 4-1: R4 = GovernmentForm = "US Territory". ',
        (("R4",), "", 'GovernmentForm = "US Territory"', None),
    ),
    (
        'Action 5-1: R5 = SELECT avg(GNP) , sum(Population) FROM country WHERE GovernmentForm = "US Territory". ',
        (
            ("R5",),
            "",
            'SELECT avg(GNP) , sum(Population) FROM country WHERE GovernmentForm = "US Territory"',
            None,
        ),
    ),
    (
        "Action 3-1: R3 = avg(GNP) , sum(Population) FROM country. ",
        (("R3",), "", "avg(GNP) , sum(Population) FROM country", None),
    ),
    (
        "Action 3-1: R5 = COUNT(*) FROM has_pet INNER JOIN student ON has_pet.stuid = student.stuid. ",
        (("R5",), "", "COUNT(*) FROM has_pet INNER JOIN student ON has_pet.stuid = student.stuid", None),
    ),
    ("Action 4-1: R6 = student.age > 20. ", (("R6",), "", "student.age > 20", None)),
    (
        "Action 4-1: R5 = ORDER BY Number_products DESC. ",
        (("R5",), "", "ORDER BY Number_products DESC", None),
    ),
]


@pytest.mark.parametrize(
    ("line", "expected"), ANNOTATED_LINES, ids=[line[:40] for line, _ in ANNOTATED_LINES]
)
def test_annotation_family_lines_parse_into_their_actions(
    line: str, expected: tuple[tuple[str, ...], str, str, str | None]
) -> None:
    parsed = parse_actions(line)
    assert not parsed.errors
    [action] = parsed.actions
    assert (action.variables, action.name, action.args, action.annotation) == expected


def test_paths_and_aliases_keep_their_dots() -> None:
    assert _triples("R1 = find . -name '*.py'") == [(("R1",), "", "find . -name '*.py'")]
    assert _triples("R1 = ls .") == [(("R1",), "", "ls .")]
    assert _triples("R1 = cd ..") == [(("R1",), "", "cd ..")]
    [alias] = parse_actions("Output = R9.").actions
    assert (alias.name, alias.args, alias.annotation) == ("", "R9", None)
    # A call followed by arithmetic stays an error (not a raw command).
    assert parse_actions("R1 = Calculator(3) + (4)").errors


def test_exemplar_strings_with_double_bar_separators() -> None:
    text = (
        "Action 1-1: R1 = Search(red shoes).; Action 2-1: R2 = Click(b09s3bn15c) || Action 2-2: "
        "R3 = FeatureRetrieve(R2, Query: red shoes).; Action 3-1: R4 = Click(< prev) || Action 3-2: "
        "R5 = Click(b094q7b3ss)"
    )
    assert _triples(text) == [
        (("R1",), "Search", "red shoes"),
        (("R2",), "Click", "b09s3bn15c"),
        (("R3",), "FeatureRetrieve", "R2, Query: red shoes"),
        (("R4",), "Click", "< prev"),
        (("R5",), "Click", "b094q7b3ss"),
    ]
    # `||` without a following `Action i-j:` is argument text (Bash `a || b`).
    assert _triples("R1 = test -f x || touch x") == [(("R1",), "", "test -f x || touch x")]


def test_shipped_webshop_exemplar_actions_all_parse() -> None:
    import json
    from importlib import resources

    data = json.loads(resources.files("langchain_lumos.data").joinpath("webshop_exemplars.json").read_text())
    for ground in data["ground"]:
        parsed = parse_actions(ground["actions"])
        assert not parsed.errors
        assert [a.variables[0] for a in parsed.actions] == [f"R{i + 1}" for i in range(len(parsed.actions))]
