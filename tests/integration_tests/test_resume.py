"""Resume after a real crash: a worker process dies mid-tool-call; the thread resumes.

Every tool call must happen exactly once overall, except the one killed mid-call (it
runs again on resume); model calls of finished steps are never repeated. A call that
finished just before the kill (its result not yet checkpointed) is not repeated either.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from langchain_lumos.persistence import (
    async_sqlite_checkpointer,
    default_checkpoint_path,
    sqlite_checkpointer,
)
from tests.integration_tests._crash_worker import SCENARIOS, TASK, build_agent
from tests.unit_tests.runtime import CallLog, read_log

WORKER = str(Path(__file__).with_name("_crash_worker.py"))


def _worker(tmp_path: Path, scenario: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        WORKER,
        scenario,
        "--db",
        str(tmp_path / "cp.sqlite"),
        "--log",
        str(tmp_path / "calls.jsonl"),
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def _counts(entries: list[dict[str, str]], kind: str) -> collections.Counter[str]:
    return collections.Counter(
        e["key"] for e in entries if e["kind"] == kind and e["phase"] in ("start", "call")
    )


EXPECTED_TOOLS = {
    "onetime": {"A", "B", "C", "2 + 3", "What do A, B and C share?"},
    "iterative": {"A", "What is A?", "B", "C", "What are B and C?", TASK},
}


@pytest.mark.parametrize(
    ("scenario", "crash_on", "durability"),
    [
        ("onetime", "C", "sync"),  # siblings A, B, 2 + 3 finished in the same superstep
        ("onetime", "What do A, B and C share?", "sync"),  # a chained action
        ("onetime", "C", "async"),
        ("iterative", "C", "sync"),  # second subgoal, sibling B finished
        ("iterative", "What are B and C?", "async"),
    ],
)
def test_crash_then_resume_in_a_new_process(
    tmp_path: Path, scenario: str, crash_on: str, durability: str
) -> None:
    crashed = _worker(tmp_path, scenario, "--crash-on", crash_on, "--durability", durability)
    assert crashed.returncode == 1, crashed.stderr
    before = read_log(tmp_path / "calls.jsonl")
    started = [e["key"] for e in before if e["kind"] == "tool" and e["phase"] == "start"]
    finished = [e["key"] for e in before if e["kind"] == "tool" and e["phase"] == "end"]
    assert started[-1] == crash_on or crash_on in started
    assert crash_on not in finished  # it died mid-call
    siblings = SCENARIOS[scenario]["siblings"][crash_on]
    assert set(siblings) <= set(finished)  # the siblings had finished before the crash
    crashed_pid = before[0]["pid"]

    resumed = _worker(tmp_path, scenario, "--resume", "--durability", durability)
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert out["stop_reason"] == ("plan_complete" if scenario == "onetime" else "planner_stop")
    assert out["answer"]

    entries = read_log(tmp_path / "calls.jsonl")
    assert {e["pid"] for e in entries} == {crashed_pid, entries[-1]["pid"]} and entries[-1][
        "pid"
    ] != crashed_pid
    tools = _counts(entries, "tool")
    assert set(tools) == EXPECTED_TOOLS[scenario]
    assert tools[crash_on] == 2  # killed mid-call, then run again
    assert all(n == 1 for key, n in tools.items() if key != crash_on), tools
    # Finished model steps are not repeated either.
    models = _counts(entries, "model")
    assert all(n == 1 for n in models.values()), models
    resumed_keys = [e["key"] for e in entries if e["pid"] != crashed_pid and e["phase"] in ("start", "call")]
    assert resumed_keys[0] == crash_on


@pytest.mark.parametrize(
    ("scenario", "crash_after"),
    [("onetime", "C"), ("iterative", "C"), ("iterative", "What are B and C?")],
)
def test_kill_right_after_a_tool_finished_does_not_redo_it(
    tmp_path: Path, scenario: str, crash_after: str
) -> None:
    # Killed after the action task returned, before LangGraph saved its result: the
    # action journal (beside the checkpoint file) keeps the finished call.
    crashed = _worker(tmp_path, scenario, "--crash-after", crash_after)
    assert crashed.returncode == 1, crashed.stderr
    finished = {e["key"] for e in read_log(tmp_path / "calls.jsonl") if e["phase"] == "end"}
    assert crash_after in finished
    assert (tmp_path / "cp.sqlite.actions").exists()

    resumed = _worker(tmp_path, scenario, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert out["stop_reason"] == ("plan_complete" if scenario == "onetime" else "planner_stop")
    tools = _counts(read_log(tmp_path / "calls.jsonl"), "tool")
    assert set(tools) == EXPECTED_TOOLS[scenario]
    assert all(n == 1 for n in tools.values()), tools  # every finished call exactly once


def test_resume_in_process_with_agent_graph(tmp_path: Path) -> None:
    crashed = _worker(tmp_path, "onetime", "--crash-on", "C")
    assert crashed.returncode == 1
    saver = sqlite_checkpointer(tmp_path / "cp.sqlite")
    log = CallLog(tmp_path / "calls.jsonl")
    agent = build_agent("onetime", log, saver)
    config = {"configurable": {"thread_id": "crash"}}
    state = agent.graph.get_state(config)
    assert state.next == ("execute_action",)  # the pending action task
    result = agent.graph.invoke(None, config)
    assert result["stop_reason"] == "plan_complete"
    tools = _counts(read_log(tmp_path / "calls.jsonl"), "tool")
    assert tools["C"] == 2
    assert all(n == 1 for key, n in tools.items() if key != "C")
    saver.conn.close()


def test_agent_invoke_none_resumes(tmp_path: Path) -> None:
    saver = InMemorySaver()
    agent = build_agent("onetime", CallLog(), saver)
    config = {"configurable": {"thread_id": "x"}}
    agent.invoke(TASK, config, interrupt_before=["execute_action"])
    assert agent.invoke(None, config)["stop_reason"] == "plan_complete"


async def test_async_sqlite_checkpointer_resume(tmp_path: Path) -> None:
    log = CallLog()
    path = tmp_path / "async.sqlite"
    config: dict[str, Any] = {"configurable": {"thread_id": "a1"}}
    async with async_sqlite_checkpointer(path) as saver:
        agent = build_agent("onetime", log, saver)
        await agent.graph.ainvoke({"task": TASK}, config, interrupt_before=["execute_action"])
        assert log.calls() == []
    async with async_sqlite_checkpointer(path) as saver:  # a new connection: state is on disk
        agent = build_agent("onetime", log, saver)
        result = await agent.graph.ainvoke(None, config)
    assert result["stop_reason"] == "plan_complete"
    assert sorted(log.calls()) == sorted(EXPECTED_TOOLS["onetime"])


def test_default_checkpoint_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LUMOS_DATA_DIR", str(tmp_path / "data"))
    assert default_checkpoint_path() == tmp_path / "data" / "checkpoints.sqlite"
    saver = sqlite_checkpointer()
    assert (tmp_path / "data" / "checkpoints.sqlite").exists()
    saver.conn.close()
    monkeypatch.delenv("LUMOS_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_checkpoint_path() == tmp_path / "xdg" / "langchain_lumos" / "checkpoints.sqlite"


def test_sqlite_checkpointer_is_thread_safe(tmp_path: Path) -> None:
    # Concurrent action tasks run on worker threads; the connection must allow that.
    saver = sqlite_checkpointer(tmp_path / "t.sqlite")
    agent = build_agent("onetime", CallLog(), saver)
    results = agent.batch([TASK, TASK], [{"configurable": {"thread_id": f"b{i}"}} for i in range(2)])
    assert [r["stop_reason"] for r in results] == ["plan_complete"] * 2
    assert len(list(saver.list({"configurable": {"thread_id": "b0"}}))) > 3
    saver.conn.close()
