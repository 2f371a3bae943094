"""Human review of the plan (and of the grounded actions) before anything runs.

`review=("plan", "actions")` pauses with `interrupt()`; resume with
`Command(resume="approve" | {"action": "edit", ...} | {"action": "reject"})`.
A checkpointer is required. Run: `python cookbook/human_review.py [--interactive]`.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

from _common import QUESTION, models, tools
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from langchain_lumos.agent import create_lumos_agent


def decide(request: dict[str, Any], interactive: bool) -> Any:
    if request["type"] == "plan_review":
        print("Plan:", *[f"  {i}. {s}" for i, s in enumerate(request["subgoals"], 1)], sep="\n")
    else:
        print("Actions:", *[f"  {a}" for a in request["actions"]], sep="\n")
    if not interactive:
        if request["type"] == "plan_review":  # a reviewer rewriting the plan
            return {"action": "edit", "subgoals": ["Find the director of Jaws and his birth year"]}
        return "approve"
    answer = input("approve / reject / edit: ").strip()
    if answer == "edit":
        return {"action": "edit", "subgoals": input("New subgoals (; separated): ").split(";")}
    return answer or "approve"


def main() -> None:
    interactive = "--interactive" in sys.argv
    m = models("onetime")
    agent = create_lumos_agent(
        m.planner,
        m.grounder,
        tools(m),
        mode="onetime",
        domain=m.domain,
        review=("plan", "actions"),
        checkpointer=InMemorySaver(),
    )
    config: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4())}}
    result = agent.invoke(QUESTION, config)
    while result.get("__interrupt__"):
        request = result["__interrupt__"][0].value
        result = agent.invoke(Command(resume=decide(request, interactive)), config)
    print("Subgoals:", [s["text"] for s in result["subgoals"]])
    print("Answer:", result["answer"], f"({result['stop_reason']})")


if __name__ == "__main__":
    main()
