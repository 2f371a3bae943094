"""Assemble the Lumos state machine: planner -> grounder -> actions (-> planner).

Iterative (Lumos-I): the executed actions loop back to the planner with the subgoal's
result until the planner says it is done. One-time (Lumos-O): plan everything, ground
everything, execute, answer. Every node declares where it may go (`destinations=`, or
an explicit path map), so `draw_mermaid()` is exact.

Few steps per question, and few state copies: the planner, the grounder, each action
and the executor join route themselves (they return a `Command`; see
`nodes.make_node`), so no conditional edge copies every channel to decide. The
grounder's route sends the ready actions (`execute_action` tasks, one per action, each
checkpointed) straight away; an action that ran alone sends the next ones itself;
concurrent actions join in the `executor` step, which also records what cannot run (a
failed input, a spent budget) and is where reviewed actions go. The step that ends a
run, when one task runs it alone (a stopping planner, the last action, the grounder
or the join on a spent budget), also writes the answer; `finalize` answers only when a
final QA call is due or concurrent last actions end a one-time plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseLanguageModel
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from langchain_lumos.context import LumosContext
from langchain_lumos.domains import Domain, get_domain
from langchain_lumos.executor import (
    EXECUTE_ACTION,
    EXECUTOR,
    FINALIZE,
    check_tool_error_handling,
    create_execute_action_node,
    create_executor_node,
    create_finalize_node,
    route_action,
    route_executor,
)
from langchain_lumos.grounder import GROUNDER, create_grounder_node
from langchain_lumos.journal import ActionJournal
from langchain_lumos.nodes import make_router
from langchain_lumos.persistence import with_sync_durability
from langchain_lumos.planner import PLANNER, create_planner_node, route_planner
from langchain_lumos.review import (
    REVIEW_ACTIONS,
    REVIEW_PLAN,
    create_review_actions_node,
    create_review_plan_node,
)
from langchain_lumos.setup import ModelLike, Setup, ToolErrorHandling, ToolsLike
from langchain_lumos.state import LumosInputState, LumosOutputState, LumosState

__all__ = ["Review", "create_lumos_graph"]

Review = Literal["plan", "actions"]


def _check_tools(tools: ToolsLike) -> None:
    if isinstance(tools, BaseTool):
        msg = f"tools must be a list of tools; got the single tool {tools.name!r}: pass [tool]."
        raise TypeError(msg)
    if callable(tools) and not isinstance(tools, Sequence):
        return
    if isinstance(tools, (str, bytes)) or not isinstance(tools, Sequence):
        msg = f"tools must be a list of LangChain tools (or a runtime -> tools callable), got {type(tools).__name__}."
        raise TypeError(msg)
    names: list[str] = []
    for tool in tools:
        if not isinstance(tool, BaseTool):
            msg = f"tools must be LangChain BaseTool instances, got {type(tool).__name__}."
            raise TypeError(msg)
        names.append(tool.name)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        msg = f"Two tools are registered under the same action name: {dupes}."
        raise ValueError(msg)


def create_lumos_graph(
    planner: ModelLike,
    grounder: ModelLike,
    tools: ToolsLike,
    *,
    mode: Literal["iterative", "onetime"] = "iterative",
    domain: str | Domain = "complex_qa",
    grounding: Literal["text", "tool_calls"] = "text",
    review: Sequence[Review] = (),
    handle_tool_errors: ToolErrorHandling = True,
    context_schema: type[LumosContext] = LumosContext,
    checkpointer: Checkpointer = None,
    store: Any = None,
    name: str = "lumos",
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build and compile the Lumos graph.

    Args:
        planner: The planning model (any LangChain chat model or LLM), or a
            `(state, runtime) -> model` callable resolved per call.
        grounder: The grounding model, likewise.
        tools: LangChain tools, each registered under its action name (`tool.name`),
            or a `runtime -> tools` callable.
        mode: `iterative` (Lumos-I) or `onetime` (Lumos-O).
        domain: A domain name (`complex_qa`, `maths`, `web_agent`, `webshop`) or `Domain`.
        grounding: `text` (the Lumos `R1 = ...` format) or `tool_calls` (native tool calls
            of a chat model that supports `bind_tools`).
        review: Pause for human review of the `plan` and/or the `actions`.
        handle_tool_errors: What a tool's own exception becomes, as in LangGraph's
            `ToolNode`: `True` (default) an observation `Error: <type>: <message>` the
            agent can recover from; `False` lets it propagate (a tool's bug fails fast);
            a string (that observation); a callable `exception -> str` (for the
            exception types its parameter is annotated with); or exception types
            (observations for those, the rest propagate). A `ToolException`, arguments
            that do not fit the tool, an unknown action and a timeout are always
            observations: the model caused them.
        context_schema: The run-context class: `LumosContext` or a subclass adding your own
            settings (e.g. model names resolved by callable models).
        checkpointer: A LangGraph checkpointer (needed for review, resume and threads).
        store: A LangGraph store.
        name: The compiled graph's name.

    Returns:
        The compiled graph; input `LumosInputState`, output `LumosOutputState`, run settings
        through `context=LumosContext(...)`.
    """
    if mode not in ("iterative", "onetime"):
        msg = f"mode must be 'iterative' or 'onetime', got {mode!r}"
        raise ValueError(msg)
    if grounding not in ("text", "tool_calls"):
        msg = f"grounding must be 'text' or 'tool_calls', got {grounding!r}"
        raise ValueError(msg)
    if isinstance(review, str):
        msg = f"review takes a sequence such as ('plan',) or ('plan', 'actions'), got the string {review!r}"
        raise TypeError(msg)
    unknown = set(review) - {"plan", "actions"}
    if unknown:
        msg = f"review takes 'plan' and/or 'actions', got {sorted(unknown)}"
        raise ValueError(msg)
    if not (isinstance(context_schema, type) and issubclass(context_schema, LumosContext)):
        msg = f"context_schema must be LumosContext or a subclass of it, got {context_schema!r}"
        raise TypeError(msg)
    _check_tools(tools)
    for label, model in (("planner", planner), ("grounder", grounder)):
        if not isinstance(model, BaseLanguageModel) and not callable(model):
            msg = (
                f"The {label} needs a LangChain chat model or LLM (or a (state, runtime) -> model "
                f"callable), got {type(model).__name__}."
            )
            raise TypeError(msg)
    check_tool_error_handling(handle_tool_errors)
    journal = ActionJournal.for_checkpointer(checkpointer)
    setup = Setup(planner, grounder, tools, mode, get_domain(domain), grounding, handle_tool_errors, journal)

    builder = StateGraph(
        LumosState,
        context_schema=context_schema,
        input_schema=LumosInputState,
        output_schema=LumosOutputState,
    )
    reviewed = "actions" in review
    after_plan = REVIEW_PLAN if "plan" in review else GROUNDER
    moves = [FINALIZE, END] + ([GROUNDER, PLANNER] if mode == "iterative" else [])
    # Every working node routes itself (`Command`): the planner, the grounder, each action
    # (an action that ran alone sends the next ones; concurrent actions join in the
    # executor) and the executor join.
    builder.add_node(
        PLANNER,
        create_planner_node(setup, route=route_planner(setup, after_plan)),
        destinations=(after_plan, FINALIZE, END),
    )
    if reviewed:
        ground_node = create_grounder_node(setup, dispatch=False, route=_unless_stopped(REVIEW_ACTIONS))
        builder.add_node(GROUNDER, ground_node, destinations=(REVIEW_ACTIONS, FINALIZE))
    else:
        ground_node = create_grounder_node(setup, route=route_executor(setup))
        builder.add_node(GROUNDER, ground_node, destinations=(EXECUTE_ACTION, *moves))
    builder.add_node(
        EXECUTOR,
        create_executor_node(setup, route=route_executor(setup)),
        destinations=(EXECUTE_ACTION, *moves),
    )
    builder.add_node(
        EXECUTE_ACTION,
        create_execute_action_node(setup, route=route_action(setup)),
        destinations=(EXECUTE_ACTION, EXECUTOR, *moves),
    )
    builder.add_node(FINALIZE, create_finalize_node(setup))

    # Plan (and optionally review the plan), then ground; a stopped planner answers itself
    # (END) unless the answer takes a final QA call (finalize).
    builder.add_edge(START, PLANNER)
    if "plan" in review:
        builder.add_node(REVIEW_PLAN, create_review_plan_node(onetime=mode == "onetime"))
        builder.add_conditional_edges(
            REVIEW_PLAN, make_router(_unless_stopped(GROUNDER), "to_grounder"), [GROUNDER, FINALIZE]
        )

    # Ground, then send the ready actions straight away (or re-ground, plan again, answer);
    # reviewed actions go through the review and the executor step first.
    if reviewed:
        builder.add_node(REVIEW_ACTIONS, create_review_actions_node())
        builder.add_conditional_edges(
            REVIEW_ACTIONS, make_router(_unless_stopped(EXECUTOR), "to_executor"), [EXECUTOR, FINALIZE]
        )
    builder.add_edge(FINALIZE, END)
    return with_sync_durability(builder.compile(checkpointer=checkpointer, store=store, name=name))


def _unless_stopped(target: str) -> Any:
    def route(state: LumosState, runtime: Any = None) -> str:
        return FINALIZE if state.get("stop_reason") else target

    return route
