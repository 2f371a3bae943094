"""Bad configuration and input fail fast with a clear message, not deep inside a run."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.context import LumosContext
from langchain_lumos.errors import CheckpointStoreError, ThreadNotFoundError
from langchain_lumos.persistence import async_sqlite_checkpointer, sqlite_checkpointer
from tests.unit_tests.runtime import CallLog, qa_tools, scripted_model

PLANNER = ["Subgoal 1: Look up A.", "Yes, I will stop planning."]
GROUNDER = ["R1 = KnowledgeQuery(A)"]


def _agent(tools: Any = None, **kwargs: Any) -> Any:
    return create_lumos_agent(
        scripted_model(PLANNER),
        scripted_model(GROUNDER),
        qa_tools(CallLog()) if tools is None else tools,
        **kwargs,
    )


# -- factory arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (None, "tools must be a list of LangChain tools"),
        ({"KnowledgeQuery": "x"}, "tools must be a list of LangChain tools"),
        ("KnowledgeQuery", "tools must be a list of LangChain tools"),
        (qa_tools(CallLog())[0], "got the single tool 'KnowledgeQuery': pass \\[tool\\]"),
    ],
)
def test_tools_that_are_not_a_list_of_tools(tools: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        create_lumos_agent(scripted_model(PLANNER), scripted_model(GROUNDER), tools)


def test_review_as_a_string() -> None:
    with pytest.raises(TypeError, match="got the string 'plan'"):
        _agent(review="plan")


# -- run context ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"max_subgoals": -1}, ValueError, "max_subgoals must be at least 1"),
        ({"max_subgoals": 0}, ValueError, "max_subgoals must be at least 1"),
        ({"max_actions_per_subgoal": 0}, ValueError, "at least 1"),
        ({"max_regrounds": -1}, ValueError, "max_regrounds must be at least 0"),
        ({"max_model_tokens": 0}, ValueError, "at least 1"),
        ({"time_limit_s": 0}, ValueError, "greater than 0"),
        ({"time_limit_s": -5.0}, ValueError, "greater than 0"),
        ({"time_limit_s": math.nan}, ValueError, "must be finite"),
        ({"time_limit_s": math.inf}, ValueError, "must be finite"),
        ({"max_subgoals": True}, TypeError, "must be an integer or None, got True"),
        ({"max_regrounds": False}, TypeError, "must be an integer"),
        ({"max_subgoals": "3"}, TypeError, "must be an integer or None, got '3'"),
        ({"max_subgoals": 2.5}, TypeError, "must be an integer"),
        ({"time_limit_s": "60"}, TypeError, "must be a number of seconds"),
        ({"prompt_style": "chat"}, ValueError, "prompt_style must be 'eval' or 'train'"),
    ],
)
def test_bad_budgets(settings: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        LumosContext(**settings)


def test_good_budgets_and_a_dict_context_are_checked_too() -> None:
    LumosContext(max_subgoals=1, max_regrounds=0, time_limit_s=0.5, max_model_tokens=10)
    with pytest.raises(ValueError, match="max_subgoals must be at least 1"):
        _agent().invoke("What is A?", context={"max_subgoals": 0})


# -- input and config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ({"task": 42}, TypeError, "The task must be a string, got int"),
        ({"task": "  "}, ValueError, "The task is empty"),
        ({"question": "What is A?"}, ValueError, "Unknown input keys \\['question'\\]"),
        ({"task": "What is A?", "variables": ["Env"]}, TypeError, "'variables' must be a dict"),
        ({"messages": "What is A?"}, TypeError, "'messages' must be a list"),
        ([("assistant", "Hi")], ValueError, "needs a human message"),
        (42, TypeError, "must be a task string, a dict or messages"),
    ],
)
def test_bad_input(value: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        _agent().invoke(value)


@pytest.mark.parametrize("limit", [1, 2])
def test_recursion_limit_too_small_for_any_run(limit: int) -> None:
    with pytest.raises(ValueError, match="recursion_limit must be an integer of at least 3"):
        _agent().invoke("What is A?", {"recursion_limit": limit})


def test_smallest_recursion_limit_ends_gracefully() -> None:
    assert _agent().invoke("What is A?", {"recursion_limit": 3})["stop_reason"] == "budget:recursion_limit"


def test_resume_of_an_unknown_thread() -> None:
    agent = _agent(checkpointer=InMemorySaver())
    with pytest.raises(ThreadNotFoundError, match="thread 'nope' has no saved checkpoint"):
        agent.invoke(None, {"configurable": {"thread_id": "nope"}})


def test_resume_without_a_checkpointer() -> None:
    with pytest.raises(ValueError, match="has no checkpointer"):
        _agent().invoke(None)


def test_checkpointed_agent_without_a_thread_id() -> None:
    with pytest.raises(ValueError, match="thread_id"):
        _agent(checkpointer=InMemorySaver()).invoke("What is A?")


def test_resume_of_a_finished_thread_returns_its_result() -> None:
    agent = _agent(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    first = agent.invoke("What is A?", config)
    assert agent.invoke(None, config)["answer"] == first["answer"] == "Doc about A."


# -- damaged SQLite checkpoints ------------------------------------------------------------------


def test_lost_wal_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    config = {"configurable": {"thread_id": "t"}}
    _agent(checkpointer=sqlite_checkpointer(path)).invoke("What is A?", config)
    assert (tmp_path / "checkpoints.sqlite-wal").exists()  # the steps are still in the WAL
    copy = tmp_path / "copy.sqlite"
    shutil.copy(path, copy)  # the database without its -wal file
    agent = _agent(checkpointer=sqlite_checkpointer(copy))
    with pytest.raises(ThreadNotFoundError, match=f"no saved checkpoint in {copy}.*-wal"):
        agent.invoke(None, config)


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    path.write_bytes(b"not sqlite " * 500)
    with pytest.raises(CheckpointStoreError, match=f"{path} cannot be read \\(file is not a database\\)"):
        sqlite_checkpointer(path)


def test_database_damaged_after_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    saver = sqlite_checkpointer(path)
    _agent(checkpointer=saver).invoke("What is A?", {"configurable": {"thread_id": "t"}})
    saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    saver.conn.close()
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xab" * 4096  # the page after the schema page
    path.write_bytes(bytes(data))
    with pytest.raises(
        CheckpointStoreError, match=f"{path} cannot be read \\(database disk image is malformed\\)"
    ):
        agent = _agent(checkpointer=sqlite_checkpointer(path))
        agent.invoke(None, {"configurable": {"thread_id": "t"}})


async def test_async_resume_of_an_unknown_thread_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "async.sqlite"
    async with async_sqlite_checkpointer(path) as saver:
        agent = _agent(checkpointer=saver)
        with pytest.raises(ThreadNotFoundError, match=f"thread 'nope' has no saved checkpoint in {path}"):
            await agent.ainvoke(None, {"configurable": {"thread_id": "nope"}})
        with pytest.raises(ThreadNotFoundError):
            async for _ in agent.astream(None, {"configurable": {"thread_id": "nope"}}):
                pass


async def test_async_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "async.sqlite"
    path.write_bytes(b"not sqlite " * 500)
    with pytest.raises(CheckpointStoreError, match=f"{path} cannot be read"):
        async with async_sqlite_checkpointer(path):
            pass
