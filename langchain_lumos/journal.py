"""`ActionJournal`: every finished tool call is recorded durably, so a resume never redoes it.

LangGraph saves a finished task's result with the next checkpoint, written from a
background thread even under `durability="sync"`: a process killed in the moment after
a tool returned (about a millisecond) lost that result, and the resumed run called the
tool again. The executor therefore writes each action's outcome to this journal, and
commits it, before handing the result to LangGraph; a resumed action task finds its
outcome here and does not call the tool again.

The journal is a SQLite file next to a SQLite checkpoint database
(`<database>.actions`), keyed by thread, checkpoint namespace, episode and action id.
Checkpointers without a database file (in memory: nothing survives the process anyway;
Postgres; the async SQLite saver) get no journal.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from langchain_lumos.persistence import checkpoint_location

__all__ = ["ActionJournal", "JournalKey"]

JournalKey = tuple[str, str, int, str]
"""`(thread_id, checkpoint_ns, episode, action_id)`."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lumos_actions (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL,
    episode INTEGER NOT NULL,
    action_id TEXT NOT NULL,
    type TEXT NOT NULL,
    outcome BLOB NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_ns, episode, action_id)
)
"""
_OPEN: dict[str, ActionJournal] = {}
_OPEN_LOCK = threading.Lock()


class ActionJournal:
    """Durable outcomes of finished actions, in a SQLite file."""

    def __init__(self, path: str, serde: SerializerProtocol | None = None) -> None:
        """Open (or create) the journal at `path`."""
        self.path = path
        self.serde = serde or JsonPlusSerializer()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_SCHEMA)

    @classmethod
    def for_checkpointer(cls, checkpointer: Any) -> ActionJournal | None:
        """The journal beside a SQLite checkpointer's database (None for other savers)."""
        location = checkpoint_location(checkpointer)
        if not location or location == ":memory:":
            return None
        path = f"{location}.actions"
        with _OPEN_LOCK:
            if path not in _OPEN:
                _OPEN[path] = cls(path, getattr(checkpointer, "serde", None))
            return _OPEN[path]

    def get(self, key: JournalKey) -> Any | None:
        """The recorded outcome of an action, or None when it has not finished."""
        with self._lock:
            row = self._conn.execute(
                "SELECT type, outcome FROM lumos_actions WHERE thread_id = ? AND checkpoint_ns = ? "
                "AND episode = ? AND action_id = ?",
                key,
            ).fetchone()
        return None if row is None else self.serde.loads_typed((row[0], row[1]))

    def put(self, key: JournalKey, outcome: Any) -> None:
        """Record an action's outcome durably (committed when this returns)."""
        kind, data = self.serde.dumps_typed(outcome)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO lumos_actions VALUES (?, ?, ?, ?, ?, ?)", (*key, kind, data)
            )
