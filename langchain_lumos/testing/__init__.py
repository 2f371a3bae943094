"""Test doubles for Lumos agents: scripted models (and demo environments).

Like LangChain's fake models, these serve the package's own tests, the cookbook, the
`scripted` model spec of `lumos run` / `lumos eval`, and users' tests of their agents.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langchain_lumos.testing.models import (
    ScriptedCall,
    ScriptedChatModel,
    ScriptedLLM,
    ScriptedModels,
    scripted_baseline,
    scripted_models,
)

if TYPE_CHECKING:
    from langchain_lumos.testing.fuzz import fuzz_agent
    from langchain_lumos.testing.shop import DEFAULT_GOALS, DEFAULT_PRODUCTS, InMemoryShop, Product, ShopGoal
    from langchain_lumos.testing.web import StaticWebEnvironment, demo_web_environment

# The demo environments build on the tool interfaces (`langchain_lumos.tools`, slow to
# import): they load on first use, so the scripted models stay light.
_LAZY = {
    "DEFAULT_GOALS": "shop",
    "DEFAULT_PRODUCTS": "shop",
    "InMemoryShop": "shop",
    "Product": "shop",
    "ShopGoal": "shop",
    "StaticWebEnvironment": "web",
    "demo_web_environment": "web",
    "fuzz_agent": "fuzz",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_GOALS",
    "DEFAULT_PRODUCTS",
    "InMemoryShop",
    "Product",
    "ScriptedCall",
    "ScriptedChatModel",
    "ScriptedLLM",
    "ScriptedModels",
    "ShopGoal",
    "StaticWebEnvironment",
    "demo_web_environment",
    "fuzz_agent",
    "scripted_baseline",
    "scripted_models",
]
