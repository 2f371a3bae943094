"""Benchmark: batched vs one-at-a-time generation, and model loads per agent run.

Run `python bench/bench_batching.py` (tiny random Llama built on the fly) or
`python bench/bench_batching.py --smollm2` (also the converted SmolLM2-135M).

For each model: N concurrent `agenerate` calls (coalesced by the async batching queue
into one padded `generate`) vs the same N prompts one at a time, with a forced
generation length (`min_new_tokens == max_new_tokens`, no newline stop) so both runs
produce the same number of tokens. Then an agent-like sequence of planner/grounder calls
to count model loads (the original Lumos reloaded the checkpoints every phase).
"""

from __future__ import annotations

import argparse
import asyncio
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
from tests.tiny_llama import build_tiny_llama  # noqa: E402

QUESTIONS = [
    "What is the capital of the country where the Eiffel Tower is?",
    "Who wrote the novel that the film Blade Runner is based on?",
    "How many legs do three spiders and two ants have in total?",
    "Which river flows through the city where the Louvre is?",
    "What year did the first person to walk on the Moon die?",
    "If a train travels 120 km in 1.5 hours, what is its speed?",
    "Which element has the atomic number equal to the number of planets?",
    "Who directed the highest-grossing film of 1997?",
    "What is the population of the largest city in Australia?",
    "Which composer wrote the opera that premiered at La Scala in 1926?",
]


def plan_prompt(question: str) -> str:
    return (
        "<|user|>\nPlease provide a reasonable subgoal-based plan to solve the given task.\n"
        f"Task: {question}; Initial Environment Description: None.\n<|assistant|>\n"
    )


def forced_llm(model_dir: str, new_tokens: int, **kw: Any) -> LumosTransformersLLM:
    return LumosTransformersLLM(
        model_id=model_dir,
        local_files_only=True,
        max_new_tokens=new_tokens,
        stop_at_newline=False,
        generation_kwargs={"min_new_tokens": new_tokens},
        batch_window_ms=20,
        prefix_cache_max_entries=0,  # repeated prompts would reuse their prefill one at a time
        **kw,
    )


async def concurrent(llm: LumosTransformersLLM, prompts: list[str]) -> int:
    results = await asyncio.gather(*(llm.agenerate([p]) for p in prompts))
    return sum(r.llm_output["token_usage"]["completion_tokens"] for r in results)


def sequential(llm: LumosTransformersLLM, prompts: list[str]) -> int:
    total = 0
    for p in prompts:
        total += llm.generate([p]).llm_output["token_usage"]["completion_tokens"]
    return total


def bench_model(name: str, model_dir: str, n: int, new_tokens: int, repeats: int) -> None:
    prompts = [plan_prompt(QUESTIONS[i % len(QUESTIONS)]) for i in range(n)]
    llm = forced_llm(model_dir, new_tokens)
    start = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - start
    generate_calls = 0
    inner = llm.model.generate

    def counting_generate(*args: Any, **kwargs: Any) -> Any:
        nonlocal generate_calls
        generate_calls += 1
        return inner(*args, **kwargs)

    llm.model.generate = counting_generate
    sequential(llm, prompts[:2])  # warm-up
    best_seq = best_bat = float("inf")
    tokens_seq = tokens_bat = 0
    for _ in range(repeats):
        start = time.perf_counter()
        tokens_seq = sequential(llm, prompts)
        best_seq = min(best_seq, time.perf_counter() - start)
        generate_calls = 0
        start = time.perf_counter()
        tokens_bat = asyncio.run(concurrent(llm, prompts))
        best_bat = min(best_bat, time.perf_counter() - start)
        batched_calls = generate_calls
    assert tokens_seq == tokens_bat == n * new_tokens, (tokens_seq, tokens_bat)
    seq_tps, bat_tps = tokens_seq / best_seq, tokens_bat / best_bat
    print(f"\n== {name} ({model_dir})")
    print(f"load: {load_s:.2f}s; {n} requests x {new_tokens} new tokens, best of {repeats}")
    print(f"one at a time : {best_seq:7.2f}s  {seq_tps:8.1f} tok/s  ({n} generate calls)")
    print(f"concurrent    : {best_bat:7.2f}s  {bat_tps:8.1f} tok/s  ({batched_calls} generate call(s))")
    print(f"speed-up      : {bat_tps / seq_tps:.2f}x")
    agent_loads(name, model_dir)


def agent_loads(name: str, model_dir: str) -> None:
    """An agent-like run: 4 iterations of plan -> ground on two resident models."""
    planner = LumosTransformersLLM(model_id=model_dir, local_files_only=True, max_new_tokens=16)
    grounder = LumosTransformersLLM(model_id=model_dir, local_files_only=True, max_new_tokens=16)
    before = LumosTransformersLLM.total_load_count
    prompt = plan_prompt(QUESTIONS[0])
    for step in range(4):
        plan = planner.invoke(prompt, stop=["\n"], config={"run_name": "lumos_planner"})
        ground_prompt = (
            "<|user|>\nPlease ground the given subgoal to corresponding executable actions.\n"
            f"Subgoal to be grounded: {plan.strip()}\n<|assistant|>\n"
        )
        action = grounder.invoke(ground_prompt, stop=["\n"], config={"run_name": "lumos_grounder"})
        prompt += f"{plan.strip()}\n\n<|user|>\nThe executed result for Subgoal {step + 1} is "
        prompt += f"{action.strip()[:20]}. Should we stop planning?\n<|assistant|>\n"
    loads = LumosTransformersLLM.total_load_count - before
    print(
        f"agent-like run ({name}): 8 model calls, {loads} model loads "
        f"(planner {planner.load_count}, grounder {grounder.load_count}); "
        "the original eval scripts would have loaded 8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2", action="store_true", help="also benchmark SmolLM2-135M")
    parser.add_argument("-n", type=int, default=8, help="concurrent requests")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import torch

    load1, _, _ = os.getloadavg()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print(f"load average before: {load1:.2f} (other processes skew timings)")
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_llama(Path(tmp) / "tiny_llama")
        bench_model("tiny random Llama", str(tiny), args.n, args.new_tokens, args.repeats)
    if args.smollm2:
        from langchain_lumos.models.smollm2 import default_model_path

        start = time.perf_counter()
        path = default_model_path()
        print(f"\nSmolLM2 default_model_path(): {time.perf_counter() - start:.2f}s")
        bench_model("SmolLM2-135M-Instruct", str(path), args.n, args.new_tokens, args.repeats)


if __name__ == "__main__":
    main()
