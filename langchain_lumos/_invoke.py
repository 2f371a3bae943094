"""Calling a planner or grounder model on a Lumos conversation (private)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, BaseLanguageModel, BaseLLM
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig

from langchain_lumos.prompts import PromptStyle, Turn, render_prompt
from langchain_lumos.state import ModuleUsage

__all__ = ["ModuleCall", "ainvoke_module", "first_line", "invoke_module", "to_messages"]


@dataclasses.dataclass(frozen=True)
class ModuleCall:
    """One module output: its first line, and what the call cost."""

    text: str
    usage: ModuleUsage


def first_line(text: str) -> str:
    """The first non-empty line: every Lumos module output is one line."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def to_messages(turns: Sequence[Turn], exemplars: Sequence[Sequence[Turn]] = ()) -> list[BaseMessage]:
    """Turns (in-context dialogues first) as chat messages."""
    flat = [t for dialogue in exemplars for t in dialogue] + list(turns)
    return [HumanMessage(t["content"]) if t["role"] == "user" else AIMessage(t["content"]) for t in flat]


def _estimate(text: str) -> int:
    return len(text) // 4 + 1


def _llm_usage(result: LLMResult, prompt: str, completion: str) -> tuple[int, int]:
    usage = (result.llm_output or {}).get("token_usage") or {}
    info = result.generations[0][0].generation_info or {} if result.generations else {}
    p = usage.get("prompt_tokens", info.get("prompt_tokens"))
    c = usage.get("completion_tokens", info.get("completion_tokens"))
    return (p if p is not None else _estimate(prompt), c if c is not None else _estimate(completion))


def _chat_usage(message: BaseMessage, messages: Sequence[BaseMessage]) -> tuple[int, int]:
    meta = getattr(message, "usage_metadata", None)
    if meta:
        return meta.get("input_tokens", 0), meta.get("output_tokens", 0)
    prompt = "".join(str(m.content) for m in messages)
    return _estimate(prompt), _estimate(str(message.content))


def _with_prefix(text: str, prefix: str) -> str:
    if prefix and not text.startswith(prefix.strip()):
        return prefix + text
    return text


def _call_kwargs(
    config: RunnableConfig, run_name: str, tags: list[str], metadata: dict[str, Any]
) -> dict[str, Any]:
    return {
        "callbacks": config.get("callbacks"),
        "tags": [*config.get("tags", []), *tags],
        "metadata": {**config.get("metadata", {}), **metadata},
        "run_name": run_name,
    }


def _check(model: object) -> None:
    if not isinstance(model, BaseLanguageModel):
        msg = (
            f"A Lumos module needs a LangChain chat model or LLM, got {type(model).__name__}. "
            "Pass e.g. a ChatOpenAI, ChatOllama or LumosTransformersLLM instance."
        )
        raise TypeError(msg)


def _from_chat(
    message: BaseMessage, messages: Sequence[BaseMessage], prefix: str, start: float
) -> ModuleCall:
    p, c = _chat_usage(message, messages)
    text = _with_prefix(first_line(str(message.content)), prefix)
    return ModuleCall(
        text, ModuleUsage(calls=1, prompt_tokens=p, completion_tokens=c, seconds=time.perf_counter() - start)
    )


def _from_text(
    raw: str, prompt: str, prefix: str, start: float, result: LLMResult | None = None
) -> ModuleCall:
    p, c = _llm_usage(result, prompt, raw) if result else (_estimate(prompt), _estimate(raw))
    text = prefix + first_line(raw) if prefix else first_line(raw)
    return ModuleCall(
        text, ModuleUsage(calls=1, prompt_tokens=p, completion_tokens=c, seconds=time.perf_counter() - start)
    )


def invoke_module(
    model: BaseLanguageModel,
    turns: Sequence[Turn],
    *,
    config: RunnableConfig,
    run_name: str,
    tags: list[str],
    metadata: dict[str, Any],
    style: PromptStyle = "eval",
    exemplars: Sequence[Sequence[Turn]] = (),
    prefix: str = "",
) -> ModuleCall:
    r"""Call `model` on the conversation and return its first output line.

    An LLM gets the raw rendered Lumos prompt with `stop=["\n"]` (the released checkpoints'
    protocol); a chat model gets the turns as messages.
    """
    _check(model)
    start = time.perf_counter()
    kw = _call_kwargs(config, run_name, tags, metadata)
    if isinstance(model, BaseChatModel):
        messages = to_messages(turns, exemplars)
        return _from_chat(model.invoke(messages, config=kw), messages, prefix, start)  # type: ignore[arg-type]
    prompt = render_prompt(turns, style=style, exemplars=exemplars, assistant_prefix=prefix)
    if isinstance(model, BaseLLM):
        result = model.generate([prompt], stop=["\n"], **kw)
        return _from_text(result.generations[0][0].text, prompt, prefix, start, result)
    return _from_text(str(model.invoke(prompt, stop=["\n"])), prompt, prefix, start)


async def ainvoke_module(
    model: BaseLanguageModel,
    turns: Sequence[Turn],
    *,
    config: RunnableConfig,
    run_name: str,
    tags: list[str],
    metadata: dict[str, Any],
    style: PromptStyle = "eval",
    exemplars: Sequence[Sequence[Turn]] = (),
    prefix: str = "",
) -> ModuleCall:
    """Async `invoke_module`."""
    _check(model)
    start = time.perf_counter()
    kw = _call_kwargs(config, run_name, tags, metadata)
    if isinstance(model, BaseChatModel):
        messages = to_messages(turns, exemplars)
        return _from_chat(await model.ainvoke(messages, config=kw), messages, prefix, start)  # type: ignore[arg-type]
    prompt = render_prompt(turns, style=style, exemplars=exemplars, assistant_prefix=prefix)
    if isinstance(model, BaseLLM):
        result = await model.agenerate([prompt], stop=["\n"], **kw)
        return _from_text(result.generations[0][0].text, prompt, prefix, start, result)
    return _from_text(str(await model.ainvoke(prompt, stop=["\n"])), prompt, prefix, start)
