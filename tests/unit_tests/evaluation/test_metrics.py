"""Metrics on hand-computed cases."""

from __future__ import annotations

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from langchain_lumos.evaluation.datasets import Example
from langchain_lumos.evaluation.metrics import (
    JUDGE_PROMPT,
    FanOutQAMetric,
    NumericMetric,
    QAMetric,
    YesNoMetric,
    allm_accuracy_score,
    default_metric,
    exact_match,
    exact_string_match,
    extract_number,
    f1_score,
    fanoutqa_loose_accuracy,
    get_metric,
    llm_accuracy_score,
    normalize_answer,
    numeric_match,
    yes_no_correct,
)


def ex(answer, dataset="hotpotqa", **meta) -> Example:
    return Example(id="x", question="Q?", answer=answer, dataset=dataset, meta=meta)


def test_normalize_answer() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a pear and THE plum.") == "apple pear and plum"
    assert normalize_answer("  ") == ""


def test_exact_match() -> None:
    assert exact_match("the Paris.", "Paris") == 1.0
    assert exact_match("Paris, France", "Paris") == 0.0
    assert exact_match(None, "Paris") == 0.0


def test_f1_hand_computed() -> None:
    # pred tokens: [barack, obama, jr]; gold: [barack, obama] -> P=2/3, R=1, F1=0.8
    assert f1_score("Barack Obama Jr.", "Barack Obama") == pytest.approx(0.8)
    assert f1_score("new york city", "york") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert f1_score("cat", "dog") == 0.0
    assert f1_score(None, "dog") == 0.0


def test_f1_yes_no_special_case() -> None:
    # the original: a yes/no/noanswer side scores 0 unless both are equal
    assert f1_score("yes", "yes") == 1.0
    assert f1_score("yes it is", "yes") == 0.0  # token overlap, but gold is special
    assert f1_score("yes", "yes it is") == 0.0  # prediction is special
    assert f1_score("no answer", "noanswer") == 0.0  # normalises to "no answer" != "noanswer"
    assert f1_score("No.", "no") == 1.0


def test_llm_judge_prompt_verbatim_and_verdict() -> None:
    assert JUDGE_PROMPT.startswith("Please judge whether the model prediction can be regarded as correct")
    assert "Please answer 'CORRECT' or 'INCORRECT'. No more details and explanations.\n\n" in JUDGE_PROMPT
    assert JUDGE_PROMPT.endswith("Ground-truth answer: {ground_truth}\n")
    chat = FakeListChatModel(responses=[" CORRECT\n", "INCORRECT", "Correct."])
    assert llm_accuracy_score("Q", "Paris", "Paris", chat) == 1
    assert llm_accuracy_score("Q", "Lyon", "Paris", chat) == 0
    assert llm_accuracy_score("Q", "Paris", "Paris", chat) == 0  # strict like the original
    assert llm_accuracy_score("Q", None, "Paris", chat) == 0  # no call for a missing answer
    lenient = FakeListLLM(responses=["Correct."])
    assert llm_accuracy_score("Q", "Paris", "Paris", lenient, strict=False) == 1


async def test_async_judge_and_qa_metric() -> None:
    llm = FakeListLLM(responses=["CORRECT"])
    assert await allm_accuracy_score("Q", "a", "a", llm) == 1
    metric = QAMetric(FakeListLLM(responses=["CORRECT"]), correct_by="llm_acc")
    scores = await metric.ascore("Paris, France", ex("Paris"))
    assert scores == {"em": 0.0, "f1": pytest.approx(2 / 3), "llm_acc": 1.0}
    assert metric.correct(scores)


def test_qa_metric_without_judge() -> None:
    metric = QAMetric()
    assert metric.keys == ("em", "f1")
    scores = metric.score("the Paris", ex("Paris"))
    assert scores == {"em": 1.0, "f1": 1.0} and metric.correct(scores)
    assert metric.score(None, ex("Paris")) == {"em": 0.0, "f1": 0.0}
    with pytest.raises(ValueError):
        QAMetric(correct_by="llm_acc")


def test_yes_no() -> None:
    assert yes_no_correct("Yes, it is.", True) == 1.0
    assert yes_no_correct("Eyes are blue", True) == 1.0  # the original substring rule
    assert yes_no_correct("No", True) == 0.0
    assert yes_no_correct("No answer", False) == 1.0
    assert yes_no_correct(None, False) == 0.0  # unfinished is wrong, even for a false gold
    assert yes_no_correct("yes", "True") == 1.0
    assert YesNoMetric().score("no", ex(False, "strategyqa")) == {"accuracy": 1.0}


def test_exact_string_and_numeric() -> None:
    assert exact_string_match(" 18 ", "18") == 1.0
    assert exact_string_match("18.0", "18") == 0.0  # the original's weakness
    assert numeric_match("18.0", "18") == 1.0
    assert numeric_match("She makes $1,234.00 a day.", "1234") == 1.0
    assert numeric_match("45%", "45") == 1.0
    assert numeric_match("about 0.3333", "1/3", rel_tol=1e-3) == 1.0
    assert numeric_match("0.33", "1/3") == 0.0
    assert numeric_match("0.33", "1/3", abs_tol=0.01) == 1.0
    assert numeric_match("no number", "3") == 0.0
    assert numeric_match(None, "3") == 0.0
    assert extract_number("R1 = 5, so total is -7.5") == -7.5
    assert extract_number("x") is None


def test_numeric_metric_modes() -> None:
    exact = NumericMetric()
    tol = NumericMetric(tolerance=True)
    scores = exact.score("18.0", ex("18", "gsm8k"))
    assert scores == {"exact": 0.0, "numeric": 1.0}
    assert not exact.correct(scores)
    assert tol.correct(tol.score("18.0", ex("18", "gsm8k")))


def test_fanoutqa_loose_accuracy() -> None:
    ref = {"Pat Burrell": "Right", "Mark Mulder": "Left"}
    assert fanoutqa_loose_accuracy("Pat Burrell: Right; Mark Mulder: Left", ref) == 1.0
    assert fanoutqa_loose_accuracy("Pat Burrell bats right", ref) == 0.5
    assert fanoutqa_loose_accuracy("1,463,000 people", 1463000) == 1.0
    assert fanoutqa_loose_accuracy("yes", True) == 1.0
    assert fanoutqa_loose_accuracy(None, ref) == 0.0
    m = FanOutQAMetric()
    scores = m.score("Pat Burrell bats right", ex("x", "fanoutqa", answer_raw=ref))
    assert scores == {"loose": 0.5, "strict": 0.0}


def test_get_and_default_metric() -> None:
    assert isinstance(get_metric("numeric_tol"), NumericMetric)
    assert get_metric("numeric_tol").primary == "numeric"
    assert isinstance(default_metric("strategyqa"), YesNoMetric)
    assert isinstance(default_metric([ex("1", "svamp")]), NumericMetric)
    assert isinstance(default_metric("my_file"), QAMetric)
    with pytest.raises(ValueError):
        get_metric("bleu")
