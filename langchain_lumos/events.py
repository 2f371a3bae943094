"""Typed module events on LangGraph's `custom` stream mode."""

from __future__ import annotations

from typing import Any

from langgraph.config import get_stream_writer

__all__ = ["emit"]


def emit(event: str, **data: Any) -> None:
    """Write a typed event to the `custom` stream mode (a no-op when nobody listens)."""
    get_stream_writer()({"event": event, **data})
