"""The `lumos` command line: live event printing and the offline main job."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_lumos.cli import main
from tests.unit_tests.fakes import ScriptedLLM


def test_run_prints_modules_live_and_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = ScriptedLLM(
        responses=[
            "Subgoal 1: Obtain the city where Franz Kafka was born.",
            "R1 = KnowledgeQuery(Franz Kafka); R2 = ParagraphRetrieve(R1, Query: Where was Franz Kafka born?); "
            "R3 = QA([R2], Question: Where was Franz Kafka born?)",
            "Answer: Prague",  # the QA tool's model
            "Yes, I will stop planning.",
            "Answer: Prague",  # the final QA
        ]
    )

    def fake_loader(**_: Any) -> ScriptedLLM:
        return script

    monkeypatch.setattr("langchain_lumos.models.smollm2.load_default_llm", fake_loader)
    assert main(["run", "Where was Franz Kafka born?"]) == 0
    out = capsys.readouterr().out
    assert "[plan]    Subgoal 1: Obtain the city where Franz Kafka was born." in out
    assert "[ground]  R1 = KnowledgeQuery(Franz Kafka)" in out
    assert "[execute] R2 = ParagraphRetrieve(R1, Query: Where was Franz Kafka born?)" in out
    assert "born in Prague" in out  # the real offline corpus answered the retrieval
    assert "Answer: Prague" in out and "Stopped: planner_stop" in out


def test_run_needs_a_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "give a task" in capsys.readouterr().err


@pytest.mark.slow
def test_main_job_with_the_real_offline_model(capsys: pytest.CaptureFixture[str]) -> None:
    """SmolLM2-135M plans, grounds and answers through the real pipeline (correctness not expected)."""
    code = main(["run", "Where was Franz Kafka born?", "--max-subgoals", "1", "--max-new-tokens", "48"])
    out = capsys.readouterr().out
    assert code == 0
    assert "[plan]" in out and "Answer:" in out and "Stopped:" in out
