"""`bench/bench_embedded.py` runs end to end on the scripted test doubles and prints its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_embedded.py"


def _load() -> object:
    spec = importlib.util.spec_from_file_location("bench_embedded", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_prints_its_table_with_scripted_models(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    assert bench.main(["--model", "scripted", "--limit", "3", "--gsm8k-limit", "1", "--skip-run"]) == 0  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    assert "| Lumos-I | 3 |" in out and "| Lumos-O | 3 |" in out
    assert "| GSM8K |" in out


def test_limit_takes_every_question_type_in_turn() -> None:
    bench = _load()
    rows = bench.load_questions(3)  # type: ignore[attr-defined]
    assert [r["type"] for r in rows] == ["single", "two-hop", "hotpotqa"]
    assert len(bench.load_questions(None)) >= 30  # type: ignore[attr-defined]


def test_a_failing_run_counts_as_wrong_and_the_bench_goes_on() -> None:
    bench = _load()

    class Broken:
        def invoke(self, *args: object, **kwargs: object) -> dict[str, object]:
            raise RuntimeError("model crashed")

    state, error = bench._invoke(Broken(), "q", {}, 1.0)  # type: ignore[attr-defined]
    assert state == {} and "model crashed" in error
    assert bench.parse_counts(state) == (0, 0, 0, 0)  # type: ignore[attr-defined]


def test_the_table_counts_capped_calls_and_second_hops(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    assert bench.main(["--model", "scripted", "--limit", "3", "--skip-gsm8k", "--skip-run"]) == 0  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    assert "| two-hop | Lumos-I | 1 |" in out and "two-hop: second hop asked" in out
    assert "module calls" in out and "ran to the cap" in out
    state = {
        "observations": [
            {"action": "R1 = KnowledgeQuery(Franz Kafka)", "output": "Franz Kafka *** born in Prague."},
            {"action": "R4 = KnowledgeQuery(R3)", "output": "Prague *** Prague is a city."},
        ]
    }
    assert bench.second_hop_asked(state, "Prague")  # type: ignore[attr-defined]
    assert not bench.second_hop_asked({"observations": state["observations"][:1]}, "Prague")  # type: ignore[attr-defined]
    assert "evidence page found by a search" in out
    assert bench.evidence_found(state, ["Prague"]) and bench.evidence_found(state, ["franz  kafka"])  # type: ignore[attr-defined]
    assert not bench.evidence_found(state, ["Kafka"])  # type: ignore[attr-defined]


def test_the_cap_counter_reads_finish_reasons() -> None:
    from langchain_core.outputs import Generation, LLMResult

    bench = _load()
    caps = bench.CapCounter()  # type: ignore[attr-defined]
    generations = [
        [Generation(text="x", generation_info={"finish_reason": "length", "completion_tokens": 96})]
    ]
    caps.handler.on_llm_start({}, ["p"], run_id=1, metadata={"lumos_module": "grounder"})
    caps.handler.on_llm_end(LLMResult(generations=generations), run_id=1)
    assert (caps.calls["grounder"], caps.capped["grounder"], caps.tokens["grounder"]) == (1, 1, 96)


def test_the_qa_step_bench_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_qa_step", BENCH.parent / "bench_qa_step.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--model", "scripted", "--limit", "2", "--sets", "bench"]) == 0
    out = capsys.readouterr().out
    assert "| scored right | decoded right | constrained right |" in out and "\n| bench | " in out
    with pytest.raises(SystemExit):
        bench.main(["--ways", "guessed"])
    rows = bench.fanout_rows(3)  # the held-out set: FanOutQA dev's one-string sub-questions
    assert len(rows) == 3 and all(set(r) == {"id", "question", "title", "answer"} for r in rows)
    assert all(isinstance(r["answer"], str) and r["title"] for r in rows)
