"""End-to-end runs of both graphs with scripted models and real (tiny) tools."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langchain_lumos import LumosContext, create_lumos_agent
from langchain_lumos.domains import COMPLEX_QA, get_domain
from langchain_lumos.prompts import (
    ground_followup,
    ground_request,
    plan_feedback,
    plan_request,
    render_prompt,
)
from langchain_lumos.testing import ScriptedLLM
from tests.unit_tests.fakes import QA_TOOLS, calculator

Q = "Where was the director of Titanic born?"


def _qa_agent(mode: str = "iterative", **kw: Any) -> tuple[Any, ScriptedLLM, ScriptedLLM]:
    if mode == "iterative":
        planner = ScriptedLLM(
            responses=[
                "Subgoal 1: Find the director of Titanic.",
                "No, I will keep planning. Subgoal 2: Find where he was born.",
                "Yes, I will stop planning.",
            ]
        )
        grounder = ScriptedLLM(
            responses=[
                "R1 = KnowledgeQuery(Titanic); R2 = ParagraphRetrieve(R1, Query: Who directed Titanic?); R3 = QA([R2], Question: Who directed Titanic?)",
                "R4 = KnowledgeQuery(James Cameron); R5 = ParagraphRetrieve(R4, Query: Where was James Cameron born?); R6 = QA([R5], Question: Where was James Cameron born?)",
            ]
        )
    else:
        planner = ScriptedLLM(
            responses=["Subgoal 1: Find the director of Titanic.; Subgoal 2: Find where he was born."]
        )
        grounder = ScriptedLLM(
            responses=[
                "R1 = KnowledgeQuery(Titanic); R2 = QA([R1], Question: Who directed Titanic?); R3 = KnowledgeQuery(James Cameron); "
                "R4 = QA([R3], Question: Where was James Cameron born?)"
            ]
        )
    return create_lumos_agent(planner, grounder, QA_TOOLS, mode=mode, **kw), planner, grounder  # type: ignore[arg-type]


def test_iterative_complex_qa_end_to_end_with_exact_prompts() -> None:
    agent, planner, grounder = _qa_agent()
    result = agent.invoke(Q)
    assert result["answer"] == "Kapuskasing"
    assert result["stop_reason"] == "planner_stop"
    assert [s["text"] for s in result["subgoals"]] == [
        "Find the director of Titanic.",
        "Find where he was born.",
    ]
    assert all(o["status"] == "success" for o in result["observations"])
    assert result["variables"]["R3"] == "Question: Who directed Titanic?; Answer: James Cameron"
    # The released checkpoints' protocol: raw prompt, newline stop.
    assert planner.stops == [["\n"]] * 3
    assert planner.prompts[0] == render_prompt([plan_request(Q)])
    assert planner.prompts[1] == render_prompt(
        [
            plan_request(Q),
            {"role": "assistant", "content": "Subgoal 1: Find the director of Titanic."},
            plan_feedback(COMPLEX_QA, 1, "", "Question: Who directed Titanic?; Answer: James Cameron"),
        ]
    )
    assert grounder.prompts[1] == render_prompt(
        [
            ground_request(COMPLEX_QA, Q, "Subgoal 1: Find the director of Titanic."),
            {"role": "assistant", "content": grounder.responses[0]},
            ground_followup(
                COMPLEX_QA,
                "No, I will keep planning. Subgoal 2: Find where he was born.",
                [("Subgoal 1", result["variables"]["R3"])],
            ),
        ]
    )
    assert grounder.prompts[1].endswith(
        "Subgoal to be grounded: Subgoal 2: Find where he was born. The grounding could be based on the "
        "following results: The execution result for Subgoal 1 is James Cameron\n<|assistant|>\n"
    )
    assert result["planner_turns"][-1]["content"] == "Yes, I will stop planning."
    assert result["messages"][-1].content == "Kapuskasing"


def test_onetime_complex_qa_final_qa_gets_the_task() -> None:
    agent, planner, grounder = _qa_agent("onetime")
    result = agent.invoke(Q)
    assert result["stop_reason"] == "plan_complete"
    assert len(result["subgoals"]) == 2 and len(planner.prompts) == 1 and len(grounder.prompts) == 1
    assert (
        "\nSubgoals to be grounded: Subgoal 1: Find the director of Titanic.; Subgoal 2:"
        in grounder.prompts[0]
    )
    # Lumos-O asks the last QA the original question.
    assert result["variables"]["R4"] == f"Question: {Q}; Answer: Kapuskasing"
    assert result["answer"] == "Kapuskasing"


def test_maths_iterative_and_onetime() -> None:
    task = "Tom has 3 boxes of 4 apples and eats 2. How many are left?"
    planner = ScriptedLLM(
        responses=[
            "Subgoal 1: Count the apples.",
            "No, I will keep planning. Subgoal 2: Subtract.",
            "Yes, I will stop planning.",
        ]
    )
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4)", "R2 = Calculator(R1 - 2)"])
    result = create_lumos_agent(planner, grounder, [calculator], domain="maths").invoke(task)
    assert result["answer"] == "10"
    assert planner.prompts[1].endswith(
        "The executed result for Subgoal 1 is 12. Should we stop planning?\n<|assistant|>\n"
    )
    assert grounder.prompts[1].endswith(
        "<|user|>\nSubgoal to be grounded: No, I will keep planning. Subgoal 2: Subtract.\n<|assistant|>\n"
    )
    planner = ScriptedLLM(responses=["Subgoal 1: Count.; Subgoal 2: Subtract."])
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4); Output = Calculator(R1 - 2)"])
    result = create_lumos_agent(planner, grounder, [calculator], domain="maths", mode="onetime").invoke(task)
    assert result["answer"] == "10" and result["variables"]["Output"] == "10"


def test_web_agent_threads_environment_handle() -> None:
    @tool("CLICK")
    def click(env: Any, query: str) -> str:
        """Click."""
        return f"{env} > click[{query}]"

    @tool("TYPE")
    def type_(env: Any, query: str, text: str) -> str:
        """Type."""
        return f"{env} > type[{query}|{text}]"

    planner = ScriptedLLM(
        responses=[
            "Subgoal 1: Click the search box.",
            "No, I will keep planning. Subgoal 2: Type Atlanta.",
            "Yes, I will stop planning.",
        ]
    )
    grounder = ScriptedLLM(
        responses=["R1 = CLICK(Env, QUERY: search box)", "R2 = TYPE(R1, QUERY: departure, TEXT: Atlanta)"]
    )
    agent = create_lumos_agent(planner, grounder, [click, type_], domain="web_agent")
    result = agent.invoke({"task": "Book a flight from Atlanta", "variables": {"Env": "page0"}})
    assert result["variables"]["R2"] == "page0 > click[search box] > type[departure|Atlanta]"
    assert planner.prompts[1].endswith(
        "<|user|>\nWe have already click the search box. Should we stop planning?\n<|assistant|>\n"
    )


def test_webshop_forced_prefix() -> None:
    @tool("Search")
    def search(query: str) -> str:
        """Search."""
        return "b01 - red shoes ** b02 - blue shoes"

    planner = ScriptedLLM(responses=["Subgoal 1: Search for shoes.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=["Search(red shoes)"])
    result = create_lumos_agent(planner, grounder, [search], domain="webshop").invoke("Buy red shoes")
    assert grounder.prompts[0].endswith("\n<|assistant|>\nR1 = ")
    assert result["actions"][0]["text"] == "R1 = Search(red shoes)"
    assert result["answer"] == "b01 - red shoes ** b02 - blue shoes"


def test_failures_become_observations_and_are_regrounded() -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: Compute.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(
        responses=[
            "R1 = Calculator(6 * 7); R2 = Teleport(R1); R3 = Calculator(R2 + 1); R4 = Calculator(1 / 0); this is not an action",
            "R5 = Calculator(R1 + 1)",
        ]
    )
    result = create_lumos_agent(planner, grounder, [calculator]).invoke("What is 6*7+1?")
    status = {o["action"]: (o["status"], o["output"]) for o in result["observations"]}
    assert status["R1 = Calculator(6 * 7)"] == ("success", "42")
    assert status["R2 = Teleport(R1)"][1].startswith(
        "Error: Teleport is not a valid action, try one of [Calculator]"
    )
    assert status["R3 = Calculator(R2 + 1)"][0] == "skipped"
    assert status["R4 = Calculator(1 / 0)"][1].startswith("Error: ZeroDivisionError")
    assert "Could not parse action 'this is not an action'" in status["this is not an action"][1]
    # re-grounded once, reusing R1 computed before: nothing is lost
    assert result["variables"]["R5"] == "43"
    assert (
        "The previous grounding failed: R2 = Teleport(R1) -> Error: Teleport is not a valid action"
        in grounder.prompts[1]
    )
    assert [a["attempt"] for a in result["actions"]][-1] == 1


def test_regrounding_is_bounded() -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: Compute.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=["R1 = Nope(1)"])
    result = create_lumos_agent(planner, grounder, [calculator]).invoke(
        "x", context=LumosContext(max_regrounds=2)
    )
    assert len(grounder.prompts) == 3  # first grounding + 2 re-groundings
    assert result["stop_reason"] == "planner_stop"


def test_bad_arguments_and_undefined_variables_are_observations() -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: a.; Subgoal 2: b."])
    grounder = ScriptedLLM(
        responses=["R1 = Calculator(R9 + 1); R2 = Calculator(1, Bogus: 2); R3 = Calculator(2 + 2)"]
    )
    result = create_lumos_agent(planner, grounder, [calculator], mode="onetime").invoke("x")
    outs = [o["output"] for o in result["observations"]]
    assert "Error: R9 is not defined yet." in outs
    assert any("Calculator has no argument 'Bogus'" in o for o in outs)
    assert result["answer"] == "4"


def test_max_subgoals_budget_answers_from_what_it_has() -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: a.", "No, I will keep planning. Subgoal 2: b."])
    grounder = ScriptedLLM(responses=["R1 = Calculator(1 + 1)"])
    result = create_lumos_agent(planner, grounder, [calculator], domain="maths").invoke(
        "x", context=LumosContext(max_subgoals=3)
    )
    assert result["stop_reason"] == "budget:max_subgoals"
    assert len(result["subgoals"]) == 3 and result["answer"] == "2"


def test_independent_actions_run_concurrently() -> None:
    @tool("Sleep")
    async def sleep(seconds: str) -> str:
        """Sleep."""
        await asyncio.sleep(float(seconds))
        return seconds

    planner = ScriptedLLM(responses=["Subgoal 1: wait."])
    grounder = ScriptedLLM(
        responses=["; ".join(f"R{i} = Sleep(0.2)" for i in range(1, 7)) + "; R7 = Sleep(0.2)"]
    )
    agent = create_lumos_agent(planner, grounder, [sleep], mode="onetime")
    start = time.perf_counter()
    result = asyncio.run(agent.ainvoke("x"))
    elapsed = time.perf_counter() - start
    assert len(result["observations"]) == 7 and elapsed < 0.2 * 7 * 0.5


def test_dependent_actions_run_in_order() -> None:
    order: list[str] = []

    @tool("Step")
    def step(x: str) -> str:
        """Step."""
        order.append(x)
        return x + "!"

    planner = ScriptedLLM(responses=["Subgoal 1: go."])
    grounder = ScriptedLLM(responses=["R2 = Step(R1); R1 = Step(a); R3 = Step(R1); R4 = Step(R3)"])
    result = create_lumos_agent(planner, grounder, [step], mode="onetime").invoke("x")
    # R2 reads R1 before any action assigned it: not defined, reported.
    assert result["observations"][0]["output"] == "Error: R1 is not defined yet."
    assert order == ["a", "a!", "a!!"]


def test_chat_models_work_too() -> None:
    planner = FakeListChatModel(responses=["Subgoal 1: Count.\nextra chatter", "Yes, I will stop planning."])
    grounder = FakeListChatModel(responses=["R1 = Calculator(2 + 3)"])
    result = create_lumos_agent(planner, grounder, [calculator], domain="maths").invoke(
        [HumanMessage("What is 2+3?")]
    )
    assert result["answer"] == "5" and result["task"] == "What is 2+3?"
    assert result["planner_turns"][1]["content"] == "Subgoal 1: Count."


def test_native_tool_call_grounding() -> None:
    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kw: Any) -> Any:
            return self

    grounder = ToolCallingFake(
        messages=iter(
            [
                AIMessage(
                    "",
                    tool_calls=[
                        {"name": "Calculator", "args": {"formula": "20 + 22"}, "id": "c1"},
                    ],
                ),
                AIMessage("", tool_calls=[{"name": "Calculator", "args": {"formula": "R1 * 2"}, "id": "c2"}]),
            ]
        )
    )
    planner = FakeListChatModel(
        responses=[
            "Subgoal 1: Add.",
            "No, I will keep planning. Subgoal 2: Double.",
            "Yes, I will stop planning.",
        ]
    )
    result = create_lumos_agent(
        planner, grounder, [calculator], domain="maths", grounding="tool_calls"
    ).invoke("x")
    assert [a["text"] for a in result["actions"]] == [
        "R1 = Calculator(formula: 20 + 22)",
        "R2 = Calculator(formula: R1 * 2)",
    ]
    assert result["answer"] == "84"


def test_runnable_interface_batch_stream_async() -> None:
    agent, _, _ = _qa_agent("onetime")
    events = [e["event"] for e in agent.stream(Q, stream_mode="custom")]
    assert events[:3] == ["subgoal_planned", "subgoal_planned", "actions_grounded"]
    # Once, after the plan's last action (concurrent siblings may finish after it).
    assert events.count("final_answer") == 1 and events.count("action_finished") == 4
    assert events.index("final_answer") > events.index("action_finished")

    def make() -> Any:
        return _qa_agent("onetime")[0]

    assert [r["answer"] for r in make().batch([Q, Q])] == ["Kapuskasing", "Kapuskasing"]
    assert [r["answer"] for r in asyncio.run(make().abatch([Q, Q]))] == ["Kapuskasing", "Kapuskasing"]

    async def collect() -> list[str]:
        return [e["event"] async for e in make().astream(Q, stream_mode="custom")]

    assert asyncio.run(collect()).count("final_answer") == 1


def test_agent_as_tool_and_as_subgraph() -> None:
    agent, _, _ = _qa_agent("onetime")
    assert agent.as_tool().invoke({"task": Q}).splitlines()[0] == "Kapuskasing"

    class Outer(TypedDict, total=False):
        task: str
        answer: str
        shout: str

    agent, _, _ = _qa_agent("onetime")
    outer = (
        StateGraph(Outer)
        .add_node("lumos", agent.graph)
        .add_node("shout", lambda s: {"shout": s["answer"].upper()})
        .add_edge(START, "lumos")
        .add_edge("lumos", "shout")
        .add_edge("shout", END)
        .compile()
    )
    assert outer.invoke({"task": Q})["shout"] == "KAPUSKASING"


def test_checkpointed_threads() -> None:
    agent, _, _ = _qa_agent("iterative", checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    assert agent.invoke(Q, config)["answer"] == "Kapuskasing"
    assert agent.graph.get_state(config).values["answer"] == "Kapuskasing"


@pytest.mark.parametrize("bad", ["", "   ", {}, {"foo": 1}, [AIMessage("hi")]])
def test_bad_input_gets_a_clear_error(bad: Any) -> None:
    agent, _, _ = _qa_agent()
    with pytest.raises(ValueError, match=r"task|empty|human"):
        agent.invoke(bad)
    with pytest.raises(TypeError, match="must be"):
        agent.invoke(42)


def test_programmer_errors_fail_fast() -> None:
    with pytest.raises(ValueError, match="mode"):
        create_lumos_agent(ScriptedLLM(responses=["x"]), ScriptedLLM(responses=["x"]), [], mode="loop")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="BaseTool"):
        create_lumos_agent(ScriptedLLM(responses=["x"]), ScriptedLLM(responses=["x"]), [lambda x: x])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="same action name"):
        create_lumos_agent(
            ScriptedLLM(responses=["x"]), ScriptedLLM(responses=["x"]), [calculator, calculator]
        )
    with pytest.raises(TypeError, match="planner needs a LangChain chat model or LLM"):
        create_lumos_agent("not a model", ScriptedLLM(responses=["x"]), [calculator])  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["iterative", "onetime"])
@pytest.mark.parametrize("review", [(), ("plan", "actions")])
def test_graph_topology_snapshot(mode: str, review: tuple[str, ...], snapshot: Any) -> None:
    agent = create_lumos_agent(
        ScriptedLLM(responses=["x"]),
        ScriptedLLM(responses=["x"]),
        [calculator],
        mode=mode,
        review=review,
        checkpointer=InMemorySaver(),
    )  # type: ignore[arg-type]
    assert agent.get_graph().draw_mermaid(with_styles=False) == snapshot


def test_final_qa_without_answer_falls_back_to_the_results() -> None:
    @tool("QA")
    def picky_qa(context: list[str] | str, question: str) -> str:
        """Answers only the subgoal question."""
        return f"Question: {question}; Answer: {'Paris' if question == 'Capital?' else 'No answer'}"

    planner = ScriptedLLM(responses=["Subgoal 1: Find the capital.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=["R1 = QA([], Question: Capital?)"])
    result = create_lumos_agent(planner, grounder, [picky_qa]).invoke("What is the capital of France?")
    assert result["answer"] == "Paris"


def test_small_profile_planner_stops_on_a_repeated_subgoal() -> None:
    # A small model restating its first subgoal is done (the loose stop rules).
    planner = ScriptedLLM(responses=["Subgoal 1: Count the apples.", "Subgoal 1: Count the apples."])
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4)"])
    small = get_domain("maths").replace(loose_stop=True)
    result = create_lumos_agent(planner, grounder, [calculator], domain=small).invoke("How many apples?")
    assert result["stop_reason"] == "planner_stop"
    assert len(result["subgoals"]) == 1 and len(planner.prompts) == 2
    assert result["answer"] == "12"


def test_small_profile_planner_stops_on_a_subgoal_that_ignores_the_answer_found() -> None:
    # The small profile's hop rule: a next subgoal that does not name the answer just found
    # rephrases the hop; the answer found stands. A real next hop goes on.
    @tool("QA")
    def qa(context: list[str] | str, question: str) -> str:
        """Answers from the context."""
        return f"Question: {question}; Answer: {'Prague' if 'born' in question else '1.4 million'}"

    small = get_domain("complex_qa").replace(loose_stop=True, profile="small")
    grounder = ScriptedLLM(responses=["R1 = QA([], Question: Where was Kafka born?)"])
    rephrased = ScriptedLLM(
        responses=[
            "Subgoal 1: Obtain the birthplace of Kafka.",
            "Subgoal 2: Obtain the city where Kafka was born.",
        ]
    )
    result = create_lumos_agent(rephrased, grounder, [qa], domain=small).invoke("Where was Kafka born?")
    assert result["stop_reason"] == "planner_stop" and len(result["subgoals"]) == 1
    assert result["answer"] == "Prague"
    onward = ScriptedLLM(
        responses=[
            "Subgoal 1: Obtain the birthplace of Kafka.",
            "Subgoal 2: Obtain the population of Prague.",
        ]
    )
    grounder = ScriptedLLM(
        responses=[
            "R1 = QA([], Question: Where was Kafka born?)",
            "R2 = QA([], Question: Population of Prague?)",
        ]
    )
    result = create_lumos_agent(onward, grounder, [qa], domain=small).invoke(
        "How many live in Kafka's birthplace?"
    )
    assert len(result["subgoals"]) == 2 and result["answer"] == "1.4 million"
    # The eval profile never applies it.
    eval_planner = ScriptedLLM(
        responses=[
            "Subgoal 1: Obtain the birthplace of Kafka.",
            "No, I will keep planning. Subgoal 2: Obtain the city where Kafka was born.",
            "Yes, I will stop planning.",
        ]
    )
    grounder = ScriptedLLM(responses=["R1 = QA([], Question: Where was Kafka born?)"])
    result = create_lumos_agent(eval_planner, grounder, [qa], domain="complex_qa").invoke(
        "Where was Kafka born?"
    )
    assert len(result["subgoals"]) == 2


def test_eval_profile_keeps_the_original_stop_rule() -> None:
    # "No, I will stop planning." is not the original's stop: the eval profile asks again.
    planner = ScriptedLLM(
        responses=["Subgoal 1: Count the apples.", "No, I will stop planning.", "Yes, I will stop planning."]
    )
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4)"])
    result = create_lumos_agent(planner, grounder, [calculator], domain="maths").invoke("How many apples?")
    assert len(planner.prompts) == 3  # the loose stop would have ended planning at the second call
    assert "neither a subgoal nor a stop" in planner.prompts[2]
    assert result["stop_reason"] == "planner_stop"
    small = get_domain("maths").replace(loose_stop=True)
    planner = ScriptedLLM(responses=["Subgoal 1: Count the apples.", "No, I will stop planning."])
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4)"])
    result = create_lumos_agent(planner, grounder, [calculator], domain=small).invoke("How many apples?")
    assert len(planner.prompts) == 2 and result["stop_reason"] == "planner_stop"


def test_planner_hears_the_last_action_that_ran() -> None:
    # The second action is past the cap: the planner gets the first one's result.
    planner = ScriptedLLM(responses=["Subgoal 1: Count.", "Yes, I will stop planning."])
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4); R2 = Calculator(R1 - 2)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths")
    result = agent.invoke("How many apples?", context=LumosContext(max_actions_per_subgoal=1))
    assert {o["action_id"]: o["status"] for o in result["observations"]} == {
        "s1.g0.a1": "success",
        "s1.g0.a2": "skipped",
    }
    assert planner.prompts[1].endswith(
        "The executed result for Subgoal 1 is 12. Should we stop planning?\n<|assistant|>\n"
    )


def _nodes_run(agent: Any, task: str) -> list[str]:
    """The graph steps of a run, in order (one entry per node task)."""
    return [node for update in agent.graph.stream({"task": task}, stream_mode="updates") for node in update]


def test_ready_actions_are_sent_from_the_grounding_step() -> None:
    # One-time, one action: plan, ground (its route sends the action), act and answer in
    # the action's own step.
    planner = ScriptedLLM(responses=["Subgoal 1: Count."])
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths", mode="onetime")
    assert _nodes_run(agent, "How many?") == ["planner", "grounder", "execute_action"]
    assert agent.invoke("How many?")["answer"] == "12"
    # Independent actions run concurrently; the plan's last one answers (no join, no
    # finalize step) when its own result decides the answer.
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4); R2 = Calculator(5 - 2)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths", mode="onetime")
    assert _nodes_run(agent, "How many?") == ["planner", "grounder", "execute_action", "execute_action"]
    assert agent.invoke("How many?")["answer"] == "3"
    # A sibling writes a higher variable: the answer is read from all results (finalize).
    grounder = ScriptedLLM(responses=["R2 = Calculator(3 * 4); R1 = Calculator(5 - 2)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths", mode="onetime")
    assert _nodes_run(agent, "How many?")[-1] == "finalize"
    assert agent.invoke("How many?")["answer"] == "12"
    # The last action fails: finalize answers from what succeeded.
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4); R2 = Calculator(5 / 0)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths", mode="onetime")
    assert _nodes_run(agent, "How many?")[-1] == "finalize"
    assert agent.invoke("How many?")["answer"] == "12"


def test_a_lone_action_sends_the_next_and_the_planner_answers() -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: Count.", "Yes, I will stop planning."], by="turn")
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4); R2 = Calculator(R1 - 2)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths")
    # The chained action is sent by the first one's route; the stopping planner answers.
    assert _nodes_run(agent, "How many?") == [
        "planner",
        "grounder",
        "execute_action",
        "execute_action",
        "planner",
    ]
    result = agent.invoke("How many?")
    assert result["answer"] == "10" and result["stop_reason"] == "planner_stop"
    assert result["messages"][-1].content == "10"


def test_concurrent_actions_join_before_the_next_step() -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: Count.", "Yes, I will stop planning."], by="turn")
    grounder = ScriptedLLM(
        responses=["R1 = Calculator(3 * 4); R2 = Calculator(5 - 2); R3 = Calculator(R1 + R2)"]
    )
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths")
    assert _nodes_run(agent, "How many?") == [
        "planner",
        "grounder",
        "execute_action",
        "execute_action",
        "executor",  # both results are in before R3 is sent
        "execute_action",
        "planner",
    ]
    assert agent.invoke("How many?")["answer"] == "15"


def test_a_failed_input_is_recorded_before_moving_on() -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: Count.", "Yes, I will stop planning."], by="turn")
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 / 0); R2 = Calculator(R1 - 2)"])
    agent = create_lumos_agent(planner, grounder, [calculator], domain="maths")
    result = agent.invoke("How many?", context=LumosContext(max_regrounds=0))
    statuses = {o["action_id"]: o["status"] for o in result["observations"]}
    assert statuses == {"s1.g0.a1": "error", "s1.g0.a2": "skipped"}
    assert _nodes_run(agent, "How many?")[:4] == ["planner", "grounder", "execute_action", "executor"]


def test_directly_sent_actions_are_checkpointed_tasks() -> None:
    # Actions sent by the grounder's (or an action's) route are pending tasks of the
    # checkpoint: a run paused before them resumes them, each exactly once.
    calls: list[str] = []

    @tool("Calculator")
    def counting_calculator(formula: str) -> str:
        """Calculate the input formula."""
        calls.append(formula)
        return calculator.invoke(formula)

    planner = ScriptedLLM(responses=["Subgoal 1: Count.", "Yes, I will stop planning."], by="turn")
    grounder = ScriptedLLM(responses=["R1 = Calculator(3 * 4); R2 = Calculator(R1 - 2)"])
    agent = create_lumos_agent(
        planner, grounder, [counting_calculator], domain="maths", checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "t"}}
    agent.graph.invoke({"task": "How many?"}, config, interrupt_before=["execute_action"])
    assert agent.graph.get_state(config).next == ("execute_action",) and calls == []
    agent.graph.invoke(None, config, interrupt_before=["execute_action"])
    assert agent.graph.get_state(config).next == ("execute_action",) and calls == ["3 * 4"]
    result = agent.graph.invoke(None, config)
    assert calls == ["3 * 4", "12 - 2"] and result["answer"] == "10"
