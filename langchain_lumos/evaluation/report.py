"""Summaries of evaluation records: a Markdown table, a CSV file, a bar plot, runs compared."""

from __future__ import annotations

import csv
import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "EvalReport",
    "compare_runs",
    "format_markdown",
    "plot_comparison",
    "plot_summary",
    "run_labels",
    "summarize",
    "write_csv",
]

_COST_COLUMNS = (
    "mean_model_calls",
    "mean_prompt_tokens",
    "mean_completion_tokens",
    "mean_tokens",
    "mean_latency_s",
)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize(records: Sequence[dict[str, Any]], score_keys: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per system: accuracy, mean scores, mean cost per question, n, n_failed.

    Every record counts (a failed or unfinished example is wrong, with its scores at 0).

    Args:
        records: Result records (as written to `results.jsonl`).
        score_keys: The metric's score names to average (e.g. `em`, `f1`).
    """
    systems: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        systems.setdefault(record["system"], []).append(record)
    rows = []
    for system, recs in systems.items():
        row: dict[str, Any] = {"system": system, "n": len(recs)}
        row["accuracy"] = _mean([float(bool(r.get("correct"))) for r in recs])
        for key in score_keys:
            row[key] = _mean([float((r.get("scores") or {}).get(key, 0.0)) for r in recs])
        row["mean_model_calls"] = _mean([r.get("model_calls") or 0 for r in recs])
        row["mean_prompt_tokens"] = _mean([r.get("prompt_tokens") or 0 for r in recs])
        row["mean_completion_tokens"] = _mean([r.get("completion_tokens") or 0 for r in recs])
        row["mean_tokens"] = row["mean_prompt_tokens"] + row["mean_completion_tokens"]
        row["mean_latency_s"] = _mean([r.get("latency_s") or 0.0 for r in recs])
        row["n_failed"] = sum(1 for r in recs if r.get("error") or r.get("prediction") is None)
        rows.append(row)
    return rows


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for key in row:
            if key not in cols:
                cols.append(key)
    return cols


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def format_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The summary rows as a Markdown table."""
    if not rows:
        return "_no results_\n"
    cols = _columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    lines += ["| " + " | ".join(_fmt(row.get(c, "")) for c in cols) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the summary rows as CSV."""
    out = Path(path)
    cols = _columns(rows)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    return out


def plot_summary(
    rows: Sequence[dict[str, Any]], path: str | Path, score_keys: Sequence[str] = (), title: str = ""
) -> Path | None:
    """Bar plots comparing systems: scores, model calls, tokens and latency per question.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change). Returns
    None (with a warning) when matplotlib is not installed (`pip install langchain-lumos[eval]`).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn("matplotlib is not installed: no plot written.", stacklevel=2)
        return None
    if not rows:
        return None
    panels = [("accuracy", "accuracy"), *[(k, k) for k in score_keys if k != "accuracy"]]
    panels += [
        ("mean_model_calls", "model calls / question"),
        ("mean_tokens", "tokens / question"),
        ("mean_latency_s", "latency (s) / question"),
    ]
    names = [str(r["system"]) for r in rows]
    fig = Figure(figsize=(3.2 * len(panels), 3.4))
    FigureCanvasAgg(fig)
    colors = [f"C{i % 10}" for i in range(len(rows))]
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        values = [float(r.get(key, 0.0)) for r in rows]
        ax.bar(range(len(rows)), values, color=colors)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(label, fontsize=9)
        if key not in _COST_COLUMNS:
            ax.set_ylim(0, 1)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    return out


def plot_comparison(
    rows: Sequence[dict[str, Any]], labels: Sequence[str], path: str | Path, column: str = "accuracy"
) -> Path | None:
    """Grouped bars of one summary column: a group per system, a bar per run.

    Args:
        rows: Rows with `system` and `"<label> <column>"` keys (as `compare_runs` gives).
        labels: The run labels, in order.
        path: Where the PNG goes.
        column: The summary column to plot.

    Returns:
        The path, or None (with a warning) when matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn("matplotlib is not installed: no plot written.", stacklevel=2)
        return None
    if not rows or not labels:
        return None
    fig = Figure(figsize=(max(4.0, 1.2 * len(rows) * len(labels) / 2 + 2), 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(labels)
    for j, label in enumerate(labels):
        values = [float(r.get(f"{label} {column}") or 0.0) for r in rows]
        ax.bar(
            [i + j * width for i in range(len(rows))], values, width=width, label=label, color=f"C{j % 10}"
        )
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rows))])
    ax.set_xticklabels([str(r["system"]) for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_title(column, fontsize=9)
    if column not in _COST_COLUMNS:
        ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    return out


@dataclasses.dataclass
class EvalReport:
    """What `evaluate` returns.

    Attributes:
        rows: The summary, one row per system.
        records: Every result record (resumed ones included).
        score_keys: The metric's score names.
        output_dir: Where the files are.
        results_path: The JSONL of records.
        summary_md: `summary.md`.
        summary_csv: `summary.csv`.
        plot_path: `summary.png` (None when matplotlib is missing).
        new_records: How many records this run produced (0 on a fully resumed run).
    """

    rows: list[dict[str, Any]]
    records: list[dict[str, Any]]
    score_keys: tuple[str, ...]
    output_dir: Path
    results_path: Path
    summary_md: Path
    summary_csv: Path
    plot_path: Path | None
    new_records: int = 0

    def to_markdown(self) -> str:
        """The summary table as Markdown."""
        return format_markdown(self.rows)

    def row(self, system: str) -> dict[str, Any]:
        """The summary row of one system."""
        for row in self.rows:
            if row["system"] == system:
                return row
        msg = f"No results for system {system!r}."
        raise KeyError(msg)


def run_labels(dirs: Sequence[str | Path]) -> list[str]:
    """The labels `compare_runs` gives its runs: folder names, primed when repeated."""
    labels: list[str] = []
    for d in dirs:
        label = Path(d).resolve().name
        while label in labels:
            label += "'"
        labels.append(label)
    return labels


def compare_runs(dirs: Sequence[str | Path], *, columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Put several `lumos eval` runs side by side: one row per system, columns per run.

    Each run's `results.jsonl` is summarised again (so runs with different metrics line
    up on `accuracy`); a run is labelled by its folder name.

    Args:
        dirs: Output folders of `lumos eval`.
        columns: Summary columns shown per run (default accuracy, model calls, tokens and
            latency per question).

    Raises:
        FileNotFoundError: A folder without `results.jsonl`.
    """
    from langchain_lumos.evaluation.harness import read_records  # the harness writes the records

    shown = list(columns) or ["accuracy", "mean_model_calls", "mean_tokens", "mean_latency_s"]
    table: dict[str, dict[str, Any]] = {}
    for d, label in zip(dirs, run_labels(dirs), strict=True):
        path = Path(d) / "results.jsonl"
        if not path.is_file():
            msg = f"{d} holds no results.jsonl (not a lumos eval output folder)."
            raise FileNotFoundError(msg)
        for row in summarize(read_records(path)):
            out = table.setdefault(row["system"], {"system": row["system"]})
            for col in shown:
                out[f"{label} {col}"] = row.get(col, "")
    return [{"system": s, **{k: v for k, v in r.items() if k != "system"}} for s, r in table.items()]
