"""Command-line entry points: `lumos train ...` and `lumos convert ...`.

The `lumos` CLI adds these subcommands with `add_train_parser(subparsers)` and
`add_convert_parser(subparsers)` (or both with `add_parsers`), then calls
`run_train_command(args)` / `run_convert_command(args)` (each parser also sets
`args.func`). `python -m langchain_lumos.training.cli train|convert ...` works on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from langchain_lumos.domains import list_domains
from langchain_lumos.training.annotations import (
    AnnotationError,
    read_raw_annotations,
    write_annotations,
)

__all__ = [
    "add_convert_parser",
    "add_parsers",
    "add_train_parser",
    "main",
    "run_convert_command",
    "run_train_command",
]


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `train` subcommand to an `argparse` subparsers object."""
    p = subparsers.add_parser(
        "train",
        help="fine-tune a planner or grounder on unified Lumos dialogues (offline)",
        description="Fine-tune a causal LM on unified Lumos JSONL dialogues "
        "(open-instruct tokenization, Lumos hyper-parameters) and save it with save_pretrained.",
    )
    p.add_argument("--model", required=True, help="base checkpoint directory (or cached hub id)")
    p.add_argument("--data", required=True, action="extend", nargs="+", help="unified JSONL file(s)")
    p.add_argument("--output", required=True, help="directory for the fine-tuned checkpoint")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter and merge it")
    p.add_argument("--lora-rank", type=int, default=64)
    p.add_argument("--lora-alpha", type=int, default=16)
    p.add_argument("--lora-dropout", type=float, default=0.1)
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--warmup-ratio", type=float, default=0.03)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--scheduler", default="linear", help="transformers scheduler name")
    p.add_argument("--batch-size", type=int, default=2, help="per-device batch size")
    p.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dataset", action="append", default=None, help="keep only records of this dataset id")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--bf16", dest="bf16", action="store_true", default=None)
    precision.add_argument("--no-bf16", dest="bf16", action="store_false")
    p.add_argument("--slow-tokenizer", action="store_true")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=run_train_command)
    return p


def add_convert_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `convert` subcommand to an `argparse` subparsers object."""
    p = subparsers.add_parser(
        "convert",
        help="convert raw Lumos annotations into planner/grounder (or integrated) training dialogues",
        description="Convert raw annotations (task, subgoal_plan) into unified JSONL dialogues "
        "exactly as the original data/process_for_train.py did.",
    )
    p.add_argument("--input", required=True, help="raw annotations (JSON Lines or a JSON array)")
    p.add_argument("--domain", required=True, choices=list_domains(), help="a registered Lumos domain")
    p.add_argument("--formulation", default="iterative", choices=["iterative", "onetime"])
    p.add_argument(
        "--module",
        required=True,
        choices=["plan", "ground", "integrated"],
        help="plan / ground: the modular Lumos dialogues; integrated: one model writes each subgoal "
        "with its actions (the paper's integrated-training baseline)",
    )
    p.add_argument("--output", required=True, help="unified JSONL file to write")
    p.add_argument("--dataset", default=None, help="the records' dataset field (default: domain)")
    p.set_defaults(func=run_convert_command)
    return p


def add_parsers(subparsers: Any) -> None:
    """Add both `train` and `convert`."""
    add_train_parser(subparsers)
    add_convert_parser(subparsers)


def run_train_command(args: argparse.Namespace) -> int:
    """Run `lumos train`; returns the exit status."""
    from langchain_lumos.training.finetune import finetune

    try:
        result = finetune(
            args.model,
            args.data,
            args.output,
            lr=args.lr,
            epochs=args.epochs,
            max_length=args.max_length,
            warmup_ratio=args.warmup_ratio,
            weight_decay=args.weight_decay,
            lr_scheduler=args.scheduler,
            per_device_batch_size=args.batch_size,
            gradient_accumulation_steps=args.grad_accum,
            lora=args.lora,
            lora_rank=args.lora_rank,
            lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout,
            bf16=args.bf16,
            max_steps=args.max_steps,
            seed=args.seed,
            datasets=args.dataset,
            use_slow_tokenizer=args.slow_tokenizer,
            gradient_checkpointing=args.gradient_checkpointing,
            progress=args.progress,
        )
    except (AnnotationError, ValueError, OSError) as exc:
        print(f"lumos train: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"trained {result.steps} steps on {result.num_examples} examples "
        f"({result.num_dropped} dropped) in {result.seconds:.1f}s; "
        f"loss {result.first_loss} -> {result.last_loss}; saved to {result.output_dir}"
    )
    return 0


def run_convert_command(args: argparse.Namespace) -> int:
    """Run `lumos convert`; returns the exit status."""
    from langchain_lumos.training.convert import convert_annotations

    try:
        raws = read_raw_annotations(args.input)
        result = convert_annotations(
            raws,
            domain=args.domain,
            formulation=args.formulation,
            module=args.module,
            dataset=args.dataset,
        )
        written = write_annotations(result.records, args.output)
    except (AnnotationError, ValueError, OSError) as exc:
        print(f"lumos convert: error: {exc}", file=sys.stderr)
        return 2
    for index, reason in result.skipped:
        print(f"skipped record {index}: {reason}", file=sys.stderr)
    print(f"wrote {written} records to {args.output} ({len(result.skipped)} skipped)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m langchain_lumos.training.cli train|convert ...`."""
    parser = argparse.ArgumentParser(prog="lumos")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
