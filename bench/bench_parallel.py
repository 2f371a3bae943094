"""Parallel execution of independent actions in one-time mode (Lumos-O).

8 independent actions of a tool that sleeps 0.2 s (async `asyncio.sleep`, then a sync
`time.sleep` tool run from `invoke`): wall time vs the critical path (0.2 s; goal within
1.1x) and vs running them one after another (1.6 s). Then dependency chains, to show that
dependent actions wait for their inputs: a 3-long chain (critical path 0.6 s) and a diamond
R1, R2 -> R3 (0.4 s).

    python bench/bench_parallel.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import async_sleep_tool, sync_sleep_tool
from langchain_core.language_models import FakeListLLM

from langchain_lumos.agent import create_lumos_agent

SLEEP = 0.2
GOAL = 1.1


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "[info: asyncio's default executor has min(32, cpus + 4) threads, 6 on 2 cores]"
    return f"[goal <= {GOAL}x: {'PASS' if ok else 'FAIL'}]"


def agent_for(actions: str, tool):
    planner = FakeListLLM(responses=["Subgoal 1: Do the work."])
    grounder = FakeListLLM(responses=[actions])
    return create_lumos_agent(planner, grounder, [tool], mode="onetime", domain="maths")


def independent(n: int = 8) -> str:
    return "; ".join(f"R{i} = Sleep(job {i})" for i in range(1, n + 1))


def _phase(marks: list[tuple[str, float]]) -> float:
    """Seconds from the first action_started event to the last action_finished event."""
    started = [t for e, t in marks if e == "action_started"]
    finished = [t for e, t in marks if e == "action_finished"]
    return max(finished) - min(started)


def timed_sync(agent, config=None, workers=None) -> tuple[float, float, dict]:
    marks = []
    start = time.perf_counter()
    for event in agent.stream("run", config, stream_mode="custom"):
        marks.append((event["event"], time.perf_counter()))
    wall = time.perf_counter() - start
    return wall, _phase(marks), agent.invoke("run", config)


def timed_async(agent, config=None, workers=None) -> tuple[float, float, dict]:
    async def go():
        if workers:
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=workers))
        marks = []
        start = time.perf_counter()
        async for event in agent.astream("run", config, stream_mode="custom"):
            marks.append((event["event"], time.perf_counter()))
        wall = time.perf_counter() - start
        result = await agent.ainvoke("run", config)
        return wall, _phase(marks), result

    return asyncio.run(go())


def check(result: dict, n: int) -> None:
    ok = [o for o in result["observations"] if o["status"] == "success"]
    assert len(ok) == n, result["observations"]


def main() -> list[dict[str, object]]:
    rows = []
    n = 8
    sequential = n * SLEEP
    cases = [
        ("async tool, ainvoke", async_sleep_tool(SLEEP), timed_async, None, None),
        ("sync tool, invoke", sync_sleep_tool(SLEEP), timed_sync, {"max_concurrency": n}, None),
        ("sync tool, ainvoke, 16-thread loop executor", sync_sleep_tool(SLEEP), timed_async, None, 16),
        ("sync tool, ainvoke, default loop executor", sync_sleep_tool(SLEEP), timed_async, None, None),
    ]
    for label, tool, run, config, workers in cases:
        agent = agent_for(independent(n), tool)
        run(agent, config, workers)  # warm up
        wall, phase, result = run(agent, config, workers)
        check(result, n)
        ratio = phase / SLEEP
        ok = ratio <= GOAL if "default loop executor" not in label else None
        print(
            f"{n} independent actions x {SLEEP}s ({label}): execution phase {phase:.3f}s = {ratio:.2f}x the "
            f"critical path ({SLEEP}s), {sequential / phase:.1f}x faster than sequential ({sequential:.1f}s); "
            f"whole run incl. plan+ground {wall:.3f}s ({wall / SLEEP:.2f}x)  {_verdict(ok)}"
        )
        rows.append(
            {
                "bench": f"parallel 8x0.2s ({label})",
                "value": f"{ratio:.2f}x critical path (run {wall / SLEEP:.2f}x)",
                "goal": f"<= {GOAL}x",
                "pass": ok,
            }
        )

    deps = [
        ("chain R1 -> R2 -> R3", "R1 = Sleep(a); R2 = Sleep(R1); R3 = Sleep(R2)", 3, 3 * SLEEP),
        ("diamond R1, R2 -> R3", "R1 = Sleep(a); R2 = Sleep(b); R3 = Sleep(R1 and R2)", 3, 2 * SLEEP),
    ]
    for label, actions, count, critical in deps:
        agent = agent_for(actions, async_sleep_tool(SLEEP))
        timed_async(agent)
        _, wall, result = timed_async(agent)
        check(result, count)
        order = [o["action"].split(" =")[0] for o in result["observations"]]
        ok = critical * 0.95 <= wall <= critical * GOAL
        print(
            f"{label}: execution phase {wall:.3f}s vs critical path {critical:.1f}s ({wall / critical:.2f}x), "
            f"finish order {order}  [{'PASS' if ok else 'FAIL'}]"
        )
        rows.append(
            {
                "bench": f"dependencies: {label}",
                "value": f"{wall / critical:.2f}x critical path",
                "goal": f"1.0-{GOAL}x, in order",
                "pass": ok,
            }
        )
    return rows


if __name__ == "__main__":
    main()
