"""Model backends for the Lumos planner and grounder (raw-prompt `BaseLLM` classes).

Heavy dependencies (torch, transformers, httpx) are imported lazily: importing this
package is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_lumos.models.openai_compatible import LumosCompletionsLLM
    from langchain_lumos.models.registry import (
        list_checkpoints,
        load_lumos_models,
        resolve_checkpoints,
    )
    from langchain_lumos.models.smollm2 import default_model_path, load_default_llm
    from langchain_lumos.models.transformers import LumosTransformersLLM

__all__ = [
    "LumosCompletionsLLM",
    "LumosTransformersLLM",
    "default_model_path",
    "list_checkpoints",
    "load_default_llm",
    "load_lumos_models",
    "resolve_checkpoints",
]

_LOCATIONS = {
    "LumosTransformersLLM": "transformers",
    "LumosCompletionsLLM": "openai_compatible",
    "list_checkpoints": "registry",
    "load_lumos_models": "registry",
    "resolve_checkpoints": "registry",
    "default_model_path": "smollm2",
    "load_default_llm": "smollm2",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        module = importlib.import_module(f"langchain_lumos.models.{_LOCATIONS[name]}")
        return getattr(module, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(__all__)
