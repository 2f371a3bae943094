"""Run settings of a Lumos agent, passed as LangGraph run context (`context=`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_lumos.prompts import PromptStyle

__all__ = ["LumosContext", "check_review"]

# Budget fields: (least allowed value, whether fractions are allowed, whether None is allowed).
_BUDGETS: dict[str, tuple[float, bool, bool]] = {
    "max_subgoals": (1, False, True),
    "max_actions_per_subgoal": (1, False, False),
    "max_regrounds": (0, False, False),
    "max_model_tokens": (1, False, True),
    "time_limit_s": (0, True, True),
    "action_timeout_s": (0, True, True),
    "tool_threads": (1, False, False),
    "max_plan_retries": (0, False, False),
}


@dataclass(kw_only=True)
class LumosContext:
    """Per-run settings: budgets, the prompt style and the review points.

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
        metadata={"description": "Most prompt + completion tokens: planner, grounder, models in tools."},
    )
    time_limit_s: float | None = field(
        default=None, metadata={"description": "Wall-clock limit of a run, in seconds."}
    )
    action_timeout_s: float | None = field(
        default=60.0,
        metadata={"description": "Most seconds one tool call may take; a slower one becomes an error."},
    )
    tool_threads: int = field(
        default=16,
        metadata={"description": "Threads running sync tools (their own pool, not asyncio's)."},
    )
    max_plan_retries: int = field(
        default=2,
        metadata={"description": "Retries of a planner reply that is neither a subgoal nor a stop."},
    )
    prompt_style: PromptStyle = field(
        default="eval",
        metadata={"description": "'eval': the evaluation scripts' prompts; 'train': fine-tuning's."},
    )
    constrained_decoding: bool | None = field(
        default=None,
        metadata={
            "description": "Grammar-constrained planner and grounder outputs (xgrammar) for models "
            "that support it (local transformers, vLLM, llama.cpp). Null: on in the small-model "
            "profile, off in the eval profile (the released checkpoints' greedy output is already "
            "valid, and an already valid output is never changed)."
        },
    )
    review: tuple[Literal["plan", "actions"], ...] | None = field(
        default=None,
        metadata={
            "description": "Review points that pause this run, 'plan' and/or 'actions', among those the "
            "graph was built with (an empty list: none). Null: the graph's default (every review "
            "point it was built with). Review pauses with an interrupt; resume with a decision."
        },
    )

    def __post_init__(self) -> None:
        """Reject budgets that cannot be meant: negative, zero, NaN, booleans, strings.

        Raises:
            TypeError: A budget that is not a number (or is a boolean).
            ValueError: A budget out of range, an unknown `prompt_style` or review point.
        """
        for name, (least, fractional, optional) in _BUDGETS.items():
            _check_budget(name, getattr(self, name), least, fractional=fractional, optional=optional)
        if self.prompt_style not in ("eval", "train"):
            msg = f"prompt_style must be 'eval' or 'train', got {self.prompt_style!r}."
            raise ValueError(msg)
        if self.constrained_decoding is not None and not isinstance(self.constrained_decoding, bool):
            msg = f"constrained_decoding must be true, false or null, got {self.constrained_decoding!r}."
            raise TypeError(msg)
        if self.review is not None:
            self.review = check_review(self.review)


def check_review(review: Any) -> tuple[Literal["plan", "actions"], ...]:
    """Review points as a tuple in graph order; a list from JSON is accepted.

    Raises:
        ValueError: Not a list of `'plan'` and/or `'actions'`.
    """
    if isinstance(review, str) or not isinstance(review, (list, tuple)):
        msg = f"review takes a list such as ['plan'] or ['plan', 'actions'], got {review!r}."
        raise ValueError(msg)
    unknown = sorted({str(r) for r in review} - {"plan", "actions"})
    if unknown or not all(isinstance(r, str) for r in review):
        msg = f"review takes 'plan' and/or 'actions', got {unknown or list(review)}."
        raise ValueError(msg)
    points: tuple[Literal["plan", "actions"], ...] = ("plan", "actions")
    return tuple(r for r in points if r in review)


def _check_budget(name: str, value: Any, least: float, *, fractional: bool, optional: bool) -> None:
    if value is None and optional:
        return
    kinds = (int, float) if fractional else (int,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        wanted = "a number of seconds" if fractional else "an integer"
        none = " or None" if optional else ""
        msg = f"LumosContext.{name} must be {wanted}{none}, got {value!r}."
        raise TypeError(msg)
    if fractional and not math.isfinite(value):
        msg = f"LumosContext.{name} must be finite, got {value!r} (use None for no limit)."
        raise ValueError(msg)
    if value < least or (fractional and value <= least):
        bound = f"greater than {least}" if fractional else f"at least {least}"
        msg = f"LumosContext.{name} must be {bound}, got {value!r}."
        raise ValueError(msg)
