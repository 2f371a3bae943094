"""The one model-spec grammar (`parse_model_spec`) and resolver (`resolve_models`)."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_lumos.presets import (
    SMALL_MAX_NEW_TOKENS,
    ModelSpec,
    parse_model_spec,
    resolve_models,
    resolve_qa_model,
)
from langchain_lumos.testing import ScriptedLLM


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("smollm2", ModelSpec(kind="smollm2", text="smollm2")),
        ("released", ModelSpec(kind="released", text="released")),
        ("released:13b", ModelSpec(kind="released", text="released:13b", size="13B")),
        ("released:7B@cuda:1", ModelSpec(kind="released", text="released:7B@cuda:1", device="cuda:1")),
        ("released@auto", ModelSpec(kind="released", text="released@auto", device="auto")),
        (
            "completions:http://h:8001/v1",
            ModelSpec(
                kind="completions",
                text="completions:http://h:8001/v1",
                urls=("http://h:8001/v1",),
                names=(None,),
            ),
        ),
        (
            "vllm:http://a:1/v1#p,https://b/v1",
            ModelSpec(
                kind="completions",
                text="vllm:http://a:1/v1#p,https://b/v1",
                urls=("http://a:1/v1", "https://b/v1"),
                names=("p", None),
            ),
        ),
        (
            "openai:http://h:8000/v1#qwen",
            ModelSpec(
                kind="openai", text="openai:http://h:8000/v1#qwen", urls=("http://h:8000/v1",), model="qwen"
            ),
        ),
        (
            "openai:https://api.openai.com/v1",
            ModelSpec(
                kind="openai",
                text="openai:https://api.openai.com/v1",
                urls=("https://api.openai.com/v1",),
                model="gpt-3.5-turbo",
            ),
        ),
        (
            "openai:gpt-4o-mini",
            ModelSpec(kind="provider", text="openai:gpt-4o-mini", model="openai:gpt-4o-mini"),
        ),
        ("ollama:llama3:8b", ModelSpec(kind="provider", text="ollama:llama3:8b", model="ollama:llama3:8b")),
        ("scripted", ModelSpec(kind="scripted", text="scripted")),
        ("scripted:/tmp/s.json", ModelSpec(kind="scripted", text="scripted:/tmp/s.json", path="/tmp/s.json")),
    ],
)
def test_grammar(spec: str, expected: ModelSpec) -> None:
    assert parse_model_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "empty"),
        ("smol", "unknown model name"),
        ("released:8b", "unknown size"),
        ("released@gpu", "unknown device"),
        ("released:13b@", "needs a device"),
        ("vllm:", "one URL or two"),
        ("completions:localhost:8000", "not an http(s) URL"),
        ("completions:http://a/v1,http://b/v1,http://c/v1", "one URL or two"),
        ("completions:http://a/v1#", "served model name"),
        ("openai:http://h/v1#", "needs a model name"),
        (":gpt", "PROVIDER:MODEL"),
        ("scripted:", "script path"),
    ],
)
def test_malformed_specs_say_why_and_show_the_grammar(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match="Bad model spec") as info:
        parse_model_spec(spec)
    assert why in str(info.value)
    assert "completions:URL" in str(info.value)


def test_profiles() -> None:
    assert parse_model_spec("smollm2").profile == "small"
    assert parse_model_spec("openai:gpt-4o-mini").profile == "small"
    assert parse_model_spec("released").profile == "eval"
    assert parse_model_spec("vllm:http://h/v1").profile == "eval"


def test_completions_servers_get_the_checkpoint_ids_and_request_options() -> None:
    models = resolve_models(
        "completions:http://a:1/v1,http://b:2/v1",
        domain="hotpotqa",
        mode="iterative",
        extra_body={"top_k": 1},
        max_new_tokens=64,
    )
    assert (models.planner.model, models.grounder.model) == (  # type: ignore[attr-defined]
        "ai2lumos/lumos_complex_qa_plan_iterative",
        "ai2lumos/lumos_complex_qa_ground_iterative",
    )
    assert models.grounder.base_url == "http://b:2/v1"  # type: ignore[attr-defined]
    assert models.planner.extra_body == {"top_k": 1}  # type: ignore[attr-defined]
    assert models.planner.max_tokens == 64  # type: ignore[attr-defined]
    assert models.qa_llm is models.grounder
    assert models.profile == "eval"
    assert models.domain.max_subgoals == 5 and models.domain.dataset is not None
    assert not models.domain.plan_exemplars and not models.domain.loose_stop


def test_served_names_from_the_spec_or_the_option() -> None:
    one = resolve_models("vllm:http://a/v1#lumos", domain="maths", mode="onetime")
    assert one.planner.model == one.grounder.model == "lumos"  # type: ignore[attr-defined]
    two = resolve_models(
        "vllm:http://a/v1,http://b/v1", domain="maths", mode="onetime", served_model="plan,ground"
    )
    assert (two.planner.model, two.grounder.model) == ("plan", "ground")  # type: ignore[attr-defined]


def test_webshop_resolves_the_unified_checkpoints_with_its_exemplars() -> None:
    models = resolve_models("vllm:http://a/v1", domain="webshop", mode="iterative")
    assert models.planner.model == "ai2lumos/lumos_unified_plan_iterative"  # type: ignore[attr-defined]
    assert len(models.domain.plan_exemplars) == 2


def test_smollm2_is_the_small_profile_with_its_token_cap_and_exemplars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def fake_loader(**kwargs: Any) -> ScriptedLLM:
        seen.update(kwargs)
        return ScriptedLLM(responses=["x"])

    monkeypatch.setattr("langchain_lumos.models.smollm2.load_default_llm", fake_loader)
    models = resolve_models("smollm2", domain="complex_qa", mode="iterative")
    assert seen == {"max_new_tokens": SMALL_MAX_NEW_TOKENS} and SMALL_MAX_NEW_TOKENS == 192
    assert models.profile == "small" and models.planner is models.grounder is models.qa_llm
    assert models.domain.plan_exemplars and models.domain.ground_exemplars and models.domain.loose_stop
    onetime = resolve_models("smollm2", domain="maths", mode="onetime", max_new_tokens=48)
    assert seen == {"max_new_tokens": 48}
    assert onetime.domain.loose_stop
    # one-time exemplars: every subgoal in one planner turn, every action in one grounder turn
    plan_answer = next(t["content"] for t in onetime.domain.plan_exemplars[0] if t["role"] == "assistant")
    assert plan_answer.startswith("Subgoal 1: ") and "; Subgoal 2: " in plan_answer


def test_released_passes_size_and_device(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_load(domain: str, mode: str, size: str, **kwargs: Any) -> tuple[ScriptedLLM, ScriptedLLM]:
        seen.append((domain, mode, size, kwargs))
        return ScriptedLLM(responses=["p"]), ScriptedLLM(responses=["g"])

    monkeypatch.setattr("langchain_lumos.models.registry.load_lumos_models", fake_load)
    models = resolve_models("released:13b@cuda", domain="complex_qa", mode="iterative")
    assert seen == [("complex_qa", "iterative", "13B", {"device": "cuda"})]
    assert models.qa_llm is models.grounder and models.profile == "eval"


def test_released_without_weights_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from langchain_lumos.errors import CheckpointNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CheckpointNotFoundError, match="huggingface-cli download"):
        resolve_models("released", domain="maths", mode="iterative")


def test_openai_chat_server_and_qa_model_settings() -> None:
    models = resolve_models(
        "openai:http://127.0.0.1:9/v1#qwen",
        domain="complex_qa",
        mode="iterative",
        qa_model="openai:http://127.0.0.1:9/v1",
    )
    assert type(models.planner).__name__ == "ChatOpenAI"
    assert models.planner.model_name == "qwen"  # type: ignore[attr-defined]
    assert models.planner.temperature == 0.0  # type: ignore[attr-defined]
    qa = models.qa_llm
    assert (qa.model_name, qa.temperature, qa.max_tokens) == ("gpt-3.5-turbo", 0.0, 100)  # type: ignore[attr-defined]
    assert models.profile == "small" and models.domain.plan_exemplars


def test_scripted_models() -> None:
    models = resolve_models("scripted", domain="maths", mode="onetime")
    assert isinstance(models.planner, ScriptedLLM) and models.profile == "eval"
    assert models.grounder.invoke("<|user|>\nx\n<|assistant|>\n") == "R1 = Calculator(1 + 1)"


def test_qa_model_must_name_one_model() -> None:
    with pytest.raises(ValueError, match="must name one model"):
        resolve_qa_model("released")
    with pytest.raises(ValueError, match="Bad model spec"):
        resolve_qa_model("gpt")


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_max_new_tokens(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_new_tokens"):
        resolve_models("scripted", domain="maths", mode="iterative", max_new_tokens=bad)


def test_unknown_options_and_modes() -> None:
    with pytest.raises(TypeError, match="unknown options"):
        resolve_models("scripted", domain="maths", mode="iterative", temperatur=0)
    with pytest.raises(ValueError, match="mode"):
        resolve_models("scripted", domain="maths", mode="sometimes")
    with pytest.raises(ValueError, match="Unknown Lumos domain"):
        resolve_models("scripted", domain="chess", mode="iterative")


def test_provider_strings_go_through_init_chat_model(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain.chat_models")
    pytest.importorskip("langchain_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    models = resolve_models("openai:gpt-4o-mini", domain="maths", mode="iterative", qa_model="openai:gpt-4o")
    assert type(models.planner).__name__ == "ChatOpenAI"
    assert (models.planner.model_name, models.planner.temperature) == ("gpt-4o-mini", 0.0)  # type: ignore[attr-defined]
    assert (models.qa_llm.model_name, models.qa_llm.max_tokens) == ("gpt-4o", 100)  # type: ignore[attr-defined]
    assert models.profile == "small" and models.domain.loose_stop
