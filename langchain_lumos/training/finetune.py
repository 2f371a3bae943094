r"""Fine-tune a causal LM on Lumos dialogues, as the released models were trained.

The tokenization reproduces open-instruct's `encode_with_messages_format` (used by
`model/finetune.py` of allenai/lumos): each user turn is `<|user|>\n{content}\n`, each
assistant turn `<|assistant|>\n{content}{eos}\n` (contents stripped), the whole text is
stripped and tokenized with the tokenizer's special tokens (one BOS in front). Labels are
-100 everywhere except the assistant messages (content, EOS and, as in open-instruct, the
newline closing a non-final one): user turns and each `<|assistant|>\n` header are
masked, with the boundaries found by tokenizing the conversation prefixes, like the
original. Examples are truncated at `max_length`; those
left with no target token are dropped.

Training uses a `transformers.Trainer` (linear schedule, warmup ratio 0.03, lr 2e-5, no
weight decay, 2 epochs: the Lumos hyper-parameters) on CPU (float32) or GPU (bf16 mixed
precision when supported). With `lora=True` a PEFT LoRA adapter is trained and merged
before saving, so the output directory always holds a plain checkpoint that loads in
`LumosTransformersLLM(model_id=output_dir)`. Everything is offline (`local_files_only`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_lumos.models.transformers import load_tokenizer
from langchain_lumos.training.annotations import AnnotationRecord, read_annotations, validate_record

__all__ = [
    "LORA_TARGET_MODULES",
    "EncodedExample",
    "FinetuneResult",
    "PaddingCollator",
    "encode_messages",
    "finetune",
    "messages_text",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

LORA_TARGET_MODULES = ("q_proj", "o_proj", "v_proj", "k_proj", "gate_proj", "up_proj", "down_proj")
"""The LoRA target modules of the original fine-tuning script."""

USER_HEADER = "<|user|>\n"
ASSISTANT_HEADER = "<|assistant|>\n"


class EncodedExample(dict):
    """`input_ids`, `labels` and `attention_mask` (lists of ints) of one dialogue."""


def messages_text(messages: Sequence[Mapping[str, Any]], eos_token: str) -> str:
    """The concatenated conversation text, unstripped (a prefix of the training text).

    Raises:
        ValueError: On a role other than `user`/`assistant`/`system`.
    """
    text = ""
    for message in messages:
        role, content = message["role"], message["content"].strip()
        if role == "user":
            text += USER_HEADER + content + "\n"
        elif role == "assistant":
            text += ASSISTANT_HEADER + content + eos_token + "\n"
        elif role == "system":
            text += "<|system|>\n" + content + "\n"
        else:
            msg = f"Invalid role: {role!r}"
            raise ValueError(msg)
    return text


def _token_ids(tokenizer: Any, text: str, max_length: int) -> list[int]:
    """Tokenize with special tokens, ensuring exactly one leading BOS, then truncate."""
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos, *ids]
    return ids[:max_length]


def encode_messages(
    messages: Sequence[Mapping[str, Any]], tokenizer: Any, max_length: int = 1024
) -> EncodedExample:
    """Tokenize one dialogue and mask everything but the assistant answers.

    Args:
        messages: `{"role", "content"}` turns.
        tokenizer: A `transformers` tokenizer with an EOS token.
        max_length: Truncation length in tokens.

    Returns:
        `input_ids`, `labels` (-100 where masked) and `attention_mask`.

    Raises:
        ValueError: If `messages` is empty or the tokenizer has no EOS token.
    """
    if not messages:
        msg = "messages field is empty."
        raise ValueError(msg)
    eos = tokenizer.eos_token
    if not eos:
        msg = "The tokenizer has no EOS token; set tokenizer.eos_token first."
        raise ValueError(msg)
    input_ids = _token_ids(tokenizer, messages_text(messages, eos).strip(), max_length)
    labels = list(input_ids)
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            continue
        start = 0 if i == 0 else len(_token_ids(tokenizer, messages_text(messages[:i], eos), max_length))
        prefix = messages_text(messages[: i + 1], eos)
        if i + 1 < len(messages) and messages[i + 1]["role"] == "assistant":
            prefix += ASSISTANT_HEADER  # the assistant's role header is not a target either
        end = len(_token_ids(tokenizer, prefix, max_length))
        labels[start:end] = [-100] * len(labels[start:end])
        if end >= max_length:
            break
    return EncodedExample(input_ids=input_ids, labels=labels, attention_mask=[1] * len(input_ids))


@dataclasses.dataclass
class PaddingCollator:
    """Right-pad a batch: `pad_token_id` for inputs, -100 for labels, 0 for the mask."""

    pad_token_id: int
    label_pad_id: int = -100

    def __call__(self, features: Sequence[Mapping[str, Sequence[int]]]) -> dict[str, Any]:
        """Stack the padded features into tensors."""
        import torch

        width = max(len(f["input_ids"]) for f in features)
        pads = {"input_ids": self.pad_token_id, "labels": self.label_pad_id, "attention_mask": 0}
        return {
            key: torch.tensor(
                [list(f[key]) + [pad] * (width - len(f[key])) for f in features], dtype=torch.long
            )
            for key, pad in pads.items()
        }


@dataclasses.dataclass
class FinetuneResult:
    """What a `finetune` run did."""

    output_dir: Path
    num_examples: int
    """Examples trained on (after dropping those with no target token)."""
    num_dropped: int
    """Examples with no target token left after truncation."""
    steps: int
    """Optimizer steps taken."""
    losses: list[tuple[int, float]]
    """`(step, training loss)` as logged at every step."""
    seconds: float
    lora: bool

    @property
    def first_loss(self) -> float | None:
        """The first logged training loss."""
        return self.losses[0][1] if self.losses else None

    @property
    def last_loss(self) -> float | None:
        """The last logged training loss."""
        return self.losses[-1][1] if self.losses else None


def _load_records(
    train_files: PathLike | Mapping[str, Any] | Sequence[PathLike | Mapping[str, Any]],
    datasets: Sequence[str] | None,
) -> list[AnnotationRecord]:
    items = [train_files] if isinstance(train_files, (str, os.PathLike, Mapping)) else list(train_files)
    if not items:
        msg = "No training data given."
        raise ValueError(msg)
    records: list[AnnotationRecord] = []
    for n, item in enumerate(items):
        if isinstance(item, Mapping):
            records.append(validate_record(item, where=f"record {n}"))
        else:
            records += read_annotations(item)
    if datasets is not None:
        records = [r for r in records if r["dataset"] in set(datasets)]
    if not records:
        msg = "No training records left (check the files and the `datasets` filter)."
        raise ValueError(msg)
    return records


def _lora_targets(model: Any, wanted: Sequence[str] | str) -> list[str] | str:
    if isinstance(wanted, str):
        return wanted
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    found = [m for m in wanted if m in names]
    return found or "all-linear"


def _checkpointing_kwargs(args_cls: Any, enabled: bool) -> dict[str, Any]:
    """`activation_checkpointing` (transformers >= 5) or `gradient_checkpointing`."""
    if not enabled:
        return {}
    fields = getattr(args_cls, "__dataclass_fields__", {})
    key = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    return {key: True}


def finetune(
    model_name_or_path: PathLike,
    train_files: PathLike | Mapping[str, Any] | Sequence[PathLike | Mapping[str, Any]],
    output_dir: PathLike,
    *,
    lr: float = 2e-5,
    epochs: float = 2,
    max_length: int = 1024,
    warmup_ratio: float = 0.03,
    weight_decay: float = 0.0,
    lr_scheduler: str = "linear",
    per_device_batch_size: int = 2,
    gradient_accumulation_steps: int = 1,
    lora: bool = False,
    lora_rank: int = 64,
    lora_alpha: int = 16,
    lora_dropout: float = 0.1,
    lora_target_modules: Sequence[str] | str = LORA_TARGET_MODULES,
    bf16: bool | None = None,
    max_steps: int | None = None,
    seed: int = 42,
    datasets: Sequence[str] | None = None,
    use_slow_tokenizer: bool = False,
    gradient_checkpointing: bool = False,
    progress: bool = False,
) -> FinetuneResult:
    """Fine-tune a causal LM on unified Lumos dialogues and save the checkpoint.

    Args:
        model_name_or_path: A local checkpoint directory (or a cached hub id; never
            downloaded).
        train_files: Unified JSONL file(s), or records, or a mix.
        output_dir: Where the model and tokenizer are saved (`save_pretrained`).
        lr: Peak learning rate.
        epochs: Training epochs (ignored when `max_steps` is set).
        max_length: Truncation length in tokens.
        warmup_ratio: Fraction of the steps with linear warmup (`int(total * ratio)`).
        weight_decay: AdamW weight decay.
        lr_scheduler: A `transformers` scheduler name (`linear`, `cosine`, ...).
        per_device_batch_size: Examples per forward pass.
        gradient_accumulation_steps: Forward passes per optimizer step.
        lora: Train a LoRA adapter (PEFT) and merge it into the saved weights.
        lora_rank: LoRA rank.
        lora_alpha: LoRA alpha.
        lora_dropout: LoRA dropout.
        lora_target_modules: Module names to adapt (default: the original's list).
        bf16: bf16 mixed precision; default on a GPU that supports it, off on CPU.
        max_steps: Stop after this many optimizer steps.
        seed: Random seed (weights of LoRA, data order).
        datasets: Keep only records whose `dataset` field is in this list.
        use_slow_tokenizer: Load the slow (sentencepiece) tokenizer, as the original.
        gradient_checkpointing: Trade compute for memory.
        progress: Show the progress bar.

    Returns:
        A `FinetuneResult` with the logged losses.
    """
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments
    from transformers import set_seed as hf_set_seed

    if max_length < 2:
        msg = f"max_length must be at least 2, got {max_length}"
        raise ValueError(msg)
    if max_steps is not None and max_steps < 1:
        msg = f"max_steps must be positive, got {max_steps}"
        raise ValueError(msg)
    records = _load_records(train_files, datasets)
    output_dir = Path(output_dir)
    started = time.perf_counter()
    hf_set_seed(seed)

    source = str(model_name_or_path)
    # transformers 5 ignores `use_fast`: the shared loader picks the sentencepiece class.
    tokenizer = load_tokenizer(source, slow=use_slow_tokenizer, local_files_only=True)
    on_gpu = torch.cuda.is_available()
    use_bf16 = (on_gpu and torch.cuda.is_bf16_supported()) if bf16 is None else bf16
    model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, local_files_only=True)
    if tokenizer.pad_token is None:
        # As open-instruct does for Llama: a dedicated `<pad>` token.
        tokenizer.add_special_tokens({"pad_token": "<pad>"})
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id

    encoded = [encode_messages(r["messages"], tokenizer, max_length) for r in records]
    examples = [e for e in encoded if any(label != -100 for label in e["labels"])]
    dropped = len(encoded) - len(examples)
    if not examples:
        msg = "Every example lost its targets to truncation; raise max_length."
        raise ValueError(msg)

    if lora:
        from peft import LoraConfig, TaskType, get_peft_model

        config = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            inference_mode=False,
            r=lora_rank,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=_lora_targets(model, lora_target_modules),
        )
        model = get_peft_model(model, config)

    batches = math.ceil(len(examples) / per_device_batch_size)
    steps_per_epoch = max(math.ceil(batches / gradient_accumulation_steps), 1)
    total = max_steps if max_steps is not None else math.ceil(epochs * steps_per_epoch)
    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        learning_rate=lr,
        num_train_epochs=epochs,
        max_steps=max_steps if max_steps is not None else -1,
        warmup_steps=int(total * warmup_ratio),
        weight_decay=weight_decay,
        lr_scheduler_type=lr_scheduler,
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=not on_gpu,
        bf16=use_bf16,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=not progress,
        **_checkpointing_kwargs(TrainingArguments, gradient_checkpointing),
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=examples,
        data_collator=PaddingCollator(pad_token_id=tokenizer.pad_token_id),
    )
    if not progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # no per-step dicts on stdout
    output = trainer.train()
    losses = [
        (int(entry["step"]), float(entry["loss"]))
        for entry in trainer.state.log_history
        if "loss" in entry and "step" in entry
    ]

    model = trainer.model
    if lora:
        model = model.merge_and_unload()
    model.config.use_cache = True
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    logger.info("Saved the fine-tuned model to %s", output_dir)
    return FinetuneResult(
        output_dir=output_dir,
        num_examples=len(examples),
        num_dropped=dropped,
        steps=int(output.global_step),
        losses=losses,
        seconds=time.perf_counter() - started,
        lora=lora,
    )
