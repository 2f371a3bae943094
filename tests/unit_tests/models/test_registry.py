"""Tests for the Lumos checkpoint registry and load_lumos_models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from langchain_lumos.domains import LumosCheckpoint
from langchain_lumos.errors import CheckpointNotFoundError
from langchain_lumos.models.openai_compatible import LumosCompletionsLLM
from langchain_lumos.models.registry import (
    find_checkpoint,
    list_checkpoints,
    load_lumos_models,
    resolve_checkpoints,
)
from langchain_lumos.models.transformers import LumosTransformersLLM

try:
    from tests.tiny_llama import build_tiny_llama
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tiny_llama import build_tiny_llama


EXPECTED_REPOS = {
    # 7B
    "lumos_complex_qa_plan_iterative",
    "lumos_complex_qa_ground_iterative",
    "lumos_complex_qa_plan_onetime",
    "lumos_complex_qa_ground_onetime",
    "lumos_maths_plan_iterative",
    "lumos_maths_ground_iterative",
    "lumos_maths_plan_onetime",
    "lumos_maths_ground_onetime",
    "lumos_web_agent_plan_iterative",
    "lumos_web_agent_ground_iterative",
    "lumos_multimodal_plan_iterative",
    "lumos_multimodal_ground_iterative",
    "lumos_unified_plan_iterative",
    "lumos_unified_ground_iterative",
    # 13B
    "lumos_complex_qa_plan_iterative-13B",
    "lumos_complex_qa_ground_iterative-13B",
    "lumos_maths_plan_onetime-13B",
    "lumos_maths_ground_onetime-13B",
    "lumos_maths_plan_iterative-13B",
    "lumos_web_agent_plan_iterative-13B",
    "lumos_web_agent_ground_iterative-13B",
    "lumos_multimodal_plan_iterative-13B",
    "lumos_multimodal_ground_iterative-13B",
    "lumos_unified_plan_iterative-13B",
    "lumos_unified_ground_iterative-13B",
}


def test_catalogue_matches_the_release() -> None:
    CHECKPOINTS = list_checkpoints()
    assert {c.repo_id for c in CHECKPOINTS} == {f"ai2lumos/{r}" for r in EXPECTED_REPOS}
    assert len(CHECKPOINTS) == len(EXPECTED_REPOS)
    empty = [c.repo_id for c in CHECKPOINTS if c.possibly_empty]
    assert empty == ["ai2lumos/lumos_maths_plan_iterative-13B"]
    onetime = {(c.domain, c.size) for c in CHECKPOINTS if c.formulation == "onetime"}
    assert onetime == {("complex_qa", "7B"), ("maths", "7B"), ("maths", "13B")}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("complex_qa",), ("complex_qa", "iterative", "")),
        (("complex_qa", "onetime"), ("complex_qa", "onetime", "")),
        (("maths", "onetime", "13B"), ("maths", "onetime", "-13B")),
        (("web_agent", "iterative", "13b"), ("web_agent", "iterative", "-13B")),
        (("unified", "Lumos-I", "7b"), ("unified", "iterative", "")),
        (("multimodal",), ("multimodal", "iterative", "")),
        (("complex-qa", "o"), ("complex_qa", "onetime", "")),
        # WebShop (domain and dataset) runs the unified checkpoints, as the original.
        (("webshop",), ("unified", "iterative", "")),
        # A dataset name resolves through its domain.
        (("svamp", "onetime"), ("maths", "onetime", "")),
        (("mind2web",), ("web_agent", "iterative", "")),
    ],
)
def test_resolve(args: tuple[str, ...], expected: tuple[str, str, str]) -> None:
    domain, mode, suffix = expected
    assert resolve_checkpoints(*args) == (
        f"ai2lumos/lumos_{domain}_plan_{mode}{suffix}",
        f"ai2lumos/lumos_{domain}_ground_{mode}{suffix}",
    )


def test_missing_pair_lists_what_exists() -> None:
    with pytest.raises(CheckpointNotFoundError) as info:
        resolve_checkpoints("web_agent", "onetime")
    msg = str(info.value)
    assert "web_agent" in msg
    assert "mode='iterative', size='7B'" in msg
    assert "mode='iterative', size='13B'" in msg
    assert "onetime" not in msg.split("Released pairs")[1]


def test_maths_iterative_13b_is_planner_only() -> None:
    with pytest.raises(CheckpointNotFoundError, match=r"Only a planner.*may be empty|README"):
        resolve_checkpoints("maths", "iterative", "13B")
    entry = find_checkpoint("maths", "plan", "iterative", "13B")
    assert isinstance(entry, LumosCheckpoint)
    assert entry.possibly_empty
    assert find_checkpoint("maths", "ground", "iterative", "13B") is None


@pytest.mark.parametrize("args", [("biology",), ("maths", "twice"), ("maths", "iterative", "70B")])
def test_bad_names(args: tuple[str, ...]) -> None:
    with pytest.raises(CheckpointNotFoundError, match="expected one of"):
        resolve_checkpoints(*args)


def test_checkpoints_are_known_by_their_domain_only() -> None:
    from langchain_lumos.domains import get_domain

    assert list_checkpoints("complex_qa") == list(get_domain("complex_qa").checkpoints)
    assert list_checkpoints("hotpotqa") == list(get_domain("complex_qa").checkpoints)
    assert {c.domain for c in list_checkpoints("webshop")} == {"unified"}


def test_list_checkpoints_filters() -> None:
    assert len(list_checkpoints("maths")) == 7
    assert {c.size for c in list_checkpoints(size="13b")} == {"13B"}
    assert all(c.formulation == "onetime" for c in list_checkpoints(mode="onetime"))


def test_openai_backend_builds_two_clients() -> None:
    planner, grounder = load_lumos_models(
        "maths", "onetime", backend="openai", base_url="http://localhost:8000/v1"
    )
    assert isinstance(planner, LumosCompletionsLLM)
    assert isinstance(grounder, LumosCompletionsLLM)
    assert planner.model == "ai2lumos/lumos_maths_plan_onetime"
    assert grounder.model == "ai2lumos/lumos_maths_ground_onetime"
    planner, grounder = load_lumos_models(
        "complex_qa",
        backend="openai",
        planner_base_url="http://localhost:8001/v1",
        grounder_base_url="http://localhost:8002/v1",
        timeout=5,
    )
    assert (planner.base_url, grounder.base_url) == (
        "http://localhost:8001/v1",
        "http://localhost:8002/v1",
    )
    assert planner.timeout == 5
    with pytest.raises(ValueError, match="base_url"):
        load_lumos_models("complex_qa", backend="openai")
    with pytest.raises(ValueError, match="backend"):
        load_lumos_models("complex_qa", backend="tgi")  # type: ignore[arg-type]


def test_transformers_backend_offline_not_cached(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError, match=r"lumos_unified_plan_iterative.*cache"):
        load_lumos_models("unified", cache_dir=str(tmp_path))


def test_transformers_backend_builds_two_lazy_models(tmp_path: Path, monkeypatch) -> None:
    planner, grounder = load_lumos_models(
        "web_agent", "iterative", "13B", device="cpu", local_files_only=False
    )
    assert isinstance(planner, LumosTransformersLLM)
    assert planner.model_id == "ai2lumos/lumos_web_agent_plan_iterative-13B"
    assert grounder.model_id == "ai2lumos/lumos_web_agent_ground_iterative-13B"
    assert planner.load_count == grounder.load_count == 0  # nothing loaded yet


def test_model_root_with_local_checkpoints(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        load_lumos_models("complex_qa", model_root=tmp_path)
    build_tiny_llama(tmp_path / "lumos_complex_qa_plan_onetime")
    build_tiny_llama(tmp_path / "lumos_complex_qa_ground_onetime", seed=1)
    planner, grounder = load_lumos_models(
        "complex_qa", "onetime", model_root=tmp_path, preload=True, max_new_tokens=3
    )
    assert planner.load_count == grounder.load_count == 1  # both resident
    for _ in range(3):
        planner.invoke("<|user|>\nTask: x\n<|assistant|>\n")
        grounder.invoke("<|user|>\nSubgoal 1: x\n<|assistant|>\n")
    assert planner.load_count == grounder.load_count == 1
