r"""`lumos eval`: evaluate Lumos-I, Lumos-O and the ReAct baseline on a dataset.

Example:
    ```
    lumos eval --dataset hotpotqa --systems lumos-iterative,lumos-onetime,react \\
        --limit 20 --concurrency 4 --output eval_runs/hotpotqa --model smollm2
    ```
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLanguageModel, BaseLLM
from langchain_core.outputs import Generation, LLMResult
from langchain_core.tools import BaseTool, StructuredTool

from langchain_lumos.evaluation.datasets import DATASET_DOMAINS, load_dataset
from langchain_lumos.evaluation.harness import evaluate
from langchain_lumos.evaluation.metrics import get_metric
from langchain_lumos.evaluation.react import create_react_baseline

__all__ = [
    "SYSTEMS",
    "ScriptedLLM",
    "add_eval_parser",
    "build_systems",
    "load_model",
    "parse_model_spec",
    "run_eval_command",
]

SYSTEMS = ("lumos-iterative", "lumos-onetime", "react")
_SYSTEM_ALIASES = {
    "lumos-i": "lumos-iterative",
    "lumos-o": "lumos-onetime",
    "iterative": "lumos-iterative",
    "onetime": "lumos-onetime",
}


class ScriptedLLM(BaseLLM):
    """A deterministic fake for smoke tests: always the same fixed plan, whatever the task.

    `role` picks the script: `planner-iterative`, `planner-onetime`, `grounder`, `react`
    or `qa`; `domain` is `complex_qa` or `maths`. The answer is a fixed value, so scores
    are meaningless: it checks the plumbing only.
    """

    role: str
    domain: str = "complex_qa"

    @property
    def _llm_type(self) -> str:
        return "lumos-scripted"

    def _reply(self, prompt: str) -> str:
        last = prompt.rsplit("<|user|>", 1)[-1]
        maths = self.domain == "maths"
        if self.role == "planner-iterative":
            if "Should we stop planning?" in last:
                return "Yes, I will stop planning."
            return (
                "Subgoal 1: Calculate the result."
                if maths
                else "Subgoal 1: Find the facts about the question."
            )
        if self.role == "planner-onetime":
            return (
                "Subgoal 1: Calculate the result."
                if maths
                else "Subgoal 1: Find the facts; Subgoal 2: Answer the question."
            )
        if self.role == "grounder":
            if maths:
                return "R1 = Calculator(1 + 1)"
            return "R1 = KnowledgeQuery(the question); R2 = QA([R1], Question: What is the answer?)"
        if self.role == "react":
            if "Observation:" in prompt.split("Begin!")[-1]:
                return " I now know the final answer.\nFinal Answer: " + ("2" if maths else "unknown")
            if maths:
                return " I should calculate.\nAction: Calculator\nAction Input: 1 + 1"
            return " I should look it up.\nAction: KnowledgeQuery\nAction Input: the question"
        return "Answer: unknown"

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return LLMResult(generations=[[Generation(text=self._reply(p))] for p in prompts])


def parse_model_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Read `smollm2`, `scripted` or `openai:<base_url>:<model>`.

    Returns:
        `(kind, options)`; for `openai`, options has `base_url` and `model`.
    """
    if spec in ("smollm2", "scripted"):
        return spec, {}
    if spec.startswith("openai:"):
        rest = spec[len("openai:") :]
        match = re.match(r"^(https?://.+?/v\d+):(.+)$", rest)
        base_url, _, model = (match.group(1), ":", match.group(2)) if match else rest.rpartition(":")
        if not base_url or not model:
            msg = f"--model openai:<base_url>:<model>, e.g. openai:http://localhost:8000/v1:my-model; got {spec!r}"
            raise ValueError(msg)
        return "openai", {"base_url": base_url, "model": model}
    msg = f"Unknown --model {spec!r}: use smollm2, scripted or openai:<base_url>:<model>."
    raise ValueError(msg)


def load_model(spec: str) -> BaseLanguageModel:
    """The model of a non-scripted spec (used for the planner, grounder, QA and ReAct)."""
    kind, options = parse_model_spec(spec)
    if kind == "smollm2":
        try:
            from langchain_lumos.models.smollm2 import load_default_llm
        except ImportError as exc:
            msg = f"--model smollm2 needs langchain_lumos.models.smollm2 and its dependencies ({exc})."
            raise ImportError(msg) from exc
        # One Lumos line fits well within 96 tokens; the 512 cap only slows a small CPU model.
        return load_default_llm(max_new_tokens=96)
    if kind == "openai":
        from langchain_lumos.models.openai_compatible import LumosCompletionsLLM

        return LumosCompletionsLLM(base_url=options["base_url"], model=options["model"])
    msg = "scripted models are built per role by build_systems."
    raise ValueError(msg)


def _scripted_tools(domain: str) -> list[BaseTool]:
    if domain == "maths":
        from langchain_lumos.tools.maths import maths_tools

        return maths_tools()
    from langchain_lumos.tools.complex_qa import QATool

    def knowledge_query(query: str) -> list[str]:
        return [f"{query} *** There is nothing to know about {query}."]

    kq = StructuredTool.from_function(
        knowledge_query,
        name="KnowledgeQuery",
        description="Capture the relevant webpages according to the query.",
    )
    return [kq, QATool(llm=ScriptedLLM(role="qa"))]


def _domain_tools(domain: str, model: BaseLanguageModel) -> list[BaseTool]:
    try:
        if domain == "maths":
            from langchain_lumos.tools.maths import maths_tools

            return maths_tools()
        from langchain_lumos.tools.complex_qa import complex_qa_tools
    except ImportError as exc:
        msg = f"The {domain} tools are not available ({exc})."
        raise ImportError(msg) from exc
    return complex_qa_tools(llm=model)


def build_systems(names: list[str], *, domain: str, model_spec: str, max_steps: int = 8) -> dict[str, Any]:
    """Build the requested systems on one model and the domain's tools.

    Args:
        names: Among `lumos-iterative`, `lumos-onetime`, `react` (aliases `lumos-i`, `lumos-o`).
        domain: `complex_qa` or `maths`.
        model_spec: `smollm2`, `scripted` or `openai:<base_url>:<model>`.
        max_steps: Most model calls of the ReAct baseline per question.
    """
    from langchain_lumos.agent import create_lumos_agent
    from langchain_lumos.fewshot import with_fewshot
    from langchain_lumos.prompts import get_domain

    wanted = [_SYSTEM_ALIASES.get(n, n) for n in names]
    unknown = [n for n in wanted if n not in SYSTEMS]
    if unknown:
        msg = f"Unknown systems {unknown}: use {', '.join(SYSTEMS)}."
        raise ValueError(msg)
    scripted = parse_model_spec(model_spec)[0] == "scripted"
    model = None if scripted else load_model(model_spec)
    tools = _scripted_tools(domain) if scripted else _domain_tools(domain, model)  # type: ignore[arg-type]

    def pick(role: str) -> BaseLanguageModel:
        return ScriptedLLM(role=role, domain=domain) if scripted else model  # type: ignore[return-value]

    systems: dict[str, Any] = {}
    for name in wanted:
        if name == "react":
            systems[name] = create_react_baseline(pick("react"), tools, max_steps=max_steps)
        else:
            mode: Literal["iterative", "onetime"] = "iterative" if name == "lumos-iterative" else "onetime"
            # A general small model needs worked Lumos exemplars (the released checkpoints don't).
            profile = (
                with_fewshot(get_domain(domain))
                if model_spec == "smollm2" and mode == "iterative"
                else domain
            )
            systems[name] = create_lumos_agent(
                pick(f"planner-{mode}"), pick("grounder"), tools, mode=mode, domain=profile, name=name
            )
    return systems


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `eval` sub-command to a `lumos` CLI's subparsers."""
    parser = subparsers.add_parser(
        "eval",
        help="Evaluate Lumos-I, Lumos-O and a ReAct baseline on a dataset.",
        description="Run systems on a dataset; write results.jsonl, summary.md/.csv/.png.",
    )
    parser.add_argument(
        "--dataset", required=True, help="hotpotqa, gsm8k, svamp, strategyqa, fanoutqa or a JSONL path"
    )
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help="comma-separated: lumos-iterative,lumos-onetime,react"
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions")
    parser.add_argument("--concurrency", type=int, default=4, help="runs in flight at once")
    parser.add_argument("--output", default=None, help="output folder (default eval_runs/<dataset>)")
    parser.add_argument("--model", default="smollm2", help="smollm2 | openai:<base_url>:<model> | scripted")
    parser.add_argument("--domain", default=None, help="complex_qa or maths (default: by dataset)")
    parser.add_argument("--metric", default=None, help="qa, qa_judge, yesno, numeric, numeric_tol, fanoutqa")
    parser.add_argument("--judge", default=None, help="judge model for llm_acc (same syntax as --model)")
    parser.add_argument("--max-steps", type=int, default=8, help="ReAct: most model calls per question")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run (then counted wrong)")
    parser.add_argument("--retry-errors", action="store_true", help="on resume, rerun failed runs")
    parser.add_argument("--question-field", default="question", help="JSONL question field")
    parser.add_argument("--answer-field", default="answer", help="JSONL answer field")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plot", action="store_true", help="no summary.png")
    parser.set_defaults(func=run_eval_command)
    return parser


def run_eval_command(args: argparse.Namespace) -> int:
    """Run `lumos eval`; returns the process exit code."""
    try:
        is_file = Path(args.dataset).is_file()
        kwargs = {"question_field": args.question_field, "answer_field": args.answer_field} if is_file else {}
        examples = load_dataset(args.dataset, args.limit, **kwargs)
        name = examples[0].dataset if examples else Path(args.dataset).stem
        domain = args.domain or DATASET_DOMAINS.get(name, "complex_qa")
        systems = build_systems(
            [s.strip() for s in args.systems.split(",") if s.strip()],
            domain=domain,
            model_spec=args.model,
            max_steps=args.max_steps,
        )
        judge = load_model(args.judge) if args.judge else None
        metric = get_metric(args.metric or ("qa" if judge else _default_name(name)), judge=judge)
    except (ValueError, ImportError, FileNotFoundError) as exc:
        print(f"lumos eval: {exc}", file=sys.stderr)
        return 2
    output = args.output or str(Path("eval_runs") / name)
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


def _default_name(dataset: str) -> str:
    from langchain_lumos.evaluation.metrics import default_metric

    return default_metric(dataset).name
