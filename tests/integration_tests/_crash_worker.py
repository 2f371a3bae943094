"""Run (or resume) a Lumos agent that is killed mid-tool-call, in its own process.

Usage:
    python _crash_worker.py SCENARIO --db CHECKPOINTS --log CALLS --thread ID
        [--crash-on KEY] [--resume] [--postgres DSN] [--durability sync|async]

`SCENARIO` is `onetime` or `iterative` (scripts in `SCENARIOS`). With `--crash-on`, the
tool call whose key (query / question) is KEY waits until the other calls of its
grounding have finished, then kills the process with `os._exit(1)`. With `--crash-after`,
the process is killed right after the action task of KEY returned its finished result,
before LangGraph saved it (the window a background checkpoint write leaves open). With `--resume`, the
same thread continues from its checkpoint (`invoke(None, config)`). Prints the result as
JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402

from langchain_lumos.agent import create_lumos_agent  # noqa: E402
from tests.unit_tests.runtime import CallLog, qa_tools, scripted_model  # noqa: E402

TASK = "What do A, B and C have in common?"

SCENARIOS: dict[str, dict[str, Any]] = {
    # One grounding: A, B, C independent (one superstep), then QA chained on all three,
    # then a Calculator chained on nothing (same superstep as A, B, C).
    "onetime": {
        "mode": "onetime",
        "planner": [
            "Subgoal 1: Look up A; Subgoal 2: Look up B; Subgoal 3: Look up C; "
            "Subgoal 4: Answer what they share"
        ],
        "grounder": [
            "R1 = KnowledgeQuery(A); R2 = KnowledgeQuery(B); R3 = KnowledgeQuery(C); "
            "R4 = QA([R1, R2, R3], Question: What do A, B and C share?); R5 = Calculator(2 + 3)"
        ],
        # crash key -> the calls that finish before it (same superstep)
        "siblings": {"C": ("A", "B", "2 + 3"), "What do A, B and C share?": ()},
    },
    # Subgoal 1: A then QA; subgoal 2: B and C concurrently, then QA; then stop.
    "iterative": {
        "mode": "iterative",
        "planner": [
            "Subgoal 1: Look up A.",
            "No, I will keep planning. Subgoal 2: Look up B and C.",
            "Yes, I will stop planning.",
        ],
        "grounder": [
            "R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)",
            "R3 = KnowledgeQuery(B); R4 = KnowledgeQuery(C); R5 = QA([R3, R4], Question: What are B and C?)",
        ],
        "siblings": {"C": ("B",), "What are B and C?": ()},
    },
}


def build_agent(scenario: str, log: CallLog, checkpointer: Any, crash_on: str | None = None) -> Any:
    """The scenario's agent: scripted models, logged tools, the given checkpointer."""
    spec = SCENARIOS[scenario]
    wait_for = tuple(spec["siblings"].get(crash_on, ())) if crash_on else ()
    return create_lumos_agent(
        scripted_model(responses=spec["planner"], role="planner", log=log),
        scripted_model(responses=spec["grounder"], role="grounder", log=log),
        qa_tools(log, crash_on=crash_on, wait_for=wait_for),
        mode=spec["mode"],
        checkpointer=checkpointer,
    )


class KillAfter(BaseCallbackHandler):
    """Kills the process as the `execute_action` task of the action on KEY returns.

    Sibling action tasks running at the same time finish first (so what is lost is only
    LangGraph's unsaved record of finished tasks, not a call killed mid-way).
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.running: set[UUID] = set()
        self.lock = threading.Lock()

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Track running action tasks."""
        if kwargs.get("name") == "execute_action":
            with self.lock:
                self.running.add(run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Exit when the finished task's observation is the action on KEY."""
        with self.lock:
            self.running.discard(run_id)
        if not isinstance(outputs, dict):
            return
        for obs in outputs.get("observations") or []:
            text = obs.get("action", "") if isinstance(obs, dict) else ""
            if text.endswith((f"({self.key})", f"Question: {self.key})")) and obs["status"] == "success":
                deadline = time.monotonic() + 10
                while self.running and time.monotonic() < deadline:
                    time.sleep(0.01)
                os._exit(1)


def run(args: argparse.Namespace, checkpointer: Any) -> dict[str, Any]:
    log = CallLog(args.log)
    agent = build_agent(args.scenario, log, checkpointer, args.crash_on)
    config: dict[str, Any] = {"configurable": {"thread_id": args.thread}}
    if args.crash_after:
        config["callbacks"] = [KillAfter(args.crash_after)]
    if args.resume:
        # Resume the thread from its last checkpoint (`agent.invoke(None, ...)` does the
        # same after checking that the thread has a checkpoint).
        result = agent.graph.invoke(None, config, durability=args.durability)
    else:
        result = agent.invoke(TASK, config, durability=args.durability)
    return {"answer": result.get("answer"), "stop_reason": result.get("stop_reason")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--db", default=None)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--log", required=True)
    parser.add_argument("--thread", default="crash")
    parser.add_argument("--crash-on", default=None)
    parser.add_argument("--crash-after", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--durability", default="sync", choices=["sync", "async", "exit"])
    args = parser.parse_args(argv)
    if args.postgres:
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(args.postgres) as saver:
            saver.setup()
            out = run(args, saver)
    else:
        from langchain_lumos.persistence import sqlite_checkpointer

        saver = sqlite_checkpointer(args.db)
        try:
            out = run(args, saver)
        finally:
            saver.conn.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
