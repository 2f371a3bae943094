"""`bench/run_all.py --write-readme` writes its summary table into the READMEs' marked sections."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def run_all() -> Any:
    saved = list(sys.path)
    sys.path.insert(0, str(BENCH))  # run_all imports its sibling scripts
    try:
        spec = importlib.util.spec_from_file_location("run_all", BENCH / "run_all.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path[:] = saved


ROWS = [
    {"bench": "peers: one-time time / create_agent", "value": "0.97", "goal": "<= 1.0", "pass": True},
    {"bench": "calls react", "value": "4.0 calls", "goal": "report", "pass": None},
    {"bench": "abatch", "value": "0.80 of ideal", "goal": ">= 0.9", "pass": False},
]


def test_summary_has_a_row_and_a_verdict_per_figure(run_all: Any) -> None:
    table = run_all.summary(ROWS).splitlines()
    assert table[:2] == ["| benchmark | measured | goal | result |", "| --- | --- | --- | --- |"]
    assert table[2:] == [
        "| peers: one-time time / create_agent | 0.97 | <= 1.0 | PASS |",
        "| calls react | 4.0 calls | report | info |",
        "| abatch | 0.80 of ideal | >= 0.9 | FAIL |",
    ]


def test_the_block_names_its_command_machine_load_and_versions(run_all: Any) -> None:
    text = run_all.block("TABLE", "python bench/run_all.py --no-models --write-readme", (0.5, 0.75))
    assert text.startswith("Printed by `python bench/run_all.py --no-models --write-readme` on ")
    assert "load average 0.50 at the start and 0.75 at the end" in text
    assert "langgraph 1." in text and "langchain-core 1." in text
    assert text.endswith("\n\nTABLE")


def test_write_block_replaces_only_the_marked_section(run_all: Any, tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(f"# Title\n\nbefore\n\n{run_all.BEGIN}\nold table\n{run_all.END}\n\nafter\n")
    run_all.write_block(doc, "new table")
    expected = f"# Title\n\nbefore\n\n{run_all.BEGIN}\nnew table\n{run_all.END}\n\nafter\n"
    assert doc.read_text() == expected
    run_all.write_block(doc, "new table")  # again: the same file
    assert doc.read_text() == expected


def test_write_block_refuses_a_file_without_the_markers(run_all: Any, tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text("# No markers\n")
    with pytest.raises(ValueError, match="no <!-- run_all:begin -->"):
        run_all.write_block(doc, "table")
    assert doc.read_text() == "# No markers\n"


@pytest.mark.parametrize("readme", ["README.md", "bench/README.md"])
def test_each_readme_has_one_marked_section(run_all: Any, readme: str) -> None:
    text = (BENCH.parent / readme).read_text()
    assert text.count(run_all.BEGIN) == 1 and text.count(run_all.END) == 1
    assert text.index(run_all.BEGIN) < text.index(run_all.END)
    assert (BENCH.parent / readme) in run_all.READMES
