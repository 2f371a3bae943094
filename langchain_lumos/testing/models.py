r"""Scripted planner and grounder models: deterministic stand-ins for tests and dry runs.

Like LangChain's fake models (`FakeListLLM`, `GenericFakeChatModel`), `ScriptedLLM` (a
raw-prompt LLM, as the released Lumos checkpoints are served) and `ScriptedChatModel` (a
chat model) replay outputs instead of generating them. They also record every prompt and
stop list they were sent (`calls`, `prompts`, `stops`) and report token usage, so a test
can check what a Lumos module asked and what the run cost.

Which output a call gets:

* `responses=[...]`, `by="call"` (default): the `i`-th call gets `responses[i]`, cycling.
* `responses=[...]`, `by="turn"`: turn `k` of a Lumos conversation gets `responses[k]`
  (the last one repeats). The turn is the number of user turns in the prompt minus one
  (`<|user|>` blocks of a raw prompt, human messages of a chat prompt), so the script does
  not depend on call order: concurrent runs and a run resumed in a fresh process get the
  same outputs.
* `responses={substring: output, ...}`: the output of the key that occurs latest in the
  prompt (it answers what was asked most recently); the empty key `""` is the fallback.

Example:
    ```python
    from langchain_lumos import create_lumos_agent
    from langchain_lumos.testing import ScriptedLLM

    planner = ScriptedLLM(
        responses={
            "": "Subgoal 1: Calculate 2 + 3.",
            "Should we stop planning?": "Yes, I will stop planning.",
        }
    )
    grounder = ScriptedLLM(responses=["R1 = Calculator(2 + 3)"])
    ```
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, BaseLLM, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult, Generation, LLMResult
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from langchain_lumos.model_calls import estimate_tokens

__all__ = [
    "ScriptedCall",
    "ScriptedChatModel",
    "ScriptedLLM",
    "ScriptedModels",
    "scripted_baseline",
    "scripted_models",
]

Script = list[str] | dict[str, str]
"""Outputs in order, or outputs keyed by a prompt substring."""

_USER = "<|user|>"


@dataclasses.dataclass(frozen=True)
class ScriptedCall:
    """One call of a scripted model: what it was sent and what it answered."""

    role: str
    """The model's `role` label (e.g. `planner`, `grounder`)."""
    prompt: str
    """The raw prompt (an LLM) or the messages' contents joined by newlines (a chat model)."""
    stop: list[str] | None
    """The stop sequences of the call."""
    turn: int
    """The conversation turn: user turns in the prompt minus one."""
    output: str
    """The text returned (cut at the first stop sequence)."""


class _ScriptMixin(BaseModel):
    """The options and the output selection shared by the two scripted models."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    if TYPE_CHECKING:
        responses: list[Any] | dict[str, Any]
    by: Literal["call", "turn"] = "call"
    role: str = "model"
    usage: tuple[int, int] | None = None
    cut_at_stop: bool = True
    on_call: Callable[[ScriptedCall], None] | None = Field(default=None, exclude=True)
    calls: list[ScriptedCall] = Field(default_factory=list, exclude=True)
    """Every call, in order."""
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _index: int = PrivateAttr(default=0)

    @field_validator("responses", check_fields=False)
    @classmethod
    def _check_responses(cls, value: Any) -> Any:
        if not value:
            msg = "responses must not be empty."
            raise ValueError(msg)
        return value

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"role": self.role, "by": self.by}

    @property
    def prompts(self) -> list[str]:
        """Every prompt sent, in order."""
        return [c.prompt for c in self.calls]

    @property
    def stops(self) -> list[list[str] | None]:
        """The stop sequences of every call, in order."""
        return [c.stop for c in self.calls]

    def _pick(self, prompt: str, turn: int) -> Any:
        if isinstance(self.responses, dict):
            return _by_key(self.responses, prompt, self.role)
        if self.by == "turn":
            return self.responses[min(turn, len(self.responses) - 1)]
        with self._lock:
            index, self._index = self._index, self._index + 1
        return self.responses[index % len(self.responses)]

    def _record(self, prompt: str, stop: list[str] | None, turn: int) -> tuple[str, Any]:
        """The output text for this call (and the scripted item itself), recorded."""
        item = self._pick(prompt, turn)
        text = item if isinstance(item, str) else str(item.content)
        if self.cut_at_stop and stop:
            text = _cut(text, stop)
        call = ScriptedCall(
            role=self.role, prompt=prompt, stop=list(stop) if stop else stop, turn=turn, output=text
        )
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)
        return text, item

    def _tokens(self, prompt: str, text: str) -> tuple[int, int]:
        if self.usage is not None:
            return self.usage
        return estimate_tokens(prompt), estimate_tokens(text)


def _by_key(responses: Mapping[str, Any], prompt: str, role: str) -> Any:
    best: tuple[int, Any] | None = None
    for key, output in responses.items():
        if not key:
            continue
        at = prompt.rfind(key)
        if at >= 0 and (best is None or at > best[0]):
            best = (at, output)
    if best is not None:
        return best[1]
    if "" in responses:
        return responses[""]
    msg = f"ScriptedLLM {role!r}: no key of {sorted(responses)} occurs in the prompt and there is no '' key."
    raise ValueError(msg)


def _cut(text: str, stop: Sequence[str]) -> str:
    ends = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[: min(ends)] if ends else text


class ScriptedLLM(_ScriptMixin, BaseLLM):
    """A raw-prompt LLM that replays scripted outputs and records its prompts.

    Args:
        responses: The outputs: a list (see `by`), or a mapping from a prompt substring
            to the output (the key occurring latest in the prompt wins; `""` is the
            fallback).
        by: `call` (the i-th call gets the i-th output, cycling) or `turn` (turn k of
            the conversation gets the k-th output, the last repeating; resume-safe).
        role: A label recorded with each call (e.g. `planner`).
        usage: Fixed `(prompt_tokens, completion_tokens)` reported per call; by
            default both are estimated from the text.
        cut_at_stop: Cut each output at the first of the call's stop sequences, as a
            real model stops there.
        on_call: Called with each `ScriptedCall` (e.g. to log calls to a file).
    """

    responses: Script

    @property
    def _llm_type(self) -> str:
        return "lumos-scripted"

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        generations = []
        total = [0, 0]
        for prompt in prompts:
            text, _ = self._record(prompt, stop, max(prompt.count(_USER) - 1, 0))
            p, c = self._tokens(prompt, text)
            total[0] += p
            total[1] += c
            info = {"prompt_tokens": p, "completion_tokens": c}
            generations.append([Generation(text=text, generation_info=info)])
        usage = {"prompt_tokens": total[0], "completion_tokens": total[1], "total_tokens": sum(total)}
        return LLMResult(generations=generations, llm_output={"token_usage": usage})

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return self._generate(prompts, stop=stop, **kwargs)


class ScriptedChatModel(_ScriptMixin, BaseChatModel):
    """A chat model that replays scripted outputs and records its prompts.

    The same options as `ScriptedLLM`; an output may also be an `AIMessage` (e.g. with
    `tool_calls`, for tool-call grounding or a tool-calling ReAct loop). `bind_tools`
    records the tools and returns the model itself. The turn is the number of human
    messages minus one.
    """

    responses: list[str | AIMessage] | dict[str, str | AIMessage]
    bound_tools: list[Any] = Field(default_factory=list, exclude=True)
    """The tools passed to `bind_tools`."""

    @property
    def _llm_type(self) -> str:
        return "lumos-scripted-chat"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Record the tools; scripted outputs carry their own `tool_calls`."""
        self.bound_tools = list(tools)
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = "\n".join(str(m.content) for m in messages)
        turn = max(sum(isinstance(m, HumanMessage) for m in messages) - 1, 0)
        text, item = self._record(prompt, stop, turn)
        p, c = self._tokens(prompt, text)
        usage = {"input_tokens": p, "output_tokens": c, "total_tokens": p + c}
        if isinstance(item, AIMessage):
            message = item.model_copy(update={"content": text, "usage_metadata": usage})
        else:
            message = AIMessage(content=text, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


# -- ready-made scripts --------------------------------------------------------------------------


class ScriptedModels(NamedTuple):
    """Scripted models for the roles of a Lumos run (unpacks as a 3-tuple)."""

    planner: ScriptedLLM
    grounder: ScriptedLLM
    qa_llm: ScriptedLLM
    """The model behind the `QA` tool and the final answer."""


_MATHS = {
    "planner-iterative": {
        "": "Subgoal 1: Calculate the result.",
        "Should we stop planning?": "Yes, I will stop planning.",
    },
    "planner-onetime": ["Subgoal 1: Calculate the result."],
    "grounder": ["R1 = Calculator(1 + 1)"],
    "qa": ["Answer: 2"],
    "baseline": {
        "": "Answer is 2.",
        "Question:": " I should calculate.\nAction: Calculator\nAction Input: 1 + 1",
        "Observation:": " I now know the final answer.\nFinal Answer: 2",
    },
}
_ROLES = ("planner", "grounder", "qa", "baseline")
_QA = {
    "planner-iterative": {
        "": "Subgoal 1: Find the facts about the question.",
        "Should we stop planning?": "Yes, I will stop planning.",
    },
    "planner-onetime": ["Subgoal 1: Find the facts; Subgoal 2: Answer the question."],
    "grounder": ["R1 = KnowledgeQuery(the question); R2 = QA([R1], Question: What is the answer?)"],
    "qa": ["Answer: unknown"],
    "baseline": {
        "": "Based on the decomposed questions, the answer is unknown.",
        "Question:": " I should look it up.\nAction: KnowledgeQuery\nAction Input: the question",
        "Observation:": " I now know the final answer.\nFinal Answer: unknown",
    },
}


def _load_script(script: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(script, Mapping):
        loaded: Any = script
    else:
        path = Path(script)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            msg = f"Cannot read the model script {path}: {exc}"
            raise ValueError(msg) from exc
        if not isinstance(loaded, Mapping):
            msg = f"The model script {path} must hold a JSON object of roles."
            raise ValueError(msg)
    unknown = sorted(set(loaded) - set(_ROLES))
    if unknown:
        msg = f"Unknown roles {unknown} in the model script: use {list(_ROLES)}."
        raise ValueError(msg)
    return loaded


def _script(domain: Any) -> dict[str, Any]:
    return _MATHS if str(getattr(domain, "name", domain)) == "maths" else _QA


def scripted_models(
    domain: Any = "complex_qa",
    mode: str = "iterative",
    *,
    path: str | Path | Mapping[str, Any] | None = None,
) -> ScriptedModels:
    """Scripted planner, grounder and QA models that run a fixed plan whatever the task.

    Without a script the plan is one the domain's tools can execute (`maths`: a
    `Calculator` call; any other domain: `KnowledgeQuery` then `QA`) and the answer is
    fixed, so scores are meaningless: a plumbing check. A script (a mapping, or the path of
    a JSON file holding one) replaces any of the roles `planner`, `grounder`, `qa`,
    `baseline` with its own responses: a list (the planner and grounder replay it by
    conversation turn) or a substring-keyed mapping.

    Args:
        domain: A domain name or `Domain` (only `maths` has its own script).
        mode: `iterative` or `onetime` (the planner's script).
        path: The script: a JSON file or a mapping of roles to responses.

    Returns:
        `ScriptedModels(planner, grounder, qa_llm)`.

    Raises:
        ValueError: An unreadable script or an unknown role in it.
    """
    base = _script(domain)
    roles = {
        "planner": base["planner-onetime" if mode == "onetime" else "planner-iterative"],
        "grounder": base["grounder"],
        "qa": base["qa"],
    }
    if path is not None:
        roles.update({k: v for k, v in _load_script(path).items() if k in roles})
    return ScriptedModels(
        planner=ScriptedLLM(responses=roles["planner"], by="turn", role="planner"),
        grounder=ScriptedLLM(responses=roles["grounder"], by="turn", role="grounder"),
        qa_llm=ScriptedLLM(responses=roles["qa"], role="qa"),
    )


def scripted_baseline(
    domain: Any = "complex_qa", *, path: str | Path | Mapping[str, Any] | None = None
) -> ScriptedLLM:
    """A scripted model for the ReAct, CoT and direct baselines (fixed answer).

    ReAct prompts get one tool action and then a final answer; any other prompt (CoT,
    direct) gets a one-line answer. A script's `baseline` role replaces these responses.

    Args:
        domain: A domain name or `Domain` (only `maths` has its own script).
        path: The script (as for `scripted_models`).
    """
    responses = _script(domain)["baseline"]
    if path is not None:
        responses = _load_script(path).get("baseline", responses)
    return ScriptedLLM(responses=responses, role="baseline")
