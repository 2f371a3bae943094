"""Runtime tests: events, budgets, accounting, tracing, review, resume, graphs, cookbook.

Shared helpers: a turn-scripted `ScriptedLLM` (its reply depends on the conversation's
turn, not on call order, so a resumed run in a fresh process gets the same script) and
tiny complex-QA tools that log every call (to memory or to a JSON-lines file).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from langchain_lumos.testing import ScriptedCall, ScriptedLLM

__all__ = ["CallLog", "qa_tools", "read_log", "scripted_model"]


def scripted_model(responses: list[str], *, role: str = "model", log: CallLog | None = None) -> ScriptedLLM:
    """A turn-scripted `ScriptedLLM`: turn `k` of a conversation gets `responses[k]`.

    Independent of call order (resume-safe); the last response repeats. It reports 10
    prompt and 5 completion tokens per call and, with `log`, records each call as
    `("model", "<role>:<turn>")`.
    """

    def record(call: ScriptedCall) -> None:
        if log is not None:
            log.write("model", f"{call.role}:{call.turn}", "call")

    return ScriptedLLM(responses=responses, by="turn", role=role, usage=(10, 5), on_call=record)


class CallLog:
    """Records tool (and model) calls in memory and, optionally, in a JSON-lines file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: list[dict[str, str]] = []

    def write(self, kind: str, key: str, phase: str) -> None:
        entry = {"kind": kind, "key": key, "phase": phase, "pid": str(os.getpid())}
        self.entries.append(entry)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def calls(self, kind: str = "tool", phase: str = "start") -> list[str]:
        return [e["key"] for e in self.entries if e["kind"] == kind and e["phase"] == phase]

    def finished(self) -> set[str]:
        source = read_log(self.path) if self.path is not None else self.entries
        return {e["key"] for e in source if e["phase"] == "end"}


def read_log(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The entries of a JSON-lines call log."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line]


def qa_tools(
    log: CallLog,
    *,
    crash_on: str | None = None,
    wait_for: tuple[str, ...] = (),
    hook: Callable[[str], None] | None = None,
) -> list[BaseTool]:
    """`KnowledgeQuery`, `QA`, `Calculator` and an always-failing `Flaky` tool.

    Args:
        log: Where calls are recorded (`start` before the work, `end` after).
        crash_on: A call key (the query / question) whose call kills the process with
            `os._exit(1)` mid-call, after the calls in `wait_for` have finished.
        wait_for: Keys that must have finished before the crash.
        hook: Called with each key at the start of a call (e.g. to sleep).
    """

    def enter(key: str) -> None:
        log.write("tool", key, "start")
        if hook is not None:
            hook(key)
        if crash_on is not None and key == crash_on:
            deadline = time.monotonic() + 10
            while not set(wait_for) <= log.finished() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.5)  # let the checkpointer's background writer save the siblings
            os._exit(1)

    def knowledge_query(query: str) -> str:
        """Capture the relevant webpages according to the query."""
        enter(query)
        log.write("tool", query, "end")
        return f"Doc about {query}."

    def qa(context: list[str] | str, question: str) -> str:
        """Given context, answer the given query."""
        enter(question)
        log.write("tool", question, "end")
        return f"Question: {question}; Answer: answer to {question}"

    def calculator(formula: str) -> str:
        """Calculate the input formula."""
        enter(formula)
        allowed = set("0123456789+-*/(). ")
        if not set(formula) <= allowed:
            msg = f"Cannot calculate {formula!r}."
            raise ToolException(msg)
        value = eval(formula, {"__builtins__": {}}, {})  # digits and operators only
        log.write("tool", formula, "end")
        return str(value)

    def flaky(query: str) -> str:
        """Always fails."""
        enter(query)
        msg = f"Flaky failed on {query!r}."
        raise ToolException(msg)

    return [
        StructuredTool.from_function(knowledge_query, name="KnowledgeQuery"),
        StructuredTool.from_function(qa, name="QA"),
        StructuredTool.from_function(calculator, name="Calculator"),
        StructuredTool.from_function(flaky, name="Flaky"),
    ]
