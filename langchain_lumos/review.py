"""Human review: approve, edit or reject the plan and the grounded actions.

Review nodes pause the run with `interrupt()`; resume with `Command(resume=...)`:

- `"approve"` (or `True`, or `{"action": "approve"}`): go on unchanged;
- `{"action": "edit", "subgoals": [...]}` for a plan (in iterative mode, the one new
  subgoal), or `{"action": "edit", "actions": "R1 = ...; R2 = ..."}` for a grounding;
- `{"action": "reject", "reason": "..."}`: end the run (`stop_reason="review:rejected"`),
  answering from what the agent has.

Grounded actions are reviewed as one unit before any of them runs, and actions execute
as separate checkpointed tasks, so resuming never runs a sibling action twice.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable
from langgraph.types import Overwrite, interrupt

from langchain_lumos.grounder import _actions_from_text
from langchain_lumos.nodes import make_node
from langchain_lumos.prompts import Turn
from langchain_lumos.state import LumosState, Subgoal, current_batch

__all__ = ["REVIEW_ACTIONS", "REVIEW_PLAN", "create_review_actions_node", "create_review_plan_node"]

REVIEW_PLAN = "review_plan"
REVIEW_ACTIONS = "review_actions"


def _decision(value: Any) -> tuple[str, dict[str, Any]]:
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
        if state.get("stop_reason"):
            return {}
        subgoals = state["subgoals"]
        new = subgoals if onetime else subgoals[-1:]
        decision, data = _decision(
            interrupt(
                {
                    "type": "plan_review",
                    "subgoals": [s["text"] for s in new],
                    "planner_output": state["planner_turns"][-1]["content"],
                }
            )
        )
        if decision == "approve":
            return {}
        if decision == "reject":
            return {"stop_reason": "review:rejected"}
        texts = data.get("subgoals") or ([data["subgoal"]] if "subgoal" in data else [])
        if not texts:
            msg = "An edit of the plan needs 'subgoals': [...] (or 'subgoal': '...')."
            raise ValueError(msg)
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
        if state.get("stop_reason"):
            return {}
        batch = current_batch(state)
        decision, data = _decision(
            interrupt(
                {
                    "type": "actions_review",
                    "subgoal": batch[0]["subgoal"] if batch else None,
                    "actions": [a["text"] for a in batch],
                }
            )
        )
        if decision == "approve":
            return {}
        if decision == "reject":
            return {"stop_reason": "review:rejected"}
        text = data.get("actions")
        if isinstance(text, list):
            text = "; ".join(text)
        if not text:
            msg = "An edit of the actions needs 'actions': 'R1 = ...; R2 = ...' (or a list)."
            raise ValueError(msg)
        subgoal, attempt = (batch[0]["subgoal"], batch[0]["attempt"]) if batch else (0, 0)
        ids = {a["id"] for a in batch}
        kept = [a for a in state["actions"] if a["id"] not in ids]
        edited = _actions_from_text(state, text, subgoal, attempt, 10_000)
        return {
            "actions": Overwrite(kept + edited),
            "grounder_turns": Overwrite(_replace_last_assistant(state["grounder_turns"], text)),
        }

    return make_node(review, None, REVIEW_ACTIONS)
