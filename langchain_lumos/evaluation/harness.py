"""The evaluation harness: run systems on a dataset, score, log, resume and summarise.

Each (system, example) run is one `ainvoke` under a shared semaphore (bounded
concurrency). Every finished run is appended at once to `results.jsonl`; a restarted
evaluation skips the (system, id) pairs already there. An example whose run raises is
recorded as wrong with its error, never dropped.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_lumos.evaluation.datasets import Example, load_dataset
from langchain_lumos.evaluation.metrics import Metric, default_metric, get_metric
from langchain_lumos.evaluation.report import (
    EvalReport,
    format_markdown,
    plot_summary,
    summarize,
    write_csv,
)

__all__ = [
    "RESULTS_FILE",
    "aevaluate",
    "evaluate",
    "prediction_of",
    "read_records",
    "usage_totals",
]

RESULTS_FILE = "results.jsonl"


_MODEL_MODULES = frozenset({"planner", "grounder", "react", "cot", "direct"})


def usage_totals(usage: Mapping[str, Mapping[str, Any]] | None) -> tuple[int, int, int]:
    """(model calls, prompt tokens, completion tokens) of a Lumos/ReAct `usage` dict.

    Model calls are the `calls` of the model modules: the planner and grounder of Lumos,
    `react`, `cot` and `direct` of the baselines (not the executor, `finalize` or the tools).
    """
    calls = prompt = completion = 0
    for module, counters in (usage or {}).items():
        if module in _MODEL_MODULES:
            calls += int(counters.get("calls", 0))
        prompt += int(counters.get("prompt_tokens", 0))
        completion += int(counters.get("completion_tokens", 0))
    return calls, prompt, completion


def prediction_of(result: Any) -> str | None:
    """The answer text of a system's result (a result dict, message or string)."""
    if result is None:
        return None
    if isinstance(result, dict):
        answer = result.get("answer")
        return None if answer is None else str(answer)
    if isinstance(result, BaseMessage):
        return str(result.content)
    return str(result)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a results JSONL (a torn last line from a crash is ignored)."""
    file = Path(path)
    if not file.is_file():
        return []
    out = []
    with file.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "system" in record and "id" in record:
                out.append(record)
    return out


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


class _Progress:
    def __init__(self, total: int, enabled: bool, desc: str) -> None:
        self.total, self.done, self.enabled, self.bar = total, 0, enabled and total > 0, None
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, desc=desc, file=sys.stderr)

    def update(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
        else:
            end = "\n" if self.done == self.total else ""
            print(f"\r[eval] {self.done}/{self.total}", end=end, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def _call(system: Any, question: str, config: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    if hasattr(system, "ainvoke"):
        return await system.ainvoke(question, config, **kwargs)
    if inspect.iscoroutinefunction(system):
        return await system(question, **kwargs)
    if hasattr(system, "invoke"):
        return await asyncio.to_thread(system.invoke, question, config, **kwargs)
    if callable(system):
        return await asyncio.to_thread(system, question, **kwargs)
    msg = f"A system must be a Runnable or a callable, got {type(system).__name__}."
    raise TypeError(msg)


async def _run_one(
    name: str,
    system: Any,
    example: Example,
    metric: Metric,
    *,
    kwargs: dict[str, Any],
    timeout_s: float | None,
) -> dict[str, Any]:
    config = {
        "run_name": f"eval:{name}",
        "tags": ["lumos-eval", f"system:{name}"],
        "metadata": {"eval_system": name, "eval_example_id": example.id, "eval_dataset": example.dataset},
    }
    start = time.perf_counter()
    result: Any = None
    error = None
    try:
        call = _call(system, example.question, config, kwargs)
        result = await (asyncio.wait_for(call, timeout_s) if timeout_s else call)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a failing run is recorded as wrong, never dropped
        error = f"{type(exc).__name__}: {exc}"
    latency = time.perf_counter() - start
    prediction = prediction_of(result) if error is None else None
    try:
        scores = await metric.ascore(prediction, example)
    except Exception as exc:  # a failing judge must not lose the run
        scores = {k: 0.0 for k in metric.keys}
        error = error or f"metric {type(exc).__name__}: {exc}"
    usage = result.get("usage") if isinstance(result, dict) else None
    calls, prompt, completion = usage_totals(usage)
    stop = result.get("stop_reason") if isinstance(result, dict) else None
    return {
        "system": name,
        "id": example.id,
        "dataset": example.dataset,
        "question": example.question,
        "gold": _jsonable(example.answer),
        "prediction": prediction,
        "correct": error is None and metric.correct(scores),
        "scores": scores,
        "model_calls": calls,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "latency_s": round(latency, 6),
        "stop_reason": "error" if error and stop is None else stop,
        "error": error,
    }


async def aevaluate(
    systems: Mapping[str, Any],
    dataset: str | Path | Sequence[Example],
    *,
    metric: str | Metric | None = None,
    concurrency: int = 4,
    output_dir: str | Path,
    limit: int | None = None,
    progress: bool = True,
    system_kwargs: Mapping[str, dict[str, Any]] | None = None,
    timeout_s: float | None = None,
    retry_errors: bool = False,
    plot: bool = True,
) -> EvalReport:
    """Async `evaluate`."""
    if not systems:
        msg = "systems is empty: pass {'name': agent, ...}."
        raise ValueError(msg)
    if concurrency < 1:
        msg = f"concurrency must be >= 1, got {concurrency}."
        raise ValueError(msg)
    examples = list(load_dataset(dataset, limit) if isinstance(dataset, (str, Path)) else dataset)
    if limit is not None:
        examples = examples[:limit]
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        msg = "Example ids must be unique within a dataset."
        raise ValueError(msg)
    scorer = get_metric(metric) if metric is not None else default_metric(examples)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS_FILE

    previous: dict[tuple[str, str], dict[str, Any]] = {}
    for record in read_records(results_path):
        previous[(record["system"], str(record["id"]))] = record  # the last line wins
    if retry_errors:
        previous = {k: r for k, r in previous.items() if not r.get("error")}
    todo = [(n, e) for n in systems for e in examples if (n, e.id) not in previous]

    semaphore = asyncio.Semaphore(concurrency)
    bar = _Progress(len(todo), progress, desc=f"eval {out.name}")
    fresh: dict[tuple[str, str], dict[str, Any]] = {}
    with results_path.open("a", encoding="utf-8") as log:

        async def work(name: str, example: Example) -> None:
            async with semaphore:
                record = await _run_one(
                    name,
                    systems[name],
                    example,
                    scorer,
                    kwargs=dict((system_kwargs or {}).get(name, {})),
                    timeout_s=timeout_s,
                )
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
            log.flush()
            fresh[(name, example.id)] = record
            bar.update()

        try:
            await asyncio.gather(*(work(n, e) for n, e in todo))
        finally:
            bar.close()

    merged = {**previous, **fresh}
    records = [merged[(n, e.id)] for n in systems for e in examples if (n, e.id) in merged]
    rows = summarize(records, scorer.keys)
    summary_md = out / "summary.md"
    title = f"{examples[0].dataset if examples else 'eval'} ({len(examples)} questions, metric {scorer.name})"
    summary_md.write_text(f"# {title}\n\n" + format_markdown(rows), encoding="utf-8")
    summary_csv = write_csv(rows, out / "summary.csv")
    plot_path = plot_summary(rows, out / "summary.png", scorer.keys, title=title) if plot else None
    return EvalReport(
        rows=rows,
        records=records,
        score_keys=tuple(scorer.keys),
        output_dir=out,
        results_path=results_path,
        summary_md=summary_md,
        summary_csv=summary_csv,
        plot_path=plot_path,
        new_records=len(fresh),
    )


def evaluate(
    systems: Mapping[str, Any],
    dataset: str | Path | Sequence[Example],
    *,
    metric: str | Metric | None = None,
    concurrency: int = 4,
    output_dir: str | Path,
    limit: int | None = None,
    progress: bool = True,
    system_kwargs: Mapping[str, dict[str, Any]] | None = None,
    timeout_s: float | None = None,
    retry_errors: bool = False,
    plot: bool = True,
) -> EvalReport:
    """Evaluate systems on a dataset and write `results.jsonl` and the summaries.

    Args:
        systems: `{name: agent}`; an agent is any Runnable (`LumosAgent`, `ReActAgent`,
            a chain) taking the question string, or a (async) callable. Its answer is
            `result["answer"]` for dict results, else the text of the result.
        dataset: A dataset name (`hotpotqa`, `gsm8k`, `svamp`, `strategyqa`, `fanoutqa`),
            a JSONL path, or `Example`s.
        metric: A `Metric` or name (`qa`, `qa_judge`, `yesno`, `numeric`, `numeric_tol`,
            `fanoutqa`); default: the original metric of the dataset.
        concurrency: Most runs in flight at once (over all systems).
        output_dir: Where `results.jsonl`, `summary.md`, `summary.csv`, `summary.png` go.
        limit: Evaluate the first `limit` examples.
        progress: Show a progress bar (tqdm when installed, else a counter on stderr).
        system_kwargs: Extra `ainvoke` keyword arguments per system, e.g.
            `{"lumos-iterative": {"context": LumosContext(max_subgoals=5)}}`.
        timeout_s: Wall-clock limit per run; a run over it is recorded as an error.
        retry_errors: On resume, run again the pairs whose record has an error.
        plot: Write `summary.png` (needs matplotlib, the `eval` extra).

    Returns:
        The `EvalReport` (summary rows, every record, file paths).

    Example:
        ```python
        report = evaluate(
            {"lumos-o": agent_o, "react": react},
            "hotpotqa",
            limit=20,
            output_dir="eval_runs/hotpotqa",
        )
        print(report.to_markdown())
        ```
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        msg = "evaluate() cannot run inside an event loop: use `await aevaluate(...)`."
        raise RuntimeError(msg)
    return asyncio.run(
        aevaluate(
            systems,
            dataset,
            metric=metric,
            concurrency=concurrency,
            output_dir=output_dir,
            limit=limit,
            progress=progress,
            system_kwargs=system_kwargs,
            timeout_s=timeout_s,
            retry_errors=retry_errors,
            plot=plot,
        )
    )
