"""Tests for LumosTransformersLLM on a tiny random Llama (offline, CPU, fast)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from langchain_core.callbacks import BaseCallbackHandler
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList

from langchain_lumos.errors import CheckpointNotFoundError
from langchain_lumos.grammar import grounding_grammar, planning_grammar
from langchain_lumos.models.transformers import (
    LumosTransformersLLM,
    NewlineStoppingCriteria,
    load_tokenizer,
)
from langchain_lumos.parsing import parse_actions, parse_plan

try:
    from tests.tiny_llama import TRAINING_TEXT, build_tiny_llama
except ImportError:  # tests/ is not a package: import the helper from its directory
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tiny_llama import TRAINING_TEXT, build_tiny_llama

PLAN_PROMPT = (
    "<|user|>\nPlease provide a reasonable subgoal-based plan to solve the given task.\n"
    "Task: What is the capital of France?; Initial Environment Description: None.\n"
    "<|assistant|>\n"
)
GROUND_PROMPT = (
    "<|user|>\nPlease ground the given subgoal to corresponding executable actions.\n"
    "Task: What is the capital of France? \nSubgoal to be grounded: Subgoal 1: Query France.\n"
    "<|assistant|>\n"
)
TRAIN_EXACT_PROMPT = (
    "<s><|user|>\nTask: x\n<|assistant|>\nSubgoal 1: Query France.</s>\n"
    "<|user|>\nThe executed result for Subgoal 1 is Paris. Should we stop planning?\n"
    "<|assistant|>\n"
)
PROMPTS = [PLAN_PROMPT, GROUND_PROMPT, TRAIN_EXACT_PROMPT, "<|user|>\nhi\n<|assistant|>\n"]
ACTIONS = ["KnowledgeQuery", "ParagraphRetrieve", "QA", "Calculator"]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def tiny_parts(tiny_dir: Path) -> tuple[Any, Any]:
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    return model.eval(), tokenizer


@pytest.fixture
def llm(tiny_dir: Path) -> LumosTransformersLLM:
    return LumosTransformersLLM(model_id=str(tiny_dir), max_new_tokens=8, local_files_only=True)


class GenerateSpy:
    """Wraps model.generate, recording each call's inputs."""

    def __init__(self, model: Any) -> None:
        self.inner = model.generate
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.inner(*args, **kwargs)


def spy_on(llm: LumosTransformersLLM, monkeypatch: pytest.MonkeyPatch) -> GenerateSpy:
    spy = GenerateSpy(llm.model)
    monkeypatch.setattr(llm.model, "generate", spy)
    return spy


class Script(LogitsProcessor):
    """Forces row i to emit scripts[i][step] (its last entry once the script is used up)."""

    def __init__(self, prompt_len: int, scripts: list[list[int]]) -> None:
        self.prompt_len = prompt_len
        self.scripts = scripts

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        step = input_ids.shape[1] - self.prompt_len
        forced = torch.full_like(scores, float("-inf"))
        for row, script in enumerate(self.scripts):
            forced[row, script[min(step, len(script) - 1)]] = 0.0
        return forced


def ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def scripted(tiny_parts: tuple[Any, Any], prompts: list[str], texts: list[list[int]], **kw: Any):
    model, tokenizer = tiny_parts
    prompt_len = max(len(ids(tokenizer, p)) for p in prompts)
    processor = LogitsProcessorList([Script(prompt_len, texts)])
    return LumosTransformersLLM.from_model(
        model, tokenizer, generation_kwargs={"logits_processor": processor}, **kw
    )


# ---------------------------------------------------------------------------- helper


def test_tiny_llama_is_deterministic_and_offline(tmp_path: Path, tiny_dir: Path) -> None:
    other = build_tiny_llama(tmp_path / "again")
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (other / name).read_bytes() == (tiny_dir / name).read_bytes()
    tokenizer = AutoTokenizer.from_pretrained(other, local_files_only=True)
    assert [tokenizer.unk_token, tokenizer.bos_token, tokenizer.eos_token] == ["<unk>", "<s>", "</s>"]
    assert tokenizer.pad_token == "<pad>"
    # "\n\n" is a single merged token (exercises decoded-text newline detection)
    assert len(ids(tokenizer, "\n\n")) == 1
    assert ids(tokenizer, "\n\n") != ids(tokenizer, "\n")


# ---------------------------------------------------------------------------- loading


def test_loads_once_from_local_dir(llm: LumosTransformersLLM) -> None:
    before = LumosTransformersLLM.total_load_count
    assert llm.load_count == 0
    assert not llm.is_loaded
    outputs = [llm.invoke(p) for p in PROMPTS * 2]
    llm.batch(PROMPTS)
    assert llm.load_count == 1
    assert LumosTransformersLLM.total_load_count == before + 1
    assert outputs[: len(PROMPTS)] == outputs[len(PROMPTS) :]
    assert llm.tokenizer.padding_side == "left"


def test_concurrent_first_calls_load_once(llm: LumosTransformersLLM) -> None:
    threads = [threading.Thread(target=llm.load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert llm.load_count == 1


def test_from_model_does_not_load_and_sets_padding(tiny_parts: tuple[Any, Any]) -> None:
    model, tokenizer = tiny_parts
    saved = tokenizer.pad_token
    tokenizer.pad_token = None
    try:
        llm = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=4)
        assert llm.load_count == 0
        assert llm.is_loaded
        assert tokenizer.pad_token == tokenizer.eos_token
        assert tokenizer.padding_side == "left"
        assert isinstance(llm.invoke(PLAN_PROMPT), str)
        assert llm.load_count == 0
    finally:
        tokenizer.pad_token = saved


def test_offline_hub_id_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    llm = LumosTransformersLLM(model_id="ai2lumos/lumos_complex_qa_plan_iterative", cache_dir=str(tmp_path))
    with pytest.raises(CheckpointNotFoundError, match=r"lumos_complex_qa_plan_iterative.*offline"):
        llm.invoke(PLAN_PROMPT)
    with pytest.raises(CheckpointNotFoundError):
        llm.check_available()
    assert llm.load_count == 0


def test_device_auto_without_gpu_stays_on_cpu(tiny_dir: Path) -> None:
    llm = LumosTransformersLLM(model_id=str(tiny_dir), device="auto", max_new_tokens=2)
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert llm.model.device.type == "cpu"
    assert llm.model.dtype == torch.float32
    assert isinstance(llm.invoke(PLAN_PROMPT), str)


def test_bad_config_fails_fast() -> None:
    with pytest.raises(ValueError, match="dtype"):
        LumosTransformersLLM(model_id="x", dtype="int3")
    with pytest.raises(ValueError, match="device"):
        LumosTransformersLLM(model_id="x", device="tpu")


# ---------------------------------------------------------------------------- prompt / decoding


def test_prompt_tokens_byte_exact(llm: LumosTransformersLLM, monkeypatch) -> None:
    spy = spy_on(llm, monkeypatch)
    tokenizer = llm.tokenizer
    llm.batch(PROMPTS)
    assert len(spy.calls) == 1
    call = spy.calls[0]
    for row, prompt in enumerate(PROMPTS):
        mask = call["attention_mask"][row].bool()
        fed = call["input_ids"][row][mask].tolist()
        assert fed == ids(tokenizer, prompt)
        assert not mask[: (~mask).sum()].any()  # padding is on the left
    # eval-compatible prompt: no BOS added
    assert call["input_ids"][0][call["attention_mask"][0].bool()][0] != tokenizer.bos_token_id
    # train-exact prompt: the literal "<s>"/"</s>" become the special tokens
    train = call["input_ids"][2][call["attention_mask"][2].bool()].tolist()
    assert train[0] == tokenizer.bos_token_id
    assert tokenizer.eos_token_id in train
    assert call["do_sample"] is False


def test_greedy_matches_manual_argmax(llm: LumosTransformersLLM) -> None:
    llm.stop_at_newline = False
    model, tokenizer = llm.model, llm.tokenizer
    seq = torch.tensor([ids(tokenizer, PLAN_PROMPT)])
    prompt_len = seq.shape[1]
    with torch.no_grad():
        for _ in range(8):
            nxt = model(seq).logits[0, -1].argmax()
            seq = torch.cat([seq, nxt.view(1, 1)], dim=1)
            if nxt.item() == tokenizer.eos_token_id:
                break
    full = tokenizer.decode(seq[0].tolist(), skip_special_tokens=True)
    expected = full[len(tokenizer.decode(seq[0, :prompt_len].tolist(), skip_special_tokens=True)) :]
    assert llm.invoke(PLAN_PROMPT) == expected
    assert llm.invoke(PLAN_PROMPT) == expected  # deterministic


def test_stops_at_first_newline_token(tiny_parts) -> None:
    _, tokenizer = tiny_parts
    newline = ids(tokenizer, "\n")[-1]
    script = [*ids(tokenizer, "Subgoal 1: Query France."), newline, *ids(tokenizer, "Subgoal 2")]
    llm = scripted(tiny_parts, [PLAN_PROMPT], [script], max_new_tokens=40)
    result = llm.generate([PLAN_PROMPT])
    gen = result.generations[0][0]
    assert gen.text == "Subgoal 1: Query France."
    n_prefix = len(ids(tokenizer, "Subgoal 1: Query France."))
    assert gen.generation_info["completion_tokens"] == n_prefix + 1
    assert gen.generation_info["finish_reason"] == "stop"
    assert gen.generation_info["prompt_tokens"] == len(ids(tokenizer, PLAN_PROMPT))
    usage = result.llm_output["token_usage"]
    assert usage["completion_tokens"] == n_prefix + 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stops_at_merged_newline_token(tiny_parts, monkeypatch) -> None:
    _, tokenizer = tiny_parts
    merged = ids(tokenizer, "\n\n")
    assert len(merged) == 1
    prefix = ids(tokenizer, "R1 = QA([R2], Question: x)")
    script = [*prefix, merged[0], *ids(tokenizer, "R2 = QA")]
    llm = scripted(tiny_parts, [GROUND_PROMPT], [script], max_new_tokens=60)
    spy = spy_on(llm, monkeypatch)
    gen = llm.generate([GROUND_PROMPT]).generations[0][0]
    assert gen.text == "R1 = QA([R2], Question: x)"
    # generation really stopped right after the merged newline token
    assert gen.generation_info["completion_tokens"] == len(prefix) + 1
    prompt_len = spy.calls[0]["input_ids"].shape[1]
    assert len(spy.calls) == 1
    assert gen.generation_info["finish_reason"] == "stop"
    assert prompt_len == len(ids(tokenizer, GROUND_PROMPT))


def test_caller_stop_strings(tiny_parts) -> None:
    _, tokenizer = tiny_parts
    script = ids(tokenizer, "R1 = Calculator(28 * 1/7); R2 = Define(x = 2)")
    llm = scripted(tiny_parts, [GROUND_PROMPT], [script], max_new_tokens=len(script))
    assert llm.invoke(GROUND_PROMPT, stop=["; "]) == "R1 = Calculator(28 * 1/7)"
    assert llm.invoke(GROUND_PROMPT, stop=["\n"]) == "R1 = Calculator(28 * 1/7); R2 = Define(x = 2)"


def test_per_row_stopping_in_a_batch(tiny_parts, monkeypatch) -> None:
    _, tokenizer = tiny_parts
    newline = ids(tokenizer, "\n")[-1]
    eos = tokenizer.eos_token_id
    first, second, third = (
        ids(tokenizer, "Subgoal 1"),
        ids(tokenizer, "R1 = KnowledgeQuery(France); R2 = QA"),
        ids(tokenizer, "Yes"),
    )
    scripts = [
        [*first, newline, *ids(tokenizer, "junk")],
        [*second, newline],
        [*third, eos, *ids(tokenizer, "never")],
    ]
    prompts = [PLAN_PROMPT, GROUND_PROMPT, PLAN_PROMPT]
    llm = scripted(tiny_parts, prompts, scripts, max_new_tokens=50)
    spy = spy_on(llm, monkeypatch)
    result = llm.generate(prompts)
    texts = [g[0].text for g in result.generations]
    assert texts == ["Subgoal 1", "R1 = KnowledgeQuery(France); R2 = QA", "Yes"]
    infos = [g[0].generation_info for g in result.generations]
    assert [i["finish_reason"] for i in infos] == ["stop", "stop", "eos"]
    assert [i["completion_tokens"] for i in infos] == [
        len(first) + 1,
        len(second) + 1,
        len(third) + 1,
    ]
    assert len(spy.calls) == 1
    # the whole batch stopped once the longest row finished
    assert spy.calls[0]["max_new_tokens"] == 50


def test_stopping_criteria_class_directly(tiny_parts) -> None:
    _, tokenizer = tiny_parts
    newline = ids(tokenizer, "\n")[-1]
    merged = ids(tokenizer, "\n\n")[0]
    a, b = ids(tokenizer, "Sub")[0], ids(tokenizer, "goal")[0]
    stop_text = tokenizer.decode([b])
    assert stop_text not in tokenizer.decode([a, a, a])
    crit = NewlineStoppingCriteria(
        tokenizer, 2, 3, stops=[None, None, [stop_text]], eos_token_ids=[tokenizer.eos_token_id]
    )
    step1 = torch.tensor([[a, a, a], [a, a, merged], [a, a, a]])
    assert crit(step1, None).tolist() == [False, True, False]
    step2 = torch.tensor([[a, a, a, newline], [a, a, merged, a], [a, a, a, b]])
    assert crit(step2, None).tolist() == [True, True, True]
    assert crit.finished_at == [2, 1, 2]
    assert crit.reasons == ["stop", "stop", "stop"]
    no_newline = NewlineStoppingCriteria(tokenizer, 1, 1, stop_at_newline=False)
    assert no_newline(torch.tensor([[a, newline]]), None).tolist() == [False]
    eos_only = NewlineStoppingCriteria(
        tokenizer, 1, 1, stop_at_newline=False, eos_token_ids=[tokenizer.eos_token_id]
    )
    assert eos_only(torch.tensor([[a, tokenizer.eos_token_id]]), None).tolist() == [True]
    assert eos_only.reasons == ["eos"]


# ---------------------------------------------------------------------------- batching


def test_max_batch_size_chunks_sync_calls(llm: LumosTransformersLLM, monkeypatch) -> None:
    llm.max_batch_size = 2
    spy = spy_on(llm, monkeypatch)
    out = llm.batch(PROMPTS + PROMPTS[:1])
    assert len(out) == 5
    assert [c["input_ids"].shape[0] for c in spy.calls] == [2, 2, 1]


async def test_concurrent_ainvoke_coalesce_into_one_generate(llm: LumosTransformersLLM, monkeypatch) -> None:
    sequential = [llm.invoke(p) for p in PROMPTS]
    llm.batch_window_ms = 200
    spy = spy_on(llm, monkeypatch)
    results = await asyncio.gather(*(llm.ainvoke(p) for p in PROMPTS))
    assert len(spy.calls) == 1
    assert spy.calls[0]["input_ids"].shape[0] == len(PROMPTS)
    assert list(results) == sequential
    assert llm.load_count == 1


async def test_abatch_is_one_generate(llm: LumosTransformersLLM, monkeypatch) -> None:
    spy = spy_on(llm, monkeypatch)
    results = await llm.abatch(PROMPTS)
    assert len(spy.calls) == 1
    assert results == [llm.invoke(p) for p in PROMPTS]


async def test_async_batches_respect_max_batch_size_and_errors(
    llm: LumosTransformersLLM, monkeypatch
) -> None:
    llm.max_batch_size = 3
    llm.batch_window_ms = 200
    spy = spy_on(llm, monkeypatch)
    await asyncio.gather(*(llm.ainvoke(p) for p in PROMPTS * 2))
    assert sorted(c["input_ids"].shape[0] for c in spy.calls) == [2, 3, 3]

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("generate failed")

    monkeypatch.setattr(llm.model, "generate", boom)
    with pytest.raises(RuntimeError, match="generate failed"):
        await asyncio.gather(*(llm.ainvoke(p) for p in PROMPTS))


# ---------------------------------------------------------------------------- LangChain


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.ends = 0

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        self.starts.append({"prompts": prompts, **kwargs})

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ends += 1


def test_callbacks_see_run_name_tags_and_raw_prompt(llm: LumosTransformersLLM) -> None:
    recorder = Recorder()
    config = {
        "callbacks": [recorder],
        "run_name": "lumos_planner",
        "tags": ["plan"],
        "metadata": {"step": 1},
    }
    llm.invoke(TRAIN_EXACT_PROMPT, config=config, stop=["\n"])
    assert recorder.ends == 1
    start = recorder.starts[0]
    assert start["prompts"] == [TRAIN_EXACT_PROMPT]
    assert start["name"] == "lumos_planner"
    assert "plan" in start["tags"]
    assert start["metadata"]["step"] == 1
    assert start["metadata"]["ls_model_name"] == llm.model_id
    assert llm._llm_type == "lumos-transformers"
    assert llm._identifying_params["model_id"] == llm.model_id


# ---------------------------------------------------------------------------- prefix KV reuse


def iterative_prompts(
    llm: LumosTransformersLLM, turns: int, *, constrained: bool = False
) -> list[tuple[str, Any]]:
    """Grow a planner and a grounder conversation on one LLM, as an iterative run does.

    `constrained`: each call gets the planner's or grounder's grammar for that turn.
    """
    planner = PLAN_PROMPT
    grounder = GROUND_PROMPT
    calls = []
    for turn in range(1, turns + 1):
        plan_kw = {
            "grammar": planning_grammar(
                mode="iterative", next_index=turn, max_subgoal_words=3, max_word_chars=4
            )
        }
        plan = llm.generate([planner], **(plan_kw if constrained else {})).generations[0][0]
        calls.append((planner, plan))
        grounder += f"Subgoal to be grounded: Subgoal {turn}: {plan.text[:12]}\n<|assistant|>\n"
        ground_kw = {
            "grammar": grounding_grammar(
                ACTIONS, first_variable=turn, max_actions=1, max_argument_words=1, max_word_chars=2
            )
        }
        ground = llm.generate([grounder], **(ground_kw if constrained else {})).generations[0][0]
        calls.append((grounder, ground))
        planner += (
            f"{plan.text}\n\n<|user|>\nThe executed result for Subgoal {turn} is Paris. "
            "Should we stop planning?\n<|assistant|>\n"
        )
        grounder += f"{ground.text}\n\n<|user|>\n"
    return calls


class OutputSpy:
    """Wraps model.generate, recording each call's generated token ids."""

    def __init__(self, model: Any) -> None:
        self.inner = model.generate
        self.tokens: list[list[list[int]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        output = self.inner(*args, **kwargs)
        self.tokens.append(output[:, kwargs["input_ids"].shape[1] :].tolist())
        return output


def test_prefix_reuse_gives_identical_greedy_tokens(tiny_parts, monkeypatch) -> None:
    model, tokenizer = tiny_parts
    plain = LumosTransformersLLM.from_model(
        model, tokenizer, max_new_tokens=12, stop_at_newline=False, prefix_cache_max_entries=0
    )
    reuse = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=12, stop_at_newline=False)
    spy = OutputSpy(model)
    monkeypatch.setattr(model, "generate", spy)
    without = iterative_prompts(plain, 4)
    tokens_without = spy.tokens[:]
    spy.tokens.clear()
    with_reuse = iterative_prompts(reuse, 4)
    assert spy.tokens == tokens_without  # token for token
    assert [p for p, _ in with_reuse] == [p for p, _ in without]
    assert [g.text for _, g in with_reuse] == [g.text for _, g in without]
    cached = [g.generation_info["cached_tokens"] for _, g in with_reuse]
    assert cached[:2] == [0, 0]  # the first planner and grounder calls start cold
    assert all(c > 0 for c in cached[2:])  # every later turn reuses its conversation
    stats, base = reuse.prefix_cache_stats, plain.prefix_cache_stats
    assert stats["prompt_tokens"] == base["prompt_tokens"]
    assert stats["prefilled_tokens"] + stats["reused_tokens"] == stats["prompt_tokens"]
    assert stats["prefilled_tokens"] < base["prefilled_tokens"] / 2
    assert stats["cache_hits"] == 6
    assert base["reused_tokens"] == 0 and base["cached_tokens"] == 0


def test_prefix_cache_keeps_one_entry_per_conversation_and_is_bounded(tiny_parts) -> None:
    model, tokenizer = tiny_parts
    llm = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=6, prefix_cache_max_entries=2)
    iterative_prompts(llm, 3)
    store = llm._prefix_cache
    assert store is not None
    assert len(store.entries) == 2  # planner and grounder: each turn took over its entry
    llm.invoke("<|user|>\nSomething else entirely, a third conversation.\n<|assistant|>\n")
    assert len(store.entries) == 2  # least recently used evicted
    llm.prefix_cache_max_tokens = 10
    llm.invoke(PLAN_PROMPT + "more")
    assert llm.prefix_cache_stats["cached_tokens"] <= 10
    llm.clear_prefix_cache()
    assert llm.prefix_cache_stats == dict.fromkeys(llm.prefix_cache_stats, 0)


def test_shared_prefix_is_copied_and_both_conversations_keep_their_cache(tiny_parts) -> None:
    model, tokenizer = tiny_parts
    llm = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=4)
    shared = PLAN_PROMPT.replace("France", "France or Spain")  # same exemplar-like start
    first = llm.generate([PLAN_PROMPT]).generations[0][0]
    second = llm.generate([shared]).generations[0][0]
    reused = second.generation_info["cached_tokens"]
    assert 8 <= reused < len(ids(tokenizer, shared))
    store = llm._prefix_cache
    assert store is not None and len(store.entries) == 2
    follow_up = PLAN_PROMPT + first.text + "\n\n<|user|>\nok\n<|assistant|>\n"
    again = llm.generate([follow_up]).generations[0][0]
    assert again.generation_info["cached_tokens"] >= len(ids(tokenizer, PLAN_PROMPT))
    plain = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=4, prefix_cache_max_entries=0)
    assert [plain.invoke(p) for p in (PLAN_PROMPT, shared, follow_up)] == [
        first.text,
        second.text,
        again.text,
    ]


def test_batched_prompts_do_not_reuse(tiny_parts, monkeypatch) -> None:
    model, tokenizer = tiny_parts
    llm = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=6)
    plain = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=6, prefix_cache_max_entries=0)
    llm.invoke(PLAN_PROMPT)
    spy = spy_on(llm, monkeypatch)
    result = llm.generate([PLAN_PROMPT + "x", GROUND_PROMPT])
    assert len(spy.calls) == 1 and "cache" not in spy.calls[0]
    assert [g[0].generation_info["cached_tokens"] for g in result.generations] == [0, 0]
    assert [g[0].text for g in result.generations] == plain.batch([PLAN_PROMPT + "x", GROUND_PROMPT])


EXEMPLARS = (
    "<|user|>\nPlease provide a reasonable subgoal-based plan to solve the given task.\n"
    "Task: Where was Franz Kafka born?; Initial Environment Description: None.\n<|assistant|>\n"
    "Subgoal 1: Obtain the birthplace of Franz Kafka.\n\n"
) * 3


def disk_llm(tiny_parts: tuple[Any, Any], directory: Path) -> LumosTransformersLLM:
    """A fresh LLM with an empty memory cache, as a new process has, on a disk store."""
    model, tokenizer = tiny_parts
    return LumosTransformersLLM.from_model(
        model, tokenizer, max_new_tokens=8, stop_at_newline=False, prefix_cache_dir=str(directory)
    )


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*/*.safetensors"))


def test_disk_prefix_store_reuses_shared_exemplars_across_processes(tiny_parts, tmp_path) -> None:
    model, tokenizer = tiny_parts
    prompts = [
        f"{EXEMPLARS}<|user|>\nTask: {q}\n<|assistant|>\n"
        for q in ("Who wrote Dracula?", "Where is Lima?", "x")
    ]
    plain = LumosTransformersLLM.from_model(
        model, tokenizer, max_new_tokens=8, stop_at_newline=False, prefix_cache_max_entries=0
    )
    expected = [plain.invoke(p) for p in prompts]
    shared = len(ids(tokenizer, f"{EXEMPLARS}<|user|>\nTask: "))

    first = disk_llm(tiny_parts, tmp_path)
    assert first.invoke(prompts[0]) == expected[0]
    assert first.prefix_cache_stats["disk_reused_tokens"] == 0
    assert len(entries(tmp_path)) == 1  # the whole opening prompt

    second = disk_llm(tiny_parts, tmp_path)
    assert second.invoke(prompts[1]) == expected[1]  # the same tokens as without any cache
    stats = second.prefix_cache_stats
    assert (
        shared - 2 <= stats["disk_reused_tokens"] == stats["reused_tokens"] < len(ids(tokenizer, prompts[1]))
    )
    assert len(entries(tmp_path)) == 2  # and what the two prompts share, on its own

    third = disk_llm(tiny_parts, tmp_path)
    before = entries(tmp_path)
    assert third.invoke(prompts[2]) == expected[2]
    assert third.prefix_cache_stats["disk_reused_tokens"] == stats["disk_reused_tokens"]
    assert entries(tmp_path) == before  # it starts with the shared entry: nothing written
    other = disk_llm(tiny_parts, tmp_path)  # another template with the same introduction
    intro = "<|user|>\nPlease provide a reasonable subgoal-based plan"
    another = intro + " in a few words.\n" + "Task: something else entirely. " * 20
    other.invoke(another)
    assert len(entries(tmp_path)) == 3  # mostly new: stored whole; no entry was shrunk
    again = disk_llm(tiny_parts, tmp_path)
    assert again.invoke(prompts[2]) == expected[2]
    assert again.prefix_cache_stats["disk_reused_tokens"] == stats["disk_reused_tokens"]
    follow_up = prompts[2] + expected[2] + "\n<|user|>\nok\n<|assistant|>\n"
    third.invoke(follow_up)  # the conversation goes on in memory
    assert third.prefix_cache_stats["disk_reused_tokens"] == stats["disk_reused_tokens"]
    third.clear_prefix_cache(disk=True)
    assert entries(tmp_path) == []


def test_disk_prefix_store_keys_by_model_and_skips_broken_entries(tiny_parts, tmp_path) -> None:
    from langchain_lumos.models.prefix_store import DiskPrefixStore, model_fingerprint

    model, tokenizer = tiny_parts
    prompt = f"{EXEMPLARS}<|user|>\nTask: y\n<|assistant|>\n"
    disk_llm(tiny_parts, tmp_path).invoke(prompt)
    (stored,) = entries(tmp_path)
    name = model.config._name_or_path
    assert stored.parent.name == model_fingerprint(model, name)
    half = model.to(torch.float64)
    try:
        assert model_fingerprint(half, name) != stored.parent.name  # another dtype: another key
    finally:
        model.to(torch.float32)
    (stored.parent / "broken.safetensors").write_bytes(b"not a safetensors file")
    store = DiskPrefixStore(tmp_path, stored.parent.name)
    cache, reused = store.take(ids(tokenizer, prompt))
    assert cache is not None and reused == len(ids(tokenizer, prompt)) - 1
    stored.unlink()
    assert store.take(ids(tokenizer, prompt)) == (None, 0)
    llm = disk_llm(tiny_parts, tmp_path)
    llm._disk_store = DiskPrefixStore(tmp_path, "bounded", max_entries=2)
    for opening in ("First", "Second", "Third"):  # nothing in common: one entry each
        llm.invoke(f"{opening}: {prompt}")
    assert len(list((tmp_path / "bounded").glob("*.safetensors"))) == 2  # the oldest evicted
    with pytest.raises(ValueError, match=">= 1"):
        DiskPrefixStore(tmp_path, "x", max_entries=0)


async def test_async_calls_reuse_too(tiny_parts) -> None:
    model, tokenizer = tiny_parts
    llm = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=6)
    first = await llm.ainvoke(PLAN_PROMPT)
    result = await llm.agenerate([PLAN_PROMPT + first + "\n\n<|user|>\nok\n<|assistant|>\n"])
    assert result.generations[0][0].generation_info["cached_tokens"] > 0


# ---------------------------------------------------------------------------- event loop, imports

BLOCKBUSTER_SCRIPT = """
import asyncio, sys
from blockbuster import BlockingError, blockbuster_ctx
from langchain_lumos.models.transformers import LumosTransformersLLM

async def main():
    llm = LumosTransformersLLM(model_id=sys.argv[1], max_new_tokens=2, local_files_only=True)
    probe = LumosTransformersLLM(model_id=sys.argv[1], max_new_tokens=2, local_files_only=True)
    with blockbuster_ctx():
        first = await llm.ainvoke("<|user|>\\nhi\\n<|assistant|>\\n")  # loads, imports torch
        await llm.ainvoke("<|user|>\\nhi\\n<|assistant|>\\n")
        try:
            probe.model  # the detector does catch a load on the loop
        except BlockingError:
            caught = True
        else:
            caught = False
    print("RESULT", llm.is_loaded, llm.load_count, caught, isinstance(first, str))

asyncio.run(main())
"""


def test_first_async_call_loads_off_the_event_loop(tiny_dir: Path) -> None:
    pytest.importorskip("blockbuster")
    import subprocess

    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", BLOCKBUSTER_SCRIPT, str(tiny_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert "RESULT True 1 True True" in done.stdout, done.stderr[-3000:]


def test_tracing_properties_do_not_load(tiny_dir: Path) -> None:
    llm = LumosTransformersLLM(model_id=str(tiny_dir), local_files_only=True)
    params = llm._get_ls_params(stop=["\n"])
    assert params["ls_model_name"] == llm.model_id
    assert params["ls_stop"] == ["\n"]
    assert params["ls_model_type"] == "llm"
    assert llm._identifying_params["model_id"] == llm.model_id
    assert llm._llm_type == "lumos-transformers"
    repr(llm)
    llm.model_dump()
    assert not llm.is_loaded


# ---------------------------------------------------------------------------- tokenizer


def build_sentencepiece_llama(path: Path, tiny_dir: Path) -> Path:
    """Copy the tiny Llama into `path` with a sentencepiece `tokenizer.model` only, like a Llama-2 checkpoint."""
    import shutil

    import sentencepiece as spm

    path.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        if (tiny_dir / name).is_file():
            shutil.copy(tiny_dir / name, path / name)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_TEXT.splitlines() * 4),
        model_prefix=str(path / "tokenizer"),
        vocab_size=340,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        byte_fallback=True,
        # As Llama-2's: no normalisation, so "\n" is the byte piece <0x0A>.
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        minloglevel=2,
    )
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
    }
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def sentencepiece_dir(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    pytest.importorskip("sentencepiece")
    return build_sentencepiece_llama(tmp_path_factory.mktemp("sentencepiece_llama"), tiny_dir)


def original_slow_ids(model_file: Path, text: str) -> list[int]:
    """The original's `use_fast=False` Llama tokenizer (legacy): split on <s>/</s>, sentencepiece each piece."""
    import re

    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    out: list[int] = []
    for piece in re.split(r"(<s>|</s>)", text):
        if piece in ("<s>", "</s>"):
            out.append(sp.piece_to_id(piece))
        elif piece:
            out.extend(sp.encode(piece))
    return out


def test_sentencepiece_checkpoints_get_the_slow_tokenizer_like_the_original(sentencepiece_dir: Path) -> None:
    llm = LumosTransformersLLM(model_id=str(sentencepiece_dir), max_new_tokens=3, local_files_only=True)
    assert llm.use_slow_tokenizer is None
    assert isinstance(llm.invoke(PLAN_PROMPT), str)
    assert llm.tokenizer.is_fast is False
    for prompt in (PLAN_PROMPT, TRAIN_EXACT_PROMPT, GROUND_PROMPT):
        assert ids(llm.tokenizer, prompt) == original_slow_ids(sentencepiece_dir / "tokenizer.model", prompt)


def test_checkpoints_without_sentencepiece_model_keep_the_fast_tokenizer(tiny_dir: Path) -> None:
    llm = LumosTransformersLLM(model_id=str(tiny_dir), max_new_tokens=2, local_files_only=True)
    assert llm.tokenizer.is_fast is True  # SmolLM2 / GGUF conversions ship tokenizer.json only
    assert LumosTransformersLLM(model_id="ai2lumos/lumos_maths_plan_iterative")._wants_slow_tokenizer() is (
        __import__("importlib").util.find_spec("sentencepiece") is not None
    )
    assert (
        LumosTransformersLLM(model_id=str(tiny_dir), use_slow_tokenizer=False)._wants_slow_tokenizer()
        is False
    )


LAZY_IMPORT_SCRIPT = """
import sys
import langchain_lumos.models
from langchain_lumos.models import LumosCompletionsLLM, LumosTransformersLLM
from langchain_lumos.models.smollm2 import default_cache_dir

llm = LumosTransformersLLM(model_id="some/checkpoint")
llm._get_ls_params(stop=["\\n"])
llm._identifying_params
LumosCompletionsLLM(base_url="http://127.0.0.1:9/v1", model="m")
default_cache_dir()
print("HEAVY", sorted(m for m in ("torch", "transformers", "tokenizers", "safetensors") if m in sys.modules))
"""


def test_models_package_does_not_import_torch_until_a_model_is_used() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", LAZY_IMPORT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr[-3000:]


def test_sentencepiece_detection_for_hub_ids(tmp_path: Path) -> None:
    from langchain_lumos.models.transformers import _has_sentencepiece_model

    def cache(repo_id: str, files: list[str]) -> None:
        repo = tmp_path / f"models--{repo_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / ("0" * 40)
        snapshot.mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("0" * 40)
        for name in files:
            (snapshot / name).write_text("{}")

    cache("ai2lumos/with_sp", ["config.json", "tokenizer.model"])
    cache("ai2lumos/without_sp", ["config.json", "tokenizer.json"])
    assert _has_sentencepiece_model("ai2lumos/with_sp", str(tmp_path)) is True
    assert _has_sentencepiece_model("ai2lumos/without_sp", str(tmp_path)) is False
    assert (
        _has_sentencepiece_model("ai2lumos/lumos_maths_plan_iterative", str(tmp_path)) is True
    )  # not cached
    assert _has_sentencepiece_model("someone/other", str(tmp_path)) is False


# ---------------------------------------------------------------------------- constrained decoding


class Noise(LogitsProcessor):
    """Adds Gumbel noise: greedy decoding over noisy logits samples from the model (seeded)."""

    def __init__(self, seed: int, scale: float = 3.0) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.scale = scale

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        uniform = torch.rand(scores.shape, generator=self.generator).clamp_min(1e-9)
        return scores - self.scale * torch.log(-torch.log(uniform))


class Prefer(LogitsProcessor):
    """Adds a bonus to the next token of `target` (after `prompt_len`): greedy spells `target`."""

    def __init__(self, prompt_len: int, target: list[int], bonus: float = 30.0) -> None:
        self.prompt_len = prompt_len
        self.target = target
        self.bonus = bonus

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        step = input_ids.shape[1] - self.prompt_len
        if step < len(self.target):
            scores[:, self.target[step]] += self.bonus
        return scores


def test_supports_grammar_follows_xgrammar(
    llm: LumosTransformersLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xgrammar")
    assert llm.supports_grammar is True
    assert not llm.is_loaded  # asking does not load the model
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "xgrammar" else find_spec(name, *a)
    )
    assert llm.supports_grammar is False


def test_every_sampled_output_under_a_grounding_grammar_parses(tiny_parts) -> None:
    pytest.importorskip("xgrammar")
    model, tokenizer = tiny_parts
    grammar = grounding_grammar(ACTIONS, max_actions=2, max_argument_words=2, max_word_chars=4)
    finished = 0
    for seed in range(6):
        processors = LogitsProcessorList([Noise(seed)])
        llm = LumosTransformersLLM.from_model(
            model, tokenizer, max_new_tokens=120, generation_kwargs={"logits_processor": processors}
        )
        result = llm.generate([GROUND_PROMPT, PLAN_PROMPT], grammar=grammar)
        for (generation,) in result.generations:
            if generation.generation_info["finish_reason"] != "stop":
                continue  # the token cap ended the line first: nothing to parse yet
            finished += 1
            parsed = parse_actions(generation.text)
            assert parsed.actions and not parsed.errors, (generation.text, parsed)
            assert {a.name for a in parsed.actions} <= set(ACTIONS)
            assert parsed.actions[0].variables == ("R1",)
    assert finished >= 9, f"only {finished} of 12 sampled lines ended within the token cap"
    # Without the grammar the same noisy model writes no valid line.
    bare = LumosTransformersLLM.from_model(
        model,
        tokenizer,
        max_new_tokens=40,
        generation_kwargs={"logits_processor": LogitsProcessorList([Noise(0)])},
    )
    assert not parse_actions(bare.invoke(GROUND_PROMPT)).actions


def test_an_already_valid_greedy_output_is_unchanged_by_the_grammar(tiny_parts, monkeypatch) -> None:
    """A model whose unconstrained greedy line is valid (as the released checkpoints') keeps it token for token."""
    pytest.importorskip("xgrammar")
    model, tokenizer = tiny_parts
    line = "R1 = KnowledgeQuery(France); R2 = ParagraphRetrieve(R1, Query: capital (city)); R3 = QA([R2], Question: x)"
    target = ids(tokenizer, line + "\n")
    processors = LogitsProcessorList([Prefer(len(ids(tokenizer, GROUND_PROMPT)), target)])
    llm = LumosTransformersLLM.from_model(
        model, tokenizer, max_new_tokens=80, generation_kwargs={"logits_processor": processors}
    )
    spy = OutputSpy(model)
    monkeypatch.setattr(model, "generate", spy)
    unconstrained = llm.generate([GROUND_PROMPT]).generations[0][0]
    assert unconstrained.text == line  # the valid greedy line
    constrained = llm.generate([GROUND_PROMPT], grammar=grounding_grammar(ACTIONS)).generations[0][0]
    assert constrained.text == line
    assert spy.tokens[1] == spy.tokens[0]  # token for token
    # The same bonus with a grammar that forbids the line: the grammar does steer.
    other = llm.generate([GROUND_PROMPT], grammar=grounding_grammar(["Calculator"])).generations[0][0]
    assert other.text.startswith("R1 = Calculator(")


async def test_rows_with_different_grammars_share_one_batch(llm: LumosTransformersLLM, monkeypatch) -> None:
    pytest.importorskip("xgrammar")
    llm.max_new_tokens = 40
    ground = grounding_grammar(["KnowledgeQuery"], max_actions=1, max_argument_words=2, max_word_chars=4)
    plan = planning_grammar(mode="iterative", next_index=2, max_subgoal_words=2, max_word_chars=4)
    calls = [(GROUND_PROMPT, ground), (PLAN_PROMPT, plan), (TRAIN_EXACT_PROMPT, None)]
    sequential = [llm.invoke(p, grammar=g) for p, g in calls]
    llm.batch_window_ms = 200
    spy = spy_on(llm, monkeypatch)
    together = await asyncio.gather(*(llm.ainvoke(p, grammar=g) for p, g in calls))
    assert len(spy.calls) == 1 and spy.calls[0]["input_ids"].shape[0] == 3  # one padded batch
    assert list(together) == sequential
    assert [a.name for a in parse_actions(together[0]).actions] == ["KnowledgeQuery"]
    parsed = parse_plan(together[1], next_index=2)
    assert parsed.stop or parsed.subgoals, together[1]
    assert together[2] == llm.invoke(TRAIN_EXACT_PROMPT)  # the row without a grammar is free
    # Sync: one grammar per prompt in a list.
    result = llm.generate([p for p, _ in calls], grammar=[g for _, g in calls])
    assert [g[0].text for g in result.generations] == sequential


def test_prefix_cache_with_a_grammar_gives_the_same_tokens(tiny_parts, monkeypatch) -> None:
    pytest.importorskip("xgrammar")
    model, tokenizer = tiny_parts
    plain = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=24, prefix_cache_max_entries=0)
    reuse = LumosTransformersLLM.from_model(model, tokenizer, max_new_tokens=24)
    spy = OutputSpy(model)
    monkeypatch.setattr(model, "generate", spy)
    without = iterative_prompts(plain, 3, constrained=True)
    tokens_without = spy.tokens[:]
    spy.tokens.clear()
    with_reuse = iterative_prompts(reuse, 3, constrained=True)
    assert spy.tokens == tokens_without
    assert [g.text for _, g in with_reuse] == [g.text for _, g in without]
    assert all(g.generation_info["cached_tokens"] > 0 for _, g in with_reuse[2:])
    grounded = [g.text for _, g in with_reuse[1::2] if g.generation_info["finish_reason"] == "stop"]
    assert grounded and all(parse_actions(t).actions for t in grounded)
    unconstrained = iterative_prompts(plain, 1)
    assert unconstrained[1][1].text != with_reuse[1][1].text  # the grammar did constrain


def test_bad_grammar_arguments_fail_fast(llm: LumosTransformersLLM) -> None:
    pytest.importorskip("xgrammar")
    with pytest.raises(ValueError, match="one per prompt"):
        llm.generate([PLAN_PROMPT, GROUND_PROMPT], grammar=[grounding_grammar(ACTIONS)])
    with pytest.raises(ValueError, match="Invalid grammar"):
        llm.invoke(PLAN_PROMPT, grammar="root ::= undefined_rule")


def test_the_slow_sentencepiece_tokenizer_takes_grammars(sentencepiece_dir: Path) -> None:
    pytest.importorskip("xgrammar")
    llm = LumosTransformersLLM(model_id=str(sentencepiece_dir), max_new_tokens=60, local_files_only=True)
    text = llm.invoke(
        GROUND_PROMPT,
        grammar=grounding_grammar(ACTIONS, max_actions=1, max_argument_words=2, max_word_chars=4),
    )
    assert llm.tokenizer.is_fast is False
    assert parse_actions(text).actions and "<0x" not in text, text


def test_load_tokenizer_slow_and_fast(sentencepiece_dir: Path, tiny_dir: Path) -> None:
    import sentencepiece as spm

    assert load_tokenizer(str(tiny_dir), local_files_only=True).is_fast is True
    slow = load_tokenizer(str(sentencepiece_dir), slow=True, local_files_only=True)
    assert slow.is_fast is False
    # Decoding is sentencepiece's: byte pieces are bytes (Llama-2's newline is <0x0A>), ends kept.
    sp = spm.SentencePieceProcessor(model_file=str(sentencepiece_dir / "tokenizer.model"))
    text = "R1 = QA([R1], Question: ©?)\n"
    encoded = ids(slow, text)
    assert sp.piece_to_id("<0x0A>") in encoded
    assert slow.decode(encoded) == sp.decode(encoded) == text
    assert slow.decode([slow.bos_token_id, *encoded], skip_special_tokens=True) == text
    assert ids(slow, TRAIN_EXACT_PROMPT) == original_slow_ids(
        sentencepiece_dir / "tokenizer.model", TRAIN_EXACT_PROMPT
    )


def test_a_failing_disk_store_never_fails_a_call(tiny_parts, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    llm = disk_llm(tiny_parts, blocker)  # entries cannot be written under a file
    prompt = f"{EXEMPLARS}<|user|>\nTask: z\n<|assistant|>\n"
    with pytest.warns(UserWarning, match="no longer stored"):
        first = llm.invoke(prompt)
    assert llm.prefix_cache_dir is None  # memory only from now on
    assert llm.invoke(prompt) == first


# ---------------------------------------------------------------------------- choices


def _full_logprob(model: Any, prompt: list[int], choice: list[int]) -> float:
    """A choice's log-likelihood from one plain forward over prompt + choice (no cache)."""
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt + choice])).logits[0].float().log_softmax(-1)
    return sum(float(logits[len(prompt) + k - 1, t]) for k, t in enumerate(choice))


def test_choice_logprobs_match_a_plain_forward(tiny_parts: tuple[Any, Any]) -> None:
    from langchain_lumos.models.choices import choice_logprobs
    from langchain_lumos.models.transformers import _cache_kwarg

    model, tokenizer = tiny_parts
    prompt = ids(tokenizer, PLAN_PROMPT)
    texts = ("Subgoal 1: Query France.", "Paris", "Subgoal", "R1 = QA(x)", "Paris is big", "Subgoal 1")
    choices = [[*ids(tokenizer, t), tokenizer.eos_token_id] for t in texts]
    choices.append(ids(tokenizer, "Paris is"))  # no end marker: a prefix of another's tokens
    expected = [_full_logprob(model, prompt, c) for c in choices]
    for chunk in (1, 2, 16):  # one choice per batch, uneven batches, one batch
        got = choice_logprobs(model, prompt, choices, cache_kwarg=_cache_kwarg(model), chunk_size=chunk)
        assert got == pytest.approx(expected, abs=1e-4)
    assert choice_logprobs(model, prompt, [], cache_kwarg=_cache_kwarg(model)) == []
    with pytest.raises(ValueError, match="at least one token"):
        choice_logprobs(model, prompt, [[]], cache_kwarg=_cache_kwarg(model))


def test_choices_that_begin_another_are_read_off_its_forward(
    tiny_parts: tuple[Any, Any], monkeypatch
) -> None:
    from langchain_lumos.models import choices as scoring
    from langchain_lumos.models.transformers import _cache_kwarg

    model, tokenizer = tiny_parts
    prompt = ids(tokenizer, PLAN_PROMPT)
    words = ids(tokenizer, "Pyotr Ilyich Tchaikovsky")
    # Every prefix of one span (with the end marker), plus a span of its own.
    choices = [[*words[:n], tokenizer.eos_token_id] for n in range(1, len(words) + 1)]
    choices.append([*ids(tokenizer, "Moscow"), tokenizer.eos_token_id])
    assert scoring._carriers([tuple(c[:-1]) for c in choices])[0] == [len(words) - 1, len(words)]
    fed: list[int] = []
    forward, cache_kwarg = type(model).forward, _cache_kwarg(model)  # read before patching forward

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        fed.append(int(kwargs["input_ids"].shape[0]))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "forward", counting)
    got = scoring.choice_logprobs(model, prompt, choices, cache_kwarg=cache_kwarg, chunk_size=16)
    assert fed == [1, 2]  # the prompt, then one batch of the two carriers
    monkeypatch.undo()
    assert got == pytest.approx([_full_logprob(model, prompt, c) for c in choices], abs=1e-4)


def test_llm_scores_choices_instead_of_decoding(tiny_parts: tuple[Any, Any], monkeypatch) -> None:
    model, tokenizer = tiny_parts
    llm = LumosTransformersLLM.from_model(model, tokenizer)
    assert llm.supports_choices
    monkeypatch.setattr(model, "generate", lambda *a, **k: pytest.fail("choices must not decode"))
    options = ["Subgoal 1: Query France.", "Paris", "R1 = QA(x)"]
    result = llm.generate([PLAN_PROMPT], choices=options)
    info = result.generations[0][0].generation_info
    scores = info["choice_logprobs"]
    prompt = ids(tokenizer, PLAN_PROMPT)
    eos = [tokenizer.eos_token_id]
    assert scores == pytest.approx(
        [_full_logprob(model, prompt, ids(tokenizer, o) + eos) for o in options], abs=1e-4
    )
    assert result.generations[0][0].text == options[max(range(3), key=scores.__getitem__)]
    assert info["prompt_tokens"] == len(prompt)
    # A newline as the end marker instead of the end-of-sequence token; one list per prompt.
    newline = llm.generate([PLAN_PROMPT, GROUND_PROMPT], choices=[["Paris"], ["R1", "R2"]], choice_end="\n")
    first = newline.generations[0][0].generation_info["choice_logprobs"]
    assert first == pytest.approx(
        [_full_logprob(model, prompt, ids(tokenizer, "Paris") + ids(tokenizer, "\n"))], abs=1e-4
    )
    assert len(newline.generations[1][0].generation_info["choice_logprobs"]) == 2
    # The async path scores the same.
    again = asyncio.run(llm.agenerate([PLAN_PROMPT], choices=options))
    assert again.generations[0][0].generation_info["choice_logprobs"] == pytest.approx(scores, abs=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"choices": []}, "non-empty"),
        ({"choices": ["Paris", ""]}, "non-empty"),
        ({"choices": [["Paris"]]}, "one per prompt"),  # one list for two prompts
        ({"choices": ["Paris"], "grammar": 'root ::= "Paris"'}, "not both"),
    ],
)
def test_bad_choices_fail_fast(tiny_parts: tuple[Any, Any], kwargs: dict[str, Any], message: str) -> None:
    llm = LumosTransformersLLM.from_model(*tiny_parts)
    with pytest.raises(ValueError, match=message):
        llm.generate([PLAN_PROMPT, GROUND_PROMPT], **kwargs)


def test_call_model_scores_choices_only_where_the_model_can() -> None:
    from langchain_core.language_models import FakeListLLM

    from langchain_lumos.model_calls import call_model, supports_choices

    plain = FakeListLLM(responses=["Paris"])
    assert not supports_choices(plain)
    with pytest.raises(ValueError, match="cannot score choices"):
        call_model(plain, "Where?", choices=["Paris"])
    assert call_model(plain, "Where?").choice_logprobs == ()
