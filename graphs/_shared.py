"""What the served graphs share: `GraphContext` and model/tool resolution per run.

The module-level graphs in `graphs/iterative.py` and `graphs/onetime.py` take their models
and tools from the run context (`context=GraphContext(...)`, or a dict in LangGraph Studio
and the server API), resolved on each call and cached by name, so each model loads once.

Model names:

- `smollm2`: the offline default (SmolLM2, converted locally; see `langchain_lumos.models`).
- `lumos:<base_url>`: the released Lumos checkpoints behind an OpenAI-compatible
  completions server (vLLM), e.g. `lumos:http://localhost:8001/v1`. The served model
  name is the released checkpoint of the domain/mode/role (`resolve_checkpoints`), or
  the text after `#`: `lumos:http://localhost:8001/v1#my-planner`.
- `<provider>:<model>`: any chat model through `langchain.chat_models.init_chat_model`
  (needs `pip install langchain langchain-<provider>`), e.g. `openai:gpt-4o-mini`.
- a name given to `register_model()` (custom objects, test doubles).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from langchain_core.language_models import BaseLanguageModel
from langchain_core.tools import BaseTool
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from langchain_lumos.context import LumosContext
from langchain_lumos.graph import create_lumos_graph
from langchain_lumos.prompts import DOMAINS

__all__ = [
    "GraphContext",
    "build_graph",
    "clear_caches",
    "register_model",
    "register_tools",
    "resolve_model",
    "resolve_tools",
]

Role = Literal["planner", "grounder", "qa"]
_ENV = {
    "domain": "LUMOS_DOMAIN",
    "planner_model": "LUMOS_PLANNER_MODEL",
    "grounder_model": "LUMOS_GROUNDER_MODEL",
    "qa_model": "LUMOS_QA_MODEL",
}


@dataclass(kw_only=True)
class GraphContext(LumosContext):
    """Run settings of the served Lumos graphs: budgets plus which models and tools to use.

    Each field falls back to an environment variable when left at its default:
    `LUMOS_DOMAIN`, `LUMOS_PLANNER_MODEL`, `LUMOS_GROUNDER_MODEL`, `LUMOS_QA_MODEL`.
    """

    domain: str = field(
        default="complex_qa",
        metadata={
            "description": "Lumos domain: its tools (complex_qa, maths, web_agent). The served "
            "graph's prompts are built for LUMOS_DOMAIN; a run must use the same domain."
        },
    )
    planner_model: str = field(
        default="smollm2",
        metadata={
            "description": "Planner model: 'smollm2' (offline default), "
            "'lumos:<base_url>' (released checkpoints on a vLLM/OpenAI-compatible "
            "completions server) or '<provider>:<model>' (init_chat_model)."
        },
    )
    grounder_model: str = field(
        default="smollm2",
        metadata={"description": "Grounder model; same naming as planner_model."},
    )
    qa_model: str = field(
        default="",
        metadata={
            "description": "Model behind the complex-QA `QA` tool; empty: the planner model "
            "(for 'lumos:' planners, the grounder's server is not used: set it explicitly)."
        },
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            env = _ENV.get(f.name)
            if env and getattr(self, f.name) == f.default and os.environ.get(env):
                setattr(self, f.name, os.environ[env])


# -- registries and caches ------------------------------------------------------------------

_LOCK = threading.Lock()
_REGISTERED_MODELS: dict[str, BaseLanguageModel] = {}
_REGISTERED_TOOLS: dict[str, list[BaseTool]] = {}
_MODELS: dict[tuple[str, str, str, str], BaseLanguageModel] = {}
_TOOLS: dict[tuple[str, str], list[BaseTool]] = {}


def register_model(name: str, model: BaseLanguageModel) -> None:
    """Make `model` selectable by `name` in `planner_model` / `grounder_model` / `qa_model`."""
    if not isinstance(model, BaseLanguageModel):
        msg = f"register_model needs a LangChain chat model or LLM, got {type(model).__name__}."
        raise TypeError(msg)
    _REGISTERED_MODELS[name] = model


def register_tools(domain: str, tools: Sequence[BaseTool]) -> None:
    """Use `tools` for runs of `domain` instead of the package's tool factory."""
    _REGISTERED_TOOLS[domain] = list(tools)


def clear_caches() -> None:
    """Forget registered and cached models and tools."""
    with _LOCK:
        _REGISTERED_MODELS.clear()
        _REGISTERED_TOOLS.clear()
        _MODELS.clear()
        _TOOLS.clear()


def _load_model(name: str, role: Role, domain: str, mode: str) -> BaseLanguageModel:
    if name in _REGISTERED_MODELS:
        return _REGISTERED_MODELS[name]
    if name == "smollm2":
        from langchain_lumos.models.smollm2 import load_default_llm

        return load_default_llm()
    if name.startswith("lumos:"):
        from langchain_lumos.models.openai_compatible import LumosCompletionsLLM
        from langchain_lumos.models.registry import resolve_checkpoints

        base_url, _, served = name[len("lumos:") :].partition("#")
        if not base_url:
            msg = "A 'lumos:' model needs a server URL, e.g. 'lumos:http://localhost:8001/v1'."
            raise ValueError(msg)
        if not served:
            planner_id, grounder_id = resolve_checkpoints(domain, mode)
            served = grounder_id if role == "grounder" else planner_id
        return LumosCompletionsLLM(base_url=base_url, model=served)
    if ":" in name:
        try:
            from langchain.chat_models import init_chat_model
        except ImportError:
            msg = (
                f"Model {name!r} needs `langchain` (init_chat_model): "
                "pip install langchain langchain-<provider>. Or use 'smollm2' / 'lumos:<url>'."
            )
            raise ValueError(msg) from None
        return init_chat_model(name)
    msg = (
        f"Unknown model name {name!r}: use 'smollm2', 'lumos:<base_url>', "
        "'<provider>:<model>' or a name given to register_model()."
    )
    raise ValueError(msg)


def _context(runtime: Runtime[Any]) -> GraphContext:
    ctx = runtime.context
    if isinstance(ctx, GraphContext):
        return ctx
    if isinstance(ctx, dict):
        return GraphContext(**ctx)
    if isinstance(ctx, LumosContext):
        base = {f.name: getattr(ctx, f.name) for f in fields(LumosContext)}
        return GraphContext(**base)
    return GraphContext()


def resolve_model(ctx: GraphContext, role: Role, mode: str) -> BaseLanguageModel:
    """The model named by `ctx` for `role`, loaded once per (name, role, domain, mode)."""
    name = {"planner": ctx.planner_model, "grounder": ctx.grounder_model}.get(role) or (
        ctx.qa_model or ctx.planner_model
    )
    key = (name, role if name.startswith("lumos:") else "", ctx.domain, mode)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = _load_model(name, role, ctx.domain, mode)
        return _MODELS[key]


def resolve_tools(ctx: GraphContext, mode: str) -> list[BaseTool]:
    """The domain's tools (complex-QA tools use `qa_model`), built once per domain/QA model."""
    if ctx.domain in _REGISTERED_TOOLS:
        return _REGISTERED_TOOLS[ctx.domain]
    qa_name = ctx.qa_model or ctx.planner_model
    key = (ctx.domain, qa_name if ctx.domain == "complex_qa" else "")
    with _LOCK:
        cached = _TOOLS.get(key)
    if cached is not None:
        return cached
    if ctx.domain == "complex_qa":
        from langchain_lumos.tools.complex_qa import complex_qa_tools

        tools = complex_qa_tools(llm=resolve_model(ctx, "qa", mode))
    elif ctx.domain == "maths":
        from langchain_lumos.tools.maths import maths_tools

        tools = maths_tools()
    elif ctx.domain == "web_agent":
        tools = importlib.import_module("langchain_lumos.tools.web").web_agent_tools()
    else:
        msg = (
            f"Domain {ctx.domain!r} has no tools the served graph can build on its own "
            "(webshop needs an environment): build the agent in code, or register_tools()."
        )
        raise ValueError(msg)
    with _LOCK:
        return _TOOLS.setdefault(key, list(tools))


def build_graph(mode: Literal["iterative", "onetime"], *, name: str) -> CompiledStateGraph:
    """A compiled Lumos graph whose models and tools come from the run's `GraphContext`."""
    domain = GraphContext().domain
    if domain not in DOMAINS:
        msg = f"LUMOS_DOMAIN={domain!r} is not a Lumos domain; expected one of {sorted(DOMAINS)}."
        raise ValueError(msg)

    def checked(runtime: Runtime[Any]) -> GraphContext:
        ctx = _context(runtime)
        if ctx.domain != domain:
            msg = (
                f"This graph was built for domain {domain!r} (LUMOS_DOMAIN); the run asked for "
                f"{ctx.domain!r}. Serve another graph with LUMOS_DOMAIN={ctx.domain}."
            )
            raise ValueError(msg)
        return ctx

    def planner(state: Any, runtime: Runtime[Any]) -> BaseLanguageModel:
        return resolve_model(checked(runtime), "planner", mode)

    def grounder(state: Any, runtime: Runtime[Any]) -> BaseLanguageModel:
        return resolve_model(checked(runtime), "grounder", mode)

    def tools(runtime: Runtime[Any]) -> list[BaseTool]:
        return resolve_tools(checked(runtime), mode)

    return create_lumos_graph(
        planner, grounder, tools, mode=mode, domain=domain, name=name, context_schema=GraphContext
    )
