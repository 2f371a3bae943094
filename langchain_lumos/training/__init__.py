"""Training data and fine-tuning for Lumos planners and grounders.

- `annotations`: the unified dialogue JSONL format and the raw conversion records.
- `convert`: raw annotations -> training dialogues (as the original conversion), and
  `LumosAgent` runs -> dialogues.
- `finetune`: open-instruct-exact tokenization and a `transformers.Trainer` run (torch,
  transformers and, for LoRA, peft are imported lazily).
- `annotate`: ground-truth reasoning -> execution-checked raw annotations, with an
  annotator model (`lumos annotate`).
- `fanoutqa`: FanOutQA gold decompositions -> raw annotations and training dialogues,
  without a model (`lumos annotate --dataset fanoutqa`).
- `cli`: `lumos train` and `lumos convert`.
"""

from __future__ import annotations

from langchain_lumos.training.annotations import (
    DATASET_IDS,
    AnnotationError,
    AnnotationRecord,
    RawAnnotation,
    read_annotations,
    read_raw_annotations,
    validate_record,
    write_annotations,
    write_raw_annotations,
)
from langchain_lumos.training.convert import (
    ConversionResult,
    ConversionSkipped,
    convert_annotations,
    ground_dialogue,
    integrated_dialogue,
    parse_annotated_action,
    parse_subgoal_plan,
    plan_dialogue,
    run_to_dialogues,
    runs_to_dialogues,
)
from langchain_lumos.training.finetune import FinetuneResult, encode_messages, finetune

__all__ = [
    "DATASET_IDS",
    "AnnotationError",
    "AnnotationRecord",
    "ConversionResult",
    "ConversionSkipped",
    "FinetuneResult",
    "RawAnnotation",
    "convert_annotations",
    "encode_messages",
    "finetune",
    "ground_dialogue",
    "integrated_dialogue",
    "parse_annotated_action",
    "parse_subgoal_plan",
    "plan_dialogue",
    "read_annotations",
    "read_raw_annotations",
    "run_to_dialogues",
    "runs_to_dialogues",
    "validate_record",
    "write_annotations",
    "write_raw_annotations",
]
