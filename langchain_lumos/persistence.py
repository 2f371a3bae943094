"""Checkpointers for Lumos agents: durable threads, human review and crash recovery.

A checkpointer saves the graph state after every step and the result of every finished
action task, so a thread can be resumed after a review interrupt or a crash without
repeating finished tool calls (`agent.graph.invoke(None, {"configurable": {"thread_id":
...}})`, or `agent.invoke(None, ...)`).

A Lumos graph compiled with a checkpointer saves every step before the next one starts
(`durability="sync"`) unless a call asks otherwise, so a hard crash never loses a finished
step: `agent.invoke`, `agent.graph.invoke` and the CLI behave the same.

- `sqlite_checkpointer()`: one process (or a few on one machine), a file in the user data
  directory by default. The default for local apps and the CLI.
- `async_sqlite_checkpointer()`: the same for `ainvoke` / `astream`.
- PostgreSQL for several instances: install the `postgres` extra
  (`pip install "langchain-lumos[postgres]"`) and pass
  `langgraph.checkpoint.postgres.PostgresSaver` (see `docs/runtime.md`).

Example:
    ```python
    from langchain_lumos.persistence import sqlite_checkpointer

    agent = create_lumos_agent(planner, grounder, tools, checkpointer=sqlite_checkpointer())
    config = {"configurable": {"thread_id": "task-42"}}
    agent.invoke("Who ...?", config)
    ```
"""

from __future__ import annotations

import os
import sqlite3
import sys
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from langgraph._internal._constants import CONFIG_KEY_DURABILITY
from langgraph.pregel import Pregel

from langchain_lumos.errors import CheckpointStoreError

if TYPE_CHECKING:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

__all__ = [
    "DATA_DIR_ENV",
    "async_sqlite_checkpointer",
    "checkpoint_location",
    "damaged_store_error",
    "default_checkpoint_path",
    "default_data_dir",
    "sqlite_checkpointer",
    "with_sync_durability",
]

GraphT = TypeVar("GraphT", bound=Pregel)

_FILES: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
"""The database file of each saver opened here (an aiosqlite connection does not say)."""

DATA_DIR_ENV = "LUMOS_DATA_DIR"
"""Environment variable overriding the data directory (checkpoints and other state)."""
_APP = "langchain_lumos"
_FILE = "checkpoints.sqlite"


def default_data_dir() -> Path:
    """The user data directory of langchain-lumos.

    `$LUMOS_DATA_DIR` when set; otherwise the platform's data directory: `$XDG_DATA_HOME`
    or `~/.local/share` on Linux, `~/Library/Application Support` on macOS,
    `%LOCALAPPDATA%` on Windows (each plus `langchain_lumos`).
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / _APP


def default_checkpoint_path() -> Path:
    """Where `sqlite_checkpointer()` keeps checkpoints: `<data dir>/checkpoints.sqlite`."""
    return default_data_dir() / _FILE


def _resolve(path: str | os.PathLike[str] | None) -> str:
    if path is not None and str(path) == ":memory:":
        return ":memory:"
    target = Path(path).expanduser() if path is not None else default_checkpoint_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    return str(target)


def sqlite_checkpointer(
    path: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float = 30.0,
    serde: Any = None,
) -> SqliteSaver:
    """A `SqliteSaver` on a file (default: `default_checkpoint_path()`).

    The connection is opened with `check_same_thread=False` (the saver serialises access
    with a lock, and LangGraph runs concurrent action tasks on worker threads) and a busy
    timeout, so several processes may share the file. The tables are created now. Close
    it with `saver.conn.close()` when done (or let the process end).

    Args:
        path: The database file (its directory is created), or `":memory:"`.
        timeout_s: How long a write waits for another process's lock.
        serde: A LangGraph serializer (default: the saver's JSON-plus serializer).

    Returns:
        The checkpointer, ready to pass as `checkpointer=`.
    """
    from langgraph.checkpoint.sqlite import SqliteSaver

    target = _resolve(path)
    conn = sqlite3.connect(target, check_same_thread=False, timeout=timeout_s)
    saver = SqliteSaver(conn, serde=serde)
    try:
        saver.setup()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise damaged_store_error(target, exc) from exc
    return saver


@asynccontextmanager
async def async_sqlite_checkpointer(
    path: str | os.PathLike[str] | None = None,
    *,
    serde: Any = None,
) -> AsyncIterator[AsyncSqliteSaver]:
    """An `AsyncSqliteSaver` on a file, for `ainvoke` / `astream`; closed on exit.

    Example:
        ```python
        async with async_sqlite_checkpointer() as saver:
            agent = create_lumos_agent(planner, grounder, tools, checkpointer=saver)
            await agent.ainvoke("Who ...?", {"configurable": {"thread_id": "t1"}})
        ```

    Args:
        path: The database file (default: `default_checkpoint_path()`), or `":memory:"`.
        serde: A LangGraph serializer (default: the saver's JSON-plus serializer).

    Yields:
        The checkpointer, with its tables created.
    """
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    target = _resolve(path)
    async with aiosqlite.connect(target) as conn:
        saver = AsyncSqliteSaver(conn, serde=serde)
        _FILES[saver] = target
        try:
            await saver.setup()
        except sqlite3.DatabaseError as exc:
            raise damaged_store_error(target, exc) from exc
        yield saver


def with_sync_durability(graph: GraphT) -> GraphT:
    """The graph with `durability="sync"` as its default when it has a checkpointer.

    The default lives on the compiled graph itself (its bound config), so every caller of
    the graph gets it; an explicit `durability=` argument still wins. A graph without its
    own checkpointer (a subgraph, or one served by LangGraph Server) is returned as is and
    follows its parent's or the server's durability.
    """
    if graph.checkpointer in (None, True, False):
        return graph
    return graph.with_config(configurable={CONFIG_KEY_DURABILITY: "sync"})


def checkpoint_location(checkpointer: Any) -> str | None:
    """The database file behind a SQLite checkpointer (None for other checkpointers)."""
    try:
        return _FILES[checkpointer]
    except (KeyError, TypeError):
        pass
    conn = getattr(checkpointer, "conn", None)
    if not isinstance(conn, sqlite3.Connection):
        return None
    try:
        rows = conn.execute("PRAGMA database_list").fetchall()
    except sqlite3.Error:
        return None
    return next((row[2] or ":memory:" for row in rows if row[1] == "main"), None)


def damaged_store_error(location: str | None, exc: BaseException) -> CheckpointStoreError:
    """A `CheckpointStoreError` naming the damaged database file."""
    where = f"The checkpoint database {location}" if location else "The checkpoint database"
    msg = (
        f"{where} cannot be read ({exc}). It is damaged or not a SQLite database: move it "
        "away and start again (its threads are lost), or pass another path."
    )
    return CheckpointStoreError(msg)
