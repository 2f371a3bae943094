"""Run budgets: model tokens, wall-clock time and graph steps."""

from __future__ import annotations

import time

from langchain_lumos.context import LumosContext
from langchain_lumos.state import LumosState

__all__ = ["budget_exhausted", "model_tokens"]


def model_tokens(state: LumosState) -> int:
    """Prompt + completion tokens spent: planner, grounder and models inside tools (QA)."""
    return sum(
        u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in state.get("usage", {}).values()
    )


def budget_exhausted(
    state: LumosState, ctx: LumosContext, *, tokens: bool = True, reserve: int = 2
) -> str | None:
    """The name of the first exhausted budget (`budget:<name>`), or None.

    Args:
        state: The graph state.
        ctx: The run settings.
        tokens: Check the model-token budget (the executor does not: tools spend none).
        reserve: Graph steps to keep for finishing (executing an action and answering
            takes more than planning does).
    """
    if tokens and ctx.max_model_tokens is not None and model_tokens(state) >= ctx.max_model_tokens:
        return "budget:max_model_tokens"
    started = state.get("started_at")
    if ctx.time_limit_s is not None and started and time.time() - started >= ctx.time_limit_s:
        return "budget:time_limit"
    if state.get("remaining_steps", 100) <= reserve:
        return "budget:recursion_limit"
    return None
