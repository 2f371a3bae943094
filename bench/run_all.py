"""Run every benchmark and print one summary table.

python bench/run_all.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_calls
import bench_concurrency
import bench_overhead
import bench_parallel


def main() -> int:
    rows = []
    for name, module in [
        ("bench_overhead", bench_overhead),
        ("bench_parallel", bench_parallel),
        ("bench_concurrency", bench_concurrency),
        ("bench_calls", bench_calls),
    ]:
        print(f"\n== {name} ==")
        start = time.perf_counter()
        rows += module.main()
        print(f"({time.perf_counter() - start:.1f}s)")
    print("\n| benchmark | measured | goal | result |\n| --- | --- | --- | --- |")
    for r in rows:
        verdict = "info" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        print(f"| {r['bench']} | {r['value']} | {r['goal']} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
