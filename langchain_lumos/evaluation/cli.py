r"""`lumos eval`: evaluate Lumos-I, Lumos-O, integrated Lumos and the ReAct, CoT and direct baselines.

Models come from one model spec (`langchain_lumos.presets`, the grammar `lumos run` uses);
a dataset is evaluated with its own profile (`langchain_lumos.domains`: SVAMP's loop of 2
subgoals, StrategyQA's yes/no suffixes, ...). Each run writes `results.jsonl` and one
results table for every system (`summary.md`, `summary.csv`: accuracy, model calls,
tokens, latency) with a plot (`summary.png`); `--compare` puts several runs side by side.

Example:
    ```
    lumos eval --dataset hotpotqa --systems lumos-iterative,lumos-onetime,react,cot,direct \\
        --limit 20 --concurrency 4 --output eval_runs/hotpotqa --model smollm2
    lumos eval --compare eval_runs/hotpotqa eval_runs/gsm8k
    ```
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseLanguageModel
from langchain_core.tools import BaseTool

from langchain_lumos.domains import Domain, get_domain
from langchain_lumos.evaluation.baselines import create_prompt_baseline
from langchain_lumos.evaluation.datasets import load_dataset
from langchain_lumos.evaluation.harness import evaluate
from langchain_lumos.evaluation.metrics import default_metric, get_metric
from langchain_lumos.evaluation.react import create_react_baseline
from langchain_lumos.evaluation.report import (
    compare_runs,
    format_markdown,
    plot_comparison,
    run_labels,
    write_csv,
)
from langchain_lumos.integrated import create_integrated_agent, integrated_line
from langchain_lumos.presets import (
    MODEL_SPEC_HELP,
    QA_MODEL_HELP,
    ResolvedModels,
    parse_model_spec,
    preset_tools,
    resolve_models,
)
from langchain_lumos.prompts import STOP_PLANNING

__all__ = [
    "SYSTEMS",
    "add_eval_parser",
    "build_systems",
    "eval_domain",
    "run_eval_command",
]

SYSTEMS = ("lumos-iterative", "lumos-onetime", "lumos-integrated", "react", "cot", "direct")
"""Every system `lumos eval` can run."""
DEFAULT_SYSTEMS = ("lumos-iterative", "lumos-onetime", "react")
_SYSTEM_ALIASES = {
    "lumos-i": "lumos-iterative",
    "lumos-o": "lumos-onetime",
    "iterative": "lumos-iterative",
    "onetime": "lumos-onetime",
    "integrated": "lumos-integrated",
}


def eval_domain(dataset: str, domain: str | Domain | None = None) -> Domain:
    """The domain a dataset is evaluated with: its dataset profile (loop cap, answer rules).

    Args:
        dataset: A dataset id (`svamp`, `hotpotqa`, ...) or a user file's stem.
        domain: A domain to use instead; a plain domain name is specialised by the
            dataset's profile when the dataset belongs to it.
    """
    if domain is None:
        try:
            return get_domain(dataset)
        except ValueError:  # a data set without a profile (FanOutQA, a user's JSONL)
            return get_domain("complex_qa")
    chosen = get_domain(domain)
    if chosen.dataset is None and dataset in [d.name for d in chosen.datasets]:
        return chosen.for_dataset(dataset)
    return chosen


def _tools(models: ResolvedModels) -> list[BaseTool]:
    """The domain's toolkit wired to the resolved models, as `lumos run` builds it."""
    try:
        return preset_tools(models)[0]
    except ImportError as exc:
        msg = f"The {models.domain.name} tools are not available ({exc})."
        raise ImportError(msg) from exc


def build_systems(
    names: Sequence[str],
    *,
    domain: str | Domain,
    model_spec: str,
    qa_model: str | None = None,
    max_steps: int = 8,
    dataset: str | None = None,
) -> dict[str, Any]:
    """Build the requested systems on one model spec and the domain's tools.

    Args:
        names: Among `SYSTEMS` (aliases `lumos-i`, `lumos-o`).
        domain: A domain or dataset name, or a `Domain` (e.g. from `eval_domain`).
        model_spec: A model spec (`langchain_lumos.presets`): the Lumos modules, and the
            one model of the ReAct, CoT and direct baselines and of `lumos-integrated`
            (the iterative planner's model; for integrated Lumos, serve a model fine-tuned
            on `lumos convert --module integrated` dialogues).
        qa_model: A spec for the QA tool's model (default: see `presets`).
        max_steps: Most model calls of the ReAct baseline per question.
        dataset: The dataset id (picks the CoT/direct answer extraction).
    """
    from langchain_lumos.agent import create_lumos_agent

    wanted = [_SYSTEM_ALIASES.get(n, n) for n in names]
    unknown = [n for n in wanted if n not in SYSTEMS]
    if unknown:
        msg = f"Unknown systems {unknown}: use {', '.join(SYSTEMS)}."
        raise ValueError(msg)
    if not wanted:
        msg = f"No systems given: use {', '.join(SYSTEMS)}."
        raise ValueError(msg)
    base = get_domain(domain)
    scripted = parse_model_spec(model_spec).kind == "scripted"
    resolved = {
        mode: resolve_models(model_spec, domain=base, mode=mode, qa_model=qa_model)
        for mode in ("iterative", "onetime")
        if f"lumos-{mode}" in wanted or (mode == "iterative" and "lumos-integrated" in wanted)
    }
    first = next(iter(resolved.values()), None) or resolve_models(
        model_spec, domain=base, mode="iterative", qa_model=qa_model
    )
    if parse_model_spec(model_spec).kind == "smollm2" and len(resolved) == 2:
        # One embedded model for both modes (each resolve builds its own instance).
        resolved["onetime"] = dataclasses.replace(
            resolved["onetime"], planner=first.planner, grounder=first.grounder, qa_llm=first.qa_llm
        )
    tools = _tools(first)
    baseline: BaseLanguageModel = first.planner
    if scripted:
        from langchain_lumos.testing import scripted_baseline

        baseline = scripted_baseline(base, path=parse_model_spec(model_spec).path)
    systems: dict[str, Any] = {}
    for name in wanted:
        if name == "react":
            systems[name] = create_react_baseline(baseline, tools, max_steps=max_steps)
        elif name == "lumos-integrated":
            models = resolved["iterative"]
            one = (
                _scripted_integrated(base, parse_model_spec(model_spec).path) if scripted else models.planner
            )
            systems[name] = create_integrated_agent(one, tools, domain=models.domain, name=name)
        elif name in ("cot", "direct"):
            kind: Literal["cot", "direct"] = "cot" if name == "cot" else "direct"
            systems[name] = create_prompt_baseline(
                baseline, kind, dataset=dataset or getattr(base.dataset, "name", None), domain=base.name
            )
        else:
            mode: Literal["iterative", "onetime"] = "iterative" if name == "lumos-iterative" else "onetime"
            models = resolved[mode]
            systems[name] = create_lumos_agent(
                models.planner, models.grounder, tools, mode=mode, domain=models.domain, name=name
            )
    return systems


def _scripted_integrated(domain: Domain, path: str | None) -> BaseLanguageModel:
    """The scripted integrated model: scripted first subgoal and actions, then a stop."""
    from langchain_lumos.testing import ScriptedLLM, scripted_models

    scripted_pair = scripted_models(domain, "iterative", path=path)

    def first(responses: Any) -> str:
        item = (
            responses.get("", next(iter(responses.values()))) if isinstance(responses, dict) else responses[0]
        )
        return item if isinstance(item, str) else str(item.content)

    line = integrated_line(first(scripted_pair.planner.responses), first(scripted_pair.grounder.responses))
    return ScriptedLLM(responses={"": line, "Should we stop planning?": STOP_PLANNING}, role="integrated")


def _check_output(output: str) -> None:
    out = Path(output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".lumos-write-check"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        msg = f"--output {output!r} is not a writable folder ({exc.strerror or exc})."
        raise ValueError(msg) from exc


def _check_numbers(args: argparse.Namespace) -> None:
    if args.concurrency < 1:
        msg = f"--concurrency must be at least 1, got {args.concurrency}."
        raise ValueError(msg)
    if args.limit is not None and args.limit < 1:
        msg = f"--limit must be at least 1, got {args.limit}."
        raise ValueError(msg)
    if args.max_steps < 1:
        msg = f"--max-steps must be at least 1, got {args.max_steps}."
        raise ValueError(msg)
    if args.timeout is not None and not args.timeout > 0:
        msg = f"--timeout must be a positive number of seconds, got {args.timeout}."
        raise ValueError(msg)


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `eval` sub-command to a `lumos` CLI's subparsers."""
    parser = subparsers.add_parser(
        "eval",
        help="Evaluate Lumos-I, Lumos-O and the ReAct, CoT and direct baselines on a dataset.",
        description=(
            "Run systems on a dataset; write results.jsonl and one results table for every "
            "system (summary.md/.csv) with a plot (summary.png). With --compare, put the "
            "results of several runs side by side instead."
        ),
    )
    parser.add_argument("--dataset", help="hotpotqa, gsm8k, svamp, strategyqa, fanoutqa or a JSONL path")
    parser.add_argument(
        "--systems",
        default=",".join(DEFAULT_SYSTEMS),
        help=f"comma-separated, among {','.join(SYSTEMS)} (default {','.join(DEFAULT_SYSTEMS)})",
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions")
    parser.add_argument("--concurrency", type=int, default=4, help="runs in flight at once (>= 1)")
    parser.add_argument("--output", default=None, help="output folder (default eval_runs/<dataset>)")
    parser.add_argument("--model", default="smollm2", help=MODEL_SPEC_HELP)
    parser.add_argument("--qa-model", default=None, help=QA_MODEL_HELP)
    parser.add_argument(
        "--domain", default=None, help="domain to evaluate with (default: the dataset's own profile)"
    )
    parser.add_argument("--metric", default=None, help="qa, qa_judge, yesno, numeric, numeric_tol, fanoutqa")
    parser.add_argument("--judge", default=None, help="judge model for llm_acc (a chat model spec)")
    parser.add_argument("--max-steps", type=int, default=8, help="ReAct: most model calls per question")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run (then counted wrong)")
    parser.add_argument("--retry-errors", action="store_true", help="on resume, rerun failed runs")
    parser.add_argument("--question-field", default="question", help="JSONL question field")
    parser.add_argument("--answer-field", default="answer", help="JSONL answer field")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plot", action="store_true", help="no summary.png")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="DIR",
        default=None,
        help="put the results of these lumos eval output folders side by side (runs nothing)",
    )
    parser.set_defaults(func=run_eval_command)
    return parser


def _judge(spec: str) -> BaseLanguageModel:
    from langchain_lumos.presets import resolve_qa_model

    return resolve_qa_model(spec)


def _run_compare(args: argparse.Namespace) -> int:
    try:
        rows = compare_runs(args.compare)
    except FileNotFoundError as exc:
        print(f"lumos eval: {exc}", file=sys.stderr)
        return 2
    table = format_markdown(rows)
    print(table)
    if args.output:
        try:
            _check_output(args.output)
        except ValueError as exc:
            print(f"lumos eval: {exc}", file=sys.stderr)
            return 2
        out = Path(args.output)
        (out / "compare.md").write_text("# lumos eval --compare\n\n" + table, encoding="utf-8")
        write_csv(rows, out / "compare.csv")
        print(f"compare: {out / 'compare.md'}, {out / 'compare.csv'}")
        if not args.no_plot:
            plot = plot_comparison(rows, run_labels(args.compare), out / "compare.png")
            if plot:
                print(f"plot: {plot}")
    return 0


def run_eval_command(args: argparse.Namespace) -> int:
    """Run `lumos eval`; returns the process exit code (2 for a usage error)."""
    if args.compare:
        return _run_compare(args)
    try:
        if not args.dataset:
            msg = "--dataset is required (or --compare DIR ...)."
            raise ValueError(msg)
        _check_numbers(args)
        is_file = Path(args.dataset).is_file()
        kwargs = {"question_field": args.question_field, "answer_field": args.answer_field} if is_file else {}
        examples = load_dataset(args.dataset, args.limit, **kwargs)
        name = examples[0].dataset if examples else Path(args.dataset).stem
        domain = eval_domain(name, args.domain)
        systems = build_systems(
            [s.strip() for s in args.systems.split(",") if s.strip()],
            domain=domain,
            model_spec=args.model,
            qa_model=args.qa_model,
            max_steps=args.max_steps,
            dataset=name,
        )
        judge = _judge(args.judge) if args.judge else None
        metric = get_metric(args.metric or ("qa" if judge else default_metric(name).name), judge=judge)
        output = args.output or str(Path("eval_runs") / name)
        _check_output(output)
    except (ValueError, ImportError, FileNotFoundError) as exc:
        print(f"lumos eval: {exc}", file=sys.stderr)
        return 2
    report = evaluate(
        systems,
        examples,
        metric=metric,
        concurrency=args.concurrency,
        output_dir=output,
        progress=not args.no_progress,
        timeout_s=args.timeout,
        retry_errors=args.retry_errors,
        plot=not args.no_plot,
    )
    print(report.to_markdown())
    print(f"results: {report.results_path}\nsummary: {report.summary_md}, {report.summary_csv}")
    if report.plot_path:
        print(f"plot: {report.plot_path}")
    return 0
