"""The small-model profile: exemplars, answer spans, substitution, repeats, early stop, grammars."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from pydantic import Field

from langchain_lumos.domains import COMPLEX_QA, MATHS, WEBSHOP, get_domain
from langchain_lumos.parsing import parse_actions, parse_plan
from langchain_lumos.profiles import (
    SMALL_GRAMMAR_BOUNDS,
    GroundingStoppingCriteria,
    asmall_qa_answer,
    cut_grounding,
    drop_repeated_subgoals,
    evidence_sentences,
    grammar_for,
    grounding_complete,
    is_repeated_subgoal,
    profile_exemplars,
    qa_answer,
    small_model_profile,
    small_qa_answer,
    snap_to_evidence,
    substitution_value,
)
from langchain_lumos.testing import ScriptedLLM

CASES = [
    ("complex_qa", "iterative"),
    ("complex_qa", "onetime"),
    ("maths", "iterative"),
    ("maths", "onetime"),
    ("web_agent", "iterative"),
]
QA_TOOLS = ["KnowledgeQuery", "ParagraphRetrieve", "QA", "Calculator", "Code"]
MATHS_TOOLS = ["Calculator", "SetEquation", "SolveEquation", "Count", "SolveInequality", "Code", "Define"]
TOOLS = {"complex_qa": QA_TOOLS, "maths": MATHS_TOOLS, "web_agent": ["CLICK", "TYPE", "SELECT"]}
KAFKA_EVIDENCE = (
    "Evidence 1: Franz Kafka was a German-language Jewish Czech writer and novelist born in Prague, "
    "in the Austro-Hungarian Empire.\n"
    "Evidence 2: His work has been translated into several languages.\n"
)


def _assistant(dialogue: tuple[Any, ...]) -> list[str]:
    return [t["content"] for t in dialogue if t["role"] == "assistant"]


# -- exemplars ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("domain", "mode"), CASES)
def test_every_mode_and_domain_has_parseable_exemplars(domain: str, mode: str) -> None:
    plans, grounds = profile_exemplars(domain, mode)
    assert plans and grounds
    for dialogue in plans:
        previous: list[str] = []
        for i, text in enumerate(_assistant(dialogue)):
            parsed = parse_plan(text, next_index=len(previous) + 1, loose_stop=True, previous=previous)
            assert parsed.error is None, text
            if mode == "onetime":
                assert i == 0 and len(parsed.subgoals) >= 1
            previous += [s.text for s in parsed.subgoals]
    for dialogue in grounds:
        for text in _assistant(dialogue):
            actions = parse_actions(text)
            assert not actions.errors, text
            assert actions.actions


def test_complex_qa_exemplars_hold_single_hop_and_two_hop_with_a_bridge() -> None:
    for mode in ("iterative", "onetime"):
        _, grounds = profile_exemplars("complex_qa", mode)
        lines = [" ; ".join(_assistant(d)) for d in grounds]
        assert any(line.count("QA(") == 1 for line in lines)  # single hop
        assert any(line.count("QA(") == 2 for line in lines)  # two hops
    # One-time: the second hop reads the bridge entity from the first hop's answer.
    _, onetime = profile_exemplars("complex_qa", "onetime")
    assert "KnowledgeQuery(R3)" in _assistant(onetime[-1])[0]


@pytest.mark.parametrize("mode", ["iterative", "onetime"])
def test_every_grounded_maths_action_calls_a_tool(mode: str) -> None:
    _, grounds = profile_exemplars("maths", mode)
    for dialogue in grounds:
        for text in _assistant(dialogue):
            assert all(a.name == "Calculator" for a in parse_actions(text).actions)


def test_small_model_profile_applies_exemplars_and_loose_stop() -> None:
    for mode in ("iterative", "onetime"):
        small = small_model_profile("complex_qa", mode=mode)
        assert small.loose_stop
        assert (small.plan_exemplars, small.ground_exemplars) == profile_exemplars("complex_qa", mode)
    assert (
        small_model_profile("maths", mode="onetime").ground_exemplars
        != small_model_profile("maths", mode="iterative").ground_exemplars
    )


def test_small_model_profile_keeps_dataset_and_own_exemplars_and_leaves_eval_alone() -> None:
    gsm = small_model_profile("gsm8k", mode="onetime")
    assert gsm.dataset is not None and gsm.dataset.name == "gsm8k"
    assert gsm.max_subgoals == 8
    shop = small_model_profile(WEBSHOP)
    assert shop.ground_exemplars == WEBSHOP.ground_exemplars and shop.loose_stop
    # The eval-compatible domains are unchanged.
    assert COMPLEX_QA.plan_exemplars == () and not COMPLEX_QA.loose_stop
    assert get_domain("maths") == MATHS


def test_small_model_profile_replaces_exemplars_of_the_other_mode() -> None:
    iterative = small_model_profile("complex_qa", mode="iterative")
    onetime = small_model_profile(iterative, mode="onetime")
    assert onetime.plan_exemplars == profile_exemplars("complex_qa", "onetime")[0]


def test_unknown_mode_fails_fast() -> None:
    with pytest.raises(ValueError, match="mode"):
        small_model_profile("maths", mode="batch")


# -- answer substitution and repeated subgoals -------------------------------------------------------


def test_qa_answer_returns_the_answer_part() -> None:
    assert qa_answer("Question: Where was Franz Kafka born?; Answer: Prague") == "Prague"
    assert qa_answer("Question: a?; Answer: Steven Spielberg\nmore") == "Steven Spielberg"
    assert qa_answer("Answer: 1.4 million;") == "1.4 million"
    assert qa_answer("No answer.") == "No answer."


def test_substitution_value_only_rewrites_qa_results() -> None:
    assert substitution_value("Question: Who directed Jaws?; Answer: Steven Spielberg") == "Steven Spielberg"
    assert substitution_value(["a *** b"]) == ["a *** b"]
    assert substitution_value("Evidence 1: text") == "Evidence 1: text"
    assert substitution_value(41) == 41


def test_repeated_subgoal_detection() -> None:
    previous = ["Obtain the birthplace of Franz Kafka.", "Obtain the population of Prague."]
    assert is_repeated_subgoal("Subgoal 3: Obtain birthplace of Franz Kafka", previous)
    assert is_repeated_subgoal(
        "No, I will keep planning. Subgoal 3: obtain the population of Prague!", previous
    )
    assert not is_repeated_subgoal("Subgoal 3: Obtain the river of Prague.", previous)
    assert not is_repeated_subgoal("Subgoal 1: Obtain the birthplace of Franz Kafka.", [])


def test_drop_repeated_subgoals_of_a_onetime_plan() -> None:
    plan = [
        "Obtain the birthplace of Franz Kafka.",
        "Obtain the birthplace of Franz Kafka.",
        "Obtain the river of it.",
    ]
    assert drop_repeated_subgoals(plan) == [plan[0], plan[2]]
    assert drop_repeated_subgoals(plan, previous=["obtain birthplace of franz kafka"]) == [plan[2]]


# -- early stop ------------------------------------------------------------------------------------

LINE = (
    "R1 = KnowledgeQuery(Franz Kafka); R2 = ParagraphRetrieve(R1, Query: Where was Kafka born?); "
    "R3 = QA([R2], Question: Where was Kafka (the writer) born?)"
)


def test_grounding_complete_after_the_first_whole_qa() -> None:
    assert grounding_complete(LINE, "complex_qa")
    assert grounding_complete(LINE + "; R4 = KnowledgeQuery(", "hotpotqa")
    assert not grounding_complete(LINE[:-1], "complex_qa")  # QA still open
    assert not grounding_complete(
        "R1 = KnowledgeQuery(Franz Kafka); R2 = ParagraphRetrieve(R1, Q)", COMPLEX_QA
    )
    assert not grounding_complete(LINE, "complex_qa", mode="onetime")  # one-time lines run to the newline
    assert not grounding_complete(LINE, "webshop")  # no early stop rule


def test_onetime_grounding_is_complete_after_one_qa_per_planned_subgoal() -> None:
    two = LINE + "; R4 = KnowledgeQuery(R3); R5 = ParagraphRetrieve(R4, Query: x); R6 = QA([R5], Question: y)"
    assert not grounding_complete(LINE, "complex_qa", mode="onetime", subgoals=2)
    assert grounding_complete(two, "complex_qa", mode="onetime", subgoals=2)
    assert cut_grounding(two + "; R7 = QA(", "complex_qa", mode="onetime", subgoals=2) == two


def test_maths_grounding_is_complete_after_one_whole_action() -> None:
    assert grounding_complete("R1 = Calculator((3 + 4) * 2)", "maths")
    assert not grounding_complete("R1 = Calculator((3 + 4) * 2", "gsm8k")


def test_cut_grounding_keeps_the_line_up_to_its_final_action() -> None:
    assert cut_grounding(LINE + "; R4 = Calculator(1 + 1", "complex_qa") == LINE
    assert cut_grounding(LINE + ");", "complex_qa") == LINE
    assert cut_grounding("R1 = KnowledgeQuery(x\nmore", "complex_qa") == "R1 = KnowledgeQuery(x"


class _CharTokenizer:
    """One token per character: token id = code point."""

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        return "".join(chr(int(i)) for i in ids)


def test_stopping_criteria_stops_each_row_once_complete() -> None:
    torch = pytest.importorskip("torch")
    prompt = "P>"
    rows = [prompt + LINE + "; R4", prompt + "R1 = KnowledgeQuery(Franz Kaf"]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[ord(c) for c in r.ljust(width)] for r in rows])
    criteria = GroundingStoppingCriteria(_CharTokenizer(), len(prompt), "complex_qa")
    assert criteria(ids[:, :3], None).tolist() == [False, False]
    assert criteria(ids, None).tolist() == [True, False]
    onetime = GroundingStoppingCriteria(_CharTokenizer(), len(prompt), "complex_qa", mode="onetime")
    assert onetime(ids, None).tolist() == [False, False]
    counted = GroundingStoppingCriteria(
        _CharTokenizer(), len(prompt), "complex_qa", mode="onetime", subgoals=1
    )
    assert counted(ids, None).tolist() == [True, False]


# -- grammars --------------------------------------------------------------------------------------


def _accepts(grammar: str, text: str) -> bool:
    testing = pytest.importorskip("xgrammar.testing")
    return bool(testing._is_grammar_accept_string(grammar, text))


@pytest.mark.parametrize(("domain", "mode"), CASES)
def test_grammars_accept_every_exemplar_output(domain: str, mode: str) -> None:
    tools = TOOLS[domain]
    plans, grounds = profile_exemplars(domain, mode)
    for dialogue in grounds:
        first = 1
        for text in _assistant(dialogue):
            grammar = grammar_for(domain, tools, mode=mode, first_variable=first)
            assert _accepts(grammar, text + "\n"), text
            first += len(parse_actions(text).actions)
    for dialogue in plans:
        for i, text in enumerate(_assistant(dialogue), 1):
            assert _accepts(
                grammar_for(domain, tools, mode=mode, module="plan", next_index=i), text + "\n"
            ), text


def test_the_small_profile_searches_for_words_of_the_question() -> None:
    domain = small_model_profile("complex_qa", mode="iterative")
    state = {
        "task": "Who designed Kafka's Statue of Liberty?",
        "subgoals": [{"index": 1, "text": "Obtain the designer of the statue in Africa."}],
        "variables": {"R0": "Question: Who designed it?; Answer: Frédéric Bartholdi"},
    }
    grammar = grammar_for(domain, QA_TOOLS, mode="iterative", state=state)
    tail = "; R2 = ParagraphRetrieve(R1, Query: Who?); R3 = QA([R2], Question: Who?)\n"
    assert _accepts(grammar, "R1 = KnowledgeQuery(Statue of Liberty)" + tail)
    assert _accepts(grammar, "R1 = KnowledgeQuery(Kafka)" + tail)  # a possessive's bare name
    assert _accepts(grammar, "R1 = KnowledgeQuery(Frédéric Bartholdi)" + tail)  # an answer found
    assert not _accepts(grammar, "R1 = KnowledgeQuery(Dracula)" + tail)  # an exemplar's entity
    assert not _accepts(grammar, "R1 = KnowledgeQuery(Africa)" + tail)  # only a subgoal names it


def test_a_one_time_plans_exemplar_copied_hop_is_dropped() -> None:
    from langchain_lumos.profiles import asked_subgoals

    task = "Who composed the ballet The Nutcracker?"
    plan = ["Obtain the composer of the ballet The Nutcracker.", "Obtain the birthplace of that composer."]
    small = small_model_profile("complex_qa", mode="onetime")
    assert asked_subgoals(small, "onetime", task, plan) == [0]
    hops = ["Obtain the country where Timbuktu is.", "Obtain the capital of that country."]
    assert asked_subgoals(
        small, "onetime", "What is the capital of the country where Timbuktu is?", hops
    ) == [0, 1]
    # Anywhere else every subgoal is kept.
    assert asked_subgoals("complex_qa", "onetime", task, plan) == [0, 1]
    assert asked_subgoals(small_model_profile("complex_qa"), "iterative", task, plan) == [0, 1]


def test_the_small_profile_searches_for_no_word_the_corpus_has_never_seen() -> None:
    from langchain_lumos.tools.complex_qa import KnowledgeQueryTool
    from langchain_lumos.tools.corpus import Corpus
    from langchain_lumos.tools.search import CorpusBackend

    corpus = Corpus([("Bosnia and Herzegovina", "A country. Its capital is Sarajevo.")])
    search = KnowledgeQueryTool(backend=CorpusBackend(corpus))
    assert corpus.unknown("Halibegovic") and not corpus.unknown("Bosnia?") and not corpus.unknown("and")
    domain = small_model_profile("complex_qa", mode="iterative")
    state = {"task": "Faruk Halibegovic was born in what city of Bosnia and Herzegovina?"}
    tools = [search, *QA_TOOLS[1:]]
    grammar = grammar_for(domain, tools, mode="iterative", state=state)
    tail = "; R2 = ParagraphRetrieve(R1, Query: Who?); R3 = QA([R2], Question: Who?)\n"
    assert _accepts(grammar, "R1 = KnowledgeQuery(Bosnia and Herzegovina)" + tail)  # "and" stays
    assert not _accepts(grammar, "R1 = KnowledgeQuery(Faruk Halibegovic)" + tail)  # finds no page
    # A backend that cannot tell (names only, or a web search) leaves every word.
    assert _accepts(
        grammar_for(domain, QA_TOOLS, mode="iterative", state=state),
        "R1 = KnowledgeQuery(Halibegovic)" + tail,
    )


def test_the_small_profile_widens_a_search_for_part_of_a_name() -> None:
    from langchain_lumos.grounder import actions_from_text
    from langchain_lumos.profiles import link_queries
    from langchain_lumos.tools.complex_qa import KnowledgeQueryTool
    from langchain_lumos.tools.corpus import Corpus
    from langchain_lumos.tools.search import CorpusBackend

    corpus = Corpus(
        [
            ("Liberty", "Freedom."),
            ("Statue of Liberty", "Designed by Bartholdi."),
            ("Pierre Curie", "A physicist."),
        ]
    )
    search = KnowledgeQueryTool(backend=CorpusBackend(corpus))
    state = {
        "task": "Who designed the Statue of Liberty?",
        "subgoals": [{"index": 1, "text": "Obtain the wife of Pierre Curie."}],
        "variables": {"R9": "Question: Who was his colleague?; Answer: Pierre Curie"},
    }
    grounding = (
        "R1 = KnowledgeQuery(Liberty); R2 = KnowledgeQuery(R1); R3 = KnowledgeQuery(Curie); "
        "R4 = KnowledgeQuery(Query: Liberty); R5 = QA([R1], Question: Liberty?)"
    )
    actions = actions_from_text(state, grounding, 1, 0)  # type: ignore[arg-type]
    linked = link_queries(actions, state, [search])
    assert [a["text"] for a in linked] == [
        "R1 = KnowledgeQuery(Statue of Liberty)",  # from the task
        "R2 = KnowledgeQuery(R1)",  # a variable is kept
        "R3 = KnowledgeQuery(Pierre Curie)",  # from an answer found
        "R4 = KnowledgeQuery(Query: Liberty)",  # a keyword argument is kept
        "R5 = QA([R1], Question: Liberty?)",  # other actions are kept
    ]
    assert linked[0]["args"] == "Statue of Liberty" and linked[0]["id"] == actions[0]["id"]
    assert actions[0]["text"] == "R1 = KnowledgeQuery(Liberty)"  # the input is not changed
    # A backend that cannot tell (names only, or a web search) keeps every query.
    assert link_queries(actions, state, QA_TOOLS) == actions


def test_grammar_for_reads_the_state_and_bounds_arguments() -> None:
    state = {"variables": {"R1": "x", "R3": "y", "Env": None}, "subgoals": [{}, {}]}
    grammar = grammar_for("complex_qa", QA_TOOLS, mode="iterative", state=state)
    assert _accepts(grammar, "R4 = KnowledgeQuery(Prague)\n")
    assert not _accepts(grammar, "R1 = KnowledgeQuery(Prague)\n")
    assert not _accepts(grammar, "R4 = Search(Prague)\n")  # not a registered tool
    too_long = " ".join(["x"] * (SMALL_GRAMMAR_BOUNDS["max_argument_words"] + 1))
    assert not _accepts(grammar, f"R4 = KnowledgeQuery({too_long})\n")
    plan = grammar_for("complex_qa", QA_TOOLS, mode="iterative", module="plan", state=state)
    assert _accepts(plan, "No, I will keep planning. Subgoal 3: Obtain the river of Prague.\n")
    assert _accepts(plan, "Yes, I will stop planning.\n")
    assert not _accepts(plan, "Subgoal 3: Obtain the river of Prague.\n")


def test_grammar_for_uses_tool_objects_forced_prefix_and_multi_output() -> None:
    class Tool:
        def __init__(self, name: str) -> None:
            self.name = name

    shop = grammar_for(WEBSHOP, [Tool("Search"), Tool("Click")], mode="iterative")
    assert _accepts(shop, "Search(red shoes)\n")  # after the forced `R1 = `
    maths = grammar_for("maths", MATHS_TOOLS, mode="onetime")
    assert _accepts(maths, "R1 = SetEquation(x + y = 3); R2, R3 = SolveEquation(R1)\n")
    with pytest.raises(ValueError, match="name"):
        grammar_for("maths", [object()], mode="iterative")
    with pytest.raises(ValueError, match="module"):
        grammar_for("maths", MATHS_TOOLS, mode="iterative", module="execute")  # type: ignore[arg-type]


# -- short-span QA ---------------------------------------------------------------------------------


def test_evidence_sentences_strip_labels_and_titles() -> None:
    assert evidence_sentences(KAFKA_EVIDENCE)[1] == "His work has been translated into several languages."
    assert evidence_sentences(["Prague *** Prague is a city. It is old."]) == [
        "Prague is a city.",
        "It is old.",
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Answer: Prague", "Prague"),
        ("He was born in prague.", "Prague"),
        ("Evidence 6: His work has been translated into several languages.", "Prague"),
        ("I cannot tell.", "Prague"),
    ],
)
def test_snap_to_evidence_gives_a_short_span(reply: str, expected: str) -> None:
    question = "Where was Franz Kafka born?"
    assert snap_to_evidence(reply, question, evidence_sentences(KAFKA_EVIDENCE)) == expected


def test_snap_to_evidence_prefers_the_reply_order_and_ignores_echoes() -> None:
    sentences = evidence_sentences(KAFKA_EVIDENCE)
    assert (
        snap_to_evidence(
            "Franz Kafka was born in Prague, Czech Republic.", "Where was Franz Kafka born?", sentences
        )
        == "Prague"
    )
    nutcracker = [
        "The Nutcracker, Op. 71, is an 1892 two-act classical ballet by Pyotr Ilyich Tchaikovsky, set on Christmas Eve."
    ]
    echo = "The Nutcracker, Op. 71, is an 1892 two-act classical ballet by"
    assert (
        snap_to_evidence(echo, "Who composed the ballet The Nutcracker?", nutcracker)
        == "Pyotr Ilyich Tchaikovsky"
    )


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        (
            "Who wrote Hamlet?",
            "Hamlet, Prince of Denmark, is a tragedy written by William Shakespeare.",
            "William Shakespeare",
        ),
        (
            "Which dynasty did Zheng He serve?",
            "Zheng He was a Chinese admiral from the early Ming dynasty.",
            "Ming dynasty",
        ),
        (
            "Which ocean did Zheng He explore?",
            "His explorations along the Indian Ocean led to trade.",
            "Indian Ocean",
        ),
        (
            "In which city is the Eiffel Tower?",
            "The Eiffel Tower is a lattice tower in Paris, France.",
            "Paris",
        ),
    ],
)
def test_without_a_usable_reply_the_span_suits_the_question(
    question: str, sentence: str, expected: str
) -> None:
    assert snap_to_evidence("I do not know.", question, [sentence]) == expected


def test_snap_to_evidence_reads_numbers_with_units() -> None:
    sentences = [
        "Prague is the capital of the Czech Republic.",
        "Located on the Vltava River, the city has a population of about 1.4 million.",
    ]
    assert snap_to_evidence("", "What is the population of Prague?", sentences) == "1.4 million"


def test_small_qa_answer_with_an_llm_never_returns_raw_evidence() -> None:
    llm = ScriptedLLM(responses=["Evidence 1: Franz Kafka was a German-language Jewish Czech writer"])
    answer = small_qa_answer(llm, "Where was Franz Kafka born?", KAFKA_EVIDENCE)
    assert answer == "Prague"
    prompt = llm.calls[0].prompt
    assert "Question: Where was Franz Kafka born?" in prompt
    assert "born in Prague" in prompt.split("Question:")[0]  # the best sentence is shown


def test_small_qa_answer_with_a_chat_model_and_empty_evidence() -> None:
    chat = FakeListChatModel(responses=["Answer: the Austro-Hungarian Empire"])
    assert (
        small_qa_answer(chat, "In which empire was Kafka born?", KAFKA_EVIDENCE) == "Austro-Hungarian Empire"
    )
    assert small_qa_answer(chat, "Where?", "") == "No answer"


async def test_asmall_qa_answer_matches_the_sync_step() -> None:
    chat = FakeListChatModel(responses=["Answer: Prague"])
    assert await asmall_qa_answer(chat, "Where was Franz Kafka born?", KAFKA_EVIDENCE) == "Prague"
    assert await asmall_qa_answer(chat, "Where?", []) == "No answer"


class _TemplateLLM(ScriptedLLM):
    """A scripted LLM with a tokenizer that has a chat template (like LumosTransformersLLM)."""

    @property
    def tokenizer(self) -> Any:
        class Tok:
            chat_template = "chatml"

            def apply_chat_template(self, messages: Any, tokenize: bool, add_generation_prompt: bool) -> str:
                return f"<|im_start|>user\n{messages[0]['content']}<|im_end|>\n<|im_start|>assistant\n"

        return Tok()


def test_small_qa_answer_uses_the_models_chat_template() -> None:
    llm = _TemplateLLM(responses=["Prague"])
    assert small_qa_answer(llm, "Where was Franz Kafka born?", KAFKA_EVIDENCE) == "Prague"
    assert llm.calls[0].prompt.startswith("<|im_start|>user\n")


@pytest.mark.parametrize(("domain", "mode"), CASES)
def test_small_profile_grammars_end_each_exemplar_line_at_its_final_action(domain: str, mode: str) -> None:
    profiled = small_model_profile(domain, mode=mode)
    plans, grounds = profile_exemplars(domain, mode)
    for plan_dialogue, dialogue in zip(plans, grounds, strict=False):
        planned = len(parse_plan(_assistant(plan_dialogue)[0], loose_stop=True).subgoals)
        state: dict[str, Any] = {"subgoals": [{}] * planned}
        first = 1
        for text in _assistant(dialogue):
            grammar = grammar_for(profiled, TOOLS[domain], mode=mode, state=state, first_variable=first)
            assert _accepts(grammar, text + "\n"), text
            actions = parse_actions(text).actions
            if domain == "complex_qa" and actions[-1].name == "QA" and len(actions) > 1:
                # The line cannot stop before its last QA, nor run on after it.
                shorter = text.rsplit("; ", 1)[0]
                assert not _accepts(grammar, shorter + "\n"), shorter
                more = f"{text}; R{first + len(actions)} = KnowledgeQuery(x)"
                assert not _accepts(grammar, more + "\n"), more
            first += len(actions)


def test_final_rule_is_small_profile_only() -> None:
    eval_domain = get_domain("complex_qa")
    assert _accepts(grammar_for(eval_domain, QA_TOOLS, mode="iterative"), "R1 = KnowledgeQuery(Prague)\n")
    small = small_model_profile("complex_qa", mode="iterative")
    assert not _accepts(grammar_for(small, QA_TOOLS, mode="iterative"), "R1 = KnowledgeQuery(Prague)\n")
    # One-time without a plan in the state: no count, no rule.
    onetime = small_model_profile("complex_qa", mode="onetime")
    assert _accepts(grammar_for(onetime, QA_TOOLS, mode="onetime"), "R1 = KnowledgeQuery(Prague)\n")
    # No final action registered: no rule.
    assert _accepts(grammar_for(small, ["KnowledgeQuery"], mode="iterative"), "R1 = KnowledgeQuery(Prague)\n")


def test_a_next_hop_builds_on_the_last_result() -> None:
    from langchain_lumos.profiles import builds_on_result, small_plan_stop

    found = "Question: Where was Franz Kafka born?; Answer: Prague"
    assert builds_on_result("Subgoal 2: Obtain the population of Prague.", found)
    assert not builds_on_result("Obtain the population of the city where Kafka was born.", found)
    two_words = "Question: Who painted it?; Answer: Leonardo da Vinci"
    assert builds_on_result("Obtain the younger rival of Leonardo da Vinci.", two_words)
    assert not builds_on_result("Obtain the rival of Leonardo.", two_words)
    assert builds_on_result("Obtain anything.", "No answer.")  # nothing found: a new try is fine
    assert builds_on_result("Calculate the difference of the two years.", "48")  # no QA answer: no rule
    assert builds_on_result("Obtain anything.", None)
    previous = ["Obtain the birthplace of Franz Kafka."]
    assert small_plan_stop("Obtain birthplace of Franz Kafka", previous, found)  # a repeat
    assert small_plan_stop("Obtain the river of the city of Kafka.", previous, found)  # no next hop
    assert not small_plan_stop("Obtain the river of Prague.", previous, found)


class _GrammarLLM(ScriptedLLM):
    """A scripted LLM that takes grammars and records them."""

    grammars: list[Any] = Field(default_factory=list)

    @property
    def supports_grammar(self) -> bool:
        return True

    def _generate(self, prompts: list[str], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        self.grammars.append(kwargs.pop("grammar", None))
        return super()._generate(prompts, stop=stop, run_manager=run_manager, **kwargs)


def test_the_qa_step_is_constrained_to_evidence_spans_for_grammar_models() -> None:
    pytest.importorskip("xgrammar")
    testing = pytest.importorskip("xgrammar.testing")
    model = _GrammarLLM(responses=["Prague", "Prague", "Prague"])
    model.grammars = []
    assert small_qa_answer(model, "Where was Franz Kafka born?", KAFKA_EVIDENCE, constrain=True) == "Prague"
    (grammar,) = model.grammars
    assert testing._is_grammar_accept_string(grammar, "Prague\n")
    assert not testing._is_grammar_accept_string(grammar, "Paris\n")
    small_qa_answer(model, "Where was Franz Kafka born?", KAFKA_EVIDENCE)  # off by default
    assert model.grammars[-1] is None
    plain = ScriptedLLM(responses=["Prague"])  # no grammar support: no grammar is sent
    assert small_qa_answer(plain, "Where was Franz Kafka born?", KAFKA_EVIDENCE, constrain=True) == "Prague"


class _ChoiceLLM(_TemplateLLM):
    """A scripted LLM that scores choices from a table (like LumosTransformersLLM) and records each call."""

    table: dict[str, float] = Field(default_factory=dict)
    scored: list[dict[str, Any]] = Field(default_factory=list)
    templated: bool = True

    @property
    def supports_choices(self) -> bool:
        return True

    @property
    def tokenizer(self) -> Any:
        return super().tokenizer if self.templated else None

    def _generate(self, prompts: list[str], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        from langchain_core.outputs import Generation, LLMResult

        choices = kwargs.pop("choices", None)
        if choices is None:
            return super()._generate(prompts, stop=stop, run_manager=run_manager, **kwargs)
        self.scored.append({"prompt": prompts[0], "choices": choices, **kwargs})
        scores = [self.table.get(c.strip(), -20.0) for c in choices]
        best = choices[max(range(len(scores)), key=scores.__getitem__)]
        return LLMResult(generations=[[Generation(text=best, generation_info={"choice_logprobs": scores})]])


def test_answer_candidates_are_short_runs_of_the_phrases_that_may_answer() -> None:
    from langchain_lumos.profiles import answer_candidates

    spans = dict(answer_candidates("Where was Franz Kafka born?", evidence_sentences(KAFKA_EVIDENCE)))
    assert {
        "Prague",
        "Austro-Hungarian Empire",
        "Austro-Hungarian",
        "Empire",
        "German-language Jewish Czech",
    } <= set(spans)
    assert "Franz Kafka" not in spans  # the question names it
    assert spans["Prague"] == "in"  # the word before decides the prior


PRAGUE_EVIDENCE = (
    "Evidence 1: Prague is the capital of the Czech Republic. "
    "Evidence 2: Located on the Vltava River, the city has a population of about 1.4 million."
)


def test_an_excluded_bridge_entity_is_never_the_answer() -> None:
    from langchain_lumos.profiles import answer_candidates

    task = "On which river is the city where Franz Kafka was born?"
    sentences = evidence_sentences(PRAGUE_EVIDENCE)
    assert "Prague" in dict(answer_candidates(task, sentences))
    spans = dict(answer_candidates(task, sentences, exclude=["Prague"]))
    assert "Prague" not in spans and "Vltava River" in spans
    # A model that likes the bridge best still answers something else.
    likes_bridge = _ChoiceLLM(responses=["unused"], table={"Prague": -0.1, "Vltava River": -12.0})
    assert small_qa_answer(likes_bridge, task, PRAGUE_EVIDENCE) == "Prague"
    assert small_qa_answer(likes_bridge, task, PRAGUE_EVIDENCE, exclude=["Prague"]) == "Vltava River"
    # Decoded and snapped: a reply naming the bridge falls back to a span that suits the question.
    assert snap_to_evidence("Prague", task, sentences) == "Prague"
    assert snap_to_evidence("Prague", task, sentences, exclude=["Prague"]) == "Vltava River"


def test_a_span_the_evidence_says_is_what_was_asked_gets_the_prior() -> None:
    from langchain_lumos.profiles import _named_as_asked

    question = "What is the capital of Egypt?"
    evidence = "Evidence 1: Cairo is the capital, largest city, and leading cultural centre, while Alexandria is the second-largest city."
    assert _named_as_asked(question, "Cairo", evidence_sentences(evidence))
    assert not _named_as_asked(question, "Alexandria", evidence_sentences(evidence))
    # A comma between the span and "is the capital": an apposition, not the answer.
    moscow = ["Moscow, the most populous metropolitan area in Europe, is the capital of Russia."]
    assert not _named_as_asked("What is the capital of Russia?", "Europe", moscow)
    assert not _named_as_asked("Where was Franz Kafka born?", "Prague", ["Prague is the capital."])
    # A model that likes another span by less than the prior's two points answers the named one.
    near = _ChoiceLLM(responses=["unused"], table={"Saudi Arabia": -1.0, "Cairo": -4.0})
    evidence += " Evidence 2: Egypt borders Saudi Arabia."
    assert small_qa_answer(near, question, evidence) == "Cairo"


def test_a_span_named_by_the_role_asked_gets_the_prior() -> None:
    from langchain_lumos.profiles import _named_as_asked, _span_prior, answer_candidates

    eiffel = ["It is named after the engineer Gustave Eiffel, whose company built the tower."]
    question = "Who is the engineer of the Eiffel Tower?"
    assert _named_as_asked(question, "Gustave Eiffel", eiffel)
    assert not _named_as_asked(question, "Gustave", ["The engineer said Gustave was late."])
    assert _named_as_asked(
        "Who is the wife of Pierre Curie?", "Marie Curie", ["He won it with his wife, Marie Curie."]
    )
    # A number may follow "of"; a name may not.
    prague = ["Located on the Vltava River, the city has a population of about 1.4 million."]
    assert _named_as_asked("What is the population of Prague?", "1.4 million", prague)
    assert not _named_as_asked("Who is the author of Moby-Dick?", "Typee", ["He was the author of Typee."])
    # A named word may carry on a name begun by a new one; a span of named words alone is no candidate.
    spans = dict(answer_candidates(question, eiffel))
    assert "Gustave Eiffel" in spans and "Eiffel" not in spans
    # A number the question names just before a span: "the 1982 Nobel Prize".
    asked = "Which prize did Gabriel García Márquez win in 1982?"
    awards = ["He was awarded the 1972 Neustadt International Prize and the 1982 Nobel Prize in Literature."]
    prior = {
        span: _span_prior(asked, span, before, awards) for span, before in answer_candidates(asked, awards)
    }
    assert prior["Nobel Prize"] > prior["Neustadt International Prize"]


def test_the_words_after_the_noun_asked_for_are_a_candidate_lowercase_too() -> None:
    from langchain_lumos.profiles import _named_as_asked, answer_candidates

    question = "Which elements did the wife of Pierre Curie discover?"
    prize = [
        "She won the 1911 Nobel Prize for the discovery of the elements radium and polonium, by isolation."
    ]
    spans = dict(answer_candidates(question, prize))
    assert spans["radium and polonium"] == "elements"
    assert "and polonium" not in spans and "and" not in spans
    assert _named_as_asked(question, "radium and polonium", prize)
    opera = ["He wrote the ballets Swan Lake and The Sleeping Beauty, and the opera Eugene Onegin."]
    asked = "Which opera was written by the composer of The Nutcracker?"
    assert _named_as_asked(asked, "Eugene Onegin", opera)
    assert not _named_as_asked(asked, "Swan Lake", opera)
    # After the role, the span must be the whole name: not `radium` of "radium and polonium".
    assert not _named_as_asked(question, "radium", prize)


def test_names_with_the_noun_asked_for_or_a_prize_field_are_candidates() -> None:
    from langchain_lumos.profiles import _span_prior, answer_candidates

    question = "Which statue did the engineer of the Eiffel Tower help to build?"
    statue = ["He is known for his contribution to building the Statue of Liberty in New York."]
    spans = answer_candidates(question, statue)
    assert "Statue of Liberty" in dict(spans)
    assert not {"of Liberty", "Statue of"} & set(dict(spans))
    prior = {span: _span_prior(question, span, before, statue) for span, before in spans}
    assert prior["Statue of Liberty"] > prior["New York"]
    prize = ["He won the 1982 Nobel Prize in Literature."]
    spans = dict(answer_candidates("Which prize did he win in 1982?", prize))
    assert (
        "Nobel Prize in Literature" in spans
        and "Nobel Prize in" not in spans
        and "in Literature" not in spans
    )
    museum = dict(
        answer_candidates("In which museum is Guernica?", ["It is in the Museo Reina Sofía in Madrid."])
    )
    assert "Museo Reina Sofía" in museum and "Museo Reina Sofía in Madrid" not in museum


def test_the_qa_step_scores_candidate_spans_where_the_model_can() -> None:
    question = "Where was Franz Kafka born?"
    # Equal likelihoods: the prior decides (a place after "in" for "where").
    flat = _ChoiceLLM(responses=["unused"], table={})
    assert small_qa_answer(flat, question, KAFKA_EVIDENCE) == "Prague"
    (call,) = flat.scored
    assert call["prompt"].startswith("<|im_start|>user\n")
    assert call.get("choice_end") is None  # a chat turn ends at the end-of-sequence token
    assert "Prague" in call["choices"] and not flat.calls  # nothing decoded
    # A clear likelihood outweighs the prior.
    sure = _ChoiceLLM(responses=["unused"], table={"Austro-Hungarian Empire": -0.5, "Prague": -9.0})
    assert small_qa_answer(sure, question, KAFKA_EVIDENCE) == "Austro-Hungarian Empire"
    # A plain prompt: the choices follow "Answer:" after a space and end at a newline.
    plain = _ChoiceLLM(responses=["unused"], table={"Prague": -1.0}, templated=False)
    assert small_qa_answer(plain, question, KAFKA_EVIDENCE) == "Prague"
    assert plain.scored[0]["choice_end"] == "\n" and " Prague" in plain.scored[0]["choices"]
    # score=False decodes and snaps; so does a model that cannot score.
    decoding = _ChoiceLLM(responses=["He was born in Prague."], table={})
    assert small_qa_answer(decoding, question, KAFKA_EVIDENCE, score=False) == "Prague"
    assert not decoding.scored and decoding.calls
    assert small_qa_answer(_TemplateLLM(responses=["Prague"]), question, KAFKA_EVIDENCE) == "Prague"


async def test_asmall_qa_answer_scores_like_the_sync_step() -> None:
    model = _ChoiceLLM(responses=["unused"], table={"Austro-Hungarian Empire": -0.5})
    assert (
        await asmall_qa_answer(model, "Where was Franz Kafka born?", KAFKA_EVIDENCE)
        == "Austro-Hungarian Empire"
    )
    assert len(model.scored) == 1


def test_the_small_profile_plans_complex_qa_in_at_most_two_hops() -> None:
    from langchain_lumos.profiles import SMALL_MAX_SUBGOALS

    for mode in ("iterative", "onetime"):
        assert (
            small_model_profile("complex_qa", mode=mode).max_subgoals == SMALL_MAX_SUBGOALS["complex_qa"] == 2
        )
        assert small_model_profile("hotpotqa", mode=mode).max_subgoals == 2
    assert small_model_profile("maths", mode="iterative").max_subgoals == get_domain("maths").max_subgoals
    assert get_domain("complex_qa").max_subgoals > 2  # the eval profile keeps the original cap
    onetime = small_model_profile("complex_qa", mode="onetime")
    plan = grammar_for(onetime, QA_TOOLS, mode="onetime", module="plan")
    assert _accepts(plan, "Subgoal 1: a; Subgoal 2: b\n")
    assert not _accepts(plan, "Subgoal 1: a; Subgoal 2: b; Subgoal 3: c\n")


def test_the_hop_rule_applies_to_small_iterative_complex_qa_only() -> None:
    from langchain_lumos.profiles import stops_small_plan

    found = "Question: Where was Franz Kafka born?; Answer: Prague"
    previous = ["Obtain the birthplace of Franz Kafka."]
    rephrase = "Obtain the home town of Franz Kafka."
    small = small_model_profile("complex_qa", mode="iterative")
    assert stops_small_plan(small, "iterative", rephrase, previous, found)
    assert not stops_small_plan(small, "iterative", "Obtain the population of Prague.", previous, found)
    assert not stops_small_plan(small, "iterative", rephrase, [], found)  # the first subgoal
    assert not stops_small_plan("complex_qa", "iterative", rephrase, previous, found)  # eval profile
    onetime = small_model_profile("complex_qa", mode="onetime")
    assert not stops_small_plan(onetime, "onetime", rephrase, previous, found)
    maths = small_model_profile("maths", mode="iterative")
    assert not stops_small_plan(maths, "iterative", "Add the loose pencils.", ["Multiply."], "36")


def test_a_choice_question_is_answered_with_one_of_its_options() -> None:
    from langchain_lumos.profiles import answer_candidates, question_options

    question = (
        "Who was the first Russian composer known abroad, Alessandro Scarlatti or Pyotr Ilyich Tchaikovsky?"
    )
    evidence = "Evidence 1: Pyotr Ilyich Tchaikovsky was the first Russian composer whose music made a lasting impression."
    assert question_options(question) == ("Alessandro Scarlatti", "Pyotr Ilyich Tchaikovsky")
    assert question_options("Which is older, the Eiffel Tower or the Statue of Liberty?") == (
        "Eiffel Tower",
        "Statue of Liberty",
    )
    assert question_options("Where was Franz Kafka born?") == ()
    # The options are the only candidates, though the question names them.
    assert answer_candidates(question, evidence_sentences(evidence)) == [
        ("Alessandro Scarlatti", ""),
        ("Pyotr Ilyich Tchaikovsky", ""),
    ]
    table = {"Pyotr Ilyich Tchaikovsky": -1.0, "Alessandro Scarlatti": -3.0}
    assert (
        small_qa_answer(_ChoiceLLM(responses=["unused"], table=table), question, evidence)
        == "Pyotr Ilyich Tchaikovsky"
    )
    assert (
        snap_to_evidence("Tchaikovsky.", question, evidence_sentences(evidence)) == "Pyotr Ilyich Tchaikovsky"
    )
