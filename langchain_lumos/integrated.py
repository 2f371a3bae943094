r"""The integrated formulation: ONE model writes each subgoal and its actions in one turn.

The Lumos paper compares its modular design (a planner and a separate grounder) with
"integrated agent training", where a single model plans and grounds at once. The original
repository released no code or data for it, so this module fixes a format that stays as
close as possible to the released Lumos-I dialogues (and `training.convert` writes the
same format from raw annotations, `module="integrated"`):

- first user turn: `INTEGRATED_INSTRUCTION`, the domain's action interface (the
  grounder's text, verbatim), then the planner's `Task: {task}; Initial Environment
  Description: None.`;
- each assistant turn is ONE line (the Lumos decoding stops at the first newline): the
  planner's answer, then `ACTIONS_MARKER` and the grounder's `; `-joined actions, e.g.
  `No, I will keep planning. Subgoal 2: Find X. Actions: R3 = KnowledgeQuery(X); ...`;
- the feedback turns are the planner's (`The executed result for Subgoal 1 is ...
  Should we stop planning?`, the web agent's `We have already ...`), and the dialogue ends
  with `Yes, I will stop planning.`;
- one-time (Lumos-O) has one assistant turn: every `Subgoal k: ... Actions: ...` joined
  by `; `.

`create_integrated_agent(model, tools)` runs it on the Lumos graph unchanged: the model is
wrapped in two views. The planner view sends the integrated conversation, keeps the
subgoal part of the reply for the planner node and remembers the action part; the grounder
view answers with the remembered actions, without a model call, so the tokens of a step are
those of the one planner call (`usage["planner"]`; `usage["grounder"]` counts only the
extra grounding calls described below: each reply's `response_metadata[MODEL_CALLS_KEY]`
says whether it took a model call, and `langchain_lumos.model_calls` counts accordingly). Both views are chat models; the wrapped model may be any
LangChain chat model or LLM (an LLM gets the raw `<|user|>`/`<|assistant|>` prompt with a
newline stop, as a released checkpoint would).

The remembered actions are keyed by the conversation's content (the task and the subgoal
line), never by call order, so concurrent runs (`abatch`) and a resumed thread in the same
process get their own actions. When no actions are remembered for a grounding (the reply
had none, the thread resumed in a fresh process, or the executor asks to re-ground a
failed subgoal), the grounder view asks the same model with the grounding prompt: one
extra call, reported with its tokens (an answer in the integrated format gives its actions).
A chat model that writes `Actions: ...` on a second line is read as one answer.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict, Field

from langchain_lumos.domains import Domain, get_domain
from langchain_lumos.model_calls import (
    ModelReply,
    ModuleCall,
    acall_model,
    ainvoke_module,
    call_model,
    invoke_module,
    to_messages,
)
from langchain_lumos.nodes import runtime_and_context
from langchain_lumos.prompts import (
    GROUND_INSTRUCTION,
    GROUND_RETRY,
    GROUND_SUBGOAL,
    GROUND_SUBGOALS,
    KEEP_PLANNING,
    PLAN_INSTRUCTION,
    PLAN_TASK,
    QA_RESULTS,
    STOP_PLANNING,
    PromptStyle,
    Turn,
    render_prompt,
)
from langchain_lumos.setup import ToolsLike
from langchain_lumos.state import ModuleUsage

if TYPE_CHECKING:
    from langchain_lumos.agent import LumosAgent

__all__ = [
    "ACTIONS_MARKER",
    "INTEGRATED_INSTRUCTION",
    "MODEL_CALLS_KEY",
    "IntegratedGrounder",
    "IntegratedMemory",
    "IntegratedPlanner",
    "create_integrated_agent",
    "integrated_line",
    "integrated_request",
    "integrated_views",
    "split_integrated",
]

INTEGRATED_INSTRUCTION = (
    "Please provide a reasonable subgoal-based plan to solve the given task, and ground each "
    "subgoal to corresponding executable actions. The grounded actions must be the one in "
    "available action list.\n"
)
"""The integrated instruction: the planning instruction joined with the grounding one."""
ACTIONS_MARKER = " Actions: "
"""What separates a subgoal from its actions in an integrated answer."""

_SEGMENT_RE = re.compile(r";\s*(?=Subgoal\s+\d+\s*:)")
_MARKER_RE = re.compile(r"\s+Actions?\s*:\s*")
_VAR = r"(?:R\d+|Output)"
_ACTION_START_RE = re.compile(rf"(?:^|\s){_VAR}(?:\s*,\s*{_VAR})*\s*=\s*[A-Za-z_][\w.]*\s*\(")
_PLAN_TASK_HEAD, _PLAN_TASK_TAIL = PLAN_TASK.split("{task}")
_GROUND_HEADS = (GROUND_SUBGOALS.split("{")[0], GROUND_SUBGOAL.split("{")[0])
_RETRY_MARK = GROUND_RETRY.split("{errors}")[0].split("{subgoal}")[1]  # " The previous grounding failed: "
_MEMORY_SIZE = 65536


def integrated_request(domain: str | Domain, task: str) -> Turn:
    """The first user turn of an integrated conversation.

    Args:
        domain: The domain (or its name): its action interface is listed.
        task: The user's task.

    Raises:
        ValueError: If the domain has no action interface (nothing to ground to).
    """
    profile = get_domain(domain)
    if not profile.interface:
        msg = (
            f"The integrated formulation needs the domain's action interface; {profile.name!r} has "
            "none (pass a Domain with its interface text)."
        )
        raise ValueError(msg)
    return Turn(
        role="user", content=INTEGRATED_INSTRUCTION + profile.interface + PLAN_TASK.format(task=task.strip())
    )


def integrated_line(plan: str, actions: str) -> str:
    """One subgoal answer with its actions: `Subgoal 1: ... Actions: R1 = ...`."""
    plan, actions = plan.strip(), actions.strip()
    return f"{plan}{ACTIONS_MARKER}{actions}" if actions else plan


def _split_segment(segment: str) -> tuple[str, str]:
    marker = _MARKER_RE.search(segment)
    if marker:
        return segment[: marker.start()].strip(), segment[marker.end() :].strip()
    start = _ACTION_START_RE.search(segment)
    if start and segment[: start.start()].strip():  # a model that left the marker out
        return segment[: start.start()].strip(), segment[start.start() :].strip()
    return segment.strip(), ""


def split_integrated(text: str) -> tuple[str, str]:
    """Split an integrated answer into the planner's part and the grounder's part.

    Args:
        text: One line such as `No, I will keep planning. Subgoal 2: Find X. Actions: R3 =
            KnowledgeQuery(X)`, or a one-time `Subgoal 1: A. Actions: ...; Subgoal 2: B.
            Actions: ...`.

    Returns:
        `(plan, actions)`: the answer without actions (`No, I will keep planning. Subgoal
        2: Find X.`; subgoals joined by `; `) and every action joined by `; ` (empty when
        the answer stops or has none). Actions written without the `Actions:` marker are
        found by their `R<k> = Name(` start.
    """
    line = text.strip()
    if STOP_PLANNING.rstrip(".") in line:
        return line, ""
    head = ""
    body = line
    if body.startswith(KEEP_PLANNING):
        head, body = KEEP_PLANNING + " ", body[len(KEEP_PLANNING) :].strip()
    plans: list[str] = []
    actions: list[str] = []
    for segment in _SEGMENT_RE.split(body):
        plan, acts = _split_segment(segment)
        plans.append(plan.rstrip(";").strip())
        if acts.rstrip(";").strip():
            actions.append(acts.rstrip(";").strip())
    return head + "; ".join(p for p in plans if p), "; ".join(actions)


def _key_line(line: str) -> str:
    """A subgoal line as both views see it (no `No, I will keep planning.`, one space)."""
    return " ".join(line.split(KEEP_PLANNING)[-1].split())


class IntegratedMemory:
    """What the planner view answered, for the grounder view and later planner turns.

    Thread-safe; keyed by content (task and subgoal line), so concurrent runs never mix.
    Two runs that wrote the very same subgoal line for the same task (possible only when
    sampling) are grounded in order of their planner calls, and both are shown the later
    answer's actions in their history. Bounded: the oldest entries are forgotten first.
    """

    def __init__(self, max_entries: int = _MEMORY_SIZE) -> None:
        """Create an empty memory holding at most `max_entries` answers."""
        self._lock = threading.Lock()
        self._max = max_entries
        self._lines: OrderedDict[tuple[str, int, str], str] = OrderedDict()
        self._pending: OrderedDict[tuple[str, str], deque[str]] = OrderedDict()

    def remember(self, task: str, position: int, plan: str, line: str, actions: str) -> None:
        """Record the answer `line` given at `position`, whose planner part is `plan`."""
        with self._lock:
            self._lines[(task, position, plan.strip())] = line
            self._lines.move_to_end((task, position, plan.strip()))
            if actions:
                self._pending.setdefault((task, _key_line(plan)), deque()).append(actions)
                self._pending.move_to_end((task, _key_line(plan)))
            while len(self._lines) > self._max:
                self._lines.popitem(last=False)
            while len(self._pending) > self._max:
                self._pending.popitem(last=False)

    def full_line(self, task: str, position: int, plan: str) -> str:
        """The whole answer behind a planner turn (the turn itself when unknown)."""
        with self._lock:
            return self._lines.get((task, position, plan.strip()), plan)

    def take_actions(self, task: str, subgoal_line: str) -> str | None:
        """The actions written with this subgoal line (once), or None."""
        key = (task, _key_line(subgoal_line))
        with self._lock:
            queue = self._pending.get(key)
            if not queue:
                return None
            actions = queue.popleft()
            if not queue:
                del self._pending[key]
            return actions


def _turns(messages: Sequence[BaseMessage]) -> list[Turn]:
    return [Turn(role="user" if m.type == "human" else "assistant", content=str(m.content)) for m in messages]


def _conversation(turns: list[Turn], instruction: str) -> list[Turn]:
    """The module conversation: from the last user turn opening with `instruction`.

    In-context exemplar dialogues before it are dropped.
    """
    for i in range(len(turns) - 1, -1, -1):
        if turns[i]["role"] == "user" and turns[i]["content"].startswith(instruction):
            return turns[i:]
    msg = f"Not a Lumos module conversation: no user turn starts with {instruction.strip()!r}."
    raise ValueError(msg)


def _plan_task(first: str) -> str:
    body = first[len(PLAN_INSTRUCTION) :]
    if body.startswith(_PLAN_TASK_HEAD):
        body = body[len(_PLAN_TASK_HEAD) :]
    if body.endswith(_PLAN_TASK_TAIL):
        body = body[: -len(_PLAN_TASK_TAIL)]
    return body.strip()


def _ground_task(first: str, domain: Domain) -> str:
    body = first[len(GROUND_INSTRUCTION) + len(domain.interface) :]
    end = max(body.rfind(" \n" + head) for head in _GROUND_HEADS)
    body = body[:end] if end >= 0 else body
    return body.removeprefix("Task: ").strip()


def _grounded_line(content: str) -> str | None:
    """The subgoal line a grounder turn asks for (None for a re-grounding request)."""
    for head in _GROUND_HEADS:
        at = content.find(head)
        if at < 0:
            continue
        line = content[at + len(head) :]
        if _RETRY_MARK in line:
            return None
        return line.split(QA_RESULTS)[0].strip()
    return None


def _style() -> PromptStyle:
    """The run's prompt style (eval outside a graph run)."""
    try:
        _, ctx = runtime_and_context()
    except (RuntimeError, KeyError, TypeError, AttributeError):
        return "eval"
    return ctx.prompt_style


def _callbacks(run_manager: Any) -> CallbackManager | None:
    """Callbacks that trace the wrapped model's call as a child of the view's run."""
    callbacks = None
    if run_manager is not None:
        callbacks = CallbackManager(
            handlers=run_manager.inheritable_handlers,
            inheritable_handlers=run_manager.inheritable_handlers,
            parent_run_id=run_manager.run_id,
            inheritable_tags=run_manager.inheritable_tags,
            inheritable_metadata=run_manager.inheritable_metadata,
        )
    return callbacks


def _call_config(run_manager: Any) -> RunnableConfig:
    return {
        "callbacks": _callbacks(run_manager),
        "run_name": "lumos_integrated",
        "tags": ["lumos:integrated"],
    }


def _config(run_manager: Any, name: str) -> tuple[RunnableConfig, dict[str, Any]]:
    config: RunnableConfig = {"callbacks": _callbacks(run_manager)}
    return config, {"run_name": name, "tags": ["lumos:integrated"], "metadata": {}}


def _integrated_prompt(model: BaseLanguageModel, turns: list[Turn]) -> str | list[BaseMessage]:
    if isinstance(model, BaseChatModel):
        return to_messages(turns)
    return render_prompt(turns, style=_style())


def _stop(model: BaseLanguageModel) -> list[str] | None:
    return None if isinstance(model, BaseChatModel) else ["\n"]


_NEXT_ACTIONS_RE = re.compile(r"^Actions?\s*:\s*")


def _answer_line(reply: ModelReply, start: float) -> ModuleCall:
    """The one-line answer (a chat model's `Actions: ...` on the next line joins it)."""
    lines = [line.strip() for line in reply.text.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    follow = _NEXT_ACTIONS_RE.match(lines[1]) if len(lines) > 1 else None
    if follow and not split_integrated(text)[1]:
        text = integrated_line(text, lines[1][follow.end() :])
    usage = ModuleUsage(
        calls=1,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        seconds=time.perf_counter() - start,
    )
    return ModuleCall(text, usage)


MODEL_CALLS_KEY = "lumos_model_calls"
"""`response_metadata` key of a view's reply: how many model calls it took (0 or 1)."""


def _result(text: str, call: ModuleCall | None) -> ChatResult:
    """A view's reply: `call`'s tokens, or none (and 0 model calls) when `call` is None."""
    prompt = call.usage["prompt_tokens"] if call else 0
    completion = call.usage["completion_tokens"] if call else 0
    message = AIMessage(
        content=text,
        usage_metadata={
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
        },
        response_metadata={MODEL_CALLS_KEY: 1 if call else 0},
    )
    return ChatResult(generations=[ChatGeneration(message=message)])


class _View(BaseChatModel):
    model: BaseLanguageModel
    """The one model behind both views."""
    domain: Domain
    memory: IntegratedMemory = Field(default_factory=IntegratedMemory)

    model_config = ConfigDict(arbitrary_types_allowed=True)


class IntegratedPlanner(_View):
    """The planner view: sends the integrated conversation, answers with the subgoal part.

    Each earlier answer of the conversation is sent back whole (subgoal and actions), as
    the model wrote it.
    """

    @property
    def _llm_type(self) -> str:
        return "lumos-integrated-planner"

    def _prepare(self, messages: list[BaseMessage]) -> tuple[str, int, list[Turn]]:
        turns = _conversation(_turns(messages), PLAN_INSTRUCTION)
        task = _plan_task(turns[0]["content"])
        out = [integrated_request(self.domain, task)]
        position = 0
        for turn in turns[1:]:
            if turn["role"] == "assistant":
                out.append(
                    Turn(role="assistant", content=self.memory.full_line(task, position, turn["content"]))
                )
                position += 1
            else:
                out.append(turn)
        return task, position, out

    def _answer(self, task: str, position: int, call: ModuleCall) -> ChatResult:
        plan, actions = split_integrated(call.text)
        self.memory.remember(task, position, plan, call.text, actions)
        return _result(plan, call)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        task, position, turns = self._prepare(messages)
        start = time.perf_counter()
        prompt = _integrated_prompt(self.model, turns)
        reply = call_model(self.model, prompt, stop=_stop(self.model), config=_call_config(run_manager))
        return self._answer(task, position, _answer_line(reply, start))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        task, position, turns = self._prepare(messages)
        start = time.perf_counter()
        prompt = _integrated_prompt(self.model, turns)
        reply = await acall_model(
            self.model, prompt, stop=_stop(self.model), config=_call_config(run_manager)
        )
        return self._answer(task, position, _answer_line(reply, start))


def _actions_of(text: str) -> str:
    """A grounding reply's actions (an integrated model may answer with its subgoal too)."""
    return split_integrated(text)[1] or text


class IntegratedGrounder(_View):
    """The grounder view: the actions the planner view's call wrote, without a model call.

    With none remembered (see the module docs) it grounds with the same model.
    """

    @property
    def _llm_type(self) -> str:
        return "lumos-integrated-grounder"

    def _remembered(self, messages: list[BaseMessage]) -> tuple[str | None, list[Turn]]:
        turns = _conversation(_turns(messages), GROUND_INSTRUCTION)
        task = _ground_task(turns[0]["content"], self.domain)
        line = _grounded_line(turns[-1]["content"])
        actions = self.memory.take_actions(task, line) if line is not None else None
        return actions, turns

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        actions, turns = self._remembered(messages)
        if actions is not None:
            return _result(actions, None)
        config, extra = _config(run_manager, "lumos_ground")
        call = invoke_module(self.model, turns, config=config, style=_style(), **extra)
        return _result(_actions_of(call.text), call)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        actions, turns = self._remembered(messages)
        if actions is not None:
            return _result(actions, None)
        config, extra = _config(run_manager, "lumos_ground")
        call = await ainvoke_module(self.model, turns, config=config, style=_style(), **extra)
        return _result(_actions_of(call.text), call)


def integrated_views(
    model: BaseLanguageModel, *, domain: str | Domain = "complex_qa"
) -> tuple[IntegratedPlanner, IntegratedGrounder]:
    """The planner and grounder views of one integrated model (sharing one memory).

    Args:
        model: Any LangChain chat model or LLM trained (or prompted) to answer in the
            integrated format.
        domain: The domain whose action interface the model is shown.

    Raises:
        TypeError: If `model` is not a LangChain chat model or LLM.
        ValueError: If the domain has no action interface.
    """
    if not isinstance(model, BaseLanguageModel):
        msg = f"The integrated formulation needs a LangChain chat model or LLM, got {type(model).__name__}."
        raise TypeError(msg)
    profile = get_domain(domain)
    integrated_request(profile, "")  # fails fast without an interface
    memory = IntegratedMemory()
    return (
        IntegratedPlanner(model=model, domain=profile, memory=memory),
        IntegratedGrounder(model=model, domain=profile, memory=memory),
    )


def create_integrated_agent(
    model: BaseLanguageModel,
    tools: ToolsLike,
    *,
    mode: Literal["iterative", "onetime"] = "iterative",
    domain: str | Domain = "complex_qa",
    **kwargs: Any,
) -> LumosAgent:
    """A Lumos agent whose ONE model writes each subgoal with its actions (integrated).

    Args:
        model: The integrated model (any LangChain chat model or LLM).
        tools: The domain's tools, as for `create_lumos_agent`.
        mode: `iterative` (a subgoal and its actions per turn, with execution feedback) or
            `onetime` (every subgoal with its actions in one answer).
        domain: A domain name or `Domain`.
        **kwargs: Other `create_lumos_agent` arguments (`checkpointer`, `review`,
            `handle_tool_errors`, `name`, ...); `grounding` must stay `text`.

    Returns:
        The agent; `result["usage"]["planner"]` counts the model calls and tokens, and
        `result["usage"]["grounder"]` counts the grounding steps (0 tokens unless a
        subgoal had to be grounded by a second call).
    """
    from langchain_lumos.agent import create_lumos_agent

    if kwargs.get("grounding", "text") != "text":
        msg = "The integrated formulation writes actions as text: grounding must be 'text'."
        raise ValueError(msg)
    planner, grounder = integrated_views(model, domain=domain)
    kwargs.setdefault("name", "lumos-integrated")
    return create_lumos_agent(planner, grounder, tools, mode=mode, domain=domain, **kwargs)
