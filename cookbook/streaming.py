"""Stream the agent's module events live: subgoals, grounded actions, observations, answer.

`agent.stream(x, stream_mode="custom")` yields typed event dicts; no `subgraphs=True`
needed. Run: `python cookbook/streaming.py`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from _common import QUESTION, models, tools

from langchain_lumos import agent as lumos


def render(event: dict[str, Any]) -> str:
    kind = event["event"]
    if kind == "subgoal_planned":
        return f"[plan]   Subgoal {event['index']}: {event['subgoal']}"
    if kind in ("actions_grounded", "regrounded"):
        return f"[ground] {'; '.join(event['actions'])}" + (" (retry)" if kind == "regrounded" else "")
    if kind == "action_started":
        return f"[run]    {event['action']}"
    if kind == "action_finished":
        return f"[{event['status']}] {event['observation'][:100]}"
    if kind == "final_answer":
        return f"[answer] {event['answer']} ({event['stop_reason']})"
    return f"[{kind}] {event}"


def main() -> None:
    m = models("iterative")
    agent = lumos.create_lumos_agent(m.planner, m.grounder, tools(m), mode="iterative", domain=m.domain)
    for event in agent.stream(QUESTION, stream_mode="custom"):
        print(render(event))

    async def run_async() -> None:
        m = models("onetime")
        onetime = lumos.create_lumos_agent(m.planner, m.grounder, tools(m), mode="onetime", domain=m.domain)
        async for event in onetime.astream(QUESTION, stream_mode="custom"):
            print("async", render(event))

    asyncio.run(run_async())


if __name__ == "__main__":
    main()
