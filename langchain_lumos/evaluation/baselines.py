r"""The CoT and direct baselines of the Lumos paper: one model, one call, no tools.

The original evaluation (`cot()` / `direct()` in `eval/<dataset>/run_eval.py`) sends a
fine-tuned model the bare question as `<|user|>\n{question}\n<|assistant|>\n`, stops at the
first newline (512 new tokens) and reads the answer from the text:

| dataset | CoT | direct |
| --- | --- | --- |
| HotpotQA (`qa` style) | after `decomposed questions, the answer is`, final character dropped | the whole line |
| GSM8K, SVAMP, StrategyQA (`answer_is` style) | after the last `Answer is `, final period dropped | after a leading `Answer is `, final period dropped |

In the `qa` style a `true`/`false` answer reads as `yes`/`no`. Where the original sliced
blindly (a missing marker gave a garbage span), the prediction is None (counted wrong).
A chat model gets the question as one human message (its own chat template wraps it).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_lumos.model_calls import ModelReply, acall_model, call_model
from langchain_lumos.state import ModuleUsage

__all__ = [
    "BASELINE_PROMPT",
    "COT_QA_MARKER",
    "PromptBaseline",
    "answer_style",
    "create_prompt_baseline",
    "extract_answer",
]

BaselineKind = Literal["cot", "direct"]
AnswerStyle = Literal["qa", "answer_is"]

BASELINE_PROMPT = "<|user|>\n{question}\n<|assistant|>\n"
"""The raw prompt of the original CoT and direct evaluation."""
COT_QA_MARKER = "decomposed questions, the answer is"
"""What precedes the answer in a complex-QA CoT output (HotpotQA)."""
_ANSWER_IS = "Answer is "
_QA_DATASETS = frozenset({"hotpotqa", "fanoutqa"})


def answer_style(dataset: str | None, domain: str = "complex_qa") -> AnswerStyle:
    """How a dataset's baseline answer is read: `qa` (HotpotQA-like) or `answer_is`.

    GSM8K, SVAMP and StrategyQA used `Answer is `; HotpotQA (and, by the same rule, other
    open-answer complex-QA data) the CoT marker or the bare line. Unknown data sets follow
    their domain.
    """
    if dataset in _QA_DATASETS:
        return "qa"
    if dataset in ("gsm8k", "svamp", "strategyqa") or domain == "maths":
        return "answer_is"
    return "qa"


def _yes_no(pred: str) -> str:
    low = pred.lower()
    if low in ("false", "false."):
        return "no"
    if low in ("true", "true."):
        return "yes"
    return pred


def extract_answer(text: str, kind: BaselineKind, style: AnswerStyle) -> str | None:
    """The answer in a CoT or direct output, as the original evaluation read it.

    Args:
        text: The model's output (its first line).
        kind: `cot` or `direct`.
        style: `qa` or `answer_is` (see `answer_style`).

    Returns:
        The answer, or None when a CoT output lacks its answer marker.
    """
    line = text.strip()
    if style == "qa":
        if kind == "direct":
            return _yes_no(line)
        if COT_QA_MARKER not in line:
            return None
        pred = line.split(COT_QA_MARKER)[1].strip()[:-1]
        return _yes_no(pred)
    if kind == "cot":
        at = line.rfind(_ANSWER_IS)
        if at < 0:
            return None
        pred = line[at + len(_ANSWER_IS) :]
    else:
        pred = line.removeprefix(_ANSWER_IS)
    return pred.strip().removesuffix(".").strip()


class PromptBaseline(Runnable[Any, dict[str, Any]]):
    """A one-call baseline: the question in, the extracted answer out.

    `invoke` returns `answer`, `output` (the raw line), `stop_reason` (`answered` or
    `no_answer`) and `usage` (`{kind: calls, tokens, seconds}`), the shape the harness reads.
    """

    def __init__(self, model: BaseLanguageModel, *, kind: BaselineKind, style: AnswerStyle) -> None:
        self.model = model
        self.kind = kind
        self.style = style
        self.name = kind

    def _prompt(self, value: Any) -> str:
        task = value.get("task") if isinstance(value, dict) else value
        if not isinstance(task, str) or not task.strip():
            msg = f"A {self.kind} baseline needs a question string or {{'task': ...}}, got {value!r}."
            raise ValueError(msg)
        if isinstance(self.model, BaseChatModel):
            return task.strip()
        return BASELINE_PROMPT.format(question=task.strip())

    def _result(self, reply: ModelReply, start: float) -> dict[str, Any]:
        line = reply.text.strip().split("\n")[0]
        answer = extract_answer(line, self.kind, self.style)
        usage = ModuleUsage(
            calls=1,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            seconds=time.perf_counter() - start,
        )
        return {
            "answer": answer,
            "output": line,
            "stop_reason": "answered" if answer is not None else "no_answer",
            "usage": {self.kind: usage},
        }

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Ask the model once and read its answer."""
        prompt = self._prompt(input)
        start = time.perf_counter()
        return self._result(call_model(self.model, prompt, stop=["\n"], config=config), start)

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Async `invoke`."""
        prompt = self._prompt(input)
        start = time.perf_counter()
        return self._result(await acall_model(self.model, prompt, stop=["\n"], config=config), start)


def create_prompt_baseline(
    model: BaseLanguageModel,
    kind: BaselineKind,
    *,
    dataset: str | None = None,
    domain: str = "complex_qa",
    style: AnswerStyle | None = None,
) -> PromptBaseline:
    """Build the CoT or direct baseline of the Lumos paper.

    Args:
        model: Any LangChain LLM (gets the raw `<|user|>` prompt) or chat model.
        kind: `cot` or `direct`.
        dataset: The dataset id, which picks the answer extraction (see `answer_style`).
        domain: The domain, for data sets the original did not evaluate.
        style: Force the answer extraction (`qa` or `answer_is`).

    Raises:
        ValueError: For an unknown kind or style.
        TypeError: If `model` is not a LangChain model.
    """
    if kind not in ("cot", "direct"):
        msg = f"kind must be 'cot' or 'direct', got {kind!r}."
        raise ValueError(msg)
    if style is not None and style not in ("qa", "answer_is"):
        msg = f"style must be 'qa' or 'answer_is', got {style!r}."
        raise ValueError(msg)
    if not isinstance(model, BaseLanguageModel):
        msg = f"model must be a LangChain chat model or LLM, got {type(model).__name__}."
        raise TypeError(msg)
    return PromptBaseline(model, kind=kind, style=style or answer_style(dataset, domain))
