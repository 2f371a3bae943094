"""Throughput: 100 questions through `agent.abatch` with a fixed-latency fake model.

The planner and grounder are `SleepLLM`s whose `_acall` sleeps 50 ms; the tool is instant.
A Lumos-O question makes 2 sequential model calls, so with `max_concurrency=C` the ideal
wall time is ceil(100 / C) * 2 * 50 ms. Goal: ideal / measured >= 0.9.

    python bench/bench_concurrency.py [--questions 100] [--latency 0.05] [--concurrency 10 20]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SleepLLM, echo_tool

from langchain_lumos.agent import create_lumos_agent

GOAL = 0.9


def build(latency: float):
    planner = SleepLLM(response="Subgoal 1: Echo the task.", delay_s=latency)
    grounder = SleepLLM(response="R1 = Echo(done)", delay_s=latency)
    return create_lumos_agent(planner, grounder, [echo_tool()], mode="onetime", domain="maths")


async def run(agent, questions: int, concurrency: int) -> float:
    tasks = [f"question {i}" for i in range(questions)]
    start = time.perf_counter()
    results = await agent.abatch(tasks, {"max_concurrency": concurrency})
    wall = time.perf_counter() - start
    assert all(r["answer"] == "done" for r in results), results[:2]
    return wall


def main(
    questions: int = 100, latency: float = 0.05, levels: tuple[int, ...] = (4, 8, 10, 20)
) -> list[dict[str, object]]:
    agent = build(latency)
    asyncio.run(run(agent, 10, 10))  # warm up
    single = asyncio.run(run(agent, 10, 1)) / 10  # one question alone: model latency + framework
    print(
        f"one question alone: {single * 1000:.1f} ms (model calls {2 * latency * 1000:.0f} ms + framework {1000 * (single - 2 * latency):.1f} ms)"
    )
    rows = []
    for c in levels:
        ideal = math.ceil(questions / c) * 2 * latency
        wall = asyncio.run(run(agent, questions, c))
        eff = ideal / wall
        scaling = math.ceil(questions / c) * single / wall
        ok = eff >= GOAL
        print(
            f"{questions} questions, 2 x {latency * 1000:.0f} ms model calls each, max_concurrency={c}: "
            f"wall {wall:.3f}s, ideal {ideal:.3f}s, efficiency {eff:.2f} (vs measured single-question latency: {scaling:.2f}) "
            f"({questions / wall:.1f} questions/s; sequential would take {questions * 2 * latency:.1f}s)  "
            f"[goal >= {GOAL}: {'PASS' if ok else 'FAIL'}]"
        )
        rows.append(
            {
                "bench": f"abatch {questions} q, 2 x {latency * 1000:.0f} ms calls, max_concurrency={c}",
                "value": f"{eff:.2f} of ideal ({scaling:.2f} of single-run)",
                "goal": f">= {GOAL}",
                "pass": ok,
            }
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 10, 20])
    a = parser.parse_args()
    main(a.questions, a.latency, tuple(a.concurrency))
