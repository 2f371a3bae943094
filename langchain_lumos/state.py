"""Graph state of a Lumos agent: subgoals, grounded actions, observations and variables.

The planner and grounder conversations are kept verbatim (`planner_turns`,
`grounder_turns`), so what the models saw is inspectable, checkpointed and directly
usable as fine-tuning data.
"""

from __future__ import annotations

import operator
from functools import cache
from typing import Annotated, Any, Literal, get_origin, get_type_hints

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps
from langgraph.types import Overwrite
from typing_extensions import NotRequired, TypedDict

from langchain_lumos.prompts import Turn

__all__ = [
    "Episode",
    "GroundedAction",
    "LumosInputState",
    "LumosOutputState",
    "LumosState",
    "ModuleUsage",
    "Observation",
    "Subgoal",
    "current_batch",
    "merge_usage",
    "merge_variables",
    "render_value",
    "state_keys",
    "subgoal_result",
    "updated_state",
]


class Subgoal(TypedDict):
    """A subgoal written by the planner."""

    index: int
    """1-based position in the plan."""
    text: str
    """The subgoal without its `Subgoal k:` label."""
    line: str
    """The planner output it came from, as passed to the grounder."""


class GroundedAction(TypedDict):
    """An action written by the grounder for a subgoal."""

    id: str
    """Unique id: `s<subgoal>.g<grounding attempt>.a<position>`."""
    subgoal: int
    """Index of the subgoal it grounds (0 in one-time mode: the whole plan)."""
    attempt: int
    """0 for the first grounding, k for the k-th re-grounding."""
    text: str
    """Canonical text, e.g. `R2 = ParagraphRetrieve(R1, Query: ...)`."""
    variables: list[str]
    name: str
    args: str
    depends_on: list[str]
    """Ids of the actions (same grounding) whose variables it reads."""
    kwargs: NotRequired[dict[str, Any] | None]
    """Arguments of a native tool call (tool-call grounding); None for text actions."""
    error: NotRequired[str | None]
    """Why this piece of grounder output is not a valid action (it is not executed)."""


class Observation(TypedDict):
    """What executing one action produced."""

    action_id: str
    action: str
    """The action text."""
    status: Literal["success", "error", "skipped"]
    output: str
    """The value as text, or the error the agent can recover from."""
    seconds: float


class ModuleUsage(TypedDict, total=False):
    """Accounting of one module (planner, grounder, executor or a tool)."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float


def merge_variables(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later writes of a variable win; concurrent actions write disjoint keys."""
    return {**(left or {}), **(right or {})}


def merge_usage(
    left: dict[str, ModuleUsage] | None, right: dict[str, ModuleUsage] | None
) -> dict[str, ModuleUsage]:
    """Reducer: add the counters of each module (copying only the modules it changes)."""
    out: dict[str, Any] = dict(left or {})
    for module, usage in (right or {}).items():
        acc: dict[str, Any] = dict(out.get(module, {}))
        for key, value in usage.items():
            acc[key] = acc.get(key, 0) + value
        out[module] = acc
    return out


class Episode(TypedDict):
    """A finished task of a thread, kept when a new task starts a new episode."""

    task: str
    answer: str | None
    stop_reason: str | None
    subgoals: list[Subgoal]
    actions: list[GroundedAction]
    observations: list[Observation]
    variables: dict[str, Any]
    usage: dict[str, ModuleUsage]
    planner_turns: list[Turn]
    grounder_turns: list[Turn]


class LumosInputState(TypedDict, total=False):
    """What a run takes: the task (or chat messages whose last one is the task)."""

    task: str
    """The question or instruction to solve."""
    messages: Annotated[list[AnyMessage], add_messages]
    """Chat history; the last human message is the task when `task` is not given."""
    variables: Annotated[dict[str, Any], merge_variables]
    """Initial variables, e.g. `{"Env": page}` for web agents."""


class LumosOutputState(TypedDict, total=False):
    """What a run returns."""

    task: str
    answer: str | None
    """The final answer, from what the agent has even when a budget ended it."""
    stop_reason: str | None
    """`planner_stop`, `plan_complete`, `no_plan`, `review:rejected`, or `budget:<name>`."""
    subgoals: list[Subgoal]
    actions: list[GroundedAction]
    observations: list[Observation]
    variables: dict[str, Any]
    usage: dict[str, ModuleUsage]
    planner_turns: list[Turn]
    grounder_turns: list[Turn]
    messages: list[AnyMessage]
    episodes: list[Episode]
    """The thread's earlier, finished tasks (a new task on a finished thread starts afresh)."""


class LumosState(TypedDict):
    """The full graph state."""

    task: str
    messages: Annotated[list[AnyMessage], add_messages]
    planner_turns: Annotated[list[Turn], operator.add]
    grounder_turns: Annotated[list[Turn], operator.add]
    subgoals: Annotated[list[Subgoal], operator.add]
    actions: Annotated[list[GroundedAction], operator.add]
    observations: Annotated[list[Observation], operator.add]
    variables: Annotated[dict[str, Any], merge_variables]
    usage: Annotated[dict[str, ModuleUsage], merge_usage]
    answer: NotRequired[str | None]
    stop_reason: NotRequired[str | None]
    started_at: NotRequired[float]
    """Wall-clock start (epoch seconds), for the time budget."""
    remaining_steps: RemainingSteps
    episodes: Annotated[list[Episode], operator.add]
    """The thread's earlier, finished tasks, oldest first."""
    finished_task: NotRequired[str]
    """The task of the thread's last finished episode (a later `task` input replaces `task`)."""
    finished_messages: NotRequired[int]
    """How many messages the thread had when its last episode finished."""


@cache
def _hints() -> dict[str, Any]:
    return get_type_hints(LumosState, include_extras=True)


def state_keys() -> list[str]:
    """The keys of `LumosState` (its channels, `remaining_steps` included)."""
    return list(_hints())


@cache
def _reducers() -> dict[str, Any]:
    """The reducer of each `LumosState` key that has one, read from its annotations."""
    hints = _hints()
    return {
        key: hint.__metadata__[-1]
        for key, hint in hints.items()
        if get_origin(hint) is Annotated
        and callable(hint.__metadata__[-1])
        and not isinstance(hint.__metadata__[-1], type)  # managed values (RemainingSteps)
    }


def updated_state(state: LumosState, update: dict[str, Any]) -> LumosState:
    """The state after one node's `update`, as LangGraph's reducers will make it.

    A node that routes itself (returns a `Command`) decides its next step on this view,
    exactly what a conditional edge after it would read, without LangGraph copying every
    channel to compute it.
    """
    view: dict[str, Any] = dict(state)
    for key, value in update.items():
        if isinstance(value, Overwrite):
            view[key] = value.value
        elif (reducer := _reducers().get(key)) is not None:
            old = view.get(key)
            view[key] = reducer(old if old is not None else type(value)(), value)
        else:
            view[key] = value
    return view  # type: ignore[return-value]


def render_value(value: Any, limit: int = 4000) -> str:
    """A variable's value as observation text."""
    text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def subgoal_result(state: LumosState, index: int) -> str | None:
    """The executed result of a subgoal: the output of its last action that ran (final grounding).

    Actions that did not run (`skipped`: past `max_actions_per_subgoal`, after a failed
    input, or out of budget) are passed over, so the planner hears the last real result.
    """
    actions = [a for a in state.get("actions", []) if a["subgoal"] == index]
    if not actions:
        return None
    attempt = max(a["attempt"] for a in actions)
    ids = [a["id"] for a in actions if a["attempt"] == attempt]
    outputs = {o["action_id"]: o for o in state.get("observations", [])}
    for action_id in reversed(ids):
        if action_id in outputs and outputs[action_id]["status"] != "skipped":
            return outputs[action_id]["output"]
    return None


def current_batch(state: LumosState) -> list[Any]:
    """The actions of the latest grounding (iterative) or of the whole plan (one-time)."""
    actions = state.get("actions", [])
    if not actions:
        return []
    last = actions[-1]
    return [a for a in actions if a["subgoal"] == last["subgoal"] and a["attempt"] == last["attempt"]]
