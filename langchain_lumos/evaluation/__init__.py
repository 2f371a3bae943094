"""Evaluation of Lumos agents: datasets, metrics, the ReAct/CoT/direct baselines and the harness."""

from __future__ import annotations

from langchain_lumos.evaluation.baselines import PromptBaseline, create_prompt_baseline, extract_answer
from langchain_lumos.evaluation.datasets import DATASETS, Example, load_dataset
from langchain_lumos.evaluation.harness import aevaluate, evaluate
from langchain_lumos.evaluation.metrics import (
    JUDGE_PROMPT,
    FanOutQAMetric,
    Metric,
    NumericMetric,
    QAMetric,
    YesNoMetric,
    default_metric,
    exact_match,
    f1_score,
    get_metric,
    llm_accuracy_score,
    normalize_answer,
    numeric_match,
)
from langchain_lumos.evaluation.react import ReActAgent, create_react_baseline
from langchain_lumos.evaluation.report import EvalReport

__all__ = [
    "DATASETS",
    "JUDGE_PROMPT",
    "EvalReport",
    "Example",
    "FanOutQAMetric",
    "Metric",
    "NumericMetric",
    "PromptBaseline",
    "QAMetric",
    "ReActAgent",
    "YesNoMetric",
    "aevaluate",
    "create_prompt_baseline",
    "create_react_baseline",
    "default_metric",
    "evaluate",
    "exact_match",
    "extract_answer",
    "f1_score",
    "get_metric",
    "llm_accuracy_score",
    "load_dataset",
    "normalize_answer",
    "numeric_match",
]
