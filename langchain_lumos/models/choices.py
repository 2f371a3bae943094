"""Choice scoring: how likely a causal LM finds each of several continuations of one prompt.

`LumosTransformersLLM` answers a call made with `choices=[...]` by scoring every choice
instead of decoding, and returns the most likely one (`choice_logprobs`). This is what an
extractive answer step needs from a small model: SmolLM2-135M, asked to copy an answer out
of two evidence sentences, often writes a plausible neighbour ("Indian state" for
Karnataka), yet ranks the right span above it when it is asked to weigh the spans.

A choice's score is its sequence log-likelihood: the sum of the log-probabilities of its
tokens, and of an end marker after them (the chat template's end-of-turn token, or a
newline), so a span cut short ("Pyotr Ilyich") pays for ending early. The prompt is
prefilled once; its key/value cache is repeated for a chunk of choices, which run as one
right-padded batch (padding after a choice's tokens cannot change their causal logits).
Greedy decoding picks the likeliest token at each step; scoring compares whole choices,
which a token-by-token constraint (a grammar of alternatives) cannot.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

__all__ = ["choice_logprobs"]


def choice_logprobs(
    model: Any,
    prompt_ids: Sequence[int],
    choices: Sequence[Sequence[int]],
    *,
    cache_kwarg: str = "past_key_values",
    chunk_size: int = 16,
) -> list[float]:
    """The log-likelihood of each choice's tokens after the prompt's.

    Args:
        model: A `transformers` causal LM.
        prompt_ids: The prompt's token ids (at least one).
        choices: Each choice's token ids, end marker included (at least one token each).
        cache_kwarg: The keyword the model's `forward` takes a cache under (`cache` since
            transformers 5.x, `past_key_values` before).
        chunk_size: How many choices share one batched forward (bounds the repeated
            cache's memory: `chunk_size` copies of the prompt's key/value cache).

    Returns:
        One summed log-probability per choice, in the order given.

    Raises:
        ValueError: An empty prompt or an empty choice.
    """
    import torch
    from transformers import DynamicCache

    if not prompt_ids:
        msg = "Choice scoring needs a non-empty prompt."
        raise ValueError(msg)
    if any(len(c) == 0 for c in choices):
        msg = "Every choice needs at least one token (its end marker counts)."
        raise ValueError(msg)
    if not choices:
        return []
    device = model.device
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        out = model(
            input_ids=torch.tensor([list(prompt_ids)], device=device), use_cache=True, **{cache_kwarg: cache}
        )
        first = out.logits[0, -1].float().log_softmax(-1)
        scores: list[float] = []
        for start in range(0, len(choices), max(1, chunk_size)):
            chunk = [list(c) for c in choices[start : start + max(1, chunk_size)]]
            totals = [float(first[c[0]]) for c in chunk]
            width = max(len(c) for c in chunk) - 1  # the last token of a choice is never fed
            if width > 0:
                rows = copy.deepcopy(cache)
                rows.batch_repeat_interleave(len(chunk))
                fill = chunk[0][0]  # any id: padded positions come after every real token
                ids = torch.tensor([c[:-1] + [fill] * (width - len(c) + 1) for c in chunk], device=device)
                mask = torch.ones((len(chunk), len(prompt_ids) + width), dtype=torch.long, device=device)
                logits = model(
                    input_ids=ids, attention_mask=mask, use_cache=True, **{cache_kwarg: rows}
                ).logits
                logprobs = logits.float().log_softmax(-1)
                for i, c in enumerate(chunk):
                    totals[i] += sum(float(logprobs[i, k - 1, c[k]]) for k in range(1, len(c)))
            scores.extend(totals)
    return scores
