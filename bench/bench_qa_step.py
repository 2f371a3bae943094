"""The small-model QA step alone: how often it answers right when the evidence holds the answer.

Two question sets, each question with the page that holds its answer fetched
(`KnowledgeQuery` of its title) and ranked for the question by `ParagraphRetrieve`:

- **bench**: the single-hop and HotpotQA questions of the offline question set
  (`langchain_lumos/data/embedded_questions.jsonl`, 35), the set the profile was tuned on;
- **fanout** (held out): FanOutQA dev's single-hop sub-questions with a one-string answer
  whose evidence page the offline corpus holds under its own title and whose retrieved
  evidence holds the answer (the `fanoutqa` package's JSON; 83 with the packaged corpus).

The QA step (`langchain_lumos.profiles.small_qa_answer`) answers each from the same
evidence in three ways:

- **scored** (the profile's default for a local model): the candidate spans
  (`answer_candidates`) scored by the model's log-likelihood plus the span prior;
- **decoded**: the model writes a reply, snapped to a span of the evidence;
- **constrained**: the reply decoded under the evidence-span grammar.

It prints, per set and way, the answers containing the gold answer (only over questions
whose retrieved evidence holds it) and the mean time of a QA call. This isolates the QA
step from planning and grounding, which `bench_embedded.py` measures end to end.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python bench/bench_qa_step.py [--sets bench,fanout] [--ways scored,decoded]
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


SETS = ("bench", "fanout")


def bench_rows(limit: int | None) -> list[dict[str, Any]]:
    """The question set's single-hop and HotpotQA rows: id, question, page title, answer."""
    from bench_embedded import load_questions

    rows = [r for r in load_questions(None) if r["type"] != "two-hop"][:limit]
    return [
        {"id": r["id"], "question": r["question"], "title": r["evidence_titles"][-1], "answer": r["answer"]}
        for r in rows
    ]


def fanout_rows(limit: int | None) -> list[dict[str, Any]]:
    """FanOutQA dev's single-hop sub-questions with a one-string answer, in file order."""
    from langchain_lumos.training.fanoutqa import read_fanoutqa

    def leaves(node: dict[str, Any]) -> Any:
        for part in node.get("decomposition") or []:
            yield from leaves(part) if part.get("decomposition") else [part]

    rows = []
    for record in read_fanoutqa():
        for leaf in leaves(record):
            if isinstance(leaf.get("answer"), str) and leaf.get("evidence"):
                title = leaf["evidence"]["title"]
                rows.append(
                    {"id": leaf["id"], "question": leaf["question"], "title": title, "answer": leaf["answer"]}
                )
    return rows[:limit]


def _evidence(tools: dict[str, Any], row: dict[str, Any], question: str, own_title: bool) -> Any:
    """The retrieved evidence for a row (None: the corpus has no page, or not under its title)."""
    from langchain_core.tools import ToolException

    from langchain_lumos.evaluation.metrics import normalize_answer

    try:
        page = tools["KnowledgeQuery"].invoke({"query": row["title"]})
    except ToolException:
        return None
    first = str(page[0]).split(" *** ", 1)[0] if page else ""
    if own_title and normalize_answer(first) != normalize_answer(row["title"]):
        return None
    return tools["ParagraphRetrieve"].invoke({"context": page, "query": question})


def run_set(
    name: str, rows: list[dict[str, Any]], tools: dict[str, Any], llm: Any, ways: list[str]
) -> dict[str, Any]:
    """One set's right answers and seconds per way; `fanout` keeps only answerable rows."""
    from langchain_lumos.evaluation.metrics import normalize_answer
    from langchain_lumos.profiles import small_qa_answer
    from langchain_lumos.tools.complex_qa import small_question

    right = dict.fromkeys(ways, 0)
    seconds = dict.fromkeys(ways, 0.0)
    holding = asked = 0
    for row in rows:
        question = small_question(row["question"])
        evidence = _evidence(tools, row, question, own_title=name == "fanout")
        gold = normalize_answer(row["answer"])
        holds = evidence is not None and bool(gold) and gold in normalize_answer(str(evidence))
        if name == "fanout" and not holds:
            continue  # held out: only questions the corpus can answer
        holding += holds
        asked += 1
        answers: dict[str, Any] = {}
        for way in ways:
            start = time.perf_counter()
            answers[way] = small_qa_answer(llm, question, [evidence], **_options(way))
            seconds[way] += time.perf_counter() - start
            right[way] += holds and gold in normalize_answer(answers[way])
        shown = ", ".join(f"{w} {answers[w]!r}" for w in ways)
        print(
            f"  [{name}] {row['id']}: {shown} (gold {row['answer']!r}{'' if holds else ', not in the evidence'})"
        )
    return {"right": right, "seconds": seconds, "holding": holding, "asked": asked}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="smollm2", help="model spec (default: the embedded default)")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated, of {', '.join(WAYS)}")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--limit", type=int, default=None, help="questions per set (default: all)")
    args = parser.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    sets = [w.strip() for w in args.sets.split(",") if w.strip()]
    unknown = sorted(set(ways) - set(WAYS)) + sorted(set(sets) - set(SETS))
    if unknown:
        parser.error(f"unknown ways or sets {unknown}; ways: {', '.join(WAYS)}; sets: {', '.join(SETS)}")

    from langchain_lumos.presets import preset_tools, resolve_models

    models = resolve_models(args.model, domain="complex_qa", mode="iterative")
    tools = {t.name: t for t in preset_tools(models)[0]}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# bench_qa_step: model {args.model}, sets {', '.join(sets)}, load average {load:.2f} (1 min)")
    results = {}
    for name in sets:
        rows = bench_rows(args.limit) if name == "bench" else fanout_rows(None)
        if name == "fanout" and args.limit is not None:
            rows = rows[: args.limit * 4]  # most leaves have no page here; scan about 4 per kept row
        results[name] = run_set(name, rows, tools, models.qa_llm, ways)

    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        "\n| QA step | questions whose evidence holds the answer | "
        + " | ".join(f"{w} right" for w in ways)
        + " | "
        + " | ".join(f"{w} s per call" for w in ways)
        + " |"
    )
    print("| --- | --- | " + " | ".join("---" for _ in ways * 2) + " |")
    for name, r in results.items():
        cells = [f"{r['right'][w]}/{r['holding']}" for w in ways] + [
            f"{r['seconds'][w] / max(r['asked'], 1):.2f}" for w in ways
        ]
        print(f"| {name} | {r['holding']} | " + " | ".join(cells) + " |")
    print(f"load average after: {load_end:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
