"""Answer metrics of the Lumos evaluation, plus a tolerant numeric match and FanOutQA.

Reproduced from the original scripts (allenai/lumos `eval/*/run_eval.py`):

* HotpotQA: SQuAD normalisation, exact match, token F1 (with the original yes/no/noanswer
  special case) and the model-judged accuracy with the original judge prompt.
* StrategyQA: a prediction containing "yes" means true.
* GSM8K / SVAMP: exact string match of the final answer.

Unlike the original scripts, an unfinished or failed example (no prediction) always
scores 0: it is never dropped from the denominator.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import HumanMessage

if TYPE_CHECKING:
    from langchain_lumos.evaluation.datasets import Example

__all__ = [
    "JUDGE_PROMPT",
    "FanOutQAMetric",
    "Metric",
    "NumericMetric",
    "QAMetric",
    "YesNoMetric",
    "allm_accuracy_score",
    "default_metric",
    "exact_match",
    "exact_string_match",
    "extract_number",
    "f1_score",
    "fanoutqa_loose_accuracy",
    "get_metric",
    "llm_accuracy_score",
    "normalize_answer",
    "numeric_match",
    "yes_no_correct",
]

JUDGE_PROMPT = (
    "Please judge whether the model prediction can be regarded as correct according to the "
    "given question and its ground-truth answer. Please answer 'CORRECT' or 'INCORRECT'. No "
    "more details and explanations.\n\nQuestion: {question}\nModel prediction: {prediction}\n"
    "Ground-truth answer: {ground_truth}\n"
)
"""The original HotpotQA judge prompt (GPT-4 in the paper), verbatim."""


# -- SQuAD / HotpotQA --------------------------------------------------------------------------


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, squeeze spaces."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str | None, ground_truth: str) -> float:
    """1.0 when the normalised prediction equals the normalised gold answer."""
    if prediction is None:
        return 0.0
    return float(normalize_answer(prediction) == normalize_answer(str(ground_truth)))


def f1_score(prediction: str | None, ground_truth: str) -> float:
    """Token F1 after normalisation, as in the original HotpotQA script.

    A yes/no/noanswer prediction or gold answer scores 0 unless both are equal.
    """
    if prediction is None:
        return 0.0
    pred = normalize_answer(prediction)
    gold = normalize_answer(str(ground_truth))
    special = ("yes", "no", "noanswer")
    if (pred in special or gold in special) and pred != gold:
        return 0.0
    pred_tokens, gold_tokens = pred.split(), gold.split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _judge_input(model: BaseLanguageModel, prompt: str) -> Any:
    return [HumanMessage(prompt)] if isinstance(model, BaseChatModel) else prompt


def _judge_verdict(reply: Any, *, strict: bool) -> int:
    text = str(getattr(reply, "content", reply)).strip()
    if strict:
        return int(text == "CORRECT")
    return int(text.strip(" .'\"").upper().startswith("CORRECT"))


def llm_accuracy_score(
    question: str,
    prediction: str | None,
    ground_truth: str,
    model: BaseLanguageModel,
    *,
    strict: bool = True,
) -> int:
    """Model-judged accuracy with the original judge prompt.

    Args:
        question: The question.
        prediction: The system's answer (None scores 0 without calling the judge).
        ground_truth: The gold answer.
        model: Any LangChain chat model or LLM (the paper used GPT-4 at temperature 0).
        strict: The original rule: the reply stripped must be exactly `CORRECT`. When
            False, a reply starting with `CORRECT` (any case, quotes or dot) counts.

    Returns:
        1 if judged correct, else 0.
    """
    if prediction is None:
        return 0
    prompt = JUDGE_PROMPT.format(question=question, prediction=prediction, ground_truth=ground_truth)
    return _judge_verdict(model.invoke(_judge_input(model, prompt)), strict=strict)


async def allm_accuracy_score(
    question: str,
    prediction: str | None,
    ground_truth: str,
    model: BaseLanguageModel,
    *,
    strict: bool = True,
) -> int:
    """Async `llm_accuracy_score`."""
    if prediction is None:
        return 0
    prompt = JUDGE_PROMPT.format(question=question, prediction=prediction, ground_truth=ground_truth)
    return _judge_verdict(await model.ainvoke(_judge_input(model, prompt)), strict=strict)


# -- StrategyQA ---------------------------------------------------------------------------------


def _as_bool(gold: Any) -> bool:
    if isinstance(gold, bool):
        return gold
    text = str(gold).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    msg = f"Not a yes/no gold answer: {gold!r}"
    raise ValueError(msg)


def yes_no_correct(prediction: str | None, ground_truth: bool | str) -> float:
    """StrategyQA accuracy: "yes" anywhere in the prediction (any case) means true."""
    if prediction is None:
        return 0.0
    return float(("yes" in prediction.lower()) == _as_bool(ground_truth))


# -- GSM8K / SVAMP ------------------------------------------------------------------------------

_NUMBER_RE = re.compile(
    r"(?<![\w.])[-−]?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?%?"
)


def exact_string_match(prediction: str | None, ground_truth: str) -> float:
    """The original GSM8K/SVAMP rule: the answer text equals the gold text (spaces trimmed)."""
    if prediction is None:
        return 0.0
    return float(str(prediction).strip() == str(ground_truth).strip())


def _to_float(token: str) -> float | None:
    text = token.replace("−", "-").replace("$", "").replace(",", "").replace("%", "").replace(" ", "")
    if not re.search(r"\d", text):
        return None
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den) if float(den) != 0 else None
        return float(text)
    except ValueError:
        return None


def extract_number(text: str | None) -> float | None:
    """The last number in `text` (`$1,234.5`, `-3`, `45%`, `3/4` all read), or None."""
    if text is None:
        return None
    values = [
        v for m in _NUMBER_RE.finditer(str(text)) if m.group(0) and (v := _to_float(m.group(0))) is not None
    ]
    return values[-1] if values else None


def numeric_match(
    prediction: str | None,
    ground_truth: str | float,
    *,
    abs_tol: float = 1e-6,
    rel_tol: float = 1e-4,
) -> float:
    """1.0 when the last number of the prediction equals the gold number within tolerance."""
    pred = extract_number(prediction)
    gold = ground_truth if isinstance(ground_truth, (int, float)) else extract_number(str(ground_truth))
    if pred is None or gold is None:
        return 0.0
    return float(math.isclose(pred, float(gold), rel_tol=rel_tol, abs_tol=abs_tol))


# -- FanOutQA -----------------------------------------------------------------------------------


def _fanout_norm(text: Any) -> str:
    out = str(text).lower()
    out = re.sub(r"(\d+,)+\d+(\.\d+)?", lambda m: m[0].replace(",", ""), out)
    out = re.sub(r"[,.?!:;]", "", out)
    return re.sub(r"\s+", " ", out).strip()


def _fanout_missing(reference: Any, candidate: str) -> tuple[int, int]:
    """(found, total) answer strings of `reference` found in the normalised candidate."""
    if isinstance(reference, list):
        parts = [_fanout_missing(r, candidate) for r in reference]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    if isinstance(reference, dict):
        parts = [_fanout_missing(r, candidate) for kv in reference.items() for r in kv]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    if isinstance(reference, bool):
        reference = "yes" if reference else "no"
    ref = _fanout_norm(reference)
    return int(bool(re.search(rf"\b{re.escape(ref)}\b", candidate))), 1


def fanoutqa_loose_accuracy(prediction: str | None, reference: Any) -> float:
    """FanOutQA loose accuracy: the share of gold answer strings found in the prediction.

    Follows `fanoutqa.eval.string.answer_in_text` (dict answers count keys and values)
    with a lighter normalisation (no spaCy lemmatisation).
    """
    if prediction is None:
        return 0.0
    found, total = _fanout_missing(reference, _fanout_norm(prediction))
    return found / total if total else 0.0


# -- Metric objects ------------------------------------------------------------------------------


class Metric:
    """Scores one prediction against an `Example`.

    Subclasses set `name`, `keys` (the score names, reported in this order) and `primary`
    (the score whose value 1.0 means correct), and implement `score`.
    """

    name: str = "metric"
    keys: tuple[str, ...] = ()
    primary: str = ""

    def score(self, prediction: str | None, example: Example) -> dict[str, float]:
        """Scores of a prediction (None: unfinished or failed, every score 0)."""
        raise NotImplementedError

    async def ascore(self, prediction: str | None, example: Example) -> dict[str, float]:
        """Async `score` (model-judged metrics call their judge here)."""
        return self.score(prediction, example)

    def correct(self, scores: dict[str, float]) -> bool:
        """Whether the scores count as a correct answer."""
        return scores.get(self.primary, 0.0) >= 1.0 - 1e-9


class QAMetric(Metric):
    """HotpotQA-style: `em`, `f1` and, with a judge model, `llm_acc`.

    Args:
        judge: A chat model or LLM for the model-judged accuracy (optional).
        correct_by: The score that decides `correct`: `em` (default) or `llm_acc`.
        strict_judge: The original verdict rule (reply exactly `CORRECT`).
    """

    name = "qa"

    def __init__(
        self,
        judge: BaseLanguageModel | None = None,
        *,
        correct_by: str = "em",
        strict_judge: bool = True,
    ) -> None:
        if correct_by not in ("em", "llm_acc"):
            msg = f"correct_by must be 'em' or 'llm_acc', got {correct_by!r}"
            raise ValueError(msg)
        if correct_by == "llm_acc" and judge is None:
            msg = "correct_by='llm_acc' needs a judge model."
            raise ValueError(msg)
        self.judge = judge
        self.strict_judge = strict_judge
        self.primary = correct_by
        self.keys = ("em", "f1", "llm_acc") if judge is not None else ("em", "f1")

    def score(self, prediction: str | None, example: Example) -> dict[str, float]:
        """EM, F1 (and the judged accuracy)."""
        gold = str(example.answer)
        out = {"em": exact_match(prediction, gold), "f1": f1_score(prediction, gold)}
        if self.judge is not None:
            out["llm_acc"] = float(
                llm_accuracy_score(example.question, prediction, gold, self.judge, strict=self.strict_judge)
            )
        return out

    async def ascore(self, prediction: str | None, example: Example) -> dict[str, float]:
        """Async `score`."""
        gold = str(example.answer)
        out = {"em": exact_match(prediction, gold), "f1": f1_score(prediction, gold)}
        if self.judge is not None:
            out["llm_acc"] = float(
                await allm_accuracy_score(
                    example.question, prediction, gold, self.judge, strict=self.strict_judge
                )
            )
        return out


class YesNoMetric(Metric):
    """StrategyQA accuracy (`"yes" in prediction` means true)."""

    name = "yesno"
    keys = ("accuracy",)
    primary = "accuracy"

    def score(self, prediction: str | None, example: Example) -> dict[str, float]:
        """Accuracy of one prediction."""
        return {"accuracy": yes_no_correct(prediction, example.answer)}


class NumericMetric(Metric):
    """GSM8K/SVAMP: `exact` (the original string match) and `numeric` (tolerant).

    Args:
        tolerance: Decide `correct` by the tolerant numeric match instead of the
            original exact string match. Both scores are always reported.
        abs_tol: Absolute tolerance of the numeric match.
        rel_tol: Relative tolerance of the numeric match.
    """

    name = "numeric"
    keys = ("exact", "numeric")

    def __init__(self, *, tolerance: bool = False, abs_tol: float = 1e-6, rel_tol: float = 1e-4) -> None:
        self.tolerance = tolerance
        self.abs_tol = abs_tol
        self.rel_tol = rel_tol
        self.primary = "numeric" if tolerance else "exact"
        self.name = "numeric_tol" if tolerance else "numeric"

    def score(self, prediction: str | None, example: Example) -> dict[str, float]:
        """Exact and tolerant matches of one prediction."""
        return {
            "exact": exact_string_match(prediction, str(example.answer)),
            "numeric": numeric_match(
                prediction, str(example.answer), abs_tol=self.abs_tol, rel_tol=self.rel_tol
            ),
        }


class FanOutQAMetric(Metric):
    """FanOutQA: `loose` accuracy (share of answer strings found) and `strict` (all found)."""

    name = "fanoutqa"
    keys = ("loose", "strict")
    primary = "strict"

    def score(self, prediction: str | None, example: Example) -> dict[str, float]:
        """Loose and strict accuracy of one prediction."""
        reference = example.meta.get("answer_raw", example.answer)
        loose = fanoutqa_loose_accuracy(prediction, reference)
        return {"loose": loose, "strict": float(loose >= 1.0 - 1e-9)}


_BY_ANSWER_RULE = {"qa": "qa", "yes_no": "yesno", "value": "numeric"}
"""The metric of each dataset profile's answer rule (`langchain_lumos.domains.DatasetProfile`)."""


def get_metric(metric: str | Metric, *, judge: BaseLanguageModel | None = None) -> Metric:
    """A metric by name: `qa`, `qa_judge`, `yesno`, `numeric`, `numeric_tol`, `fanoutqa`.

    Args:
        metric: A name or a `Metric` (returned as is).
        judge: The judge model of `qa` / `qa_judge` (`qa_judge` decides `correct` by it).
    """
    if isinstance(metric, Metric):
        return metric
    if metric == "qa":
        return QAMetric(judge)
    if metric == "qa_judge":
        return QAMetric(judge, correct_by="llm_acc")
    if metric == "yesno":
        return YesNoMetric()
    if metric == "numeric":
        return NumericMetric()
    if metric == "numeric_tol":
        return NumericMetric(tolerance=True)
    if metric == "fanoutqa":
        return FanOutQAMetric()
    msg = f"Unknown metric {metric!r}: use qa, qa_judge, yesno, numeric, numeric_tol or fanoutqa."
    raise ValueError(msg)


def default_metric(examples: Sequence[Example] | str) -> Metric:
    """The metric the original evaluation used for a dataset (`qa` for user data).

    A dataset with a profile in `langchain_lumos.domains` is scored by its answer rule
    (HotpotQA `qa`, StrategyQA `yesno`, GSM8K/SVAMP `numeric`); FanOutQA by its own
    loose accuracy; anything else by `qa`.
    """
    from langchain_lumos.domains import DATASET_PROFILES

    name = examples if isinstance(examples, str) else (examples[0].dataset if examples else "")
    if name == "fanoutqa":
        return FanOutQAMetric()
    profile = DATASET_PROFILES.get(name)
    return get_metric(_BY_ANSWER_RULE.get(profile.answer, "qa") if profile else "qa")
