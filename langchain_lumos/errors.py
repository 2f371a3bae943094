"""Errors raised by langchain-lumos.

Model-caused failures (unparseable plans or actions, unknown actions, failing tools) are
*not* raised: they become observations the agent recovers from. The classes below are for
programmer errors and for structured parse results.
"""

from __future__ import annotations

__all__ = [
    "ActionParseError",
    "CheckpointNotFoundError",
    "LumosError",
    "PlanParseError",
    "ToolArgumentError",
]


class LumosError(Exception):
    """Base class of every langchain-lumos error."""


class PlanParseError(LumosError):
    """A planner output could not be read as subgoals."""


class ActionParseError(LumosError):
    """A grounder output could not be read as actions."""


class ToolArgumentError(LumosError):
    """Lumos action arguments could not be mapped onto a tool's schema."""


class CheckpointNotFoundError(LumosError):
    """A released Lumos checkpoint does not exist or cannot be reached offline."""
