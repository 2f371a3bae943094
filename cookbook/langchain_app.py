"""Drop a Lumos agent into an existing LangChain app.

1. As a Runnable inside an LCEL chain (input shaping | agent | output parsing).
2. As a tool of another agent (`agent.as_tool()`), here executed by LangGraph's
   `ToolNode` the way any tool-calling agent would call it.

Run: `python cookbook/langchain_app.py`.
"""

from __future__ import annotations

from typing import Any

from _common import QUESTION, models, tools
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from langchain_lumos.agent import create_lumos_agent


def main() -> None:
    m = models("onetime")
    agent = create_lumos_agent(m.planner, m.grounder, tools(m), mode="onetime", domain=m.domain)

    # 1. LCEL: the agent is a Runnable (invoke / batch / stream / with_config ...).
    chain: Runnable[Any, str] = (
        RunnableLambda(lambda q: {"task": q.strip()})
        | agent.with_config(tags=["my-app"])
        | RunnableLambda(lambda r: f"{r['answer']} (after {len(r['actions'])} actions)")
    )
    print("LCEL:", chain.invoke(f"  {QUESTION}  "))

    # 2. As a tool of another agent: the outer agent's model emits a tool call.
    lumos_tool = agent.as_tool(name="lumos_research", description="Answer a multi-hop question.")
    call = {"name": "lumos_research", "args": {"task": QUESTION}, "id": "call-1", "type": "tool_call"}
    outer = (
        StateGraph(MessagesState).add_node("tools", ToolNode([lumos_tool])).add_edge(START, "tools").compile()
    )
    out = outer.invoke({"messages": [AIMessage("", tool_calls=[call])]})
    print("Tool:", out["messages"][-1].content)
    # With `langchain` installed: `create_agent(chat_model, tools=[lumos_tool])`.


if __name__ == "__main__":
    main()
