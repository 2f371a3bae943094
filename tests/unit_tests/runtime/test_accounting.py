"""Per-module usage accounting: planner/grounder calls and tokens, executor and tool time."""

from __future__ import annotations

import time

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_lumos.agent import create_lumos_agent
from tests.unit_tests.runtime import CallLog, qa_tools, scripted_model

PLANNER = [
    "Subgoal 1: Look up A.",
    "No, I will keep planning. Subgoal 2: Look up B.",
    "Yes, I will stop planning.",
]
GROUNDER = [
    "R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)",
    "R3 = KnowledgeQuery(B); R4 = Calculator(2 * 3)",
]


def _slow(key: str) -> None:
    time.sleep(0.05 if key.startswith("What") else 0.01)


@pytest.mark.parametrize("use_async", [False, True])
async def test_usage_per_module(use_async: bool) -> None:
    log = CallLog()
    agent = create_lumos_agent(
        scripted_model(responses=PLANNER, role="planner"),
        scripted_model(responses=GROUNDER, role="grounder"),
        qa_tools(log, hook=_slow),
    )
    result = await agent.ainvoke("What is A?") if use_async else agent.invoke("What is A?")
    usage = result["usage"]
    assert set(usage) == {
        "planner",
        "grounder",
        "executor",
        "finalize",
        "tool:KnowledgeQuery",
        "tool:QA",
        "tool:Calculator",
    }
    # scripted_model reports 10 prompt + 5 completion tokens per call.
    assert usage["planner"]["calls"] == 3
    assert usage["planner"]["prompt_tokens"] == 30
    assert usage["planner"]["completion_tokens"] == 15
    assert usage["grounder"]["calls"] == 2
    assert usage["grounder"]["prompt_tokens"] == 20
    assert usage["grounder"]["completion_tokens"] == 10
    assert usage["planner"]["seconds"] >= 0 and usage["grounder"]["seconds"] >= 0
    # Four actions; the final QA in finalize is not an executor action.
    assert usage["executor"]["calls"] == 4
    assert usage["tool:KnowledgeQuery"]["calls"] == 2
    # One QA action plus the final QA over every answer (iterative complex QA).
    assert usage["tool:QA"]["calls"] == 2
    assert usage["tool:Calculator"]["calls"] == 1
    assert usage["tool:QA"]["seconds"] >= 0.05
    assert usage["tool:KnowledgeQuery"]["seconds"] >= 0.02
    tool_seconds = sum(v["seconds"] for k, v in usage.items() if k.startswith("tool:"))
    # Tool time is the executor's actions plus the final QA (counted under `finalize`).
    final_qa = usage.get("finalize", {}).get("seconds", 0.0)
    assert usage["executor"]["seconds"] + final_qa == pytest.approx(tool_seconds, abs=1e-9)
    # Each observation carries its own timing.
    assert all(o["seconds"] > 0 for o in result["observations"])


def test_estimated_tokens_when_the_model_reports_none() -> None:
    agent = create_lumos_agent(
        FakeListLLM(responses=["Subgoal 1: Look up A; Subgoal 2: Answer"]),
        FakeListLLM(responses=["R1 = KnowledgeQuery(A)"]),
        qa_tools(CallLog()),
        mode="onetime",
    )
    usage = agent.invoke("What is A?")["usage"]
    assert usage["planner"]["calls"] == 1
    assert usage["planner"]["prompt_tokens"] > 10  # estimated from the prompt length
    assert usage["planner"]["completion_tokens"] > 0
    assert usage["grounder"]["prompt_tokens"] > usage["planner"]["prompt_tokens"]


def test_chat_model_usage_metadata() -> None:
    def reply(text: str, i: int, o: int) -> AIMessage:
        return AIMessage(text, usage_metadata={"input_tokens": i, "output_tokens": o, "total_tokens": i + o})

    agent = create_lumos_agent(
        GenericFakeChatModel(messages=iter([reply("Subgoal 1: Look up A; Subgoal 2: Answer", 100, 7)])),
        GenericFakeChatModel(messages=iter([reply("R1 = KnowledgeQuery(A)", 200, 9)])),
        qa_tools(CallLog()),
        mode="onetime",
    )
    usage = agent.invoke("What is A?")["usage"]
    assert usage["planner"] == {
        "calls": 1,
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "seconds": usage["planner"]["seconds"],
    }
    assert usage["grounder"]["prompt_tokens"] == 200
    assert usage["grounder"]["completion_tokens"] == 9
