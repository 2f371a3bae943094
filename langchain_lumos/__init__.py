"""Lumos modular language agents (plan, ground, execute) for LangChain and LangGraph.

`create_lumos_agent` builds a `LumosAgent`: a planner writes subgoals, a grounder turns
each subgoal into actions (`R1 = KnowledgeQuery(...); R2 = ...`), and an executor runs
them with LangChain tools. It runs the released `ai2lumos/lumos_*` checkpoints unchanged
(`LumosTransformersLLM`, `LumosCompletionsLLM`) and any LangChain chat model.
"""

from __future__ import annotations

import importlib
from typing import Any

from langchain_lumos._version import __version__
from langchain_lumos.agent import LumosAgent, create_lumos_agent
from langchain_lumos.context import LumosContext
from langchain_lumos.errors import (
    ActionParseError,
    CheckpointNotFoundError,
    LumosError,
    PlanParseError,
    ToolArgumentError,
)
from langchain_lumos.graph import create_lumos_graph
from langchain_lumos.prompts import DOMAINS, Domain, get_domain
from langchain_lumos.state import LumosInputState, LumosOutputState, LumosState

_LAZY = {
    "LumosTransformersLLM": "langchain_lumos.models.transformers",
    "LumosCompletionsLLM": "langchain_lumos.models.openai_compatible",
    "load_lumos_models": "langchain_lumos.models.registry",
    "resolve_checkpoints": "langchain_lumos.models.registry",
}

__all__ = [
    "DOMAINS",
    "ActionParseError",
    "CheckpointNotFoundError",
    "Domain",
    "LumosAgent",
    "LumosCompletionsLLM",
    "LumosContext",
    "LumosError",
    "LumosInputState",
    "LumosOutputState",
    "LumosState",
    "LumosTransformersLLM",
    "PlanParseError",
    "ToolArgumentError",
    "__version__",
    "create_lumos_agent",
    "create_lumos_graph",
    "get_domain",
    "load_lumos_models",
    "resolve_checkpoints",
]


def __getattr__(name: str) -> Any:
    """Import the model backends (torch, transformers) only when used."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'langchain_lumos' has no attribute {name!r}"
    raise AttributeError(msg)
