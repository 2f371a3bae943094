"""Seeded fuzzing of model outputs through full agent runs: no crash, no hang, right results.

Over 2,000 generated planner and grounder outputs (`langchain_lumos.testing.fuzz`) run as
full `create_lumos_agent` runs with scripted models, in both modes, against the real maths
and offline complex-QA tools. Every run must return (no exception escapes `invoke`), end
with a `stop_reason`, stay within a time bound, and a `reassign` case (variables assigned
more than once in a grounding) must end with the values of executing its actions in order.

The bulk runs the maths actions in-process (`timeout_s=None`: no worker round trip per call)
and leaves out the families meant to run long (`hang`, `long_line`); those run, with fewer
cases, against the worker-backed tools, whose deadlines they exercise.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from langchain_core.tools import BaseTool, StructuredTool

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.context import LumosContext
from langchain_lumos.profiles import small_model_profile
from langchain_lumos.testing import ScriptedLLM
from langchain_lumos.testing.fuzz import (
    FAMILIES,
    FuzzCase,
    FuzzReport,
    fuzz_agent,
    generate_cases,
)
from langchain_lumos.tools import complex_qa_tools, maths_tools
from langchain_lumos.tools.symbolic import SymbolicTool

CONTEXT = LumosContext(action_timeout_s=3.0, time_limit_s=8.0, max_subgoals=4, max_regrounds=1)
BOUND_S = 13.0
LONG_RUNNING = ("hang", "long_line")
IN_PROCESS = {k: v for k, v in FAMILIES.items() if k not in LONG_RUNNING}
QA_ANSWERS = ["Answer: 42", "Answer: no answer", "I do not know.", "Answer: 1975", ""]


def _in_process(tools: list[BaseTool]) -> list[BaseTool]:
    """The same tools with the Calculator run in the calling thread (no worker process)."""
    return [t.model_copy(update={"timeout_s": None}) if t.name == "Calculator" else t for t in tools]


@pytest.fixture(scope="module")
def maths() -> list[BaseTool]:
    return maths_tools(timeout_s=None)


@pytest.fixture(scope="module")
def qa() -> list[BaseTool]:
    return _in_process(complex_qa_tools(llm=ScriptedLLM(responses=QA_ANSWERS, role="qa")))


def _assert_clean(report: FuzzReport, *, min_runs: int, min_outputs: int = 0, min_checked: int = 1) -> None:
    summary = report.summary()
    assert len(report.outcomes) >= min_runs, summary
    assert report.outputs >= min_outputs, summary
    assert not report.crashes, summary
    assert not report.hangs, summary
    assert not report.wrong, summary
    assert all(o.stop_reason for o in report.outcomes), summary
    assert max(o.seconds for o in report.outcomes) <= report.time_bound_s, summary
    # The reassignment family is checked, not just run (a run with a failed action is not).
    assert report.checked >= max(0.9 * report.expected, min_checked), summary


# -- the generator ---------------------------------------------------------------------------------


def test_generation_is_seeded_and_covers_every_family() -> None:
    first = generate_cases(400, seed=7, mode="iterative")
    assert first == generate_cases(400, seed=7, mode="iterative")
    assert first != generate_cases(400, seed=8, mode="iterative")
    assert generate_cases(5, seed=7, start=100) == first[100:105]
    assert {c.family for c in first} == set(FAMILIES)
    assert len({c.task for c in first}) == len(first)


def test_onetime_cases_are_one_plan_line_and_one_grounding() -> None:
    for case in generate_cases(200, seed=1, mode="onetime"):
        assert len(case.planner) == 1
        assert len(case.grounder) == 1


def test_families_hold_what_they_promise() -> None:
    cases = generate_cases(2000, seed=3, mode="iterative")
    by_family: dict[str, list[FuzzCase]] = {}
    for case in cases:
        by_family.setdefault(case.family, []).append(case)
    huge = [t for c in by_family["huge_index"] for t in (*c.planner, *c.grounder)]
    assert any(len(max(t.split(" "), key=len)) > 4300 for t in huge)
    assert all(c.expected for c in by_family["reassign"])
    assert all(c.expected is None for f, cs in by_family.items() if f != "reassign" for c in cs)
    hangs = " ".join(g for c in by_family["hang"] for g in c.grounder)
    assert "10^abs(1000000000)" in hangs and "round(1.5, 1000000000)" in hangs
    long = [len(t) for c in by_family["long_line"] for t in (*c.planner, *c.grounder)]
    assert max(long) >= 100_000
    # Reassignment really reassigns: some variable is written twice in one grounding.
    assert any(
        any(line.count(f"{v} = ") > 1 for line in c.grounder for v in c.expected or {})
        for c in by_family["reassign"]
    )


def test_reassign_expected_values_follow_program_order() -> None:
    for case in generate_cases(300, seed=11, mode="onetime", families={"reassign": 1}):
        values: dict[str, int] = {}
        for action in case.grounder[0].split("; "):
            target, formula = action.split(" = Calculator(")
            expr = formula[:-1]
            for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
                expr = expr.replace(name, f"({value})")
            values[target] = eval(expr)  # only digits, variables and + - *
        assert case.expected == {k: str(v) for k, v in values.items()}


def test_actions_without_a_calculator_drop_the_families_that_need_one() -> None:
    cases = generate_cases(300, seed=2, actions=["Search", "Click"])
    assert not {c.family for c in cases} & {"reassign", "hang", "huge_number"}
    assert any("Search(" in g or "Click(" in g for c in cases if c.family == "valid" for g in c.grounder)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be"),
        ({"n": 1, "families": {"nope": 1.0}}, "Unknown families"),
        ({"n": 1, "families": {"valid": 0.0}}, "positive weight"),
        ({"n": 1, "actions": []}, "at least one action"),
        ({"n": 1, "mode": "sometimes"}, "mode must be"),
    ],
)
def test_generation_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_cases(**kwargs)


@pytest.mark.parametrize("mode", ["iterative", "onetime"])
def test_the_issue_reassignment_gives_r2_20(maths: list[BaseTool], mode: str) -> None:
    line = "R1 = Calculator(1 + 1); R2 = Calculator(R1 * 10); R1 = Calculator(5 + 5)"
    plan = (
        ("Subgoal 1: Calculate.", "Yes, I will stop planning.")
        if mode == "iterative"
        else ("Subgoal 1: Calculate.",)
    )
    case = FuzzCase(0, "reassign", "Fuzz case 0: R2?", plan, (line,), {"R1": "10", "R2": "20"})
    report = fuzz_agent(maths, domain="maths", mode=mode, cases=[case], context=CONTEXT)
    assert report.checked == 1
    assert not report.failures(), report.summary()


# -- the fuzzer detects what it is looking for -----------------------------------------------------


def _calculator(func: Any) -> BaseTool:
    return StructuredTool.from_function(func, name="Calculator", description="Calculate.")


def test_the_fuzzer_reports_crashes_hangs_and_wrong_results() -> None:
    def broken(formula: str) -> str:
        raise RuntimeError("tool bug")

    crash = fuzz_agent(
        [_calculator(broken)], n=12, families={"reassign": 1}, agent_kwargs={"handle_tool_errors": False}
    )
    assert len(crash.crashes) == 12
    assert "RuntimeError: tool bug" in (crash.crashes[0].error or "")

    def wrong(formula: str) -> str:
        return "7"

    report = fuzz_agent([_calculator(wrong)], n=12, families={"reassign": 1}, context=CONTEXT)
    assert report.checked == 12
    assert len(report.wrong) == 12
    assert "expected" in (report.wrong[0].wrong or "")

    def slow(formula: str) -> str:
        time.sleep(0.4)
        return "1"

    ctx = LumosContext(action_timeout_s=None, time_limit_s=None, max_subgoals=2)
    hung = fuzz_agent([_calculator(slow)], n=4, families={"reassign": 1}, context=ctx, time_bound_s=0.2)
    assert len(hung.hangs) == 4
    assert "hang" in hung.summary()


# -- full runs: the in-process bulk ----------------------------------------------------------------


@pytest.mark.parametrize(("mode", "n", "min_outputs"), [("iterative", 160, 800), ("onetime", 260, 450)])
def test_fuzz_maths(maths: list[BaseTool], mode: str, n: int, min_outputs: int) -> None:
    report = fuzz_agent(
        maths,
        domain="maths",
        mode=mode,
        n=n,
        seed=101,
        families=IN_PROCESS,
        context=CONTEXT,
        time_bound_s=BOUND_S,
    )
    _assert_clean(report, min_runs=n, min_outputs=min_outputs)


@pytest.mark.parametrize(("mode", "n", "min_outputs"), [("iterative", 120, 550), ("onetime", 160, 300)])
def test_fuzz_complex_qa(qa: list[BaseTool], mode: str, n: int, min_outputs: int) -> None:
    report = fuzz_agent(
        qa,
        domain="complex_qa",
        mode=mode,
        n=n,
        seed=202,
        families=IN_PROCESS,
        context=CONTEXT,
        time_bound_s=BOUND_S,
    )
    _assert_clean(report, min_runs=n, min_outputs=min_outputs)


def test_fuzz_sync_invoke(maths: list[BaseTool]) -> None:
    report = fuzz_agent(
        maths,
        domain="maths",
        n=60,
        seed=303,
        families=IN_PROCESS,
        context=CONTEXT,
        time_bound_s=BOUND_S,
        sync=True,
    )
    _assert_clean(report, min_runs=60)


@pytest.mark.parametrize("domain", ["maths", "complex_qa"])
def test_fuzz_small_model_profile(maths: list[BaseTool], qa: list[BaseTool], domain: str) -> None:
    """The small-model profile (few-shot exemplars, loose stop rules) under the same outputs."""
    profile = small_model_profile(domain, mode="iterative")
    tools = maths if domain == "maths" else qa
    report = fuzz_agent(
        tools, domain=profile, n=25, seed=505, families=IN_PROCESS, context=CONTEXT, time_bound_s=BOUND_S
    )
    _assert_clean(report, min_runs=25, min_checked=0)


# -- full runs: long-running outputs against the worker-backed tools -------------------------------

DEADLINES = LumosContext(action_timeout_s=2.0, time_limit_s=4.0, max_subgoals=3, max_regrounds=1)
LONG_FAMILIES = {"hang": 6.0, "long_line": 2.0, "huge_number": 1.0}


@pytest.mark.parametrize("mode", ["iterative", "onetime"])
def test_fuzz_deadlines(mode: str) -> None:
    """Maths that would run for hours, and very long lines, end within the run's bound."""
    maths = maths_tools(timeout_s=1.0)
    qa = complex_qa_tools(llm=ScriptedLLM(responses=QA_ANSWERS, role="qa"))
    qa = [t.model_copy(update={"timeout_s": 1.0}) if t.name == "Calculator" else t for t in qa]
    for domain, tools, n in (("maths", maths, 6), ("complex_qa", qa, 3)):
        report = fuzz_agent(
            tools,
            domain=domain,
            mode=mode,
            n=n,
            seed=404,
            families=LONG_FAMILIES,
            context=DEADLINES,
            time_bound_s=9.0,
        )
        summary = report.summary()
        assert not report.crashes, summary
        assert not report.hangs, summary
        assert all(o.stop_reason for o in report.outcomes), summary


# -- findings of the fuzzer, fixed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["R1 = Calculator(x*10^4400)", "R1 = SetEquation(x = 10^4400 y)", "R1 = Count(1, 2, ..., 10^5000)"],
)
def test_huge_numbers_are_observations_even_without_error_handling(maths: list[BaseTool], line: str) -> None:
    planner = ScriptedLLM(responses=["Subgoal 1: Calculate."], by="turn")
    grounder = ScriptedLLM(responses=[line], by="turn")
    agent = create_lumos_agent(
        planner, grounder, maths, mode="onetime", domain="maths", handle_tool_errors=False
    )
    result = agent.invoke("What is it?", context=CONTEXT)
    assert result["observations"][0]["status"] == "error"


async def test_async_maths_calls_run_on_the_lumos_tool_pool(
    maths: list[BaseTool], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    call = SymbolicTool._call

    def spy(self: SymbolicTool, text: str, variables: Any) -> Any:
        threads.append(threading.current_thread().name)
        return call(self, text, variables)

    monkeypatch.setattr(SymbolicTool, "_call", spy)
    planner = ScriptedLLM(responses=["Subgoal 1: Calculate."], by="turn")
    grounder = ScriptedLLM(responses=["R1 = Calculator(1 + 1)"], by="turn")
    agent = create_lumos_agent(planner, grounder, maths, mode="onetime", domain="maths")
    result = await agent.ainvoke("What is 1 + 1?", context=CONTEXT)
    assert result["variables"]["R1"] == "2"
    assert threads and not any(name.startswith("asyncio") for name in threads), threads


def test_a_very_long_code_argument_is_an_observation_even_without_error_handling(qa: list[BaseTool]) -> None:
    if not any(t.name == "Code" for t in qa):
        pytest.skip("no Code sandbox on this machine")
    planner = ScriptedLLM(responses=["Subgoal 1: Compute."], by="turn")
    grounder = ScriptedLLM(responses=[f"R1 = Code({' + '.join(['1'] * 50_000)})"], by="turn")
    agent = create_lumos_agent(planner, grounder, qa, mode="onetime", handle_tool_errors=False)
    result = agent.invoke("What is it?", context=CONTEXT)
    assert result["observations"][0]["status"] == "error"
