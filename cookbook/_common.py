"""Models and tools shared by the cookbook scripts.

With `LUMOS_COOKBOOK_FAKE=1` (the test suite) every script runs on scripted fake models
and tiny offline tools; otherwise on the model spec in `LUMOS_MODEL` (default `smollm2`,
the offline SmolLM2 with its few-shot exemplars; any spec of `langchain_lumos.presets`,
e.g. `completions:http://localhost:8001/v1,http://localhost:8002/v1`) and the Lumos
complex-QA tools.
"""

from __future__ import annotations

import os

from langchain_core.tools import BaseTool, StructuredTool

from langchain_lumos.domains import get_domain
from langchain_lumos.presets import ResolvedModels, preset_tools, resolve_models
from langchain_lumos.testing import ScriptedLLM

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


def models(mode: str = "iterative") -> ResolvedModels:
    """The planner, grounder, QA model and domain: scripted fakes, or the `LUMOS_MODEL` spec."""
    if FAKE:
        planner, grounder = _SCRIPTS[mode]
        script = ScriptedLLM(responses=planner, by="turn")
        return ResolvedModels(
            script, ScriptedLLM(responses=grounder, by="turn"), script, "eval", get_domain("complex_qa")
        )
    return resolve_models(os.environ.get("LUMOS_MODEL", "smollm2"), domain="complex_qa", mode=mode)


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


def tools(models: ResolvedModels, calls: list[str] | None = None) -> list[BaseTool]:
    """The complex-QA tools (offline Wikipedia corpus, QA on `models.qa_llm`), or the fakes."""
    if FAKE:
        return fake_tools(calls)
    return preset_tools(models)[0]
