"""Run every benchmark and print one summary table.

    python bench/run_all.py [--quick] [--no-models]

The in-process benchmarks (fake models and tools) return rows for the summary table; the
model benchmarks (`bench_batching.py`, `bench_prefix_cache.py --agent`, `bench_embedded.py`)
load real weights (the tiny random Llama, SmolLM2) and run as their own processes, their
output printed as it comes. `--no-models` skips those; `--quick` shortens every run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs everywhere")
    parser.add_argument("--no-models", action="store_true", help="skip the benchmarks that load real models")
    args = parser.parse_args()
    runs = 50 if args.quick else 200
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
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
    print(f"\nload average at end: {os.getloadavg()[0]:.2f} (1 min)")
    print("\n| benchmark | measured | goal | result |\n| --- | --- | --- | --- |")
    for r in rows:
        verdict = "info" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        print(f"| {r['bench']} | {r['value']} | {r['goal']} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
