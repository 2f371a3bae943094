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


def test_the_small_profile_answers_with_the_last_qa_answer_without_a_final_qa_call() -> None:
    calls: list[str] = []

    @tool("QA")
    def qa(context: str, question: str) -> str:
        """Given context, answer the given query."""
        calls.append(question)
        return f"Question: {question}; Answer: Prague"

    planner = ScriptedLLM(responses=["Subgoal 1: Find the city.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=["R1 = QA(x, Question: Where?)"])
    small = create_lumos_agent(planner, grounder, [qa], domain=small_model_profile("complex_qa"))
    assert small.invoke("Where is it?")["answer"] == "Prague"
    assert calls == ["Where?"]  # no final QA call over the results
    planner = ScriptedLLM(responses=["Subgoal 1: Find the city.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=["R1 = QA(x, Question: Where?)"])
    create_lumos_agent(planner, grounder, [qa], domain="complex_qa").invoke("Where is it?")
    assert calls[1:] == ["Where?", "Where is it?"]  # the eval profile asks the task at the end
