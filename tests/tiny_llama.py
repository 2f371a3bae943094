"""Build a tiny, random, fully offline `LlamaForCausalLM` checkpoint for tests.

The checkpoint directory holds a randomly initialised two-layer Llama model and a
byte-level BPE tokenizer trained on a few Lumos-style lines, saved with
`save_pretrained` so `AutoModelForCausalLM.from_pretrained(path)` and
`AutoTokenizer.from_pretrained(path)` work with `HF_HUB_OFFLINE=1`.

The tokenizer has the special tokens `<unk>` (0), `<s>` (1), `</s>` (2) and
`<pad>` (3), like the Lumos Llama-2 tokenizer (which also has a `<pad>`). Runs of
newlines are merged into single tokens (`"\\n\\n"`), so tests can exercise newline
detection on merged tokens.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SPECIAL_TOKENS", "TRAINING_TEXT", "build_tiny_llama"]

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")

TRAINING_TEXT = """<|user|>
Please provide a reasonable subgoal-based plan to solve the given task.
Task: What is the capital of the country where the Eiffel Tower is?; Initial Environment Description: None.
<|assistant|>
Subgoal 1: Query the country where the Eiffel Tower is located.

<|user|>
The executed result for Subgoal 1 is France. Should we stop planning?
<|assistant|>
No, I will keep planning. Subgoal 2: Query the capital of France.

<|user|>
Please ground the given subgoal to corresponding executable actions for solving the given task.
Task: What is the capital of France? 
Subgoal to be grounded: Subgoal 1: Query the capital of France.
<|assistant|>
R1 = KnowledgeQuery(France); R2 = ParagraphRetrieve(R1, Query: capital of France); R3 = QA([R2], Question: What is the capital of France?)

<|user|>
The executed result for Subgoal 2 is Paris. Should we stop planning?
<|assistant|>
Yes, I will stop planning.
R1 = Calculator(28 * 1/7); R2 = SolveEquation(x + 3 = 5); R3 = Define(x = 2)
Subgoal 1: Calculate the number of apples. Subgoal 2: Count the pears.
</s>
<s>
"""


def build_tiny_llama(
    path: Path,
    *,
    vocab_size: int = 400,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    max_position_embeddings: int = 4096,
    seed: int = 0,
) -> Path:
    """Build and save a tiny random Llama model and its tokenizer.

    Args:
        path: Directory to write (created if missing).
        vocab_size: Target BPE vocabulary size (256 byte symbols + specials + merges).
        hidden_size: Model width.
        num_layers: Number of decoder layers.
        num_heads: Number of attention heads (and key/value heads).
        max_position_embeddings: Longest supported sequence.
        seed: `torch.manual_seed` for the weights.

    Returns:
        `path`, ready for `from_pretrained`.
    """
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    # Newline runs are kept whole so BPE learns merged newline tokens ("\n\n").
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\n+| ?[^\s]+|\s+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([TRAINING_TEXT] * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.save_pretrained(path)

    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        pad_token_id=ids["<pad>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<s>"], eos_token_id=ids["</s>"], pad_token_id=ids["<pad>"]
    )
    model.save_pretrained(path)
    return path
