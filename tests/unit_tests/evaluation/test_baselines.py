"""CoT and direct baselines, and the text ReAct baseline's stops, exemplars and parsing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool

from langchain_lumos.evaluation.baselines import create_prompt_baseline, extract_answer
from langchain_lumos.evaluation.react import (
    REACT_EXEMPLARS,
    REACT_STOP,
    create_react_baseline,
    parse_react_output,
    select_exemplars,
    without_newline_stop,
)
from langchain_lumos.models.openai_compatible import LumosCompletionsLLM
from langchain_lumos.testing import ScriptedChatModel, ScriptedLLM


@tool("Calculator")
def calculator(formula: str) -> str:
    """Calculate the input formula."""
    return str(eval(formula, {"__builtins__": {}}, {}))  # digits and operators (test input)


@tool("KnowledgeQuery")
def knowledge_query(query: str) -> str:
    """Capture the relevant webpages according to the query."""
    return f"{query} was born in Prague."


def test_original_prompt_and_answer_extraction() -> None:
    model = ScriptedLLM(responses=["Answer is 12.\nmore"], usage=(4, 3))
    result = create_prompt_baseline(model, "direct", dataset="gsm8k").invoke("  How many?  ")
    assert model.prompts == ["<|user|>\nHow many?\n<|assistant|>\n"]
    assert model.stops == [["\n"]]
    assert result["answer"] == "12" and result["stop_reason"] == "answered"
    assert result["usage"]["direct"]["calls"] == 1 and result["usage"]["direct"]["prompt_tokens"] == 4
    cot = ScriptedLLM(responses=["3 * 4 = 12. Answer is 12."])
    assert create_prompt_baseline(cot, "cot", dataset="svamp").invoke({"task": "Q?"})["answer"] == "12"


@pytest.mark.parametrize(
    ("text", "kind", "style", "expected"),
    [
        ("Q1? Paris. From the decomposed questions, the answer is Paris.", "cot", "qa", "Paris"),
        ("So from the decomposed questions, the answer is true.", "cot", "qa", "yes"),
        ("No marker at all", "cot", "qa", None),
        ("False", "direct", "qa", "no"),
        ("Marie Curie", "direct", "qa", "Marie Curie"),
        ("It is 5. Answer is 7. Answer is 8.", "cot", "answer_is", "8"),
        ("no answer here", "cot", "answer_is", None),
        ("Answer is yes.", "direct", "answer_is", "yes"),
    ],
)
def test_extract_answer(text: str, kind: Any, style: Any, expected: str | None) -> None:
    assert extract_answer(text, kind, style) == expected


def test_chat_model_gets_the_bare_question() -> None:
    chat = ScriptedChatModel(responses=["From the decomposed questions, the answer is Paris."])
    result = create_prompt_baseline(chat, "cot", dataset="hotpotqa").invoke("Capital of France?")
    assert chat.prompts == ["Capital of France?"] and result["answer"] == "Paris"
    with pytest.raises(ValueError):
        create_prompt_baseline(chat, "zero-shot")  # type: ignore[arg-type]


def test_text_react_multi_line_steps_stop_at_observation() -> None:
    llm = ScriptedLLM(
        responses={
            "Question:": " I need a tool.\nAction: Calculator\nAction Input: 3 * 4\nObservation: 99 (invented)",
            "Observation:": " I now know the final answer\nFinal Answer: 12",
        }
    )
    agent = create_react_baseline(llm, [calculator], mode="text")
    result = agent.invoke("What is 3 times 4?")
    assert result["answer"] == "12" and result["stop_reason"] == "final_answer"
    assert llm.stops == [REACT_STOP, REACT_STOP] and "\n" not in REACT_STOP
    assert result["steps"][0]["observation"] == "12"  # the tool's, not the invented one
    first, second = llm.prompts
    assert first.endswith("Question: What is 3 times 4?\nThought:")
    assert "Action Input: 36 - 10" in first  # the maths exemplar (its tools are available)
    assert "Action: KnowledgeQuery" not in first  # the QA exemplar needs a missing tool
    assert second.endswith("Action Input: 3 * 4\nObservation: 12\nThought:")


def test_exemplar_selection() -> None:
    assert select_exemplars([knowledge_query]) == [REACT_EXEMPLARS[0]]
    assert select_exemplars([calculator, knowledge_query]) == list(REACT_EXEMPLARS)
    assert select_exemplars([calculator], ()) == []
    with pytest.raises(ValueError):
        select_exemplars([calculator], "some")
    llm = ScriptedLLM(responses=["Final Answer: x"])
    create_react_baseline(llm, [calculator], mode="text", exemplars=()).invoke("Q?")
    assert "Example:" not in llm.prompts[0]


def test_lumos_newline_stop_is_lifted_for_react() -> None:
    served = LumosCompletionsLLM(base_url="http://127.0.0.1:9/v1", model="m")
    assert served.stop_at_newline and "\n" in (served.stop or [])
    copy = without_newline_stop(served)
    assert copy is not served and not copy.stop_at_newline and "\n" not in (copy.stop or [])  # type: ignore[attr-defined]
    assert served.stop_at_newline  # the Lumos module model itself is unchanged
    plain = ScriptedLLM(responses=["x"])
    assert without_newline_stop(plain) is plain


def test_react_copy_of_a_local_model_shares_its_weights(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from langchain_lumos.models.transformers import LumosTransformersLLM
    from tests.tiny_llama import build_tiny_llama

    llm = LumosTransformersLLM(
        model_id=str(build_tiny_llama(tmp_path)), max_new_tokens=4, local_files_only=True
    )
    loads = LumosTransformersLLM.total_load_count
    copy = without_newline_stop(llm)
    assert isinstance(copy, LumosTransformersLLM) and not copy.stop_at_newline and llm.stop_at_newline
    assert copy.model is llm.model and LumosTransformersLLM.total_load_count == loads + 1
    text = copy.invoke("Question: q\nThought:")  # generates past newlines until the step's stop
    assert isinstance(text, str)


def test_a_model_running_on_into_a_new_example_is_cut() -> None:
    # SmolLM2 under the exemplar prompt: the answer, then a made-up next question.
    llm = ScriptedLLM(
        responses=[" I now know the final answer\nFinal Answer: 24\n\nQuestion: A bat and a ball cost $1.10."]
    )
    result = create_react_baseline(llm, [calculator], mode="text").invoke("How many muffins are left?")
    assert result["answer"] == "24"
    assert "A bat" not in result["steps"][0]["final_answer"]
    assert llm.calls[0].output.endswith("Final Answer: 24\n")  # stopped at the new question
    parsed = parse_react_output("Calc.\nAction: Calculator\nAction Input: 4 * 6\nThought: then more\n")
    assert parsed["action_input"] == "4 * 6"
    assert parse_react_output('x\nAction: QA\nAction Input: {"question":\n "q"}')["action_input"] == (
        '{"question":\n "q"}'
    )
