"""Every cookbook script runs end to end on scripted fakes (`LUMOS_COOKBOOK_FAKE=1`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"
EXPECTED = {
    "langchain_app.py": ["LCEL: 1946 (after 3 actions)", "Tool: 1946"],
    "subgraph.py": ["A: 1946", "lumos final_answer"],
    "human_review.py": [
        "Plan:",
        "Actions:",
        "Subgoals: ['Find the director of Jaws and his birth year']",
        "Answer: 1946 (plan_complete)",
    ],
    "resume_after_crash.py": [
        "first run exited with 1",
        "next step on resume: ('execute_action',)",
        "answer: 1946 (planner_stop)",
        "all tool calls: ['KnowledgeQuery(Jaws)', 'QA(Who directed Jaws?)', "
        "'KnowledgeQuery(Steven Spielberg)', 'QA(When was Steven Spielberg born?)', "
        "'QA(When was Steven Spielberg born?)', 'QA(Which year was the director of Jaws born?)']",
    ],
    "tracing.py": [
        "No LANGSMITH_API_KEY",
        "subgoal 2 [iterative/complex_qa]",
        "    tool QA (action s2.g0.a2)",
        "answer: 1946",
    ],
    "serve_vllm.py": [
        "planner: ai2lumos/lumos_complex_qa_plan_iterative @ http://127.0.0.1:",
        "answer: 1946",
    ],
    "streaming.py": [
        "[plan]   Subgoal 1: Find the director of Jaws.",
        "[answer] 1946 (planner_stop)",
        "async [answer] 1946 (plan_complete)",
    ],
}


def test_every_script_is_tested_and_listed() -> None:
    scripts = {p.name for p in COOKBOOK.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED)
    readme = (COOKBOOK / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in scripts)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_cookbook_script(script: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGSMITH_")}
    env.update(
        {"LUMOS_COOKBOOK_FAKE": "1", "LUMOS_DATA_DIR": str(tmp_path), "NO_PROXY": "127.0.0.1,localhost"}
    )
    done = subprocess.run(
        [sys.executable, str(COOKBOOK / script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for line in EXPECTED[script]:
        assert line in done.stdout, f"{line!r} not in:\n{done.stdout}"
