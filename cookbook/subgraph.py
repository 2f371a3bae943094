"""Compose the Lumos graph as a subgraph node of a larger StateGraph.

The parent state shares the `task` and `answer` keys with the Lumos graph, so
`agent.graph` is added as a node directly. Run: `python cookbook/subgraph.py`.
"""

from __future__ import annotations

from _common import QUESTION, models, tools
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langchain_lumos.agent import create_lumos_agent


class AppState(TypedDict, total=False):
    request: str
    task: str
    answer: str | None
    report: str


def normalise(state: AppState) -> AppState:
    return {"task": state["request"].strip().rstrip("?") + "?"}


def report(state: AppState) -> AppState:
    return {"report": f"Q: {state['task']}\nA: {state['answer']}"}


def main() -> None:
    m = models("iterative")
    lumos = create_lumos_agent(m.planner, m.grounder, tools(m), mode="iterative", domain=m.domain)
    app = (
        StateGraph(AppState)
        .add_node("normalise", normalise)
        .add_node("lumos", lumos.graph)  # the compiled Lumos graph as a subgraph
        .add_node("report", report)
        .add_edge(START, "normalise")
        .add_edge("normalise", "lumos")
        .add_edge("lumos", "report")
        .add_edge("report", END)
        .compile()
    )
    result = app.invoke({"request": QUESTION})
    print(result["report"])
    # Module events of the subgraph: stream with subgraphs=True.
    for chunk in app.stream({"request": QUESTION}, stream_mode="custom", subgraphs=True):
        namespace, event = chunk
        assert isinstance(event, dict)
        print(namespace[0].split(":")[0] if namespace else "root", event["event"])


if __name__ == "__main__":
    main()
