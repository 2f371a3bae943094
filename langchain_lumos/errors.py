"""Errors raised by langchain-lumos.

Model-caused failures (unparseable plans or actions, unknown actions, failing tools) are
*not* raised: they become observations the agent recovers from. The classes below are for
programmer errors and for broken setups.
"""

from __future__ import annotations

__all__ = [
    "CheckpointNotFoundError",
    "CheckpointStoreError",
    "LumosError",
    "ThreadNotFoundError",
    "ToolArgumentError",
]


class LumosError(Exception):
    """Base class of every langchain-lumos error."""


class ToolArgumentError(LumosError):
    """Lumos action arguments could not be mapped onto a tool's schema."""


class CheckpointNotFoundError(LumosError):
    """A released Lumos checkpoint does not exist or cannot be reached offline."""


class CheckpointStoreError(LumosError):
    """The checkpoint database of a thread cannot be read (damaged or not a database)."""


class ThreadNotFoundError(LumosError, LookupError):
    """A resume (`invoke(None, config)`) names a thread that has no saved checkpoint."""
