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
right-padded batch (padding after a choice's tokens cannot change their causal logits). A
choice whose tokens begin another's is read off that one's logits (`Pyotr Ilyich` off
`Pyotr Ilyich Tchaikovsky`) and costs no forward of its own.
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
    bodies = [tuple(c[:-1]) for c in choices]  # what is fed: the last token never is
    carriers, carried = _carriers(bodies)
    scores = [0.0] * len(choices)
    device = model.device
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        out = model(
            input_ids=torch.tensor([list(prompt_ids)], device=device), use_cache=True, **{cache_kwarg: cache}
        )
        first = out.logits[0, -1].float().log_softmax(-1)
        step = max(1, chunk_size)
        for start in range(0, len(carriers), step):
            chunk = carriers[start : start + step]
            width = max(len(bodies[i]) for i in chunk)
            logprobs = None
            if width > 0:
                rows = copy.deepcopy(cache)
                rows.batch_repeat_interleave(len(chunk))
                fill = choices[chunk[0]][0]  # any id: padded positions come after every real token
                ids = torch.tensor(
                    [[*bodies[i], *[fill] * (width - len(bodies[i]))] for i in chunk], device=device
                )
                mask = torch.ones((len(chunk), len(prompt_ids) + width), dtype=torch.long, device=device)
                logits = model(
                    input_ids=ids, attention_mask=mask, use_cache=True, **{cache_kwarg: rows}
                ).logits
                logprobs = logits.float().log_softmax(-1)
            for row, carrier in enumerate(chunk):
                for i in carried[carrier]:
                    c = choices[i]
                    total = float(first[c[0]])
                    if logprobs is not None:
                        total += sum(float(logprobs[row, k - 1, c[k]]) for k in range(1, len(c)))
                    scores[i] = total
    return scores


def _carriers(bodies: Sequence[tuple[int, ...]]) -> tuple[list[int], dict[int, list[int]]]:
    """The choices to feed, and the choices each one's forward scores.

    A choice whose fed tokens begin a longer choice's (`Pyotr` and `Pyotr Ilyich` in
    `Pyotr Ilyich Tchaikovsky`) is read off the longer one's logits: its tokens' log-probs
    are the same positions, and its end marker's the distribution after its last token. So
    a span's sub-spans from its first word cost no forward of their own.

    Returns:
        The carriers' indices (longest first) and, per carrier, the indices it scores.
    """
    carriers: list[int] = []
    carried: dict[int, list[int]] = {}
    prefix_of: dict[tuple[int, ...], int] = {}
    for i in sorted(range(len(bodies)), key=lambda i: -len(bodies[i])):
        carrier = prefix_of.get(bodies[i])
        if carrier is None:
            carrier = i
            carriers.append(i)
            for n in range(len(bodies[i]) + 1):
                prefix_of.setdefault(bodies[i][:n], i)
        carried.setdefault(carrier, []).append(i)
    return carriers, carried
