"""The small-model QA step alone: how often it answers right when the evidence holds the answer.

For each single-hop and HotpotQA question of the offline question set
(`langchain_lumos/data/embedded_questions.jsonl`), the page that holds the answer is
fetched (`KnowledgeQuery` of its title), `ParagraphRetrieve` ranks its sentences for the
question, and the QA step (`langchain_lumos.profiles.small_qa_answer`) answers from them in
three ways, each on the same evidence:

- **scored** (the profile's default for a local model): the candidate spans
  (`answer_candidates`) scored by the model's log-likelihood plus the answer-type prior;
- **decoded**: the model writes a reply, snapped to a span of the evidence;
- **constrained**: the reply decoded under the evidence-span grammar.

It prints, per way, the answers containing the gold answer (only over questions whose
retrieved evidence holds it) and the mean time of a QA call. This isolates the QA step
from planning and grounding, which `bench_embedded.py` measures end to end.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python bench/bench_qa_step.py [--model smollm2] [--ways scored,decoded]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

WAYS = ("scored", "decoded", "constrained")


def _options(way: str) -> dict[str, bool]:
    return {"scored": {}, "decoded": {"score": False}, "constrained": {"constrain": True}}[way]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="smollm2", help="model spec (default: the embedded default)")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated, of {', '.join(WAYS)}")
    parser.add_argument("--limit", type=int, default=None, help="questions (default: all 35)")
    args = parser.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        parser.error(f"unknown ways {unknown}; choose from {', '.join(WAYS)}")

    from bench_embedded import load_questions

    from langchain_lumos.evaluation.metrics import normalize_answer
    from langchain_lumos.presets import preset_tools, resolve_models
    from langchain_lumos.profiles import small_qa_answer
    from langchain_lumos.tools.complex_qa import small_question

    models = resolve_models(args.model, domain="complex_qa", mode="iterative")
    tools = {t.name: t for t in preset_tools(models)[0]}
    rows = [r for r in load_questions(None) if r["type"] != "two-hop"][: args.limit]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# bench_qa_step: model {args.model}, {len(rows)} questions, load average {load:.2f} (1 min)")

    right = dict.fromkeys(ways, 0)
    seconds = dict.fromkeys(ways, 0.0)
    holding = 0
    for row in rows:
        question = small_question(row["question"])
        page = tools["KnowledgeQuery"].invoke({"query": row["evidence_titles"][-1]})
        evidence = tools["ParagraphRetrieve"].invoke({"context": page, "query": question})
        gold = normalize_answer(row["answer"])
        holds = bool(gold) and gold in normalize_answer(str(evidence))
        holding += holds
        answers: dict[str, Any] = {}
        for way in ways:
            start = time.perf_counter()
            answers[way] = small_qa_answer(models.qa_llm, question, [evidence], **_options(way))
            seconds[way] += time.perf_counter() - start
            right[way] += holds and gold in normalize_answer(answers[way])
        shown = ", ".join(f"{w} {answers[w]!r}" for w in ways)
        print(f"  {row['id']}: {shown} (gold {row['answer']!r}{'' if holds else ', not in the evidence'})")

    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n| QA step ({holding} questions whose evidence holds the answer) | right | mean s per call |")
    print("| --- | --- | --- |")
    for way in ways:
        print(f"| {way} | {right[way]}/{holding} | {seconds[way] / max(len(rows), 1):.2f} |")
    print(f"load average after: {load_end:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
