"""A ReAct baseline on the same tools and models as a Lumos agent.

Two LangGraph loops, both bounded by `max_steps` model calls:

* `tool_calls`: a chat model with native tool calling (`bind_tools`) and
  `langgraph.prebuilt.ToolNode`.
* `text`: the classic Thought / Action / Action Input / Observation format, parsed from
  the text of any LLM or chat model (so scripted fakes can drive it). Action inputs are
  mapped onto a tool's arguments like Lumos actions are: a JSON object, or text split at
  `, Key:` boundaries (`[ctx], Question: q`), positional text going to the first field.
  A step spans several lines and ends at `REACT_STOP` (`Observation:`, or a new
  `Question:`), never at a newline; the prompt carries worked examples over the available tools, so a text model
  that was never tuned for ReAct still sees the format in use.

`invoke` returns the shape of a `LumosAgent` result: `answer`, `stop_reason`, `usage`
(`react` model calls and tokens, `tool:<Name>` calls), plus the `steps` taken.
"""

from __future__ import annotations

import json
import operator
import re
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from typing_extensions import NotRequired, TypedDict

from langchain_lumos.model_calls import ModelReply, acall_model, call_model, chat_usage, first_line
from langchain_lumos.parsing import split_arguments
from langchain_lumos.state import ModuleUsage, merge_usage, render_value

__all__ = [
    "REACT_EXEMPLARS",
    "REACT_PROMPT",
    "REACT_STOP",
    "REACT_SYSTEM_PROMPT",
    "ReActAgent",
    "ReActState",
    "create_react_baseline",
    "parse_react_output",
    "select_exemplars",
    "tool_arguments",
    "without_newline_stop",
]

REACT_PROMPT = (
    "Answer the following question as best you can. You have access to the following tools:\n\n"
    "{tools}\n\n"
    "Use the following format:\n\n"
    "Question: the input question you must answer\n"
    "Thought: you should always think about what to do\n"
    "Action: the action to take, should be one of [{tool_names}]\n"
    "Action Input: the input to the action\n"
    "Observation: the result of the action\n"
    "... (this Thought/Action/Action Input/Observation can repeat N times)\n"
    "Thought: I now know the final answer\n"
    "Final Answer: the final answer to the original input question\n\n"
    "{exemplars}"
    "Begin!\n\n"
    "Question: {question}\n"
    "Thought:"
)
"""The text ReAct prompt (the classic LangChain ReAct wording, with worked examples)."""

REACT_EXEMPLARS: tuple[str, ...] = (
    "Question: Where was the director of Jaws born?\n"
    "Thought: I need to find out who directed Jaws.\n"
    "Action: KnowledgeQuery\n"
    "Action Input: Jaws\n"
    "Observation: Jaws is a 1975 American thriller film directed by Steven Spielberg.\n"
    "Thought: Jaws was directed by Steven Spielberg. I need to find where he was born.\n"
    "Action: KnowledgeQuery\n"
    "Action Input: Steven Spielberg\n"
    "Observation: Steven Spielberg (born December 18, 1946 in Cincinnati, Ohio) is an American filmmaker.\n"
    "Thought: I now know the final answer\n"
    "Final Answer: Cincinnati",
    "Question: Tom has 3 boxes with 12 apples each. He gives away 10 apples. How many apples "
    "does he have left?\n"
    "Thought: First I calculate how many apples are in the boxes.\n"
    "Action: Calculator\n"
    "Action Input: 3 * 12\n"
    "Observation: 36\n"
    "Thought: He gives away 10 of the 36 apples.\n"
    "Action: Calculator\n"
    "Action Input: 36 - 10\n"
    "Observation: 26\n"
    "Thought: I now know the final answer\n"
    "Final Answer: 26",
)
"""Worked ReAct examples; `exemplars="auto"` keeps those whose tools are all available."""

REACT_SYSTEM_PROMPT = (
    "Answer the user's question. Use the tools when they help; when you know the answer, "
    "reply with the answer only (one brief entity or number), without calling a tool."
)
"""The system prompt of the native tool-calling loop."""

REACT = "react"
REACT_STOP = ["\nObservation:", "\n\tObservation:", "\nQuestion:", "\nExample:"]
"""Stop sequences of a text ReAct step: the model writes Thought/Action/Action Input, the
tool writes the Observation; a model that runs on into a new question or example (as the
worked examples invite) is stopped there too. Never a newline: a step spans lines."""
_ACTION_RE = re.compile(r"Action\s*\d*\s*:[\s]*(.*?)[\s]*Action\s*\d*\s*Input\s*\d*\s*:[\s]*(.*)", re.DOTALL)
_ACTION_LINE = re.compile(r"^Action:\s*(\S+)\s*$", re.MULTILINE)
_FINAL = "Final Answer:"
_INVALID = (
    "Invalid format: write 'Action: <tool name>' and 'Action Input: <input>', or 'Final Answer: <answer>'."
)


class ReActState(TypedDict):
    """State of the ReAct loop."""

    task: str
    messages: Annotated[list[AnyMessage], add_messages]
    scratchpad: str
    """Text mode: the Thought/Action/Observation transcript after the prompt."""
    steps: Annotated[list[dict[str, Any]], operator.add]
    """One entry per model call: thought, action, action_input, observation."""
    usage: Annotated[dict[str, ModuleUsage], merge_usage]
    pending: NotRequired[dict[str, Any] | None]
    answer: NotRequired[str | None]
    stop_reason: NotRequired[str | None]


class _Input(TypedDict, total=False):
    task: str
    messages: Annotated[list[AnyMessage], add_messages]


class _Output(TypedDict, total=False):
    task: str
    answer: str | None
    stop_reason: str | None
    steps: list[dict[str, Any]]
    usage: dict[str, ModuleUsage]
    messages: list[AnyMessage]


# -- text ReAct parsing -------------------------------------------------------------------------


def parse_react_output(text: str) -> dict[str, Any]:
    """Read one ReAct completion.

    The final answer is the first line after `Final Answer:`; an action input is the
    first line after `Action Input:` (a JSON object may span lines).

    Returns:
        `{"final": answer}`, `{"action": name, "action_input": text, "thought": ...}`, or
        `{"error": message}` when neither an action nor a final answer is there.
    """
    text = text.split("Observation:")[0]
    if _FINAL in text:
        thought, _, final = text.partition(_FINAL)
        return {"final": first_line(final), "thought": thought.strip()}
    match = _ACTION_RE.search(text)
    if match:
        thought = text[: match.start()].strip()
        raw_input = match.group(2).strip()
        action_input = (raw_input if raw_input.startswith("{") else first_line(raw_input)).strip('"').strip()
        return {"action": match.group(1).strip(), "action_input": action_input, "thought": thought}
    return {"error": _INVALID, "thought": text.strip()}


def _fields(tool: BaseTool) -> list[str]:
    schema = tool.tool_call_schema
    fields = getattr(schema, "model_fields", None)
    if fields is None:  # a JSON-schema dict
        return list((schema.get("properties") or {}) if isinstance(schema, dict) else [])
    return list(fields)


def tool_arguments(tool: BaseTool, action_input: str) -> dict[str, Any] | str:
    """Map a text action input onto the tool's arguments.

    A JSON object is used as is. Otherwise the text is split at `, Key:` boundaries; a
    keyword goes to the field named `key.lower()`, the positional text to the first field
    not filled by a keyword. A one-field tool gets the whole text.
    """
    text = action_input.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
    fields = _fields(tool)
    if len(fields) <= 1:
        return {fields[0]: text} if fields else text
    positional, keywords = split_arguments(text)
    args: dict[str, Any] = {}
    for key, value in keywords:
        name = key.lower()
        if name in fields:
            args[name] = value
    if positional is not None:
        free = [f for f in fields if f not in args]
        if free:
            args[free[0]] = positional
    return args


def _describe(tools: Sequence[BaseTool]) -> str:
    return "\n".join(f"{t.name}({', '.join(_fields(t))}): {t.description}" for t in tools)


# -- the graph ---------------------------------------------------------------------------------


def _model_calls(state: ReActState) -> int:
    return state.get("usage", {}).get(REACT, {}).get("calls", 0)


def _budget_stop(state: ReActState, max_steps: int) -> dict[str, Any] | None:
    if _model_calls(state) >= max_steps:
        return {"stop_reason": "budget:max_steps", "answer": state.get("answer"), "pending": None}
    return None


def select_exemplars(tools: Sequence[BaseTool], exemplars: Sequence[str] | str = "auto") -> list[str]:
    """The worked examples for a ReAct prompt over `tools`.

    Args:
        tools: The available tools.
        exemplars: `auto` (the `REACT_EXEMPLARS` whose actions all name available tools)
            or the examples themselves (`()` for none).
    """
    if isinstance(exemplars, str):
        if exemplars != "auto":
            msg = f"exemplars must be 'auto' or a sequence of examples, got {exemplars!r}."
            raise ValueError(msg)
        names = {t.name for t in tools}
        return [e for e in REACT_EXEMPLARS if set(_ACTION_LINE.findall(e)) <= names]
    return list(exemplars)


def without_newline_stop(model: BaseLanguageModel) -> BaseLanguageModel:
    r"""A copy of `model` that does not stop at the first newline.

    Lumos module models (`LumosTransformersLLM`, `LumosCompletionsLLM`) stop every
    completion at its first newline, as the Lumos protocol wants; a ReAct step spans
    several lines (Thought, Action, Action Input), so the baseline lifts that stop and
    relies on `REACT_STOP` instead. A lazily loaded local model is loaded first, so the
    copy shares its weights. Other models are returned as they are.
    """
    fields = type(model).model_fields
    update: dict[str, Any] = {}
    if "stop_at_newline" in fields and getattr(model, "stop_at_newline", False):
        update["stop_at_newline"] = False
    default_stop = getattr(model, "stop", None) if "stop" in fields else None
    if isinstance(default_stop, list) and "\n" in default_stop:
        update["stop"] = [s for s in default_stop if s != "\n"]
    if not update:
        return model
    if getattr(model, "is_loaded", True) is False and callable(getattr(model, "load", None)):
        model.load()  # type: ignore[attr-defined]  # load once: the copy then shares the weights
    return model.model_copy(update=update)


def _build_text_graph(
    model: BaseLanguageModel,
    tools: Sequence[BaseTool],
    max_steps: int,
    name: str,
    exemplars: Sequence[str],
) -> CompiledStateGraph:
    by_name = {t.name: t for t in tools}
    shots = "".join(f"Example:\n\n{e}\n\n" for e in exemplars)
    header = (
        REACT_PROMPT.replace("{tools}", _describe(tools))
        .replace("{tool_names}", ", ".join(by_name))
        .replace("{exemplars}", shots)
    )

    def _request(state: ReActState) -> str:
        return header.replace("{question}", state["task"]) + state.get("scratchpad", "")

    def _finish(state: ReActState, reply: ModelReply, start: float) -> dict[str, Any]:
        text = reply.text
        for stop in REACT_STOP:
            text = text.split(stop)[0]
        parsed = parse_react_output(text)
        usage = {
            REACT: ModuleUsage(
                calls=1,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                seconds=time.perf_counter() - start,
            )
        }
        update: dict[str, Any] = {
            "usage": usage,
            "scratchpad": state.get("scratchpad", "") + text.rstrip(),
            "messages": [AIMessage(text)],
        }
        if "final" in parsed:
            return {
                **update,
                "answer": parsed["final"],
                "stop_reason": "final_answer",
                "pending": None,
                "steps": [{"thought": parsed["thought"], "final_answer": parsed["final"]}],
            }
        return {**update, "pending": parsed}

    def agent(state: ReActState, config: RunnableConfig) -> dict[str, Any]:
        stop = _budget_stop(state, max_steps)
        if stop:
            return stop
        start = time.perf_counter()
        reply = call_model(model, _request(state), stop=list(REACT_STOP), config=config)
        return _finish(state, reply, start)

    async def aagent(state: ReActState, config: RunnableConfig) -> dict[str, Any]:
        stop = _budget_stop(state, max_steps)
        if stop:
            return stop
        start = time.perf_counter()
        reply = await acall_model(model, _request(state), stop=list(REACT_STOP), config=config)
        return _finish(state, reply, start)

    def _prepare(state: ReActState) -> tuple[dict[str, Any], BaseTool | None, Any]:
        pending = state.get("pending") or {}
        if "error" in pending:
            return pending, None, pending["error"]
        tool = by_name.get(pending.get("action", ""))
        if tool is None:
            names = ", ".join(by_name)
            return pending, None, f"{pending.get('action')} is not a valid tool, try one of [{names}]."
        return pending, tool, tool_arguments(tool, pending.get("action_input", ""))

    def _observe(
        state: ReActState, pending: dict[str, Any], observation: str, tool: BaseTool | None, seconds: float
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "scratchpad": state.get("scratchpad", "") + f"\nObservation: {observation}\nThought:",
            "pending": None,
            "messages": [HumanMessage(f"Observation: {observation}")],
            "steps": [
                {
                    "thought": pending.get("thought", ""),
                    "action": pending.get("action"),
                    "action_input": pending.get("action_input"),
                    "observation": observation,
                }
            ],
        }
        if tool is not None:
            update["usage"] = {f"tool:{tool.name}": {"calls": 1, "seconds": seconds}}
        return update

    def act(state: ReActState, config: RunnableConfig) -> dict[str, Any]:
        pending, tool, args = _prepare(state)
        start = time.perf_counter()
        if tool is None:
            return _observe(state, pending, str(args), None, 0.0)
        try:
            observation = render_value(tool.invoke(args, config=config))
        except GraphBubbleUp:
            raise
        except Exception as exc:  # a failing tool is an observation the agent can react to
            observation = f"Error: {type(exc).__name__}: {exc}"
        return _observe(state, pending, observation, tool, time.perf_counter() - start)

    async def aact(state: ReActState, config: RunnableConfig) -> dict[str, Any]:
        pending, tool, args = _prepare(state)
        start = time.perf_counter()
        if tool is None:
            return _observe(state, pending, str(args), None, 0.0)
        try:
            observation = render_value(await tool.ainvoke(args, config=config))
        except GraphBubbleUp:
            raise
        except Exception as exc:  # a failing tool is an observation the agent can react to
            observation = f"Error: {type(exc).__name__}: {exc}"
        return _observe(state, pending, observation, tool, time.perf_counter() - start)

    def route(state: ReActState) -> str:
        return "act" if state.get("pending") and not state.get("stop_reason") else END

    builder = StateGraph(ReActState, input_schema=_Input, output_schema=_Output)
    builder.add_node("agent", RunnableLambda(agent, afunc=aagent, name="agent"))
    builder.add_node("act", RunnableLambda(act, afunc=aact, name="act"))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["act", END])
    builder.add_edge("act", "agent")
    return builder.compile(name=name)


def _build_tool_call_graph(
    model: BaseChatModel, tools: Sequence[BaseTool], max_steps: int, system_prompt: str, name: str
) -> CompiledStateGraph:
    bound = model.bind_tools(list(tools))

    def _messages(state: ReActState) -> tuple[list[AnyMessage], list[AnyMessage]]:
        history = list(state.get("messages", []))
        new: list[AnyMessage] = []
        if not history:
            new = [SystemMessage(system_prompt), HumanMessage(state["task"])]
        elif not any(isinstance(m, SystemMessage) for m in history):
            history = [SystemMessage(system_prompt), *history]
        return history + new, new

    def _finish(
        state: ReActState, new: list[AnyMessage], sent: list[AnyMessage], reply: AIMessage, start: float
    ) -> dict[str, Any]:
        p, c = chat_usage(reply, sent)
        usage: dict[str, Any] = {
            REACT: ModuleUsage(
                calls=1, prompt_tokens=p, completion_tokens=c, seconds=time.perf_counter() - start
            )
        }
        for call in reply.tool_calls:
            key = f"tool:{call['name']}"
            usage[key] = {"calls": usage.get(key, {}).get("calls", 0) + 1}
        update: dict[str, Any] = {"messages": [*new, reply], "usage": usage}
        calls = _model_calls(state) + 1
        if reply.tool_calls:
            step = {"thought": str(reply.content), "tool_calls": [dict(c) for c in reply.tool_calls]}
            if calls >= max_steps:
                return {**update, "steps": [step], "stop_reason": "budget:max_steps", "answer": None}
            return {**update, "steps": [step]}
        answer = str(reply.content).strip()
        if answer.startswith(_FINAL):
            answer = answer[len(_FINAL) :].strip()
        return {
            **update,
            "answer": answer,
            "stop_reason": "final_answer",
            "steps": [{"final_answer": answer}],
        }

    def agent(state: ReActState, config: RunnableConfig) -> dict[str, Any]:
        sent, new = _messages(state)
        start = time.perf_counter()
        reply = bound.invoke(sent, config=config)
        return _finish(state, new, sent, reply, start)

    async def aagent(state: ReActState, config: RunnableConfig) -> dict[str, Any]:
        sent, new = _messages(state)
        start = time.perf_counter()
        reply = await bound.ainvoke(sent, config=config)
        return _finish(state, new, sent, reply, start)

    def route(state: ReActState) -> str:
        last = state["messages"][-1] if state.get("messages") else None
        if state.get("stop_reason") or not isinstance(last, AIMessage) or not last.tool_calls:
            return END
        return "tools"

    builder = StateGraph(ReActState, input_schema=_Input, output_schema=_Output)
    builder.add_node("agent", RunnableLambda(agent, afunc=aagent, name="agent"))
    builder.add_node("tools", ToolNode(list(tools), handle_tool_errors=True))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(name=name)


def _supports_tool_calls(model: BaseLanguageModel, tools: Sequence[BaseTool]) -> bool:
    if not isinstance(model, BaseChatModel):
        return False
    try:
        model.bind_tools(list(tools))
    except NotImplementedError:
        return False
    return True


class ReActAgent(Runnable[Any, dict[str, Any]]):
    """The ReAct baseline as a Runnable (input: a task string or `{"task": ...}`)."""

    def __init__(self, graph: CompiledStateGraph, *, mode: str, max_steps: int, name: str = "react") -> None:
        self.graph = graph
        self.mode = mode
        self.max_steps = max_steps
        self.name = name

    def _input(self, value: Any) -> dict[str, Any]:
        if isinstance(value, str):
            if not value.strip():
                msg = "The task is empty."
                raise ValueError(msg)
            return {"task": value}
        if isinstance(value, dict) and value.get("task"):
            return {"task": value["task"]}
        msg = f"ReAct input must be a task string or {{'task': ...}}, got {type(value).__name__}."
        raise TypeError(msg)

    def _config(self, config: RunnableConfig | None) -> RunnableConfig:
        out: RunnableConfig = dict(config or {})  # type: ignore[assignment]
        out.setdefault("recursion_limit", 2 * self.max_steps + 10)
        return out

    @staticmethod
    def _result(state: dict[str, Any]) -> dict[str, Any]:
        state.setdefault("answer", None)
        state.setdefault("stop_reason", "no_answer")
        return state

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Run the loop to a final answer or the step budget."""
        return self._result(self.graph.invoke(self._input(input), self._config(config), **kwargs))

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Async `invoke`."""
        return self._result(await self.graph.ainvoke(self._input(input), self._config(config), **kwargs))


def create_react_baseline(
    model: BaseLanguageModel,
    tools: Sequence[BaseTool],
    *,
    mode: Literal["auto", "tool_calls", "text"] = "auto",
    max_steps: int = 8,
    system_prompt: str = REACT_SYSTEM_PROMPT,
    exemplars: Sequence[str] | str = "auto",
    name: str = "react",
) -> ReActAgent:
    r"""Build the ReAct baseline.

    Text mode stops each step at `REACT_STOP` (`\nObservation:`), never at a newline: a
    Lumos module model that stops at its first newline is copied without that stop.

    Args:
        model: A chat model or LLM (the same one the Lumos agent uses, for a fair comparison).
        tools: The same tools as the Lumos agent.
        mode: `tool_calls` (native tool calling via `bind_tools`), `text` (parsed ReAct
            text), or `auto`: tool calls when the model supports `bind_tools`, else text.
        max_steps: Most model calls per question; the run then stops with
            `stop_reason="budget:max_steps"` and no answer.
        system_prompt: The system prompt of the tool-calling loop.
        exemplars: Text mode: worked examples in the prompt, `auto` (the
            `REACT_EXEMPLARS` over the available tools) or a sequence (`()` for none).
        name: The graph's name.
    """
    if max_steps < 1:
        msg = f"max_steps must be >= 1, got {max_steps}."
        raise ValueError(msg)
    if mode not in ("auto", "tool_calls", "text"):
        msg = f"mode must be 'auto', 'tool_calls' or 'text', got {mode!r}."
        raise ValueError(msg)
    if not isinstance(model, BaseLanguageModel):
        msg = f"model must be a LangChain chat model or LLM, got {type(model).__name__}."
        raise TypeError(msg)
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        msg = f"Two tools share a name: {names}."
        raise ValueError(msg)
    if mode == "auto":
        mode = "tool_calls" if _supports_tool_calls(model, tools) else "text"
    if mode == "tool_calls":
        if not isinstance(model, BaseChatModel):
            msg = "mode='tool_calls' needs a chat model that supports bind_tools."
            raise TypeError(msg)
        graph = _build_tool_call_graph(model, tools, max_steps, system_prompt, name)
    else:
        graph = _build_text_graph(
            without_newline_stop(model), tools, max_steps, name, select_exemplars(tools, exemplars)
        )
    return ReActAgent(graph, mode=mode, max_steps=max_steps, name=name)
