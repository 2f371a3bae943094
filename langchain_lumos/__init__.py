"""Lumos modular language agents (plan, ground, execute) for LangChain and LangGraph.

`create_lumos_agent` builds a `LumosAgent`: a planner writes subgoals, a grounder turns
each subgoal into actions (`R1 = KnowledgeQuery(...); R2 = ...`), and an executor runs
them with LangChain tools. It runs the released `ai2lumos/lumos_*` checkpoints unchanged
(`LumosTransformersLLM`, `LumosCompletionsLLM`) and any LangChain chat model;
`resolve_models` turns a model spec (`smollm2`, `released`, `completions:URL`, ...) into them.

Every name is imported on first use, so `import langchain_lumos` is cheap and loads
neither LangGraph nor a model backend (torch, transformers) until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_lumos._version import __version__
    from langchain_lumos.agent import LumosAgent, create_lumos_agent
    from langchain_lumos.context import LumosContext
    from langchain_lumos.domains import DOMAINS, Domain, get_domain, list_domains, register_domain
    from langchain_lumos.errors import (
        CheckpointNotFoundError,
        CheckpointStoreError,
        LumosError,
        ThreadNotFoundError,
        ToolArgumentError,
    )
    from langchain_lumos.graph import create_lumos_graph
    from langchain_lumos.integrated import create_integrated_agent
    from langchain_lumos.models.openai_compatible import LumosCompletionsLLM
    from langchain_lumos.models.registry import load_lumos_models, resolve_checkpoints
    from langchain_lumos.models.transformers import LumosTransformersLLM
    from langchain_lumos.presets import resolve_models
    from langchain_lumos.state import LumosInputState, LumosOutputState, LumosState

_LAZY = {
    "__version__": "langchain_lumos._version",
    "DOMAINS": "langchain_lumos.domains",
    "CheckpointNotFoundError": "langchain_lumos.errors",
    "CheckpointStoreError": "langchain_lumos.errors",
    "Domain": "langchain_lumos.domains",
    "LumosAgent": "langchain_lumos.agent",
    "LumosCompletionsLLM": "langchain_lumos.models.openai_compatible",
    "LumosContext": "langchain_lumos.context",
    "LumosError": "langchain_lumos.errors",
    "LumosInputState": "langchain_lumos.state",
    "LumosOutputState": "langchain_lumos.state",
    "LumosState": "langchain_lumos.state",
    "LumosTransformersLLM": "langchain_lumos.models.transformers",
    "ThreadNotFoundError": "langchain_lumos.errors",
    "ToolArgumentError": "langchain_lumos.errors",
    "create_integrated_agent": "langchain_lumos.integrated",
    "create_lumos_agent": "langchain_lumos.agent",
    "create_lumos_graph": "langchain_lumos.graph",
    "get_domain": "langchain_lumos.domains",
    "list_domains": "langchain_lumos.domains",
    "load_lumos_models": "langchain_lumos.models.registry",
    "register_domain": "langchain_lumos.domains",
    "resolve_checkpoints": "langchain_lumos.models.registry",
    "resolve_models": "langchain_lumos.presets",
}

__all__ = [
    "DOMAINS",
    "CheckpointNotFoundError",
    "CheckpointStoreError",
    "Domain",
    "LumosAgent",
    "LumosCompletionsLLM",
    "LumosContext",
    "LumosError",
    "LumosInputState",
    "LumosOutputState",
    "LumosState",
    "LumosTransformersLLM",
    "ThreadNotFoundError",
    "ToolArgumentError",
    "__version__",
    "create_integrated_agent",
    "create_lumos_agent",
    "create_lumos_graph",
    "get_domain",
    "list_domains",
    "load_lumos_models",
    "register_domain",
    "resolve_checkpoints",
    "resolve_models",
]


def __getattr__(name: str) -> Any:
    """Import each public name on first use (and cache it in the module)."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'langchain_lumos' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
