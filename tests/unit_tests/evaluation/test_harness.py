"""The harness end to end with scripted fake models, the ReAct baseline, resume and reports."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.language_models.fake_chat_models import (
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.evaluation import Example, evaluate
from langchain_lumos.evaluation.harness import aevaluate, prediction_of, read_records, usage_totals
from langchain_lumos.evaluation.react import create_react_baseline, parse_react_output, tool_arguments

FACTS = {
    "What is the capital of France?": "Paris",
    "Who wrote Hamlet?": "William Shakespeare",
    "What is the largest planet?": "Jupiter",
}
EXAMPLES = [
    Example(id=f"q{i}", question=q, answer=a, dataset="toy") for i, (q, a) in enumerate(FACTS.items())
]


def make_tools() -> list[Any]:
    @tool("KnowledgeQuery")
    def knowledge_query(query: str) -> list[str]:
        """Capture the relevant webpages according to the query."""
        return [f"{query} *** Facts about {query}."]

    @tool("QA")
    def qa(context: Any, question: str) -> str:
        """Given context, answer the given query."""
        return f"Question: {question}; Answer: {FACTS.get(question.strip(), 'unknown')}"

    return [knowledge_query, qa]


def lumos_iterative() -> Any:
    planner = FakeListLLM(responses=["Subgoal 1: Look up the topic.", "Yes, I will stop planning."])
    grounder = FakeListLLM(responses=["R1 = KnowledgeQuery(topic); R2 = QA([R1], Question: What is asked?)"])
    return create_lumos_agent(planner, grounder, make_tools(), mode="iterative")


def lumos_onetime() -> Any:
    planner = FakeListLLM(responses=["Subgoal 1: Look up the topic; Subgoal 2: Answer the question."])
    grounder = FakeListLLM(responses=["R1 = KnowledgeQuery(topic); R2 = QA([R1], Question: What is asked?)"])
    return create_lumos_agent(planner, grounder, make_tools(), mode="onetime")


def react_text() -> Any:
    # two questions answered right, the last one wrong
    script = []
    for q, a in FACTS.items():
        script.append(f"I should look it up.\nAction: QA\nAction Input: none, Question: {q}")
        script.append(f"I now know the final answer.\nFinal Answer: {a if a != 'Jupiter' else 'Saturn'}")
    return create_react_baseline(GenericFakeChatModel(messages=iter(script)), make_tools(), max_steps=4)


def failing() -> Any:
    def boom(question: str) -> dict[str, Any]:
        msg = f"model server down for {question[:10]}"
        raise ConnectionError(msg)

    return RunnableLambda(boom)


def test_end_to_end(tmp_path: Path) -> None:
    systems = {
        "lumos-iterative": lumos_iterative(),
        "lumos-onetime": lumos_onetime(),
        "react": react_text(),
        "broken": failing(),
    }
    report = evaluate(systems, EXAMPLES, metric="qa", concurrency=1, output_dir=tmp_path, progress=False)
    rows = {r["system"]: r for r in report.rows}
    assert rows["lumos-iterative"]["accuracy"] == 1.0
    assert rows["lumos-iterative"]["mean_model_calls"] == 3.0  # plan, ground, plan (stop)
    assert rows["lumos-onetime"]["accuracy"] == 1.0
    assert rows["lumos-onetime"]["mean_model_calls"] == 2.0
    assert rows["react"]["accuracy"] == pytest.approx(2 / 3)
    assert rows["react"]["mean_model_calls"] == 2.0
    assert rows["react"]["f1"] == pytest.approx(2 / 3)
    assert rows["broken"]["accuracy"] == 0.0 and rows["broken"]["n_failed"] == 3 and rows["broken"]["n"] == 3
    for row in rows.values():
        assert row["n"] == 3
        assert row["mean_latency_s"] >= 0
    assert rows["lumos-onetime"]["mean_prompt_tokens"] > 0

    records = read_records(report.results_path)
    assert len(records) == 12 == report.new_records
    broken = [r for r in records if r["system"] == "broken"]
    assert all(r["correct"] is False and "ConnectionError" in r["error"] for r in broken)
    assert all(r["stop_reason"] == "error" and r["prediction"] is None for r in broken)
    first = next(r for r in records if r["system"] == "lumos-iterative" and r["id"] == "q1")
    assert first["prediction"] == "William Shakespeare" and first["gold"] == "William Shakespeare"
    assert first["scores"] == {"em": 1.0, "f1": 1.0} and first["stop_reason"] == "planner_stop"
    assert set(first) >= {
        "system",
        "id",
        "question",
        "gold",
        "prediction",
        "correct",
        "scores",
        "model_calls",
        "prompt_tokens",
        "completion_tokens",
        "latency_s",
        "stop_reason",
        "error",
    }

    md = report.summary_md.read_text()
    assert "| system |" in md and "lumos-onetime" in md and "mean_model_calls" in md
    with report.summary_csv.open() as f:
        table = list(csv.DictReader(f))
    assert [r["system"] for r in table] == list(systems)
    assert report.plot_path is not None
    assert report.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_does_no_work(tmp_path: Path) -> None:
    calls = {"n": 0}

    async def system(question: str) -> dict[str, Any]:
        calls["n"] += 1
        return {"answer": FACTS[question], "usage": {"react": {"calls": 1, "prompt_tokens": 5}}}

    first = evaluate({"s": system}, EXAMPLES[:2], output_dir=tmp_path, progress=False, plot=False)
    assert calls["n"] == 2 and first.new_records == 2
    second = evaluate({"s": system}, EXAMPLES[:2], output_dir=tmp_path, progress=False, plot=False)
    assert calls["n"] == 2 and second.new_records == 0
    assert second.rows == first.rows
    # a larger selection runs only the missing example; a torn last line is ignored
    with (tmp_path / "results.jsonl").open("a") as f:
        f.write('{"system": "s", "id": "q2", "pred')
    third = evaluate({"s": system}, EXAMPLES, output_dir=tmp_path, progress=False, plot=False)
    assert calls["n"] == 3 and third.new_records == 1 and third.rows[0]["n"] == 3
    assert third.rows[0]["accuracy"] == 1.0 and third.rows[0]["mean_prompt_tokens"] == 5


def test_retry_errors(tmp_path: Path) -> None:
    state = {"fail": True}

    def flaky(question: str) -> str:
        if state["fail"]:
            raise RuntimeError("transient")
        return FACTS[question]

    report = evaluate({"f": flaky}, EXAMPLES[:1], output_dir=tmp_path, progress=False, plot=False)
    assert report.rows[0]["n_failed"] == 1
    state["fail"] = False
    again = evaluate({"f": flaky}, EXAMPLES[:1], output_dir=tmp_path, progress=False, plot=False)
    assert again.new_records == 0
    retried = evaluate(
        {"f": flaky}, EXAMPLES[:1], output_dir=tmp_path, progress=False, retry_errors=True, plot=False
    )
    assert (
        retried.new_records == 1 and retried.rows[0]["accuracy"] == 1.0 and retried.rows[0]["n_failed"] == 0
    )


async def test_bounded_concurrency_and_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = {"now": 0, "max": 0}

    async def slow(question: str) -> str:
        live["now"] += 1
        live["max"] = max(live["max"], live["now"])
        try:
            await asyncio.sleep(0.05 if "Hamlet" not in question else 5)
        finally:
            live["now"] -= 1
        return FACTS[question]

    many = [
        Example(id=f"{i}-{e.id}", question=e.question, answer=e.answer, dataset="toy")
        for i in range(4)
        for e in EXAMPLES
    ]
    report = await aevaluate(
        {"slow": slow}, many, concurrency=3, output_dir=tmp_path, timeout_s=0.5, progress=True, plot=False
    )
    assert live["max"] == 3
    row = report.rows[0]
    assert row["n"] == 12 and row["n_failed"] == 4 and row["accuracy"] == pytest.approx(8 / 12)
    assert all("TimeoutError" in r["error"] for r in report.records if "Hamlet" in r["question"])


def test_dataset_by_name_and_default_metric(tmp_path: Path) -> None:
    report = evaluate(
        {"yes": lambda q: "yes"}, "strategyqa", limit=3, output_dir=tmp_path, progress=False, plot=False
    )
    assert report.score_keys == ("accuracy",)
    assert report.rows[0]["accuracy"] == pytest.approx(1 / 3)  # gold: True, False, False


def test_evaluate_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        evaluate({}, EXAMPLES, output_dir=tmp_path)
    with pytest.raises(ValueError):
        evaluate({"a": lambda q: q}, EXAMPLES, output_dir=tmp_path, concurrency=0)


def test_helpers() -> None:
    assert usage_totals(
        {
            "planner": {"calls": 2, "prompt_tokens": 10, "completion_tokens": 3},
            "grounder": {"calls": 1, "prompt_tokens": 7, "completion_tokens": 2},
            "executor": {"calls": 4},
            "tool:QA": {"calls": 2},
        }
    ) == (3, 17, 5)
    assert prediction_of({"answer": None}) is None
    assert prediction_of(AIMessage("x")) == "x"
    assert prediction_of(3) == "3"


# -- the ReAct baseline -----------------------------------------------------------------------------


def test_react_text_parsing() -> None:
    assert parse_react_output("Thought.\nFinal Answer: Paris\n") == {"final": "Paris", "thought": "Thought."}
    parsed = parse_react_output('x\nAction: QA\nAction Input: "ctx, Question: q"\nObservation: fake')
    assert parsed["action"] == "QA" and parsed["action_input"] == "ctx, Question: q"
    assert "error" in parse_react_output("I am confused")
    kq, qa = make_tools()
    assert tool_arguments(kq, "Albany, Georgia") == {"query": "Albany, Georgia"}
    assert tool_arguments(qa, "some text, Question: who?") == {"context": "some text", "question": "who?"}
    assert tool_arguments(qa, '{"context": "c", "question": "q"}') == {"context": "c", "question": "q"}


def test_react_text_loop_with_llm() -> None:
    llm = FakeListLLM(
        responses=[
            " Search first.\nAction: KnowledgeQuery\nAction Input: France\nObservation: invented",
            "Bad output without an action",
            "Use a bad tool.\nAction: Google\nAction Input: x",
            "Ask.\nAction: QA\nAction Input: ctx, Question: What is the capital of France?",
            "Done.\nFinal Answer: Paris",
        ]
    )
    agent = create_react_baseline(llm, make_tools(), max_steps=6)
    assert agent.mode == "text"
    result = agent.invoke("What is the capital of France?")
    assert result["answer"] == "Paris" and result["stop_reason"] == "final_answer"
    assert result["usage"]["react"]["calls"] == 5
    assert result["usage"]["tool:KnowledgeQuery"]["calls"] == 1
    observations = [s.get("observation", "") for s in result["steps"]]
    assert observations[0] == "France *** Facts about France."  # the invented observation is cut
    assert "Invalid format" in observations[1]
    assert "not a valid tool" in observations[2]
    assert observations[3].endswith("Answer: Paris")


def test_react_step_budget() -> None:
    llm = FakeListLLM(responses=["Loop.\nAction: KnowledgeQuery\nAction Input: x"])
    result = create_react_baseline(llm, make_tools(), max_steps=3).invoke({"task": "Q?"})
    assert result["answer"] is None and result["stop_reason"] == "budget:max_steps"
    assert result["usage"]["react"]["calls"] == 3


class ToolCallingFake(FakeMessagesListChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


async def test_react_native_tool_calls() -> None:
    model = ToolCallingFake(
        responses=[
            AIMessage("", tool_calls=[{"name": "KnowledgeQuery", "args": {"query": "France"}, "id": "c1"}]),
            AIMessage(
                "",
                tool_calls=[
                    {
                        "name": "QA",
                        "args": {"context": "x", "question": "What is the capital of France?"},
                        "id": "c2",
                    }
                ],
            ),
            AIMessage("Paris", usage_metadata={"input_tokens": 30, "output_tokens": 1, "total_tokens": 31}),
        ]
    )
    agent = create_react_baseline(model, make_tools())
    assert agent.mode == "tool_calls"
    result = await agent.ainvoke("What is the capital of France?")
    assert result["answer"] == "Paris" and result["stop_reason"] == "final_answer"
    assert result["usage"]["react"]["calls"] == 3
    assert result["usage"]["tool:QA"]["calls"] == 1
    tool_messages = [m for m in result["messages"] if m.type == "tool"]
    assert json.dumps(tool_messages[0].content).count("France") >= 1
    assert "Answer: Paris" in tool_messages[1].content


def test_react_config_errors() -> None:
    with pytest.raises(ValueError):
        create_react_baseline(FakeListLLM(responses=["x"]), make_tools(), max_steps=0)
    with pytest.raises(TypeError):
        create_react_baseline(FakeListLLM(responses=["x"]), make_tools(), mode="tool_calls")
    with pytest.raises(TypeError):
        create_react_baseline(object(), make_tools())  # type: ignore[arg-type]


def test_cli_scripted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from langchain_lumos.evaluation.cli import add_eval_parser

    parser = argparse.ArgumentParser(prog="lumos")
    add_eval_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "eval",
            "--dataset",
            "svamp",
            "--limit",
            "1",
            "--model",
            "scripted",
            "--output",
            str(tmp_path),
            "--no-progress",
            "--no-plot",
            "--metric",
            "numeric_tol",
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "lumos-iterative" in out and "react" in out
    records = read_records(tmp_path / "results.jsonl")
    assert len(records) == 3 and all(r["error"] is None for r in records)
    assert {r["model_calls"] for r in records if r["system"] == "react"} == {2}
    bad = parser.parse_args(["eval", "--dataset", "svamp", "--model", "gpt", "--no-plot"])
    assert bad.func(bad) == 2
