"""Resume a thread after the process crashed mid-run, without repeating finished tools.

The script runs itself twice: a child process that is killed (`os._exit`) in the middle
of a tool call, then a resume of the same thread from the SQLite checkpoint. Every
finished action task was checkpointed, so only the interrupted call runs again.
Run: `python cookbook/resume_after_crash.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import QUESTION, models, tools
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool

from langchain_lumos.agent import LumosAgent, create_lumos_agent
from langchain_lumos.persistence import sqlite_checkpointer

CONFIG: RunnableConfig = {"configurable": {"thread_id": "crash-demo"}}


def build(db: Path, log: Path, crash: bool) -> LumosAgent:
    m = models("iterative")

    def logged(tool: BaseTool) -> BaseTool:
        inner = tool.func  # type: ignore[attr-defined]

        def run(**kwargs: object) -> object:
            with log.open("a") as fh:
                fh.write(f"{tool.name}({kwargs.get('query') or kwargs.get('question')})\n")
            if crash and tool.name == "QA" and "born" in str(kwargs.get("question")):
                os._exit(1)  # the machine "dies" in the middle of this call
            return inner(**kwargs)

        tool.func = run
        return tool

    return create_lumos_agent(
        m.planner,
        m.grounder,
        [logged(t) for t in tools(m)],
        domain=m.domain,
        checkpointer=sqlite_checkpointer(db),
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        build(Path(sys.argv[2]), Path(sys.argv[3]), crash=True).invoke(QUESTION, CONFIG, durability="sync")
        return
    with tempfile.TemporaryDirectory() as tmp:
        db, log = Path(tmp) / "checkpoints.sqlite", Path(tmp) / "calls.log"
        child = subprocess.run([sys.executable, __file__, "--child", str(db), str(log)], check=False)
        print(f"first run exited with {child.returncode} after:", log.read_text().split("\n")[:-1])
        agent = build(db, log, crash=False)
        print("next step on resume:", agent.graph.get_state(CONFIG).next)
        result = agent.graph.invoke(None, CONFIG)  # resume the thread from its checkpoint
        print("answer:", result["answer"], f"({result['stop_reason']})")
        print("all tool calls:", log.read_text().split("\n")[:-1])


if __name__ == "__main__":
    main()
