"""The shipped toolkits driven through the agent: every domain's action styles end to end."""

from __future__ import annotations

from langchain_core.tools import tool

from langchain_lumos import create_lumos_agent
from langchain_lumos.domains import WEBSHOP as WEBSHOP_FEWSHOT
from langchain_lumos.testing import InMemoryShop, ScriptedLLM, StaticWebEnvironment
from langchain_lumos.tools import (
    maths_tools,
    web_agent_tools,
    webshop_tools,
)


def test_maths_toolkit_equations_multi_output_and_count() -> None:
    planner = ScriptedLLM(
        responses=["Subgoal 1: Set up the equations.; Subgoal 2: Solve.; Subgoal 3: Multiply."]
    )
    grounder = ScriptedLLM(
        responses=[
            "R1 = SetEquation(x + y = 10); R2 = SetEquation(x - y = 2); R3, R4 = SolveEquation(R1, R2); "
            "R5 = Calculator(R3 * R4); R6 = Count(2^0, 2^1, ..., 2^10); Output = Calculator(R5 + R6)"
        ]
    )
    result = create_lumos_agent(planner, grounder, maths_tools(), mode="onetime", domain="maths").invoke("x")
    values = result["variables"]
    assert (values["R3"], values["R4"], values["R5"], values["R6"]) == ("6", "4", "24", "11")
    assert result["answer"] == "35"
    assert all(o["status"] == "success" for o in result["observations"])


def test_web_toolkit_threads_the_page_through_variables() -> None:
    home = StaticWebEnvironment(
        ["[link] Flights", "[link] Cruises"],
        transitions={"[link] Cruises": ["[combobox] Destination", "[button] Search"]},
    )
    planner = ScriptedLLM(
        responses=[
            "Subgoal 1: Open cruises.",
            "No, I will keep planning. Subgoal 2: Choose Alaska.",
            "Yes, I will stop planning.",
        ]
    )
    grounder = ScriptedLLM(
        responses=[
            "R1 = CLICK(Env, QUERY: open the cruises page)",
            "R2 = SELECT(R1, QUERY: destination, TEXT: Alaska)",
        ]
    )
    agent = create_lumos_agent(planner, grounder, web_agent_tools(), domain="web_agent")
    result = agent.invoke({"task": "Find a cruise to Alaska", "variables": {"Env": home}})
    assert str(result["variables"]["R1"]) == "[link] Cruises -> CLICK"
    assert str(result["variables"]["R2"]) == "[combobox] Destination -> SELECT: Alaska"


def test_webshop_exemplar_episode_runs_in_plan_order() -> None:
    """The original's 12-action WebShop exemplar as one grounding: state-changing clicks keep their order."""
    shop = InMemoryShop()
    instruction = shop.reset(1)
    _, ground_dialogue = WEBSHOP_FEWSHOT.ground_exemplars
    actions = "; ".join(t["content"] for t in ground_dialogue if t["role"] == "assistant")
    planner = ScriptedLLM(responses=["Subgoal 1: Buy the item."])
    grounder = ScriptedLLM(responses=[actions.removeprefix("R1 = ")])  # the forced "R1 = " prefix
    agent = create_lumos_agent(planner, grounder, webshop_tools(shop), mode="onetime", domain="webshop")
    result = agent.invoke(instruction)
    assert [o["status"] for o in result["observations"]] == ["success"] * 12
    assert shop.actions[-1] == "click[buy now]"
    assert result["variables"]["R12"] == 1.0


def test_sequential_tools_keep_plan_order_while_pure_ones_run_freely() -> None:
    log: list[str] = []

    @tool("Step")
    def step(name: str) -> str:
        """A state-changing step."""
        log.append(name)
        return name

    step.metadata = {"lumos_sequential": True}

    planner = ScriptedLLM(responses=["Subgoal 1: go."])
    grounder = ScriptedLLM(responses=["; ".join(f"R{i} = Step(s{i})" for i in range(1, 7))])
    create_lumos_agent(planner, grounder, [step], mode="onetime").invoke("x")
    assert log == [f"s{i}" for i in range(1, 7)]
