"""The `lumos` command line: run the agent, evaluate it, train its modules.

Only the chosen sub-command's parser is built (and only its modules imported), so
`lumos --help` answers at once; models load only when a run starts.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import math
import os
import sys
import threading
from typing import Any, NoReturn

__all__ = ["main"]

_COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": (
        "langchain_lumos.cli",
        "add_run_parser",
        "run the agent on a task, printing subgoals, actions and observations live",
    ),
    "checkpoints": ("langchain_lumos.cli", "add_checkpoints_parser", "list the released Lumos checkpoints"),
    "eval": (
        "langchain_lumos.evaluation.cli",
        "add_eval_parser",
        "evaluate Lumos-I, Lumos-O and the baselines on a dataset",
    ),
    "train": (
        "langchain_lumos.training.cli",
        "add_train_parser",
        "fine-tune a planner or grounder on unified Lumos dialogues (offline)",
    ),
    "convert": (
        "langchain_lumos.training.cli",
        "add_convert_parser",
        "convert raw Lumos annotations into planner/grounder training dialogues",
    ),
    "annotate": (
        "langchain_lumos.training.annotate",
        "add_annotate_parser",
        "convert ground-truth reasoning into Lumos annotations (execution-checked)",
    ),
    "eval-mind2web": (
        "langchain_lumos.evaluation.mind2web",
        "add_mind2web_parser",
        "evaluate on a local Mind2Web split (element accuracy, operation F1, step success)",
    ),
    "eval-webshop": (
        "langchain_lumos.evaluation.webshop",
        "add_webshop_parser",
        "evaluate on a running WebShop server (average reward, success rate)",
    ),
}
"""Sub-command -> (module, parser adder, one-line help)."""


class _CliError(Exception):
    """A user-facing error: printed as one line, exit code `code`."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"must be a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        msg = f"must be a positive number of seconds, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"must be a JSON object, e.g. '{{\"top_k\": 1}}' ({exc.msg})"
        raise argparse.ArgumentTypeError(msg) from None
    if not isinstance(value, dict):
        msg = f"must be a JSON object, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


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
    elif kind == "plan_ruled":
        print("\n[plan]    (the small profile's nested-question rule, no model call)", end="")
    elif kind == "plan_unreadable":
        print(f"\n[plan]    unreadable planner output: {event['output']!r}")
    sys.stdout.flush()


def _checkpointer(thread_id: str, resume: bool) -> Any:
    import sqlite3

    from langchain_lumos.errors import CheckpointStoreError
    from langchain_lumos.persistence import DATA_DIR_ENV, default_checkpoint_path, sqlite_checkpointer

    path = default_checkpoint_path()
    try:
        saver = sqlite_checkpointer(path)
    except (OSError, sqlite3.Error) as exc:
        msg = (
            f"cannot open the checkpoint database {path} ({exc}); set {DATA_DIR_ENV} to a writable directory"
        )
        raise _CliError(msg, code=1) from exc
    except CheckpointStoreError as exc:
        raise _CliError(str(exc), code=1) from exc
    if resume and saver.get_tuple({"configurable": {"thread_id": thread_id}}) is None:
        msg = f"no saved run for --thread-id {thread_id!r} in {path}: nothing to resume"
        raise _CliError(msg)
    return saver


def _build(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The agent of a `lumos run` and the initial state fields beyond the task."""
    from langchain_lumos import create_lumos_agent
    from langchain_lumos.domains import get_domain
    from langchain_lumos.presets import preset_tools, resolve_models

    domain = get_domain(args.domain)
    options: dict[str, Any] = {"max_new_tokens": args.max_new_tokens}
    if args.served_model:
        options["served_model"] = args.served_model
    if args.extra_body is not None:
        options["extra_body"] = args.extra_body
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.server is not None:
        options["server"] = args.server
    models = resolve_models(args.model, domain=domain, mode=args.mode, qa_model=args.qa_model, **options)
    tools, variables = preset_tools(models)
    checkpointer = _checkpointer(args.thread_id, args.resume) if args.thread_id else None
    agent = create_lumos_agent(
        models.planner,
        models.grounder,
        tools,
        mode=args.mode,
        domain=models.domain,
        checkpointer=checkpointer,
    )
    return agent, ({"variables": variables} if variables else {})


def _run(args: argparse.Namespace) -> int:
    from langchain_lumos import LumosContext

    if not args.resume and not args.task:
        msg = "give a task, or --resume with --thread-id"
        raise _CliError(msg)
    agent, extra = _build(args)
    config = {"configurable": {"thread_id": args.thread_id}} if args.thread_id else {}
    context = LumosContext(max_subgoals=args.max_subgoals, time_limit_s=args.time_limit)
    state: dict[str, Any] = {}
    inputs = None if args.resume else {"task": args.task, **extra}
    print(f"Task: {args.task or '(resumed thread ' + str(args.thread_id) + ')'}")
    for mode, chunk in agent.graph.stream(inputs, config, context=context, stream_mode=["custom", "values"]):
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
    answer = state.get("answer")
    print(f"\nAnswer: {answer if answer is not None else '(none: no subgoal found one)'}")
    print(f"Stopped: {state.get('stop_reason')} | model calls: {calls} | model tokens: {tokens}")
    if args.json:
        keep = ("task", "answer", "stop_reason", "subgoals", "actions", "observations", "usage")
        print(json.dumps({k: state.get(k) for k in keep}, indent=2, default=str))
    return 0


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `run` sub-command."""
    from langchain_lumos.domains import list_datasets, list_domains
    from langchain_lumos.presets import MODEL_SPEC_HELP, QA_MODEL_HELP

    names = list(dict.fromkeys([*list_domains(with_tools=True), *list_datasets()]))
    run = subparsers.add_parser("run", help=_COMMANDS["run"][2], description=_COMMANDS["run"][2])
    run.add_argument("task", nargs="?", help="the question or instruction")
    run.add_argument("--mode", choices=["iterative", "onetime"], default="iterative")
    run.add_argument(
        "--domain",
        choices=names,
        default="complex_qa",
        metavar="DOMAIN",
        help=f"a domain or dataset profile: {', '.join(names)} (web_agent and webshop run on "
        "their offline demo environments)",
    )
    run.add_argument(
        "--model", default="smollm2", metavar="SPEC", help=f"planner/grounder model: {MODEL_SPEC_HELP}"
    )
    run.add_argument("--qa-model", default=None, metavar="SPEC", help=QA_MODEL_HELP)
    run.add_argument(
        "--served-model",
        default=None,
        metavar="NAME[,NAME]",
        help="completions servers: the served model name(s), planner[,grounder] (default: the checkpoint ids)",
    )
    run.add_argument(
        "--extra-body",
        type=_json_object,
        default=None,
        metavar="JSON",
        help="completions servers: extra JSON fields for every request, e.g. '{\"top_k\": 1}'",
    )
    run.add_argument(
        "--server",
        choices=["auto", "vllm", "llama.cpp", "transformers", "openai"],
        default=None,
        help="completions servers: the request dialect (default: auto, detected from GET /v1/models)",
    )
    run.add_argument("--timeout", type=_positive_float, default=None, help="seconds per model server request")
    run.add_argument(
        "--max-new-tokens",
        type=_positive_int,
        default=None,
        help="decoding cap per module call (default: 192 for smollm2, the backend's own otherwise)",
    )
    run.add_argument(
        "--max-subgoals", type=_positive_int, default=None, help="most subgoals (default: the domain's)"
    )
    run.add_argument("--time-limit", type=_positive_float, default=None, help="wall-clock budget in seconds")
    run.add_argument(
        "--thread-id",
        default=None,
        help="persist the run (SQLite, in $LUMOS_DATA_DIR or the user data directory) under this id",
    )
    run.add_argument("--resume", action="store_true", help="resume --thread-id after a crash or interrupt")
    run.add_argument("--json", action="store_true", help="also print the final state as JSON")
    run.set_defaults(func=_run)
    return run


def _checkpoints(_: argparse.Namespace) -> int:
    from langchain_lumos.models.registry import list_checkpoints

    for ckpt in list_checkpoints():
        note = " (possibly empty)" if ckpt.possibly_empty else ""
        print(f"{ckpt.repo_id:48} {ckpt.module:6} {ckpt.formulation:9} {ckpt.size}{note}")
    return 0


def add_checkpoints_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `checkpoints` sub-command."""
    parser = subparsers.add_parser("checkpoints", help=_COMMANDS["checkpoints"][2])
    parser.set_defaults(func=_checkpoints)
    return parser


def _command(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def _error_line(exc: BaseException) -> tuple[str, int]:
    """A one-line message and exit code for an error of a run."""
    if isinstance(exc, _CliError):
        return str(exc), exc.code
    from langchain_lumos.errors import CheckpointNotFoundError, LumosError

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, (CheckpointNotFoundError, ValueError, ImportError)):
        return first, 2
    if isinstance(exc, LumosError):
        return first, 1
    name = type(exc).__name__
    if "HTTPStatusError" in name or "ConnectError" in name or "Timeout" in name:
        return f"the model server failed: {first}", 1
    return f"{name}: {first} (set LUMOS_DEBUG=1 for the traceback)", 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lumos` command."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="lumos", description="Lumos modular language agents.")
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = _command(args_list)
    for name, (module, adder, help_text) in _COMMANDS.items():
        if name == chosen:
            getattr(importlib.import_module(module), adder)(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    args = parser.parse_args(args_list)
    if getattr(args, "resume", False) and getattr(args, "thread_id", None) is None:
        parser.error("--resume needs --thread-id")
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        print(f"lumos {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("LUMOS_DEBUG") == "1":
            raise
        message, code = _error_line(exc)
        print(f"lumos {args.command}: {message}", file=sys.stderr)
        return code
    return result


def console() -> NoReturn:
    """The `lumos` console script: `main()`, then a quick exit.

    With torch and a model loaded, tearing the interpreter down takes about a second on 2
    CPU cores (modules and tensors are freed one by one), after the answer is printed.
    So once the command is done, this waits for non-daemon threads, runs the `atexit`
    handlers (LangSmith's trace flush among them), flushes the standard streams and
    leaves with `os._exit`, as interpreter shutdown would in that order, without the
    teardown. Without torch imported it exits normally.
    """
    code = main()
    if "torch" not in sys.modules:
        raise SystemExit(code)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
