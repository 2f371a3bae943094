"""Fine-tuning: open-instruct tokenization, a real (tiny) training run, LoRA merge, CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from langchain_core.tools import tool
from transformers import AutoModelForCausalLM, AutoTokenizer

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.context import LumosContext
from langchain_lumos.models.transformers import LumosTransformersLLM
from langchain_lumos.prompts import render_prompt
from langchain_lumos.training.annotations import read_raw_annotations, write_annotations
from langchain_lumos.training.cli import main as cli_main
from langchain_lumos.training.convert import convert_annotations
from langchain_lumos.training.finetune import PaddingCollator, encode_messages, finetune, messages_text
from tests.tiny_llama import build_tiny_llama

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIXTURES = Path(__file__).resolve().parents[1] / "unit_tests" / "training" / "fixtures"

DIALOGUE = [
    {"role": "user", "content": "Please provide a plan.\nTask: What is 2 + 3?  "},
    {"role": "assistant", "content": " Subgoal 1: Calculate 2 + 3."},
    {"role": "user", "content": "The executed result for Subgoal 1 is 5. Should we stop planning?"},
    {"role": "assistant", "content": "Yes, I will stop planning."},
]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_base"), seed=0)


@pytest.fixture(scope="module")
def tokenizer(tiny_base: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_base, local_files_only=True)


@pytest.fixture(scope="module")
def train_records() -> list[dict[str, Any]]:
    raws = [dict(r) for r in read_raw_annotations(FIXTURES / "maths.jsonl")]
    plan = convert_annotations(raws, domain="maths", module="plan").records
    ground = convert_annotations(raws, domain="maths", module="ground").records
    return [*plan, *ground]


# ---------------------------------------------------------------------------------------
# Tokenization
# ---------------------------------------------------------------------------------------


def test_encode_matches_open_instruct_format(tokenizer: Any) -> None:
    enc = encode_messages(DIALOGUE, tokenizer, max_length=1024)
    ids, labels = enc["input_ids"], enc["labels"]
    assert len(ids) == len(labels) == len(enc["attention_mask"])
    text = tokenizer.decode(ids)
    assert text == (
        "<s><|user|>\nPlease provide a plan.\nTask: What is 2 + 3?\n<|assistant|>\nSubgoal 1: Calculate 2 + 3.</s>\n"
        "<|user|>\nThe executed result for Subgoal 1 is 5. Should we stop planning?\n<|assistant|>\n"
        "Yes, I will stop planning.</s>"
    )
    # The train-exact rendering of the core is the same text (plus its trailing newline).
    assert text == render_prompt(DIALOGUE, style="train").rstrip("\n")  # type: ignore[arg-type]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    # Only the assistant messages (content, </s> and, as in open-instruct, the newline that
    # closes a non-final assistant message) are targets; user turns and headers are masked.
    targets = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != -100])
    assert targets == "Subgoal 1: Calculate 2 + 3.</s>\nYes, I will stop planning.</s>"
    assert all(lab in (-100, t) for t, lab in zip(ids, labels, strict=True))
    # The masked spans end exactly at the assistant header, by prefix tokenization.
    first_target = next(i for i, lab in enumerate(labels) if lab != -100)
    header = messages_text(DIALOGUE[:1], tokenizer.eos_token) + "<|assistant|>\n"
    assert first_target == len(tokenizer(header)["input_ids"]) + 1  # + the BOS


def test_encode_truncates_and_validates(tokenizer: Any) -> None:
    enc = encode_messages(DIALOGUE, tokenizer, max_length=8)
    assert len(enc["input_ids"]) == 8
    assert set(enc["labels"]) == {-100}  # truncated inside the first user turn: no target left
    with pytest.raises(ValueError, match="empty"):
        encode_messages([], tokenizer)
    with pytest.raises(ValueError, match="Invalid role"):
        encode_messages([{"role": "tool", "content": "x"}], tokenizer)


def test_padding_collator_pads_right() -> None:
    batch = PaddingCollator(pad_token_id=3)(
        [
            {"input_ids": [1, 5, 6], "labels": [-100, 5, 6], "attention_mask": [1, 1, 1]},
            {"input_ids": [1, 7], "labels": [-100, 7], "attention_mask": [1, 1]},
        ]
    )
    assert batch["input_ids"].tolist() == [[1, 5, 6], [1, 7, 3]]
    assert batch["labels"].tolist() == [[-100, 5, 6], [-100, 7, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


# ---------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------


@tool("Calculator")
def calculator(formula: str) -> str:
    """Calculate the input formula."""
    return f"value of {formula}"


def test_finetune_lowers_loss_and_checkpoint_drives_an_agent(
    tiny_base: Path, train_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "planner"
    result = finetune(
        tiny_base,
        train_records,
        out,
        lr=1e-2,
        max_steps=20,
        per_device_batch_size=2,
        max_length=1024,
        warmup_ratio=0.0,
        seed=0,
    )
    assert result.steps == 20 and len(result.losses) == 20
    assert result.num_examples == len(train_records) and result.num_dropped == 0
    assert result.first_loss is not None and result.last_loss is not None
    assert result.last_loss < 0.8 * result.first_loss, result.losses
    assert (out / "config.json").exists() and (out / "tokenizer_config.json").exists()

    llm = LumosTransformersLLM(model_id=str(out), max_new_tokens=16)
    agent = create_lumos_agent(llm, llm, [calculator], domain="maths")
    run = agent.invoke("What is 28 divided by 7?", context=LumosContext(max_subgoals=2))
    assert run["stop_reason"]
    assert run["planner_turns"][0]["role"] == "user"
    assert run["planner_turns"][1]["role"] == "assistant"
    assert run["usage"]["planner"]["calls"] >= 1


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_finetune_lora_merges_before_saving(
    tiny_base: Path, train_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "lora"
    result = finetune(
        tiny_base, train_records[:2], out, lora=True, lora_rank=4, lr=1e-2, max_steps=3, max_length=256
    )
    assert result.lora and result.steps == 3
    merged = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    base = AutoModelForCausalLM.from_pretrained(tiny_base, local_files_only=True)
    names = list(merged.state_dict())
    assert not any("lora" in n for n in names)
    assert names == list(base.state_dict())
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged.state_dict()[q], base.state_dict()[q])


def test_finetune_rejects_bad_inputs(
    tiny_base: Path, train_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="No training records"):
        finetune(tiny_base, train_records, tmp_path / "x", datasets=["web_agent"])
    with pytest.raises(ValueError, match="No training data"):
        finetune(tiny_base, [], tmp_path / "x")
    with pytest.raises(ValueError, match="lost its targets"):
        finetune(tiny_base, train_records[:1], tmp_path / "x", max_length=8, max_steps=1)


def test_finetune_slow_tokenizer_is_the_sentencepiece_one(
    tiny_base: Path, train_records: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`use_slow_tokenizer=True` trains on the original's sentencepiece ids (transformers 5 ignores `use_fast`)."""
    pytest.importorskip("sentencepiece")
    import importlib

    from tests.unit_tests.models.test_transformers import build_sentencepiece_llama, original_slow_ids

    source = build_sentencepiece_llama(tmp_path / "sentencepiece", tiny_base)
    finetune_module = importlib.import_module("langchain_lumos.training.finetune")
    seen: list[Any] = []
    encode = finetune_module.encode_messages

    def spy(messages: Any, tokenizer: Any, max_length: int = 1024) -> Any:
        seen.append(tokenizer)
        return encode(messages, tokenizer, max_length)

    monkeypatch.setattr(finetune_module, "encode_messages", spy)
    out = tmp_path / "slow"
    result = finetune(source, train_records[:2], out, use_slow_tokenizer=True, max_steps=1, max_length=256)
    assert result.steps == 1
    tokenizer = seen[0]
    assert tokenizer.is_fast is False
    text = train_records[0]["messages"][0]["content"]
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == original_slow_ids(
        source / "tokenizer.model", text
    )
    assert (out / "tokenizer.model").is_file()  # the checkpoint keeps the sentencepiece model
    assert LumosTransformersLLM(model_id=str(out), local_files_only=True).tokenizer.is_fast is False


def test_cli_train(
    tiny_base: Path, train_records: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "train.jsonl"
    write_annotations(train_records[:2], data)
    out = tmp_path / "cli_out"
    argv = ["train", "--model", str(tiny_base), "--data", str(data), "--output", str(out)]
    assert cli_main([*argv, "--max-steps", "2", "--lr", "1e-3", "--max-length", "256", "--no-bf16"]) == 0
    assert "trained 2 steps on 2 examples" in capsys.readouterr().out
    assert (out / "config.json").exists()
    missing = [
        "train",
        "--model",
        str(tiny_base),
        "--data",
        str(tmp_path / "nope.jsonl"),
        "--output",
        str(out),
    ]
    assert cli_main(missing) == 2
    assert "lumos train: error" in capsys.readouterr().err
