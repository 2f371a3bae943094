"""The `lumos` command line: run the agent, evaluate it, train its modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["main"]

_MODEL_HELP = (
    "smollm2 (default: the offline SmolLM2-135M-Instruct with few-shot exemplars), "
    "released (the ai2lumos checkpoints with transformers; needs their weights cached), "
    "or vllm:PLANNER_URL,GROUNDER_URL (OpenAI-compatible servers serving the released checkpoints)"
)


def _print(event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "subgoal_planned":
        print(f"\n[plan]    Subgoal {event['index']}: {event['subgoal']}")
    elif kind in ("actions_grounded", "regrounded"):
        label = "reground" if kind == "regrounded" else "ground"
        print(f"[{label}]  {event['output']}")
    elif kind == "action_finished":
        text = " ".join(str(event["observation"]).split())
        print(f"[execute] {event['action']}\n          -> {event['status']}: {text[:300]}")
    elif kind == "planning_stopped":
        print(f"\n[plan]    {event['output']}")
    elif kind == "plan_unreadable":
        print(f"\n[plan]    unreadable planner output: {event['output']!r}")
    sys.stdout.flush()


def _build(args: argparse.Namespace) -> Any:
    from langchain_lumos import create_lumos_agent
    from langchain_lumos.fewshot import with_fewshot
    from langchain_lumos.prompts import get_domain
    from langchain_lumos.tools import get_tools

    domain = get_domain(args.domain)
    planner: Any
    grounder: Any
    if args.model == "smollm2":
        from langchain_lumos.models.smollm2 import load_default_llm

        planner = grounder = load_default_llm(max_new_tokens=args.max_new_tokens)
        if args.mode == "iterative":
            domain = with_fewshot(domain)
        qa_llm: Any = planner
    elif args.model == "released":
        from langchain_lumos.models.registry import load_lumos_models

        planner, grounder = load_lumos_models(args.domain, args.mode, args.size, device=args.device)
        qa_llm = grounder
    elif args.model.startswith("vllm:"):
        from langchain_lumos.models.openai_compatible import LumosCompletionsLLM
        from langchain_lumos.models.registry import resolve_checkpoints

        urls = args.model[len("vllm:") :].split(",")
        plan_id, ground_id = resolve_checkpoints(args.domain, args.mode, args.size)
        planner = LumosCompletionsLLM(base_url=urls[0], model=plan_id)
        grounder = LumosCompletionsLLM(base_url=urls[-1], model=ground_id)
        qa_llm = grounder
    else:
        msg = f"Unknown --model {args.model!r}: expected {_MODEL_HELP}."
        raise SystemExit(msg)
    tools = get_tools(args.domain, llm=qa_llm) if args.domain == "complex_qa" else get_tools(args.domain)
    checkpointer = None
    if args.thread_id:
        from langchain_lumos.persistence import sqlite_checkpointer

        checkpointer = sqlite_checkpointer()
    return create_lumos_agent(
        planner, grounder, tools, mode=args.mode, domain=domain, checkpointer=checkpointer
    )


def _run(args: argparse.Namespace) -> int:
    from langchain_lumos import LumosContext

    agent = _build(args)
    config = {"configurable": {"thread_id": args.thread_id}} if args.thread_id else {}
    context = LumosContext(max_subgoals=args.max_subgoals, time_limit_s=args.time_limit)
    state: dict[str, Any] = {}
    task: Any = None if args.resume else args.task
    if not args.resume and not args.task:
        print("lumos run: give a task, or --resume with --thread-id", file=sys.stderr)
        return 2
    print(f"Task: {args.task or '(resumed thread ' + str(args.thread_id) + ')'}")
    for mode, chunk in agent.graph.stream(
        task if task is None else {"task": task}, config, context=context, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            _print(chunk)
        else:
            state = chunk
    usage = state.get("usage", {})
    calls = sum(usage.get(m, {}).get("calls", 0) for m in ("planner", "grounder"))
    tokens = sum(
        usage.get(m, {}).get(k, 0)
        for m in ("planner", "grounder")
        for k in ("prompt_tokens", "completion_tokens")
    )
    print(f"\nAnswer: {state.get('answer')}")
    print(f"Stopped: {state.get('stop_reason')} | model calls: {calls} | model tokens: {tokens}")
    if args.json:
        keep = ("task", "answer", "stop_reason", "subgoals", "actions", "observations", "usage")
        print(json.dumps({k: state.get(k) for k in keep}, indent=2, default=str))
    return 0


def _checkpoints(_: argparse.Namespace) -> int:
    from langchain_lumos.models.registry import list_checkpoints

    for ckpt in list_checkpoints():
        print(ckpt)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lumos` command."""
    parser = argparse.ArgumentParser(prog="lumos", description="Lumos modular language agents.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run the agent on a task, printing subgoals, actions and observations live"
    )
    run.add_argument("task", nargs="?", help="the question or instruction")
    run.add_argument("--mode", choices=["iterative", "onetime"], default="iterative")
    run.add_argument("--domain", choices=["complex_qa", "maths"], default="complex_qa")
    run.add_argument("--model", default="smollm2", help=_MODEL_HELP)
    run.add_argument("--size", choices=["7B", "13B"], default="7B")
    run.add_argument("--device", default="cpu")
    run.add_argument("--max-new-tokens", type=int, default=96, help="decoding cap per module call (SmolLM2)")
    run.add_argument("--max-subgoals", type=int, default=None)
    run.add_argument("--time-limit", type=float, default=None, help="wall-clock budget in seconds")
    run.add_argument("--thread-id", default=None, help="persist the run (SQLite) under this thread id")
    run.add_argument("--resume", action="store_true", help="resume --thread-id after a crash or interrupt")
    run.add_argument("--json", action="store_true", help="also print the final state as JSON")
    run.set_defaults(func=_run)
    ckpt = sub.add_parser("checkpoints", help="list the released Lumos checkpoints")
    ckpt.set_defaults(func=_checkpoints)
    for module, adder in (
        ("langchain_lumos.evaluation.cli", "add_eval_parser"),
        ("langchain_lumos.training.cli", "add_parsers"),
    ):
        try:
            getattr(__import__(module, fromlist=[adder]), adder)(sub)
        except ImportError:  # pragma: no cover - optional parts
            continue
    args = parser.parse_args(argv)
    if getattr(args, "thread_id", None) is None and getattr(args, "resume", False):
        parser.error("--resume needs --thread-id")
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
