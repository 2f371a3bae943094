"""`Setup`: what the graph factory captured (models, tools, mode, domain, grounding)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseLanguageModel
from langchain_core.tools import BaseTool
from langgraph.runtime import Runtime

from langchain_lumos.domains import Domain
from langchain_lumos.journal import ActionJournal
from langchain_lumos.state import LumosState

__all__ = ["Mode", "ModelLike", "Setup", "ToolErrorHandling", "ToolsLike"]

Mode = Literal["iterative", "onetime"]
ModelLike = BaseLanguageModel | Callable[[LumosState, Runtime[Any]], BaseLanguageModel]
ToolsLike = Sequence[BaseTool] | Callable[[Runtime[Any]], Sequence[BaseTool]]
ToolErrorHandling = bool | str | Callable[..., str] | type[Exception] | tuple[type[Exception], ...]
"""What a tool's own exception becomes, as `handle_tool_errors` of LangGraph's `ToolNode`:
`True` (an observation `Error: <type>: <message>`), `False` (it propagates), a string (that
observation), a callable `exception -> observation` (for the exception types its first
parameter is annotated with), or exception types (observations for those, others propagate)."""


@dataclasses.dataclass(frozen=True)
class Setup:
    """What the graph factory captured: models, tools, mode and domain."""

    planner: ModelLike
    grounder: ModelLike
    tools: ToolsLike
    mode: Mode
    domain: Domain
    grounding: Literal["text", "tool_calls"] = "text"
    handle_tool_errors: ToolErrorHandling = True
    journal: ActionJournal | None = None
    """Where finished actions are recorded durably (beside a SQLite checkpoint file)."""

    def model(
        self, which: Literal["planner", "grounder"], state: LumosState, runtime: Runtime[Any]
    ) -> BaseLanguageModel:
        """Resolve the module's model (a fixed model or a `(state, runtime) -> model` callable)."""
        model = self.planner if which == "planner" else self.grounder
        if isinstance(model, BaseLanguageModel):
            return model
        return model(state, runtime)

    _static_tools: dict[str, BaseTool] | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )
    _traces: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Each module's tags and base metadata, built once."""

    def __post_init__(self) -> None:
        """Index a fixed tool list once (a `runtime -> tools` callable is resolved per call)."""
        if not callable(self.tools):
            object.__setattr__(self, "_static_tools", {t.name: t for t in self.tools})

    def constrained(self, ctx: Any) -> bool:
        """Whether planner and grounder calls are grammar-constrained in this run.

        `LumosContext.constrained_decoding` when set; otherwise on in the small-model profile
        (`Domain.profile == "small"`) and off in the eval profile.
        """
        chosen = getattr(ctx, "constrained_decoding", None)
        return chosen if chosen is not None else self.domain.profile == "small"

    def tool_map(self, runtime: Runtime[Any]) -> dict[str, BaseTool]:
        """Tools by action name (do not mutate: a fixed tool list's map is shared)."""
        if self._static_tools is not None:
            return self._static_tools
        tools = self.tools(runtime) if callable(self.tools) else self.tools
        return {t.name: t for t in tools}

    def trace(self, module: str, **extra: Any) -> tuple[list[str], dict[str, Any]]:
        """Tags and metadata for a module call, so traces read as plan / ground / execute."""
        known = self._traces.get(module)
        if known is None:
            tags = ("lumos", f"lumos:{module}", f"lumos:{self.mode}", f"lumos:{self.domain.name}")
            meta = {"lumos_module": module, "lumos_mode": self.mode, "lumos_domain": self.domain.name}
            known = self._traces[module] = (tags, meta)
        meta = dict(known[1])
        for key, value in extra.items():
            meta[f"lumos_{key}"] = value
        return list(known[0]), meta
