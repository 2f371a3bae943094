"""The integrated formulation's agent: one model plans and grounds in one turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from langchain_lumos import LumosContext
from langchain_lumos.domains import get_domain
from langchain_lumos.integrated import (
    ACTIONS_MARKER,
    INTEGRATED_INSTRUCTION,
    MODEL_CALLS_KEY,
    IntegratedMemory,
    create_integrated_agent,
    integrated_line,
    integrated_request,
    integrated_views,
    split_integrated,
)
from langchain_lumos.model_calls import to_messages
from langchain_lumos.prompts import MATHS_INTERFACE, ground_request, plan_request
from langchain_lumos.testing import ScriptedChatModel, ScriptedLLM

STOP = "Yes, I will stop planning."
HEAD = INTEGRATED_INSTRUCTION + MATHS_INTERFACE


@tool
def Calculator(formula: str) -> str:
    """Calculate the input formula."""
    left, _, right = formula.partition("+")
    return str(int(left) + int(right))


TOOLS: list[BaseTool] = [Calculator]

TWO_STEPS: dict[str, Any] = {
    "": "Subgoal 1: Add 2 and 3. Actions: R1 = Calculator(2 + 3)",
    "Subgoal 1 is 5.": "No, I will keep planning. Subgoal 2: Add 4 to it. Actions: R2 = Calculator(R1 + 4)",
    "Subgoal 2 is 9.": STOP,
}


def _llm(responses: Any = None) -> ScriptedLLM:
    return ScriptedLLM(responses=responses or TWO_STEPS, role="integrated")


# -- the answer format -----------------------------------------------------------------------


def test_split_integrated_iterative_answer() -> None:
    assert split_integrated(
        "No, I will keep planning. Subgoal 2: Find X. Actions: R3 = A(x); R4 = B(R3)"
    ) == (
        "No, I will keep planning. Subgoal 2: Find X.",
        "R3 = A(x); R4 = B(R3)",
    )


def test_split_integrated_onetime_answer() -> None:
    line = "Subgoal 1: A. Actions: R1 = X(a; b); R2 = Y(R1); Subgoal 2: B. Actions: R3 = Z(R2)"
    assert split_integrated(line) == ("Subgoal 1: A.; Subgoal 2: B.", "R1 = X(a; b); R2 = Y(R1); R3 = Z(R2)")


def test_split_integrated_without_marker_finds_the_actions() -> None:
    assert split_integrated("Subgoal 1: Add them. R1 = Calculator(2 + 3)") == (
        "Subgoal 1: Add them.",
        "R1 = Calculator(2 + 3)",
    )


def test_split_integrated_stop_and_no_actions() -> None:
    assert split_integrated(STOP) == (STOP, "")
    assert split_integrated("Subgoal 1: Think about it.") == ("Subgoal 1: Think about it.", "")


def test_integrated_line_and_request() -> None:
    assert integrated_line("Subgoal 1: A.", "R1 = X(a)") == "Subgoal 1: A." + ACTIONS_MARKER + "R1 = X(a)"
    assert integrated_line("Subgoal 1: A.", "") == "Subgoal 1: A."
    turn = integrated_request("maths", " What is 2 + 3? ")
    assert turn == {
        "role": "user",
        "content": HEAD + "Task: What is 2 + 3?; Initial Environment Description: None.",
    }


def test_domain_without_interface_fails_fast() -> None:
    with pytest.raises(ValueError, match="action interface"):
        integrated_views(_llm(), domain="multimodal")


def test_not_a_model_fails_fast() -> None:
    with pytest.raises(TypeError, match="chat model or LLM"):
        integrated_views("gpt", domain="maths")  # type: ignore[arg-type]


def test_tool_call_grounding_is_refused() -> None:
    with pytest.raises(ValueError, match="grounding must be 'text'"):
        create_integrated_agent(_llm(), TOOLS, domain="maths", grounding="tool_calls")


# -- runs ------------------------------------------------------------------------------------


def test_full_run_sends_the_integrated_conversation_to_an_llm() -> None:
    model = _llm()
    result = create_integrated_agent(model, TOOLS, domain="maths").invoke("What is 2 + 3 + 4?")
    assert result["answer"] == "9"
    assert result["stop_reason"] == "planner_stop"
    assert [s["text"] for s in result["subgoals"]] == ["Add 2 and 3.", "Add 4 to it."]
    assert [a["text"] for a in result["actions"]] == ["R1 = Calculator(2 + 3)", "R2 = Calculator(R1 + 4)"]
    # One model call per step: the grounder view answers from the planner call.
    assert len(model.calls) == 3
    assert model.stops == [["\n"]] * 3
    assert model.prompts[2] == (
        "<|user|>\n" + HEAD + "Task: What is 2 + 3 + 4?; Initial Environment Description: None.\n"
        "<|assistant|>\nSubgoal 1: Add 2 and 3. Actions: R1 = Calculator(2 + 3)\n\n"
        "<|user|>\nThe executed result for Subgoal 1 is 5. Should we stop planning?\n"
        "<|assistant|>\nNo, I will keep planning. Subgoal 2: Add 4 to it. Actions: R2 = Calculator(R1 + 4)\n\n"
        "<|user|>\nThe executed result for Subgoal 2 is 9. Should we stop planning?\n<|assistant|>\n"
    )
    # The modular conversations stay what the planner and grounder nodes saw.
    assert result["planner_turns"][1] == {"role": "assistant", "content": "Subgoal 1: Add 2 and 3."}
    assert [t["content"] for t in result["grounder_turns"] if t["role"] == "assistant"] == [
        "R1 = Calculator(2 + 3)",
        "R2 = Calculator(R1 + 4)",
    ]


def test_usage_counts_one_model_call_per_step() -> None:
    model = ScriptedLLM(responses=TWO_STEPS, role="integrated", usage=(100, 7))
    result = create_integrated_agent(model, TOOLS, domain="maths").invoke("What is 2 + 3 + 4?")
    planner, grounder = result["usage"]["planner"], result["usage"]["grounder"]
    assert planner["calls"] == 3
    assert planner["prompt_tokens"] == 300
    assert planner["completion_tokens"] == 21
    assert grounder["calls"] == 0  # both groundings answered from the planner's replies
    assert grounder["prompt_tokens"] == 0
    assert grounder["completion_tokens"] == 0


def test_chat_model_gets_messages() -> None:
    model = ScriptedChatModel(responses=TWO_STEPS, role="integrated")
    result = create_integrated_agent(model, TOOLS, domain="maths").invoke("What is 2 + 3 + 4?")
    assert result["answer"] == "9"
    assert len(model.calls) == 3
    last = model.prompts[-1]
    assert last.startswith(HEAD + "Task: What is 2 + 3 + 4?")
    assert "No, I will keep planning. Subgoal 2: Add 4 to it. Actions: R2 = Calculator(R1 + 4)" in last


def test_chat_answer_with_actions_on_the_next_line() -> None:
    model = ScriptedChatModel(
        responses={
            "": "Subgoal 1: Add 2 and 3.\nActions: R1 = Calculator(2 + 3)\nDone.",
            "stop planning?": STOP,
        },
        role="integrated",
    )
    result = create_integrated_agent(model, TOOLS, domain="maths").invoke("What is 2 + 3?")
    assert result["answer"] == "5"
    assert len(model.calls) == 2  # no second (grounding) call
    assert "Subgoal 1: Add 2 and 3. Actions: R1 = Calculator(2 + 3)" in model.prompts[1]


def test_train_prompt_style_is_used() -> None:
    model = _llm()
    agent = create_integrated_agent(model, TOOLS, domain="maths")
    agent.invoke("What is 2 + 3 + 4?", context=LumosContext(prompt_style="train"))
    assert model.prompts[0].startswith("<s><|user|>\n" + INTEGRATED_INSTRUCTION)


def test_onetime_run() -> None:
    model = _llm(
        [
            "Subgoal 1: Add 2 and 3. Actions: R1 = Calculator(2 + 3); Subgoal 2: Add 4. Actions: R2 = Calculator(R1 + 4)"
        ]
    )
    result = create_integrated_agent(model, TOOLS, mode="onetime", domain="maths").invoke(
        "What is 2 + 3 + 4?"
    )
    assert result["answer"] == "9"
    assert [s["text"] for s in result["subgoals"]] == ["Add 2 and 3.", "Add 4."]
    assert len(model.calls) == 1


def test_a_reply_without_actions_is_grounded_by_a_second_call() -> None:
    model = _llm(
        {
            "": "Subgoal 1: Add 2 and 3.",
            "Subgoal to be grounded:": "R1 = Calculator(2 + 3)",
            "Should we stop planning?": STOP,
        }
    )
    result = create_integrated_agent(model, TOOLS, domain="maths").invoke("What is 2 + 3?")
    assert result["answer"] == "5"
    assert len(model.calls) == 3
    assert "Subgoal to be grounded: Subgoal 1: Add 2 and 3." in model.prompts[1]
    assert result["usage"]["grounder"]["prompt_tokens"] > 0


def _per_task(task_a: str, task_b: str) -> dict[str, str]:
    return {
        task_a: "Subgoal 1: Add 2 and 3. Actions: R1 = Calculator(2 + 3)",
        task_b: "Subgoal 1: Add 2 and 3. Actions: R1 = Calculator(20 + 30)",
        "Should we stop planning?": STOP,
    }


def test_concurrent_runs_keep_their_own_actions() -> None:
    tasks = [f"Question {i}: add them." for i in range(6)]
    responses = {
        t: f"Subgoal 1: Add the numbers. Actions: R1 = Calculator({i} + {i})" for i, t in enumerate(tasks)
    }
    responses["Should we stop planning?"] = STOP
    model = _llm(responses)
    agent = create_integrated_agent(model, TOOLS, domain="maths")
    results = asyncio.run(agent.abatch(list[Any](tasks)))
    assert [r["answer"] for r in results] == [str(2 * i) for i in range(6)]
    assert len(model.calls) == 12


def test_concurrent_runs_sync_batch() -> None:
    agent = create_integrated_agent(_llm(_per_task("Task A", "Task B")), TOOLS, domain="maths")
    results = agent.batch(["Task A", "Task B", "Task A"])
    assert [r["answer"] for r in results] == ["5", "50", "5"]


def test_resume_after_plan_review_in_the_same_process() -> None:
    model = _llm()
    agent = create_integrated_agent(
        model, TOOLS, domain="maths", review=("plan",), checkpointer=InMemorySaver()
    )
    config: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    paused = agent.invoke("What is 2 + 3 + 4?", config)
    assert "__interrupt__" in paused
    paused = agent.invoke(Command(resume="approve"), config)
    result = agent.invoke(Command(resume="approve"), config)
    assert result["answer"] == "9"
    assert len(model.calls) == 3


def test_an_edited_subgoal_is_grounded_again() -> None:
    model = _llm(
        {
            "": "Subgoal 1: Add 2 and 3. Actions: R1 = Calculator(2 + 3)",
            "Subgoal to be grounded:": "R1 = Calculator(7 + 3)",
            "Should we stop planning?": STOP,
        }
    )
    agent = create_integrated_agent(
        model, TOOLS, domain="maths", review=("plan",), checkpointer=InMemorySaver()
    )
    config: RunnableConfig = {"configurable": {"thread_id": "t2"}}
    agent.invoke("What is 7 + 3?", config)
    result = agent.invoke(Command(resume={"action": "edit", "subgoal": "Add 7 and 3."}), config)
    assert result["answer"] == "10"
    assert "Subgoal to be grounded: Subgoal 1: Add 7 and 3." in model.prompts[1]


def test_resume_in_a_fresh_process_grounds_with_the_model() -> None:
    saver = InMemorySaver()
    config: RunnableConfig = {"configurable": {"thread_id": "t3"}}
    responses = {
        "": "Subgoal 1: Add 2 and 3. Actions: R1 = Calculator(2 + 3)",
        "Subgoal to be grounded:": "R1 = Calculator(2 + 3)",
        "Should we stop planning?": STOP,
    }
    first = create_integrated_agent(
        _llm(responses), TOOLS, domain="maths", review=("plan",), checkpointer=saver
    )
    first.invoke("What is 2 + 3?", config)
    model = _llm(responses)  # new views: nothing remembered
    again = create_integrated_agent(model, TOOLS, domain="maths", review=("plan",), checkpointer=saver)
    result = again.invoke(Command(resume="approve"), config)
    assert result["answer"] == "5"
    assert "Subgoal to be grounded: Subgoal 1: Add 2 and 3." in model.prompts[0]


def test_memory_is_bounded_and_used_once() -> None:
    memory = IntegratedMemory(max_entries=2)
    for i in range(3):
        memory.remember("t", i, f"Subgoal {i}: x", f"Subgoal {i}: x Actions: R1 = A({i})", f"R1 = A({i})")
    assert memory.take_actions("t", "Subgoal 0: x") is None
    assert memory.full_line("t", 0, "Subgoal 0: x") == "Subgoal 0: x"
    assert memory.take_actions("t", "No, I will keep planning. Subgoal 2: x") == "R1 = A(2)"
    assert memory.take_actions("t", "Subgoal 2: x") is None
    assert memory.full_line("t", 2, "Subgoal 2: x") == "Subgoal 2: x Actions: R1 = A(2)"


def test_views_outside_a_graph() -> None:
    model = _llm()
    planner, grounder = integrated_views(model, domain="maths")
    task = "What is 2 + 3 + 4?"
    reply = planner.invoke(to_messages([plan_request(task)]))
    assert reply.content == "Subgoal 1: Add 2 and 3."
    assert reply.response_metadata[MODEL_CALLS_KEY] == 1
    grounded = grounder.invoke(to_messages([ground_request(get_domain("maths"), task, str(reply.content))]))
    assert grounded.content == "R1 = Calculator(2 + 3)"
    assert grounded.response_metadata[MODEL_CALLS_KEY] == 0
    assert grounded.usage_metadata is not None and grounded.usage_metadata["total_tokens"] == 0
    assert len(model.calls) == 1
    with pytest.raises(ValueError, match="Not a Lumos module conversation"):
        planner.invoke("hello")


@tool
def KnowledgeQuery(query: str) -> str:
    """Capture the relevant webpages according to the query."""
    return f"Page about {query}"


@tool
def QA(context: list[str], question: str) -> str:
    """Given context, answer the given query."""
    return f"Question: {question}; Answer: Paris"


def test_complex_qa_grounding_with_earlier_results_uses_the_remembered_actions() -> None:
    model = _llm(
        {
            "": "Subgoal 1: Find the country. Actions: R1 = KnowledgeQuery(France); "
            "R2 = QA([R1], Question: Which country?)",
            "Subgoal 1 is": "No, I will keep planning. Subgoal 2: Find its capital. Actions: "
            "R3 = QA([R2], Question: What is the capital?)",
            "Subgoal 2 is": STOP,
        }
    )
    agent = create_integrated_agent(model, [KnowledgeQuery, QA], domain="complex_qa")
    result = agent.invoke("What is the capital of France?")
    assert result["answer"] == "Paris"
    assert len(model.calls) == 3
    assert result["grounder_turns"][2]["content"] == (
        "Subgoal to be grounded: Subgoal 2: Find its capital. The grounding could be based on the "
        "following results: The execution result for Subgoal 1 is Paris"
    )
    assert result["grounder_turns"][3]["content"] == "R3 = QA([R2], Question: What is the capital?)"


def test_regrounding_a_failed_subgoal_asks_the_model() -> None:
    model = _llm(
        {
            "": "Subgoal 1: Add 2 and 3. Actions: R1 = Calc(2 + 3)",
            "The previous grounding failed": "Subgoal 1: Add 2 and 3. Actions: R1 = Calculator(2 + 3)",
            "Should we stop planning?": STOP,
        }
    )
    result = create_integrated_agent(model, TOOLS, domain="maths").invoke("What is 2 + 3?")
    assert result["answer"] == "5"
    assert "The previous grounding failed" in model.prompts[1]
    assert [a["text"] for a in result["actions"]] == ["R1 = Calc(2 + 3)", "R1 = Calculator(2 + 3)"]
