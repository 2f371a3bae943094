"""Models and tools shared by the cookbook scripts.

With `LUMOS_COOKBOOK_FAKE=1` (the test suite) every script runs on scripted fake models
and tiny offline tools; otherwise on the offline default model (SmolLM2) and the Lumos
complex-QA tools.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseLanguageModel, BaseLLM
from langchain_core.outputs import Generation, LLMResult
from langchain_core.tools import BaseTool, StructuredTool

FAKE = os.environ.get("LUMOS_COOKBOOK_FAKE") == "1"
QUESTION = "Which year was the director of Jaws born?"

_SCRIPTS = {
    "iterative": (
        [
            "Subgoal 1: Find the director of Jaws.",
            "No, I will keep planning. Subgoal 2: Find the birth year of Steven Spielberg.",
            "Yes, I will stop planning.",
        ],
        [
            "R1 = KnowledgeQuery(Jaws); R2 = QA([R1], Question: Who directed Jaws?)",
            "R3 = KnowledgeQuery(Steven Spielberg); R4 = QA([R3], Question: When was Steven Spielberg born?)",
        ],
    ),
    "onetime": (
        ["Subgoal 1: Find the director of Jaws; Subgoal 2: Find his page; Subgoal 3: Answer the question"],
        [
            "R1 = KnowledgeQuery(Jaws); R2 = KnowledgeQuery(Steven Spielberg); "
            "R3 = QA([R1, R2], Question: In which year was the director of Jaws born?)"
        ],
    ),
}
_FACTS = {
    "Jaws": "Jaws is a 1975 film directed by Steven Spielberg.",
    "Steven Spielberg": "Steven Spielberg (born December 18, 1946) is an American director.",
}


class ScriptedLLM(BaseLLM):
    """A fake raw-prompt LLM: turn `k` of a conversation gets `responses[k]`.

    Keyed on the conversation turn (not on call order), so a run resumed in a new process
    gets the same script.
    """

    responses: list[str]

    @property
    def _llm_type(self) -> str:
        return "cookbook-scripted"

    def _generate(
        self, prompts: list[str], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> LLMResult:
        picks = [self.responses[min(p.count("<|user|>") - 1, len(self.responses) - 1)] for p in prompts]
        return LLMResult(generations=[[Generation(text=t)] for t in picks])


def models(mode: str = "iterative") -> tuple[BaseLanguageModel, BaseLanguageModel]:
    """The planner and grounder: scripted fakes, or SmolLM2 (offline default) for both."""
    if FAKE:
        planner, grounder = _SCRIPTS[mode]
        return ScriptedLLM(responses=planner), ScriptedLLM(responses=grounder)
    from langchain_lumos.models.smollm2 import load_default_llm

    llm = load_default_llm()
    return llm, llm


def fake_tools(calls: list[str] | None = None) -> list[BaseTool]:
    """Offline stand-ins for KnowledgeQuery and QA."""

    def knowledge_query(query: str) -> str:
        """Capture the relevant webpages according to the query."""
        if calls is not None:
            calls.append(f"KnowledgeQuery({query})")
        return _FACTS.get(query, f"No page about {query}.")

    def qa(context: list[str] | str, question: str) -> str:
        """Given context, answer the given query."""
        if calls is not None:
            calls.append(f"QA({question})")
        text = " ".join(context) if isinstance(context, list) else context
        answer = "1946" if "born" in question else ("Steven Spielberg" if "Spielberg" in text else "unknown")
        return f"Question: {question}; Answer: {answer}"

    return [
        StructuredTool.from_function(knowledge_query, name="KnowledgeQuery"),
        StructuredTool.from_function(qa, name="QA"),
    ]


def tools(llm: Any = None, calls: list[str] | None = None) -> list[BaseTool]:
    """The complex-QA tools (offline Wikipedia corpus), or the fakes."""
    if FAKE:
        return fake_tools(calls)
    from langchain_lumos.tools.complex_qa import complex_qa_tools

    return complex_qa_tools(llm=llm)
