"""The small-model profile in the engine: grammar-constrained calls and answer substitution."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.outputs import LLMResult
from langchain_core.tools import tool
from pydantic import Field

from langchain_lumos import LumosContext, create_lumos_agent
from langchain_lumos.domains import get_domain
from langchain_lumos.profiles import small_model_profile
from langchain_lumos.testing import ScriptedLLM


class GrammarLLM(ScriptedLLM):
    """A scripted LLM that declares grammar support and records the grammars it gets."""

    supports_grammar: bool = True
    grammars: list[str | None] = Field(default_factory=list)

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        self.grammars.append(kwargs.get("grammar"))
        return super()._generate(prompts, stop=stop, run_manager=run_manager)


@tool("Calculator")
def calculator(formula: str) -> str:
    """Calculate the input formula."""
    return str(eval(formula, {"__builtins__": {}}))  # test input only


def _agent(domain: Any) -> tuple[Any, GrammarLLM, GrammarLLM]:
    planner = GrammarLLM(responses=["Subgoal 1: Add 2 and 3.", "Yes, I will stop planning."], grammars=[])
    grounder = GrammarLLM(responses=["R1 = Calculator(2 + 3)"], grammars=[])
    return create_lumos_agent(planner, grounder, [calculator], domain=domain), planner, grounder


def test_the_small_profile_constrains_planner_and_grounder() -> None:
    agent, planner, grounder = _agent(small_model_profile("maths"))
    result = agent.invoke("What is 2 + 3?")
    assert result["variables"]["R1"] == "5"
    assert planner.grammars[0] is not None and '"Subgoal 1: "' in planner.grammars[0]
    assert "Yes, I will stop planning." in (planner.grammars[1] or "")
    assert grounder.grammars[0] is not None and '"Calculator"' in grounder.grammars[0]
    assert '"R1 = "' in grounder.grammars[0]


def test_the_eval_profile_is_unconstrained_unless_asked() -> None:
    agent, planner, grounder = _agent("maths")
    agent.invoke("What is 2 + 3?")
    assert planner.grammars == [None, None] and grounder.grammars == [None]
    agent, planner, grounder = _agent("maths")
    agent.invoke("What is 2 + 3?", context=LumosContext(constrained_decoding=True))
    assert all(g is not None for g in planner.grammars + grounder.grammars)
    agent, planner, grounder = _agent(small_model_profile("maths"))
    agent.invoke("What is 2 + 3?", context=LumosContext(constrained_decoding=False))
    assert planner.grammars == [None, None] and grounder.grammars == [None]


def test_models_without_grammar_support_get_no_grammar() -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: Add 2 and 3.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=["R1 = Calculator(2 + 3)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain=small_model_profile("maths"))
    assert agent.invoke("What is 2 + 3?")["variables"]["R1"] == "5"


def test_constrained_decoding_must_be_a_boolean() -> None:
    with pytest.raises(TypeError, match="constrained_decoding"):
        LumosContext(constrained_decoding="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "expected"), [("small", "Prague"), ("eval", "Question: Where?; Answer: Prague")]
)
def test_the_small_profile_passes_a_qa_answer_to_later_actions(profile: str, expected: str) -> None:
    seen: list[str] = []

    @tool("KnowledgeQuery")
    def knowledge_query(query: str) -> str:
        """Capture the relevant webpages according to the query."""
        seen.append(query)
        return "Prague *** Prague is the capital."

    @tool("QA")
    def qa(context: str, question: str) -> str:
        """Given context, answer the given query."""
        return f"Question: {question}; Answer: Prague"

    domain = small_model_profile("complex_qa") if profile == "small" else get_domain("complex_qa")
    planner = ScriptedLLM(
        responses=["Subgoal 1: Find the city and look it up.", "Yes, I will stop planning."]
    )
    grounder = ScriptedLLM(responses=["R1 = QA(x, Question: Where?); R2 = KnowledgeQuery(R1)"])
    agent = create_lumos_agent(planner, grounder, [knowledge_query, qa], domain=domain)
    agent.invoke("Where is it?")
    assert seen == [expected]


def _qa_agent(
    grounding: str, replies: dict[str, str], domain: object, mode: str = "iterative", plan: str = ""
) -> tuple[object, list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []
    excluded: list[list[str] | None] = []

    @tool("KnowledgeQuery")
    def knowledge_query(query: str) -> str:
        """Capture the relevant webpages according to the query."""
        return f"{query} *** {query} page."

    @tool("QA")
    def qa(context: list[str] | str, question: str, exclude: list[str] | None = None) -> str:
        """Given context, answer the given query."""
        calls.append((str(context), question))
        excluded.append(exclude)
        reply = replies[question]
        return reply if reply == "No answer." else f"Question: {question}; Answer: {reply}"

    planner = ScriptedLLM(responses=[plan or "Subgoal 1: Find the city.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=[grounding])
    agent = create_lumos_agent(planner, grounder, [knowledge_query, qa], domain=domain, mode=mode)  # type: ignore[arg-type]
    agent.excluded = excluded  # type: ignore[attr-defined]
    return agent, calls


def test_the_small_profile_asks_the_task_over_the_last_qa_evidence() -> None:
    small = small_model_profile("complex_qa")
    grounding = "R1 = KnowledgeQuery(Eiffel Tower); R2 = QA([R1], Question: Who built it?)"
    agent, calls = _qa_agent(grounding, {"Who built it?": "Gustave Eiffel", "Where is it?": "Paris"}, small)
    assert agent.invoke("Where is it?")["answer"] == "Paris"  # type: ignore[attr-defined]
    # The final QA reads the same evidence as the grounded one, and is asked the task.
    page = "['Eiffel Tower *** Eiffel Tower page.']"
    assert calls == [(page, "Who built it?"), (page, "Where is it?")]


def test_the_small_final_qa_falls_back_to_the_last_answer_and_is_skipped_when_it_repeats() -> None:
    small = small_model_profile("complex_qa")
    grounding = "R1 = KnowledgeQuery(Eiffel Tower); R2 = QA([R1], Question: Who built it?)"
    agent, calls = _qa_agent(
        grounding, {"Who built it?": "Gustave Eiffel", "Where is it?": "No answer."}, small
    )
    assert agent.invoke("Where is it?")["answer"] == "Gustave Eiffel"  # type: ignore[attr-defined]
    assert len(calls) == 2
    # The grounded QA already asked the task (up to case and punctuation): no second call.
    agent, calls = _qa_agent("R1 = QA(x, Question: where is it)", {"where is it": "Prague"}, small)
    assert agent.invoke("Where is it?")["answer"] == "Prague"  # type: ignore[attr-defined]
    assert [q for _, q in calls] == ["where is it"]


def test_the_eval_profile_asks_the_task_over_the_qa_results() -> None:
    agent, calls = _qa_agent(
        "R1 = QA(x, Question: Where?)", {"Where?": "Prague", "Where is it?": "Prague"}, "complex_qa"
    )
    agent.invoke("Where is it?")  # type: ignore[attr-defined]
    assert calls == [("x", "Where?"), ("Question: Where?; Answer: Prague;", "Where is it?")]


_HOP = (
    "R1 = KnowledgeQuery(Timbuktu); R2 = QA([R1], Question: Which country is Timbuktu in?); "
    "R3 = KnowledgeQuery(R2); R4 = QA([R3], Question: What is the capital of R2?)"
)
_HOP_REPLIES = {"Which country is Timbuktu in?": "Mali", "What is the capital of Mali?": "Bamako"}


@pytest.mark.parametrize("mode", ["onetime", "iterative"])
def test_the_small_task_asked_qa_excludes_the_bridge_entity(mode: str) -> None:
    # Not a question the nested-question rule splits (it does not open with a question
    # word), so the scripted plan and grounding stand.
    task = "Timbuktu lies in a country: what is its capital?"
    replies = {**_HOP_REPLIES, task: "Bamako"}
    plan = "Subgoal 1: Obtain the country of Timbuktu.; Subgoal 2: Obtain the capital of that country."
    agent, calls = _qa_agent(
        _HOP, replies, small_model_profile("complex_qa", mode=mode), mode=mode, plan=plan
    )
    assert agent.invoke(task)["answer"] == "Bamako"  # type: ignore[attr-defined]
    # The task is asked over the second hop's page (the last QA's, in both modes), and the
    # bridge (R2's answer, looked up by R3 = KnowledgeQuery(R2)) may not be its answer.
    assert calls[-1] == ("['Mali *** Mali page.']", task)
    assert agent.excluded[-1] == ["Mali"]  # type: ignore[attr-defined]
    assert all(e is None for e in agent.excluded[:-1])  # type: ignore[attr-defined]


def test_bridge_answers_follow_the_evidence_chain() -> None:
    from langchain_lumos.executor import bridge_answers
    from langchain_lumos.parsing import parse_actions

    def state(grounding: str, store: dict[str, str]) -> dict[str, object]:
        actions = [
            {"id": f"a{i}", "variables": list(a.variables), "name": a.name, "args": a.args}
            for i, a in enumerate(parse_actions(grounding).actions)
        ]
        return {"actions": actions, "variables": store}

    store = {
        "R1": "page",
        "R2": "Question: q; Answer: Mali",
        "R3": "page",
        "R4": "Question: c; Answer: Bamako",
    }
    hop = state(_HOP, store)
    assert bridge_answers(hop, hop["actions"][-1]) == ["Mali"]  # type: ignore[arg-type,index]
    assert bridge_answers(hop, hop["actions"][1]) == []  # type: ignore[arg-type,index]
    # Iterative: the second subgoal looks the answer up by name.
    named = state(_HOP.replace("KnowledgeQuery(R2)", "KnowledgeQuery(mali)"), store)
    assert bridge_answers(named, named["actions"][-1]) == ["Mali"]  # type: ignore[arg-type,index]
    # A second lookup of something else is no hop.
    other = state(_HOP.replace("KnowledgeQuery(R2)", "KnowledgeQuery(Niger River)"), store)
    assert bridge_answers(other, other["actions"][-1]) == []  # type: ignore[arg-type,index]


@pytest.mark.parametrize(("profile", "expected"), [("small", "Statue of Liberty"), ("eval", "Liberty")])
def test_the_small_profile_searches_the_whole_name_the_question_gives(profile: str, expected: str) -> None:
    from langchain_lumos.tools.complex_qa import KnowledgeQueryTool
    from langchain_lumos.tools.corpus import Corpus
    from langchain_lumos.tools.search import CorpusBackend

    corpus = Corpus(
        [("Liberty", "Liberty is freedom."), ("Statue of Liberty", "It was designed by Bartholdi.")]
    )
    search = KnowledgeQueryTool(backend=CorpusBackend(corpus))
    domain = small_model_profile("complex_qa") if profile == "small" else get_domain("complex_qa")
    planner = ScriptedLLM(responses=["Subgoal 1: Obtain the designer.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=["R1 = KnowledgeQuery(Liberty)"])
    state = create_lumos_agent(planner, grounder, [search], domain=domain).invoke(
        "Who designed the Statue of Liberty?"
    )
    assert state["actions"][0]["text"] == f"R1 = KnowledgeQuery({expected})"
    assert state["observations"][0]["output"].startswith(f"{expected} *** ")


@pytest.mark.parametrize(("profile", "expected"), [("small", 1), ("eval", 2)])
def test_a_one_time_small_plan_drops_a_hop_the_task_never_asks(profile: str, expected: int) -> None:
    domain = small_model_profile("complex_qa", mode="onetime") if profile == "small" else "complex_qa"
    plan = "Subgoal 1: Obtain the composer of the ballet.; Subgoal 2: Obtain the birthplace of that composer."
    grounding = "R1 = QA(x, Question: Who composed the ballet?)"
    replies = {
        "Who composed the ballet?": "Tchaikovsky",
        "Who composed the ballet The Nutcracker?": "Tchaikovsky",
    }
    agent, _ = _qa_agent(grounding, replies, domain, mode="onetime", plan=plan)
    state = agent.invoke("Who composed the ballet The Nutcracker?")  # type: ignore[attr-defined]
    assert len(state["subgoals"]) == expected
