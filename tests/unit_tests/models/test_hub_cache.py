"""The Hub-id path, offline: released checkpoint ids resolve from a local Hugging Face cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from langchain_lumos import create_lumos_agent
from langchain_lumos.models.registry import load_lumos_models, resolve_checkpoints
from tests.tiny_llama import build_tiny_llama


def _put_in_hub_cache(source: Path, cache: Path, repo_id: str) -> None:
    """Lay out `source` exactly as `huggingface_hub` caches a downloaded repo."""
    revision = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(source, repo / "snapshots" / revision)


def test_released_ids_load_from_the_cache_and_run_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tiny = build_tiny_llama(tmp_path / "tiny")
    cache = tmp_path / "hub"
    planner_id, grounder_id = resolve_checkpoints("complex_qa", "iterative")
    for repo_id in (planner_id, grounder_id):
        _put_in_hub_cache(tiny, cache, repo_id)

    planner, grounder = load_lumos_models("complex_qa", "iterative", cache_dir=str(cache), max_new_tokens=8)
    assert (planner.model_id, grounder.model_id) == (
        "ai2lumos/lumos_complex_qa_plan_iterative",
        "ai2lumos/lumos_complex_qa_ground_iterative",
    )
    agent = create_lumos_agent(planner, grounder, [], mode="iterative")
    result = agent.invoke("Who wrote Hamlet?")
    # A random model writes nothing usable; the run still ends cleanly, both models loaded once.
    assert result["stop_reason"] in {"no_plan", "planner_stop", "budget:max_subgoals"}
    assert planner.load_count == 1 and grounder.load_count <= 1
