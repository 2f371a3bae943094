"""Calling a model: the chat-or-LLM dispatch, token accounting and Lumos module calls.

`call_model`/`acall_model` send one prompt to any LangChain model (a chat model gets
messages, an LLM the raw text) and count its tokens. `invoke_module`/`ainvoke_module`
build a Lumos module conversation (raw `<|user|>`/`<|assistant|>` prompt for LLMs,
messages for chat models) on top of it and keep the first output line.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, BaseLanguageModel, BaseLLM
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig

from langchain_lumos.prompts import PromptStyle, Turn, join_forced_prefix, render_prompt
from langchain_lumos.state import ModuleUsage

__all__ = [
    "ModelReply",
    "ModuleCall",
    "acall_model",
    "ainvoke_module",
    "call_model",
    "chat_usage",
    "estimate_tokens",
    "first_line",
    "invoke_module",
    "llm_usage",
    "supports_choices",
    "supports_grammar",
    "to_messages",
]


@dataclasses.dataclass(frozen=True)
class ModelReply:
    """A model's raw reply and its token counts (reported, or estimated when not)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    calls: int = 1
    """Model calls behind the reply: a chat model wrapping others may report more, or 0 for a
    reply it had already computed (`response_metadata["lumos_model_calls"]`)."""
    choice_logprobs: tuple[float, ...] = ()
    """For a call with `choices`: each choice's log-likelihood, in the order given."""


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


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token) for models that report none."""
    return len(text) // 4 + 1


def llm_usage(result: LLMResult, prompt: str, completion: str) -> tuple[int, int]:
    """Prompt and completion tokens of an LLM call (estimated when the model reports none)."""
    usage = (result.llm_output or {}).get("token_usage") or {}
    info = result.generations[0][0].generation_info or {} if result.generations else {}
    p = usage.get("prompt_tokens", info.get("prompt_tokens"))
    c = usage.get("completion_tokens", info.get("completion_tokens"))
    return (
        p if p is not None else estimate_tokens(prompt),
        c if c is not None else estimate_tokens(completion),
    )


def chat_usage(message: BaseMessage, messages: Sequence[BaseMessage]) -> tuple[int, int]:
    """Prompt and completion tokens of a chat call (estimated when the model reports none)."""
    meta = getattr(message, "usage_metadata", None)
    if meta:
        return meta.get("input_tokens", 0), meta.get("output_tokens", 0)
    prompt = "".join(str(m.content) for m in messages)
    return estimate_tokens(prompt), estimate_tokens(str(message.content))


def _check(model: object) -> None:
    if not isinstance(model, BaseLanguageModel):
        msg = (
            f"A Lumos module needs a LangChain chat model or LLM, got {type(model).__name__}. "
            "Pass e.g. a ChatOpenAI, ChatOllama or LumosTransformersLLM instance."
        )
        raise TypeError(msg)


def _as_messages(prompt: str | Sequence[BaseMessage]) -> list[BaseMessage]:
    return [HumanMessage(prompt)] if isinstance(prompt, str) else list(prompt)


def _as_text(prompt: str | Sequence[BaseMessage]) -> str:
    if isinstance(prompt, str):
        return prompt
    msg = "An LLM (text completion model) takes a prompt string, not messages."
    raise TypeError(msg)


def call_model(
    model: BaseLanguageModel,
    prompt: str | Sequence[BaseMessage],
    *,
    stop: list[str] | None = None,
    config: RunnableConfig | None = None,
    grammar: str | None = None,
    choices: Sequence[str] | None = None,
    choice_end: str | None = None,
) -> ModelReply:
    """Send one prompt to a chat model (as messages) or an LLM (as text).

    Args:
        model: Any LangChain chat model or LLM.
        prompt: The prompt text (a chat model gets it as one human message) or messages.
        stop: Stop sequences.
        config: Callbacks, tags, metadata and run name of the call.
        grammar: An xgrammar EBNF grammar (`langchain_lumos.grammar`) the reply must follow;
            sent only to models that declare `supports_grammar` (local `transformers`
            models, vLLM and llama.cpp servers), ignored for the others.
        choices: Score these continuations instead of decoding (models that declare
            `supports_choices`, e.g. `LumosTransformersLLM`): the reply is the likeliest
            and `choice_logprobs` holds every choice's log-likelihood.
        choice_end: With `choices`: the end marker scored after each choice (default:
            the model's end-of-sequence token).

    Returns:
        The reply text and its prompt/completion token counts.

    Raises:
        ValueError: `choices` for a model that cannot score them.
    """
    _check(model)
    extra = _choice_kwargs(model, choices, choice_end)
    cfg: dict[str, Any] = dict(config or {})
    if isinstance(model, BaseChatModel):
        messages = _as_messages(prompt)
        reply = model.invoke(messages, config=cfg, stop=stop)  # type: ignore[arg-type]
        return ModelReply(str(reply.content), *chat_usage(reply, messages), calls=_reported_calls(reply))
    text = _as_text(prompt)
    if isinstance(model, BaseLLM):
        result = model.generate(
            [text], stop=stop, **_generate_kwargs(cfg), **_grammar_kwargs(model, grammar), **extra
        )
        return _llm_reply(result, text)
    raw = str(model.invoke(text, config=cfg, stop=stop))  # type: ignore[arg-type]
    return ModelReply(raw, estimate_tokens(text), estimate_tokens(raw))


async def acall_model(
    model: BaseLanguageModel,
    prompt: str | Sequence[BaseMessage],
    *,
    stop: list[str] | None = None,
    config: RunnableConfig | None = None,
    grammar: str | None = None,
    choices: Sequence[str] | None = None,
    choice_end: str | None = None,
) -> ModelReply:
    """Async `call_model`."""
    _check(model)
    extra = _choice_kwargs(model, choices, choice_end)
    cfg: dict[str, Any] = dict(config or {})
    if isinstance(model, BaseChatModel):
        messages = _as_messages(prompt)
        reply = await model.ainvoke(messages, config=cfg, stop=stop)  # type: ignore[arg-type]
        return ModelReply(str(reply.content), *chat_usage(reply, messages), calls=_reported_calls(reply))
    text = _as_text(prompt)
    if isinstance(model, BaseLLM):
        result = await model.agenerate(
            [text], stop=stop, **_generate_kwargs(cfg), **_grammar_kwargs(model, grammar), **extra
        )
        return _llm_reply(result, text)
    raw = str(await model.ainvoke(text, config=cfg, stop=stop))  # type: ignore[arg-type]
    return ModelReply(raw, estimate_tokens(text), estimate_tokens(raw))


def supports_grammar(model: object) -> bool:
    """Whether `model` takes a `grammar=` for constrained decoding."""
    return bool(getattr(model, "supports_grammar", False))


def supports_choices(model: object) -> bool:
    """Whether `model` takes `choices=`: scores continuations (`call_model(choices=...)`)."""
    return bool(getattr(model, "supports_choices", False))


def _choice_kwargs(
    model: BaseLanguageModel, choices: Sequence[str] | None, end: str | None
) -> dict[str, Any]:
    if choices is None:
        return {}
    if not supports_choices(model):
        msg = f"{type(model).__name__} cannot score choices (it has no supports_choices); decode instead."
        raise ValueError(msg)
    return {"choices": list(choices), **({"choice_end": end} if end is not None else {})}


def _llm_reply(result: LLMResult, prompt: str) -> ModelReply:
    generation = result.generations[0][0]
    raw = generation.text
    scores = (generation.generation_info or {}).get("choice_logprobs") or ()
    return ModelReply(raw, *llm_usage(result, prompt, raw), choice_logprobs=tuple(scores))


def _grammar_kwargs(model: BaseLanguageModel, grammar: str | None) -> dict[str, Any]:
    return {"grammar": grammar} if grammar and supports_grammar(model) else {}


def _reported_calls(reply: BaseMessage) -> int:
    calls = getattr(reply, "response_metadata", {}).get("lumos_model_calls", 1)
    return calls if isinstance(calls, int) and calls >= 0 else 1


def _generate_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """`BaseLLM.generate` takes callbacks, tags, metadata and run name as keywords."""
    return {k: config[k] for k in ("callbacks", "tags", "metadata", "run_name") if k in config}


def _call_config(
    config: RunnableConfig, run_name: str, tags: list[str], metadata: dict[str, Any]
) -> RunnableConfig:
    return {
        "callbacks": config.get("callbacks"),
        "tags": [*config.get("tags", []), *tags],
        "metadata": {**config.get("metadata", {}), **metadata},
        "run_name": run_name,
    }


def _module_call(reply: ModelReply, prefix: str, start: float, *, chat: bool) -> ModuleCall:
    line = first_line(reply.text)
    # A completion continues after the forced prefix; a chat model (or an echoing
    # completion) may repeat it: never `R1 = R1 = ...`.
    text = join_forced_prefix(prefix, line) if prefix else line
    usage = ModuleUsage(
        calls=reply.calls,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        seconds=time.perf_counter() - start,
    )
    return ModuleCall(text, usage)


def _module_prompt(
    model: BaseLanguageModel,
    turns: Sequence[Turn],
    style: PromptStyle,
    exemplars: Sequence[Sequence[Turn]],
    prefix: str,
    history_prefix: str = "",
) -> str | list[BaseMessage]:
    if isinstance(model, BaseChatModel):
        return to_messages(turns, exemplars)
    return render_prompt(
        turns, style=style, exemplars=exemplars, assistant_prefix=prefix, history_prefix=history_prefix
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
    history_prefix: str = "",
    grammar: str | None = None,
) -> ModuleCall:
    r"""Call `model` on the conversation and return its first output line.

    An LLM gets the raw rendered Lumos prompt with `stop=["\n"]` (the released checkpoints'
    protocol); a chat model gets the turns as messages.
    """
    _check(model)
    start = time.perf_counter()
    prompt = _module_prompt(model, turns, style, exemplars, prefix, history_prefix)
    chat = isinstance(model, BaseChatModel)
    reply = call_model(
        model,
        prompt,
        stop=None if chat else ["\n"],
        config=_call_config(config, run_name, tags, metadata),
        grammar=grammar,
    )
    return _module_call(reply, prefix, start, chat=chat)


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
    history_prefix: str = "",
    grammar: str | None = None,
) -> ModuleCall:
    """Async `invoke_module`."""
    _check(model)
    start = time.perf_counter()
    prompt = _module_prompt(model, turns, style, exemplars, prefix, history_prefix)
    chat = isinstance(model, BaseChatModel)
    reply = await acall_model(
        model,
        prompt,
        stop=None if chat else ["\n"],
        config=_call_config(config, run_name, tags, metadata),
        grammar=grammar,
    )
    return _module_call(reply, prefix, start, chat=chat)
