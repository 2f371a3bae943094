"""Run every benchmark and print one summary table.

    python bench/run_all.py [--quick] [--no-models] [--write-readme]

The in-process benchmarks (fake models and tools) return rows for the summary table; the
model benchmarks (`bench_batching.py`, `bench_prefix_cache.py --agent`, `bench_embedded.py`)
load real weights (the tiny random Llama, SmolLM2) and run as their own processes, their
output printed as it comes. `--no-models` skips those; `--quick` shortens every run.
`--write-readme` puts the summary table (with the machine, its load and the versions) in
`README.md` and `bench/README.md`, between their `<!-- run_all:begin -->` and
`<!-- run_all:end -->` lines: the framework figures there are this command's output.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
READMES = (HERE.parent / "README.md", HERE / "README.md")
BEGIN, END = "<!-- run_all:begin -->", "<!-- run_all:end -->"

import bench_calls  # noqa: E402  (after the sys.path line above)
import bench_concurrency  # noqa: E402
import bench_overhead  # noqa: E402
import bench_parallel  # noqa: E402
import bench_peers  # noqa: E402


def _model_benchmarks(quick: bool) -> list[list[str]]:
    return [
        ["bench_batching.py", "--smollm2", "--repeats", "1" if quick else "2"],
        ["bench_prefix_cache.py", "--agent", "--threads", "1"],
        ["bench_qa_step.py", *(["--limit", "8"] if quick else [])],
        ["bench_embedded.py", "--limit", "4" if quick else "30"],
    ]


def summary(rows: Sequence[dict[str, object]]) -> str:
    """The summary table: one row per figure, with its goal and verdict."""
    lines = ["| benchmark | measured | goal | result |", "| --- | --- | --- | --- |"]
    for r in rows:
        verdict = "info" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        lines.append(f"| {r['bench']} | {r['value']} | {r['goal']} | {verdict} |")
    return "\n".join(lines)


def block(table: str, command: str, load: tuple[float, float]) -> str:
    """The generated README section: how, where and when the table was measured, then the table."""
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    return (
        f"Printed by `{command}` on {stamp}: {os.cpu_count()} CPU cores, 1-minute load average "
        f"{load[0]:.2f} at the start and {load[1]:.2f} at the end; Python {platform.python_version()}, "
        f"langgraph {version('langgraph')}, langchain-core {version('langchain-core')}, "
        f"langchain {version('langchain')} (the `create_agent` peer).\n\n{table}"
    )


def write_block(path: Path, text: str) -> None:
    """Replace what lies between the file's `BEGIN` and `END` lines with `text`."""
    doc = path.read_text()
    head, begin, rest = doc.partition(BEGIN + "\n")
    _, end, tail = rest.partition(END)
    if not begin or not end:
        msg = f"{path} has no {BEGIN} ... {END} section to write the table into."
        raise ValueError(msg)
    path.write_text(f"{head}{begin}{text}\n{end}{tail}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs everywhere")
    parser.add_argument("--no-models", action="store_true", help="skip the benchmarks that load real models")
    parser.add_argument(
        "--write-readme",
        action="store_true",
        help="write the summary table into README.md and bench/README.md",
    )
    args = parser.parse_args(argv)
    runs = 50 if args.quick else 200
    load_start = os.getloadavg()[0]
    print(f"load average at start: {load_start:.2f} (1 min), {os.cpu_count()} CPUs")
    rows: list[dict[str, object]] = []
    for name, call in [
        ("bench_overhead", lambda: bench_overhead.main(runs)),
        ("bench_parallel", bench_parallel.main),
        ("bench_concurrency", lambda: bench_concurrency.main(100, 0.05, (4, 8, 20))),
        ("bench_concurrency --latency 0.25", lambda: bench_concurrency.main(100, 0.25, (4, 8, 20))),
        ("bench_calls", bench_calls.main),
        ("bench_peers", lambda: bench_peers.main(runs // 2, 0.05, 100)),
    ]:
        print(f"\n== {name} ==", flush=True)
        start = time.perf_counter()
        rows += call()
        print(f"({time.perf_counter() - start:.1f}s)", flush=True)
    if not args.no_models:
        for command in _model_benchmarks(args.quick):
            print(f"\n== {' '.join(command)} ==", flush=True)
            start = time.perf_counter()
            done = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=False)
            print(f"(exit {done.returncode}, {time.perf_counter() - start:.1f}s)", flush=True)
    load_end = os.getloadavg()[0]
    print(f"\nload average at end: {load_end:.2f} (1 min)")
    table = summary(rows)
    print("\n" + table)
    if args.write_readme:
        flags = [f for f, on in (("--quick", args.quick), ("--no-models", args.no_models)) if on]
        command = " ".join(["python bench/run_all.py", *flags, "--write-readme"])
        for path in READMES:
            write_block(path, block(table, command, (load_start, load_end)))
            print(f"wrote the table into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
