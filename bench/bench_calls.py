"""Model calls and prompt tokens per question: Lumos-O, Lumos-I and the ReAct baseline.

5 scripted two-hop questions; deterministic fake models (FakeListLLM) replay each system's
ideal trajectory and deterministic tools (a toy knowledge base) answer. Tokens are counted
the same way for every system (the core's estimate, len/4 + 1, as fakes report no usage).
Runs through the evaluation harness, so accuracy is checked too.

    python bench/bench_calls.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from langchain_core.language_models import FakeListLLM
from langchain_core.tools import tool

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.evaluation import Example, create_react_baseline, evaluate

# (question, hop-1 query, hop-1 question, hop-1 answer, hop-2 question, final answer)
TASKS = [
    (
        "Who directed the film that won Best Picture in 1998?",
        "Best Picture 1998",
        "Which film won Best Picture in 1998?",
        "Titanic",
        "Who directed Titanic?",
        "James Cameron",
    ),
    (
        "In which country was the author of Hamlet born?",
        "Hamlet",
        "Who wrote Hamlet?",
        "William Shakespeare",
        "In which country was William Shakespeare born?",
        "England",
    ),
    (
        "What is the capital of the country where the Eiffel Tower is?",
        "Eiffel Tower",
        "In which country is the Eiffel Tower?",
        "France",
        "What is the capital of France?",
        "Paris",
    ),
    (
        "Which element has the atomic number of the number of planets?",
        "Solar System",
        "How many planets are in the Solar System?",
        "8",
        "Which element has atomic number 8?",
        "Oxygen",
    ),
    (
        "What language is spoken in the country whose capital is Lima?",
        "Lima",
        "Which country has Lima as its capital?",
        "Peru",
        "What language is spoken in Peru?",
        "Spanish",
    ),
]
ANSWERS = {t[2]: t[3] for t in TASKS} | {t[4]: t[5] for t in TASKS} | {t[0]: t[5] for t in TASKS}


def tools() -> list[Any]:
    @tool("KnowledgeQuery")
    def knowledge_query(query: str) -> list[str]:
        """Capture the relevant webpages according to the query."""
        return [f"{query} *** Sentence {i} about {query}." for i in range(5)]

    @tool("QA")
    def qa(context: Any, question: str) -> str:
        """Given context, answer the given query."""
        return f"Question: {question}; Answer: {ANSWERS.get(question.strip(), 'unknown')}"

    return [knowledge_query, qa]


def lumos_onetime() -> Any:
    plans, groundings = [], []
    for _q, query, q1, _a1, q2, _ in TASKS:
        plans.append(f"Subgoal 1: Find out {q1[:-1].lower()}; Subgoal 2: Answer {q2[:-1].lower()}.")
        groundings.append(
            f"R1 = KnowledgeQuery({query}); R2 = QA([R1], Question: {q1}); R3 = QA([R2], Question: {q2})"
        )
    return create_lumos_agent(
        FakeListLLM(responses=plans), FakeListLLM(responses=groundings), tools(), mode="onetime"
    )


def lumos_iterative() -> Any:
    plans, groundings = [], []
    for _q, query, q1, _a1, q2, _ in TASKS:
        plans += [
            f"Subgoal 1: Find out {q1[:-1].lower()}.",
            f"No, I will keep planning. Subgoal 2: Answer {q2[:-1].lower()}.",
            "Yes, I will stop planning.",
        ]
        groundings += [
            f"R1 = KnowledgeQuery({query}); R2 = QA([R1], Question: {q1})",
            f"R3 = QA([R2], Question: {q2})",
        ]
    return create_lumos_agent(
        FakeListLLM(responses=plans), FakeListLLM(responses=groundings), tools(), mode="iterative"
    )


def react() -> Any:
    script = []
    for _q, query, q1, a1, q2, final in TASKS:
        script += [
            f" I need to look up {query}.\nAction: KnowledgeQuery\nAction Input: {query}",
            f" Now find the first fact.\nAction: QA\nAction Input: {query}, Question: {q1}",
            f" Now the second hop.\nAction: QA\nAction Input: {a1}, Question: {q2}",
            f" I now know the final answer.\nFinal Answer: {final}",
        ]
    return create_react_baseline(FakeListLLM(responses=script), tools(), max_steps=8)


def main() -> list[dict[str, object]]:
    examples = [
        Example(id=f"t{i}", question=t[0], answer=t[5], dataset="multihop") for i, t in enumerate(TASKS)
    ]
    systems = {"lumos-onetime": lumos_onetime(), "lumos-iterative": lumos_iterative(), "react": react()}
    with tempfile.TemporaryDirectory() as out:
        report = evaluate(
            systems, examples, metric="qa", concurrency=1, output_dir=out, progress=False, plot=False
        )
    print(report.to_markdown())
    react_row = report.row("react")
    rows = []
    for row in report.rows:
        ratio = row["mean_prompt_tokens"] / react_row["mean_prompt_tokens"]
        print(
            f"{row['system']:16s} accuracy {row['accuracy']:.2f}  model calls/q {row['mean_model_calls']:.1f}  "
            f"prompt tokens/q {row['mean_prompt_tokens']:.0f} ({ratio:.2f}x ReAct)"
        )
        rows.append(
            {
                "bench": f"calls {row['system']}",
                "value": f"{row['mean_model_calls']:.1f} calls, {row['mean_prompt_tokens']:.0f} prompt tok ({ratio:.2f}x ReAct)",
                "goal": "report",
                "pass": row["accuracy"] == 1.0,
            }
        )
    return rows


if __name__ == "__main__":
    main()
