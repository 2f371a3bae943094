"""The public scripted models of `langchain_lumos.testing`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_lumos.model_calls import call_model
from langchain_lumos.testing import ScriptedCall, ScriptedChatModel, ScriptedLLM, scripted_models


def test_replays_in_call_order_cycling_and_records_prompts_and_stops() -> None:
    model = ScriptedLLM(responses=["a", "b"])
    assert [model.invoke(p) for p in ("x", "y", "z")] == ["a", "b", "a"]
    assert model.prompts == ["x", "y", "z"]
    assert model.stops == [None, None, None]


def test_cuts_at_stop_like_a_real_model() -> None:
    model = ScriptedLLM(responses=["Thought.\nAction: QA\nObservation: invented"])
    assert model.invoke("q", stop=["\nObservation:"]) == "Thought.\nAction: QA"
    assert model.stops == [["\nObservation:"]]
    raw = ScriptedLLM(responses=["a\nb"], cut_at_stop=False)
    assert raw.invoke("q", stop=["\n"]) == "a\nb"


def test_replays_by_turn_whatever_the_call_order() -> None:
    seen: list[ScriptedCall] = []
    model = ScriptedLLM(responses=["first", "second"], by="turn", role="planner", on_call=seen.append)
    turn2 = "<|user|>\nA\n<|assistant|>\nfirst\n\n<|user|>\nB\n<|assistant|>\n"
    assert model.invoke(turn2) == "second"
    assert model.invoke("<|user|>\nA\n<|assistant|>\n") == "first"
    assert model.invoke(turn2 + "x\n\n<|user|>\nC\n<|assistant|>\n") == "second"  # the last repeats
    assert [(c.role, c.turn) for c in seen] == [("planner", 1), ("planner", 0), ("planner", 2)]


def test_keyed_by_the_substring_occurring_latest() -> None:
    model = ScriptedLLM(
        responses={"": "Subgoal 1: go.", "Should we stop planning?": "Yes, I will stop planning."}
    )
    assert model.invoke("<|user|>\nPlease plan.\n<|assistant|>\n") == "Subgoal 1: go."
    assert model.invoke("... Should we stop planning?\n<|assistant|>\n") == "Yes, I will stop planning."
    react = ScriptedLLM(responses={"Question:": "act", "Observation:": "finish"})
    assert react.invoke("Observation: example\nQuestion: q\nThought:") == "act"
    assert react.invoke("Question: q\nThought: t\nObservation: o\nThought:") == "finish"
    strict = ScriptedLLM(responses={"needle": "x"})
    with pytest.raises(ValueError, match="no key"):
        strict.invoke("haystack")
    with pytest.raises(ValueError):
        ScriptedLLM(responses=[])


def test_reports_token_usage() -> None:
    fixed = call_model(ScriptedLLM(responses=["out"], usage=(10, 5)), "prompt")
    assert (fixed.prompt_tokens, fixed.completion_tokens) == (10, 5)
    estimated = call_model(ScriptedLLM(responses=["x" * 40]), "y" * 80)
    assert (estimated.prompt_tokens, estimated.completion_tokens) == (21, 11)
    chat = ScriptedChatModel(responses=["hi"], usage=(7, 2)).invoke("hello")
    assert chat.usage_metadata == {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}


def test_chat_model_turns_messages_and_tool_calls() -> None:
    call = AIMessage("", tool_calls=[{"name": "Calculator", "args": {"formula": "1 + 1"}, "id": "c1"}])
    model = ScriptedChatModel(responses=["plan", call], by="turn")
    assert model.invoke([HumanMessage("a")]).content == "plan"
    bound = model.bind_tools(["Calculator"])
    reply = bound.invoke([HumanMessage("a"), AIMessage("plan"), HumanMessage("b")])
    assert reply.tool_calls[0]["args"] == {"formula": "1 + 1"}
    assert model.bound_tools == ["Calculator"] and model.prompts[1] == "a\nplan\nb"
    assert asyncio.run(model.ainvoke("c")).content == "plan"


def test_scripted_models_builtin_and_from_a_file(tmp_path: Path) -> None:
    planner, grounder, qa = scripted_models("maths", "iterative")
    assert grounder.invoke("<|user|>\nground\n<|assistant|>\n") == "R1 = Calculator(1 + 1)"
    assert qa.invoke("Question: q") == "Answer: 2"
    assert planner.invoke("<|user|>\nx\n<|assistant|>\ny\n\n<|user|>\nShould we stop planning?") == (
        "Yes, I will stop planning."
    )
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"grounder": ["R1 = KnowledgeQuery(x)"]}), encoding="utf-8")
    models = scripted_models("complex_qa", "onetime", path=path)
    assert models.grounder.invoke("p") == "R1 = KnowledgeQuery(x)"
    assert models.planner.invoke("p").startswith("Subgoal 1:")
    path.write_text(json.dumps({"writer": ["x"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="Unknown roles"):
        scripted_models(path=path)
