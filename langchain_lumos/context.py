"""Run settings of a Lumos agent, passed as LangGraph run context (`context=`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_lumos.prompts import PromptStyle

__all__ = ["LumosContext"]


@dataclass(kw_only=True)
class LumosContext:
    """Per-run settings: budgets and the prompt style.

    Every budget ends the run gracefully: the agent answers from what it has and reports
    which budget ended it in `stop_reason` (`budget:<name>`), instead of raising.

    Example:
        ```python
        agent.invoke("Who ...?", context=LumosContext(max_subgoals=3, time_limit_s=60))
        ```
    """

    max_subgoals: int | None = field(
        default=None,
        metadata={"description": "Most subgoals to plan (default: the domain's evaluation cap)."},
    )
    max_actions_per_subgoal: int = field(
        default=16, metadata={"description": "Most actions executed for one grounding."}
    )
    max_regrounds: int = field(
        default=2,
        metadata={"description": "Re-groundings of a subgoal whose actions failed (iterative)."},
    )
    max_model_tokens: int | None = field(
        default=None,
        metadata={"description": "Most prompt + completion tokens over planner and grounder."},
    )
    time_limit_s: float | None = field(
        default=None, metadata={"description": "Wall-clock limit of a run, in seconds."}
    )
    prompt_style: PromptStyle = field(
        default="eval",
        metadata={"description": "'eval': the evaluation scripts' prompts; 'train': fine-tuning's."},
    )
