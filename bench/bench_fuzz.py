"""Fuzzing at scale: >= 10,000 generated model outputs through full Lumos runs.

The same harness as `tests/unit_tests/runtime/test_fuzz.py` (`langchain_lumos.testing.fuzz`),
larger: `--n` cases (default 10,000) split evenly over maths and complex QA, iterative and
one-time, against the real offline tools with scripted models. Per session and in total it
prints the counts of crashes (an exception escaped `invoke`, or no `stop_reason`), hangs
(runs over the time bound), wrong results (the `reassign` family: variables reassigned in a
grounding must end with the values of running its actions in order), the stop reasons,
runs/s and `os.getloadavg()`, then a reproducer of each failure.

As in the test, the SymPy actions run in-process for the families that cannot run long,
and the worker-backed tools (killable, with a deadline) take the `hang` and `long_line`
families.

    python bench/bench_fuzz.py [--n 10000] [--seed 0] [--concurrency 4] [--strict-tools]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from typing import Literal

from langchain_core.tools import BaseTool

from langchain_lumos.context import LumosContext
from langchain_lumos.testing import ScriptedLLM
from langchain_lumos.testing.fuzz import FuzzOutcome, FuzzReport, fuzz_agent, generate_cases
from langchain_lumos.tools import complex_qa_tools, maths_tools

CONTEXT = LumosContext(action_timeout_s=3.0, time_limit_s=8.0, max_subgoals=4, max_regrounds=1)
DEADLINES = LumosContext(action_timeout_s=2.0, time_limit_s=5.0, max_subgoals=3, max_regrounds=1)
BOUND_S = 13.0
LONG_RUNNING = frozenset({"hang", "long_line"})
QA_ANSWERS = ["Answer: 42", "Answer: no answer", "I do not know.", "Answer: 1975", ""]


def _tools(domain: str, calculator_timeout_s: float | None) -> list[BaseTool]:
    if domain == "maths":
        return maths_tools(timeout_s=calculator_timeout_s)
    tools = complex_qa_tools(llm=ScriptedLLM(responses=QA_ANSWERS, role="qa"))
    return [
        t.model_copy(update={"timeout_s": calculator_timeout_s}) if t.name == "Calculator" else t
        for t in tools
    ]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def session(
    domain: str,
    mode: Literal["iterative", "onetime"],
    n: int,
    seed: int,
    start: int,
    concurrency: int,
    strict: bool,
) -> FuzzReport:
    """One domain and mode: the in-process bulk, then the long-running families on workers."""
    tools = _tools(domain, None)
    cases = generate_cases(n, seed=seed, mode=mode, actions=[t.name for t in tools], start=start)
    agent_kwargs = {"handle_tool_errors": False} if strict else None
    bulk = [c for c in cases if c.family not in LONG_RUNNING]
    long = [c for c in cases if c.family in LONG_RUNNING]
    done = [0]

    def progress(outcome: FuzzOutcome) -> None:
        done[0] += 1
        if done[0] % 500 == 0:
            print(f"  ... {domain}/{mode}: {done[0]} of {n} runs (load {_load()})", flush=True)

    first = fuzz_agent(
        tools,
        domain=domain,
        mode=mode,
        cases=bulk,
        context=CONTEXT,
        time_bound_s=BOUND_S,
        concurrency=concurrency,
        agent_kwargs=agent_kwargs,
        on_outcome=progress,
    )
    second = fuzz_agent(
        _tools(domain, 1.0),
        domain=domain,
        mode=mode,
        cases=long,
        context=DEADLINES,
        time_bound_s=BOUND_S,
        concurrency=concurrency,
        agent_kwargs=agent_kwargs,
        on_outcome=progress,
    )
    return FuzzReport(
        outcomes=first.outcomes + second.outcomes,
        seconds=first.seconds + second.seconds,
        time_bound_s=BOUND_S,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=10_000, help="cases in all (split over 4 sessions)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--strict-tools",
        action="store_true",
        help="handle_tool_errors=False: a tool's non-ToolException escapes",
    )
    args = parser.parse_args()
    if args.n < 4:
        parser.error("--n must be at least 4")
    print(
        f"fuzz: n={args.n} seed={args.seed} concurrency={args.concurrency} strict_tools={args.strict_tools}"
    )
    print(f"load average at start: {_load()} ({os.cpu_count()} CPUs)", flush=True)
    reports: list[FuzzReport] = []
    per = args.n // 4
    start = time.perf_counter()
    sessions: list[tuple[str, Literal["iterative", "onetime"]]] = [
        ("maths", "iterative"),
        ("maths", "onetime"),
        ("complex_qa", "iterative"),
        ("complex_qa", "onetime"),
    ]
    for i, (domain, mode) in enumerate(sessions):
        n = per if i < 3 else args.n - 3 * per
        report = session(domain, mode, n, args.seed, i * per, args.concurrency, args.strict_tools)
        reports.append(report)
        print(f"\n== {domain} / {mode} (load {_load()})\n{report.summary()}\n", flush=True)
    total = FuzzReport(
        outcomes=[o for r in reports for o in r.outcomes],
        seconds=time.perf_counter() - start,
        time_bound_s=BOUND_S,
    )
    print("== total")
    print(total.summary())
    errors = Counter((o.error or "").split(":", 1)[0] for o in total.crashes)
    if errors:
        print("crash types: " + ", ".join(f"{k}={v}" for k, v in errors.most_common()))
    print("families: " + ", ".join(f"{k}={v}" for k, v in sorted(total.families.items())))
    print(f"load average at end: {_load()}")
    return 1 if total.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
