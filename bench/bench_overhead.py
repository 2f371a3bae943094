"""Framework overhead per module step: instant fake models (FakeListLLM) and an instant tool.

Runs Lumos-O and Lumos-I many times and divides the wall time by the number of graph steps
(node updates streamed: planner, grounder, execute_action, and executor or finalize where a
run needs them). Goal: < 5 ms/step.

    python bench/bench_overhead.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import echo_tool
from langchain_core.language_models import FakeListLLM

from langchain_lumos.agent import create_lumos_agent

GOAL_MS = 5.0


def build(mode: str):
    if mode == "onetime":
        planner = FakeListLLM(responses=["Subgoal 1: Echo a; Subgoal 2: Echo b."])
    else:
        planner = FakeListLLM(responses=["Subgoal 1: Echo a.", "Yes, I will stop planning."])
    grounder = FakeListLLM(responses=["R1 = Echo(a); R2 = Echo(R1)"])
    return create_lumos_agent(planner, grounder, [echo_tool()], mode=mode, domain="maths")


def count_steps(agent) -> int:
    return sum(1 for _ in agent.graph.stream({"task": "warm up"}, stream_mode="updates"))


def bench(mode: str, runs: int) -> dict[str, float]:
    agent = build(mode)
    steps = count_steps(agent)
    for _ in range(5):
        agent.invoke("warm up")
    start = time.perf_counter()
    for i in range(runs):
        agent.invoke(f"task {i}")
    sync_s = time.perf_counter() - start

    async def arun() -> float:
        t = time.perf_counter()
        for i in range(runs):
            await agent.ainvoke(f"task {i}")
        return time.perf_counter() - t

    async_s = asyncio.run(arun())
    return {
        "steps": steps,
        "sync_ms_per_run": 1000 * sync_s / runs,
        "sync_ms_per_step": 1000 * sync_s / runs / steps,
        "async_ms_per_run": 1000 * async_s / runs,
        "async_ms_per_step": 1000 * async_s / runs / steps,
    }


def main(runs: int = 200) -> list[dict[str, object]]:
    rows = []
    for mode in ("onetime", "iterative"):
        r = bench(mode, runs)
        worst = max(r["sync_ms_per_step"], r["async_ms_per_step"])
        ok = worst < GOAL_MS
        print(
            f"{mode:9s}: {r['steps']} steps/run; sync {r['sync_ms_per_run']:.2f} ms/run = "
            f"{r['sync_ms_per_step']:.2f} ms/step; async {r['async_ms_per_run']:.2f} ms/run = "
            f"{r['async_ms_per_step']:.2f} ms/step  (goal < {GOAL_MS} ms/step: {'PASS' if ok else 'FAIL'})"
        )
        rows.append(
            {
                "bench": f"overhead {mode}",
                "value": (
                    f"{r['async_ms_per_run']:.2f} ms per question async, {r['steps']} steps "
                    f"({worst:.2f} ms/step, the slower of sync and async)"
                ),
                "goal": f"< {GOAL_MS} ms",
                "pass": ok,
            }
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    main(parser.parse_args().runs)
