"""Human review: approve, edit or reject the plan and the grounded actions.

Review nodes pause the run with `interrupt()`; resume with `Command(resume=...)`:

- `"approve"` (or `True`, or `{"action": "approve"}`): go on unchanged;
- `{"action": "edit", "subgoals": [...]}` for a plan (in iterative mode, the one new
  subgoal, also as `"subgoal": "..."`), or `{"action": "edit", "actions": "R1 = ...;
  R2 = ..."}` (or a list) for a grounding;
- `{"action": "reject", "reason": "..."}` (or `"reject"`, or `False`): end the run
  (`stop_reason="review:rejected"`), answering from what the agent has.

A decision that is none of these is not applied: the run pauses again on the same review,
its interrupt value now holding an `error` key that says what was wrong, until a valid
decision comes.

Which review points pause a run is chosen per run: `LumosContext.review` (e.g.
`context=LumosContext(review=("plan",))`) names those that pause, among the ones the graph
was built with (`create_lumos_graph(review=...)`); the others pass through. Left at
`None`, the graph's default applies: the configurable key `lumos_review` bound to the
graph (the served graphs bind `LUMOS_REVIEW` there), else every review point it was built
with.

Grounded actions are reviewed as one unit before any of them runs, and actions execute
as separate checkpointed tasks, so resuming never runs a sibling action twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from langchain_core.runnables import Runnable
from langgraph._internal._constants import CONFIG_KEY_CHECKPOINTER
from langgraph.config import get_config
from langgraph.types import Overwrite, interrupt

from langchain_lumos.context import check_review
from langchain_lumos.grounder import actions_from_text
from langchain_lumos.nodes import context_of, make_node
from langchain_lumos.prompts import Turn
from langchain_lumos.state import GroundedAction, LumosState, Subgoal, current_batch

__all__ = [
    "REVIEW_ACTIONS",
    "REVIEW_CONFIG_KEY",
    "REVIEW_PLAN",
    "create_review_actions_node",
    "create_review_plan_node",
    "review_is_on",
]

REVIEW_PLAN = "review_plan"
REVIEW_ACTIONS = "review_actions"
REVIEW_CONFIG_KEY = "lumos_review"
"""Configurable key of a graph's default review points (when the run context says `None`)."""

_T = TypeVar("_T")


def review_is_on(point: Literal["plan", "actions"]) -> bool:
    """Whether the review point pauses the current run (call it inside a graph node).

    The run context's `review` decides; left at `None`, the `lumos_review` configurable
    (a list of points) does; without either, every compiled review point is on.
    """
    chosen = context_of().review
    if chosen is None:
        default = get_config().get("configurable", {}).get(REVIEW_CONFIG_KEY)
        if default is None:
            return True
        chosen = check_review(default)
    return point in chosen


def _ask(request: dict[str, Any], read: Callable[[Any], _T]) -> _T:
    """Pause with `request` until the answer reads as a valid decision.

    A bad answer is not applied: the same review is asked again, with an `error` key.
    (LangGraph keeps every answer of a node's interrupts in order, so a re-run of the
    node reads the bad answers again and lands on the first open question.)
    """
    if get_config().get("configurable", {}).get(CONFIG_KEY_CHECKPOINTER) is None:
        msg = (
            "Review pauses the run until a decision comes back, which needs a checkpointer: "
            "pass checkpointer=... (e.g. InMemorySaver() or sqlite_checkpointer()) and a "
            "thread_id, or run the graph where one is provided (LangGraph Server, a parent graph)."
        )
        raise ValueError(msg)
    question = request
    while True:
        answer = interrupt(question)
        try:
            return read(answer)
        except (ValueError, TypeError) as exc:
            question = {**request, "error": f"{exc} Nothing was changed; answer this review again."}


def _action(value: Any) -> tuple[str, dict[str, Any]]:
    if value is True or value == "approve" or value is None:
        return "approve", {}
    if value is False or value == "reject":
        return "reject", {}
    if isinstance(value, dict) and value.get("action") in ("approve", "edit", "reject"):
        return str(value["action"]), value
    msg = (
        f"Unrecognised review decision {value!r}; expected 'approve', 'reject' or {{'action': 'edit', ...}}."
    )
    raise ValueError(msg)


def _edited_subgoals(value: Any) -> tuple[str, list[str]]:
    action, data = _action(value)
    if action != "edit":
        return action, []
    texts = data.get("subgoals") or ([data["subgoal"]] if data.get("subgoal") else [])
    if isinstance(texts, str):
        texts = [texts]
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        msg = "An edit of the plan needs 'subgoals': ['...', ...] (or 'subgoal': '...') of non-empty texts."
        raise ValueError(msg)
    return action, [t.strip() for t in texts]


def _edited_actions(value: Any) -> tuple[str, str]:
    action, data = _action(value)
    if action != "edit":
        return action, ""
    text = data.get("actions")
    if isinstance(text, list) and all(isinstance(t, str) for t in text):
        text = "; ".join(text)
    if not isinstance(text, str) or not text.strip():
        msg = "An edit of the actions needs 'actions': 'R1 = ...; R2 = ...' (or a list of actions)."
        raise ValueError(msg)
    return action, text.strip()


def _replace_last_assistant(turns: list[Turn], content: str) -> list[Turn]:
    out = list(turns)
    for i in range(len(out) - 1, -1, -1):
        if out[i]["role"] == "assistant":
            out[i] = Turn(role="assistant", content=content)
            break
    return out


def create_review_plan_node(onetime: bool) -> Runnable[Any, Any]:
    """Build the node that pauses for review of the new subgoal(s)."""

    def review(state: LumosState) -> dict[str, Any]:
        if state.get("stop_reason") or not review_is_on("plan"):
            return {}
        subgoals = state["subgoals"]
        new = subgoals if onetime else subgoals[-1:]
        request = {
            "type": "plan_review",
            "subgoals": [s["text"] for s in new],
            "planner_output": state["planner_turns"][-1]["content"],
        }
        decision, texts = _ask(request, _edited_subgoals)
        if decision == "approve":
            return {}
        if decision == "reject":
            return {"stop_reason": "review:rejected"}
        kept = subgoals[: len(subgoals) - len(new)]
        first = len(kept) + 1
        edited = [
            Subgoal(index=first + i, text=t, line=f"Subgoal {first + i}: {t}") for i, t in enumerate(texts)
        ]
        line = "; ".join(s["line"] for s in edited)
        if not onetime and state["planner_turns"][-1]["content"].startswith("No, I will keep planning."):
            line = f"No, I will keep planning. {line}"
        if not onetime:
            edited[0]["line"] = line
        return {
            "subgoals": Overwrite(kept + edited),
            "planner_turns": Overwrite(_replace_last_assistant(state["planner_turns"], line)),
        }

    return make_node(review, None, REVIEW_PLAN)


def create_review_actions_node() -> Runnable[Any, Any]:
    """Build the node that pauses for review of a grounding, as one unit."""

    def review(state: LumosState) -> dict[str, Any]:
        if state.get("stop_reason") or not review_is_on("actions"):
            return {}
        batch = current_batch(state)
        subgoal, attempt = (batch[0]["subgoal"], batch[0]["attempt"]) if batch else (0, 0)
        request = {
            "type": "actions_review",
            "subgoal": batch[0]["subgoal"] if batch else None,
            "actions": [a["text"] for a in batch],
        }

        def read(value: Any) -> tuple[str, str, list[GroundedAction]]:
            decision, text = _edited_actions(value)
            if decision != "edit":
                return decision, text, []
            edited = actions_from_text(state, text, subgoal, attempt)
            bad = [a["error"] for a in edited if a.get("error")]
            if not edited or bad:
                msg = f"The edited actions do not parse: {bad[0] if bad else 'no action found'}."
                raise ValueError(msg)
            return decision, text, edited

        decision, text, edited = _ask(request, read)
        if decision == "approve":
            return {}
        if decision == "reject":
            return {"stop_reason": "review:rejected"}
        ids = {a["id"] for a in batch}
        kept = [a for a in state["actions"] if a["id"] not in ids]
        return {
            "actions": Overwrite(kept + edited),
            "grounder_turns": Overwrite(_replace_last_assistant(state["grounder_turns"], text)),
        }

    return make_node(review, None, REVIEW_ACTIONS)
