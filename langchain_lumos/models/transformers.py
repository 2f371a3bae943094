r"""Local Hugging Face `transformers` backend for the Lumos planner and grounder.

`LumosTransformersLLM` is a LangChain `BaseLLM` (string in, string out). The
core renders the complete raw Lumos prompt (`"<|user|>\n...\n<|assistant|>\n"`);
this class tokenizes it verbatim (`add_special_tokens=False`, so no BOS is added, but
`<s>`/`</s>` written in the text become special tokens), decodes greedily and cuts the
completion at the first newline, like the original `eval/utils.py::generate_completions`.

Differences from the original:

* The model and tokenizer are loaded once, lazily and thread-safely, and stay resident
  (`load_count` counts real loads). In async code the load runs in a worker thread,
  never on the event loop, and tracing properties never trigger it.
* Prefix KV-cache reuse: a prompt that starts with an earlier prompt plus its output
  (every later planner/grounder turn of an iterative run) prefills only the new tokens.
  See `LumosTransformersLLM.prefix_cache_max_entries`.
* Stopping is per sequence: a row stops at its first generated newline (by token id *or*
  by decoded text, for tokenizers that merge `"\n"` into larger tokens) or at any
  caller `stop` string; the batch stops when every row is finished.
* Concurrent async calls arriving within `batch_window_ms` are padded together into
  one `generate` call run in a worker thread.
* Constrained decoding (`supports_grammar`): `generate(prompts, grammar=...)` keeps each
  output inside an xgrammar EBNF grammar (see `langchain_lumos.grammar`), one grammar per
  prompt; calls with different grammars still share one padded batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import os
import threading
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseLLM, LangSmithParams
from langchain_core.outputs import Generation, LLMResult
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from langchain_lumos.errors import CheckpointNotFoundError
from langchain_lumos.grammar import per_prompt_grammars
from langchain_lumos.models.prefix_store import common_prefix

if TYPE_CHECKING:
    import torch

__all__ = [
    "LumosTransformersLLM",
    "NewlineStoppingCriteria",
    "hf_offline",
    "is_checkpoint_cached",
    "load_tokenizer",
]

_TRUTHY = {"1", "on", "yes", "true"}
_STAT_KEYS = (
    "calls",
    "prompt_tokens",
    "prefilled_tokens",
    "reused_tokens",
    "cache_hits",
    "disk_reused_tokens",
    "generated_tokens",
)
_DTYPES = ("auto", "float32", "float16", "bfloat16")


def hf_offline() -> bool:
    """Return whether the Hugging Face Hub is in offline mode (read at call time).

    Returns:
        True when `HF_HUB_OFFLINE` or `TRANSFORMERS_OFFLINE` is set to a truthy value.
    """
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUTHY:
            return True
    return False


def is_checkpoint_cached(repo_id: str, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """Return whether a Hub model's `config.json` is in the local Hugging Face cache.

    Args:
        repo_id: Hub id such as `"ai2lumos/lumos_complex_qa_plan_iterative"`.
        cache_dir: Hugging Face cache directory (default: the standard one).

    Returns:
        True when the checkpoint config is cached (weights are then most likely cached).
    """
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(
            repo_id, "config.json", cache_dir=None if cache_dir is None else str(cache_dir)
        )
    except ValueError:  # not a valid repo id
        return False
    return isinstance(found, str)


def _is_local(model_id: str) -> bool:
    return Path(model_id).expanduser().is_dir()


class NewlineStoppingCriteria:
    r"""Per-sequence stopping criterion: first generated newline, stop string or EOS.

    Called by `generate` after every step with the full `input_ids` (prompt plus
    generated tokens). A row is finished once its newest token is a newline token id
    (`tokenizer.encode("\n", add_special_tokens=False)[-1]`, as in the original),
    an EOS id, or once the decoded text of its generated tokens contains `"\n"` (for
    tokenizers that merge newlines into larger tokens) or one of the row's stop strings.
    Returns a bool tensor (one entry per row); `generate` stops when all are True.

    Attributes:
        finished_at: Per row, the number of generated tokens when it finished (the
            finishing token included), or None while running.
        reasons: Per row, `"stop"` (newline/stop string), `"eos"` or None.
    """

    def __init__(
        self,
        tokenizer: Any,
        prompt_length: int,
        batch_size: int,
        *,
        stop_at_newline: bool = True,
        stops: Sequence[Sequence[str] | None] | None = None,
        eos_token_ids: Sequence[int] = (),
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.stop_at_newline = stop_at_newline
        rows = list(stops) if stops is not None else [None] * batch_size
        if len(rows) != batch_size:
            msg = f"stops has {len(rows)} rows, expected {batch_size}"
            raise ValueError(msg)
        self.stops: list[list[str]] = [[s for s in (r or []) if s] for r in rows]
        if stop_at_newline:
            self.stops = [[*r, "\n"] if "\n" not in r else r for r in self.stops]
        self.newline_ids: set[int] = set()
        if stop_at_newline:
            encoded = tokenizer.encode("\n", add_special_tokens=False)
            if encoded:
                self.newline_ids.add(int(encoded[-1]))
        self.eos_ids = {int(i) for i in eos_token_ids}
        # Each generated token adds at least one character except partial UTF-8 byte
        # tokens, so a stop string that just completed lies in this many last tokens.
        longest = max((len(s) for r in self.stops for s in r), default=1)
        self.window = 8 + 4 * longest
        self.finished_at: list[int | None] = [None] * batch_size
        self.reasons: list[str | None] = [None] * batch_size

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> Any:
        """Mark rows that just finished; return the per-row done mask."""
        import torch

        n_new = input_ids.shape[1] - self.prompt_length
        done = []
        for row in range(input_ids.shape[0]):
            if self.finished_at[row] is None and n_new > 0:
                reason = self._check(input_ids[row], n_new, row)
                if reason is not None:
                    self.finished_at[row] = n_new
                    self.reasons[row] = reason
            done.append(self.finished_at[row] is not None)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _check(self, ids: Any, n_new: int, row: int) -> str | None:
        last = int(ids[-1])
        if last in self.newline_ids:
            return "stop"
        if last in self.eos_ids:
            return "eos"
        if not self.stops[row]:
            return None
        tail = ids[-min(n_new, self.window) :].tolist()
        text = self.tokenizer.decode(tail, skip_special_tokens=True)
        if any(s in text for s in self.stops[row]):
            return "stop"
        return None


@dataclass
class _Row:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    cached_tokens: int = 0
    choice_logprobs: list[float] | None = None
    """For a call with `choices`: each choice's log-likelihood."""


@dataclass
class _Request:
    prompt: str
    stop: list[str] | None
    gen_kwargs: dict[str, Any]
    key: Any
    grammar: Any
    """The row's compiled grammar, or None (rows of one batch may differ)."""
    future: asyncio.Future[_Row] = field(repr=False)


class _LoopBatcher:
    """Collects async requests on one event loop and runs them as padded batches."""

    def __init__(self, llm: LumosTransformersLLM) -> None:
        self.llm = llm
        self.pending: list[_Request] = []
        self.task: asyncio.Task[None] | None = None
        self.full = asyncio.Event()

    def submit(self, prompt: str, stop: list[str] | None, gen_kwargs: dict[str, Any], grammar: Any) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_Row] = loop.create_future()
        self.pending.append(_Request(prompt, stop, gen_kwargs, _freeze(gen_kwargs), grammar, fut))
        if len(self.pending) >= self.llm.max_batch_size:
            self.full.set()
        if self.task is None:
            self.task = loop.create_task(self._drain())
        return fut

    async def _drain(self) -> None:
        try:
            if not self.full.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.full.wait(), self.llm.batch_window_ms / 1000)
            # Requests arriving while a batch runs are served right after it.
            while self.pending:
                batch, self.pending = self.pending, []
                self.full.clear()
                groups: dict[Any, list[_Request]] = {}
                for req in batch:
                    groups.setdefault(req.key, []).append(req)
                for reqs in groups.values():
                    for start in range(0, len(reqs), self.llm.max_batch_size):
                        await self._run(reqs[start : start + self.llm.max_batch_size])
        except BaseException as exc:
            for req in self.pending:
                if not req.future.done():
                    req.future.set_exception(exc)
            self.pending = []
            raise
        finally:
            self.task = None

    async def _run(self, chunk: list[_Request]) -> None:
        live = [r for r in chunk if not r.future.done()]
        if not live:
            return
        try:
            rows = await asyncio.to_thread(
                self.llm._generate_rows,
                [r.prompt for r in live],
                [r.stop for r in live],
                live[0].gen_kwargs,
                [r.grammar for r in live],
            )
        except asyncio.CancelledError:
            for r in live:
                if not r.future.done():
                    r.future.cancel()
            raise
        except Exception as exc:  # delivered to every caller of this batch
            for r in live:
                if not r.future.done():
                    r.future.set_exception(exc)
            return
        for r, row in zip(live, rows, strict=True):
            if not r.future.done():
                r.future.set_result(row)


def _per_prompt_choices(kwargs: dict[str, Any], n_prompts: int) -> tuple[list[list[str]] | None, str | None]:
    """A call's `choices=` as one list per prompt (None without it) and its `choice_end` (both popped)."""
    choices = kwargs.pop("choices", None)
    end = kwargs.pop("choice_end", None)
    if choices is None:
        return None, None
    if kwargs.get("grammar"):
        msg = "A call takes choices= or grammar=, not both."
        raise ValueError(msg)
    rows = (
        [list(choices)] * n_prompts
        if all(isinstance(c, str) for c in choices)
        else [list(c) for c in choices]
    )
    if len(rows) != n_prompts or not all(row and all(isinstance(c, str) and c for c in row) for row in rows):
        msg = (
            f"choices must be a non-empty list of non-empty strings, or {n_prompts} such lists "
            "(one per prompt)."
        )
        raise ValueError(msg)
    return rows, end


def _freeze(value: Any) -> Any:
    """Hashable grouping key for generation kwargs (unhashable values by identity)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


_IMPORT_LOCK = threading.Lock()


def _import_backend() -> Any:
    """Import torch and transformers completely, once, under a lock; return torch.

    Called only from the thread that loads or runs the model (a worker thread in async
    code), so an import is never interrupted half-way by an event-loop guard.
    """
    with _IMPORT_LOCK:
        import torch
        import transformers  # noqa: F401

    return torch


@dataclass
class _CacheEntry:
    ids: list[int]
    """The tokens whose keys/values `cache` holds (prompt plus generated tokens)."""
    cache: Any
    """A batch-1 `DynamicCache`."""
    prompt_len: int
    """How many of `ids` were the prompt (the rest was generated)."""


class _PrefixCache:
    """A small LRU of key/value caches of earlier single-prompt generations.

    A new prompt reuses the entry sharing its longest common token prefix. When the
    new prompt contains the entry's whole prompt, it continues that conversation: the
    entry is taken over (cropped to the shared prefix in place, grown by the new call
    and stored again), so one conversation holds one entry even where the new prompt
    tokenizes the earlier output differently. A shorter match (for example shared
    few-shot exemplars of two questions) copies the shared prefix and keeps the entry.
    Bounded by `max_entries` and `max_tokens` (least recently used entries go first).

    Args:
        max_entries: Most cached conversations.
        max_tokens: Most cached tokens over all entries.
        min_tokens: Shortest prefix worth reusing.
    """

    def __init__(self, max_entries: int, max_tokens: int, min_tokens: int = 8) -> None:
        self.max_entries = max_entries
        self.max_tokens = max_tokens
        self.min_tokens = min_tokens
        self.entries: list[_CacheEntry] = []  # least recently used first

    @property
    def tokens(self) -> int:
        """Tokens held over all entries."""
        return sum(len(e.ids) for e in self.entries)

    def clear(self) -> None:
        """Drop every entry."""
        self.entries = []

    def take(self, ids: Sequence[int]) -> tuple[Any | None, int]:
        """Return a cache holding the longest reusable prefix of `ids`, and its length.

        At least one token of `ids` is always left to prefill (generation needs the
        logits of the last prompt token). Returns `(None, 0)` below `min_tokens`.
        """
        best, best_len = None, 0
        for entry in self.entries:
            n = common_prefix(entry.ids, ids)
            if n > best_len:
                best, best_len = entry, n
        reuse = min(best_len, len(ids) - 1)
        if best is None or reuse < self.min_tokens:
            return None, 0
        self.entries.remove(best)
        if best_len >= best.prompt_len:  # the prompt continues (or repeats) this conversation
            _crop(best.cache, reuse)  # taken over: the new call stores it again, longer
            return best.cache, reuse
        self.entries.append(best)  # shared prefix only: copy it, keep the entry
        return _copy_prefix(best.cache, reuse), reuse

    def put(self, ids: list[int], cache: Any, prompt_len: int) -> None:
        """Store a cache for `ids`, dropping entries it supersedes and the LRU overflow."""
        self.entries = [e for e in self.entries if common_prefix(e.ids, ids) < len(e.ids)]
        if len(ids) <= self.max_tokens:
            self.entries.append(_CacheEntry(ids, cache, min(prompt_len, len(ids))))
        while self.entries and (len(self.entries) > self.max_entries or self.tokens > self.max_tokens):
            self.entries.pop(0)


def _crop(cache: Any, keep: int) -> None:
    extra = cache.get_seq_length() - keep
    if extra > 0:
        cache.crop(-extra)  # negative: remove that many tokens from the end


def _copy_prefix(cache: Any, keep: int) -> Any:
    from transformers import DynamicCache

    copy = DynamicCache()
    for index, layer in enumerate(cache.layers):
        copy.update(layer.keys[..., :keep, :].clone(), layer.values[..., :keep, :].clone(), index)
    return copy


def _reusable(cache: Any) -> bool:
    """Whether a cache can be cropped and copied token-exactly (full-attention layers only)."""
    from transformers.cache_utils import DynamicLayer

    layers: list[Any] = list(getattr(cache, "layers", None) or [])
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def _cache_kwarg(model: Any) -> str:
    """The name `generate` takes a cache under (`cache` since transformers 5.x)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class LumosTransformersLLM(BaseLLM):
    r"""Lumos planner/grounder served by a local `transformers` causal LM.

    The prompt is sent verbatim: rendering (BOS text, turn separators) is the caller's
    job. Greedy decoding, one line out.

    Example:
        ```python
        llm = LumosTransformersLLM(model_id="ai2lumos/lumos_maths_plan_iterative")
        llm.invoke("<|user|>\nPlease provide ...\n<|assistant|>\n", stop=["\n"])
        llm.invoke(prompt, grammar=grounding_grammar(["Calculator", "SetEquation"]))
        ```
    """

    model_config = ConfigDict(protected_namespaces=())

    model_id: str
    """Hub id or local directory of the checkpoint."""
    tokenizer_id: str | None = None
    """Tokenizer id or directory (default: `model_id`)."""
    device: Literal["cpu", "cuda", "auto"] | str = "cpu"
    """`"cpu"`, `"cuda"` (or `"cuda:1"`), or `"auto"` (accelerate `device_map`)."""
    dtype: str | None = None
    """`"float32"`, `"float16"`, `"bfloat16"` or `"auto"`; default float32 on CPU and
    float16 on GPU (the originals ran fp16)."""
    max_new_tokens: int = Field(default=512, ge=1)
    use_slow_tokenizer: bool | None = None
    """Use the slow sentencepiece tokenizer, as the original eval did (`use_fast=False`).
    None (default): slow when the checkpoint ships a sentencepiece `tokenizer.model` (the
    released Llama-2-based `ai2lumos/*` checkpoints do) and `sentencepiece` is
    installed, fast otherwise (SmolLM2, GGUF conversions)."""
    stop_at_newline: bool = True
    """Stop each sequence at its first generated newline and keep only the first line."""
    batch_window_ms: float = Field(default=5.0, ge=0.0)
    """How long async requests are collected before one padded `generate` call."""
    max_batch_size: int = Field(default=16, ge=1)
    local_files_only: bool | None = None
    """Never touch the network; default: honour `HF_HUB_OFFLINE`."""
    cache_dir: str | None = None
    """Hugging Face cache directory (default: the standard one)."""
    revision: str | None = None
    trust_remote_code: bool = False
    generation_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for `model.generate` (e.g. `min_new_tokens`)."""
    prefix_cache_max_entries: int = Field(default=4, ge=0)
    """Prefix KV-cache reuse: how many recent conversations keep their key/value cache
    (0 disables reuse). A prompt that runs alone (not batched with others) reuses the
    longest common token prefix with a cached entry and prefills only the rest; greedy
    output is the same as without reuse. Batched prompts are not reused (padding would
    misalign the caches; batching already amortises the prefill)."""
    prefix_cache_max_tokens: int = Field(default=8192, ge=0)
    """Most tokens cached over all entries. Memory per token is
    `2 * layers * kv_heads * head_dim * dtype bytes` (SmolLM2-135M float32: 46 KB,
    Llama-2-7B float16: 512 KB)."""
    prefix_cache_dir: str | None = None
    """Keep opening prompts' key/value caches on disk in this directory, so a new process
    prefills only what follows the shared few-shot exemplars (`DiskPrefixStore`; about one
    entry per prompt template, at most 16 per model). None (default): memory only. The
    embedded default (`load_default_llm`) sets it under the model's cache directory."""

    total_load_count: ClassVar[int] = 0
    """Model loads by every instance of this class in this process."""

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _load_count: int = PrivateAttr(default=0)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _gen_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _batchers: Any = PrivateAttr(default_factory=weakref.WeakKeyDictionary)
    _prefix_cache: _PrefixCache | None = PrivateAttr(default=None)
    _disk_store: Any = PrivateAttr(default=None)
    _stats: dict[str, int] = PrivateAttr(default_factory=lambda: dict.fromkeys(_STAT_KEYS, 0))

    @model_validator(mode="after")
    def _check_config(self) -> LumosTransformersLLM:
        if self.dtype is not None and self.dtype not in _DTYPES:
            msg = f"dtype must be one of {_DTYPES} or None, got {self.dtype!r}"
            raise ValueError(msg)
        if not (self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:")):
            msg = f"device must be 'cpu', 'cuda[:N]' or 'auto', got {self.device!r}"
            raise ValueError(msg)
        return self

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **kwargs: Any) -> LumosTransformersLLM:
        """Wrap an already loaded model and tokenizer (nothing is loaded; `load_count` 0).

        The tokenizer is switched to left padding and gets `pad_token = eos_token` if
        it has no pad token.

        Args:
            model: A `transformers` causal LM.
            tokenizer: Its tokenizer.
            **kwargs: Other fields (`max_new_tokens`, `batch_window_ms`, ...).

        Returns:
            The wrapping LLM.
        """
        if "model_id" not in kwargs:
            name = getattr(getattr(model, "config", None), "_name_or_path", "") or ""
            kwargs["model_id"] = name or f"in-memory:{type(model).__name__}"
        llm = cls(**kwargs)
        _prepare_tokenizer(tokenizer)
        llm._model = model
        llm._tokenizer = tokenizer
        return llm

    @property
    def supports_grammar(self) -> bool:
        """Whether calls accept `grammar=` (True when the `xgrammar` package is installed).

        `grammar` is an xgrammar EBNF grammar (see `langchain_lumos.grammar`) that every
        output is constrained to, or a list with one grammar (or None) per prompt.
        """
        return importlib.util.find_spec("xgrammar") is not None

    @property
    def supports_choices(self) -> bool:
        """Whether calls accept `choices=`: score the given continuations instead of decoding.

        `llm.generate([prompt], choices=["Prague", "Vienna"])` returns the likelier choice
        as the text, and every choice's log-likelihood (its tokens' and the end marker's,
        `langchain_lumos.models.choices`) as `generation_info["choice_logprobs"]`.
        `choices` is one list for every prompt or a list of lists, one per prompt;
        `choice_end` is the end marker's text (default: the model's end-of-sequence token,
        which ends a chat-template turn; `""` for none). A call takes `choices` or
        `grammar`, not both.
        """
        return True

    @property
    def load_count(self) -> int:
        """Number of times this instance loaded its model from disk or the Hub."""
        return self._load_count

    @property
    def is_loaded(self) -> bool:
        """Whether the model and tokenizer are resident."""
        return self._model is not None

    @property
    def model(self) -> Any:
        """The resident `transformers` model (loaded on first access; in async code `aload` first)."""
        return self._ensure_loaded()[0]

    @property
    def tokenizer(self) -> Any:
        """The resident tokenizer (loaded on first access)."""
        return self._ensure_loaded()[1]

    def load(self) -> LumosTransformersLLM:
        """Load the model and tokenizer now (idempotent).

        Returns:
            `self`.

        Raises:
            CheckpointNotFoundError: The checkpoint is not cached and cannot be downloaded.
        """
        self._ensure_loaded()
        return self

    @property
    def prefix_cache_stats(self) -> dict[str, int]:
        """Counters since construction (or `clear_prefix_cache`).

        `calls` (prompts generated), `prompt_tokens` (their tokens),
        `prefilled_tokens` (tokens actually run through the model before decoding),
        `reused_tokens` (taken from the prefix cache), `cache_hits`,
        `disk_reused_tokens` (the part of `reused_tokens` read from `prefix_cache_dir`),
        `generated_tokens` and `cached_tokens` (held now).
        """
        held = self._prefix_cache.tokens if self._prefix_cache is not None else 0
        return {**self._stats, "cached_tokens": held}

    def clear_prefix_cache(self, *, disk: bool = False) -> None:
        """Drop every cached prefix (e.g. when a run ends) and reset the counters.

        Args:
            disk: Also delete this model's entries under `prefix_cache_dir`.
        """
        with self._gen_lock:
            if self._prefix_cache is not None:
                self._prefix_cache.clear()
            if disk and self._model is not None and (store := self._disk(self._model)) is not None:
                store.clear()
            self._stats = dict.fromkeys(_STAT_KEYS, 0)

    async def aload(self) -> LumosTransformersLLM:
        """Load the model and tokenizer in a worker thread, off the event loop (idempotent).

        Returns:
            `self`.
        """
        if self._model is None:
            await asyncio.to_thread(self._ensure_loaded)
        return self

    def _offline(self) -> bool:
        return self.local_files_only if self.local_files_only is not None else hf_offline()

    def check_available(self) -> None:
        """Fail fast when offline and the checkpoint is neither a local dir nor cached.

        Raises:
            CheckpointNotFoundError: With a message naming the missing checkpoint.
        """
        if not self._offline():
            return
        for ident in {self.model_id, self.tokenizer_id or self.model_id}:
            if _is_local(ident) or is_checkpoint_cached(ident, self.cache_dir):
                continue
            msg = (
                f"Checkpoint {ident!r} is not a local directory and is not in the local "
                "Hugging Face cache, and the Hub is offline (HF_HUB_OFFLINE=1 or "
                "local_files_only=True). Download it first with "
                f"`huggingface-cli download {ident}` on a machine with network access, "
                "or point model_id at a local directory."
            )
            raise CheckpointNotFoundError(msg)

    def _ensure_loaded(self) -> tuple[Any, Any]:
        if self._model is not None:
            return self._model, self._tokenizer
        with self._load_lock:
            if self._model is None:
                self._model, self._tokenizer = self._load()
                self._load_count += 1
                type(self).total_load_count += 1
        return self._model, self._tokenizer

    def _load(self) -> tuple[Any, Any]:
        torch = _import_backend()
        from transformers import AutoModelForCausalLM

        self.check_available()
        common: dict[str, Any] = {
            "local_files_only": self._offline(),
            "cache_dir": self.cache_dir,
            "revision": self.revision,
            "trust_remote_code": self.trust_remote_code,
        }
        on_gpu = self.device != "cpu" and torch.cuda.is_available()
        if self.device != "cpu" and self.device != "auto" and not torch.cuda.is_available():
            msg = f"device={self.device!r} but CUDA is not available"
            raise ValueError(msg)
        dtype_name = self.dtype or ("float16" if on_gpu else "float32")
        dtype = dtype_name if dtype_name == "auto" else getattr(torch, dtype_name)
        model_kwargs: dict[str, Any] = {"dtype": dtype}
        if self.device == "auto" and on_gpu:
            model_kwargs["device_map"] = "auto"
        try:
            tokenizer = self._load_tokenizer(common)
            model: Any = AutoModelForCausalLM.from_pretrained(self.model_id, **model_kwargs, **common)
        except OSError as exc:
            msg = (
                f"Could not load checkpoint {self.model_id!r}: {exc}. If the Hub is "
                "unreachable, download the checkpoint on a machine with network access "
                "or use a local directory."
            )
            raise CheckpointNotFoundError(msg) from exc
        if "device_map" not in model_kwargs:
            target = ("cuda" if on_gpu else "cpu") if self.device == "auto" else self.device
            model = model.to(target)
        model.eval()
        _prepare_tokenizer(tokenizer)
        return model, tokenizer

    def _wants_slow_tokenizer(self) -> bool:
        if self.use_slow_tokenizer is not None:
            return self.use_slow_tokenizer
        source = self.tokenizer_id or self.model_id
        if not _has_sentencepiece_model(source, self.cache_dir):
            return False
        if importlib.util.find_spec("sentencepiece") is None:
            warnings.warn(
                f"{source!r} ships a sentencepiece tokenizer.model; the original Lumos eval used "
                "that slow tokenizer, but `sentencepiece` is not installed, so the fast one is "
                "used (token ids may differ). `pip install sentencepiece` to match the original.",
                stacklevel=3,
            )
            return False
        return True

    def _load_tokenizer(self, common: dict[str, Any]) -> Any:
        """Load the tokenizer: slow sentencepiece (see `use_slow_tokenizer`) or fast."""
        return load_tokenizer(self.tokenizer_id or self.model_id, slow=self._wants_slow_tokenizer(), **common)

    # ------------------------------------------------------------------ LangChain API
    @property
    def _llm_type(self) -> str:
        return "lumos-transformers"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "tokenizer_id": self.tokenizer_id,
            "device": self.device,
            "dtype": self.dtype,
            "max_new_tokens": self.max_new_tokens,
            "stop_at_newline": self.stop_at_newline,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # Built here, not by the base class: its `hasattr(self, "model")` would load the
        # model, on the event loop in async code.
        params = LangSmithParams(
            ls_provider="transformers",
            ls_model_name=self.model_id,
            ls_model_type="llm",
            ls_temperature=0.0,
            ls_max_tokens=kwargs.get("max_new_tokens", self.max_new_tokens),
        )
        if stop:
            params["ls_stop"] = stop
        return params

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        choices, end = _per_prompt_choices(kwargs, len(prompts))
        if choices is not None:
            return self._to_result(self._choose_rows(prompts, choices, end))
        grammars = per_prompt_grammars(kwargs.pop("grammar", None), len(prompts))
        gen_kwargs = self._merge_kwargs(kwargs)
        compiled = self._compile_grammars(grammars)
        rows = self._generate_rows(prompts, [stop] * len(prompts), gen_kwargs, compiled)
        return self._to_result(rows)

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        choices, end = _per_prompt_choices(kwargs, len(prompts))
        if choices is not None:
            await self.aload()
            return self._to_result(await asyncio.to_thread(self._choose_rows, prompts, choices, end))
        grammars = per_prompt_grammars(kwargs.pop("grammar", None), len(prompts))
        gen_kwargs = self._merge_kwargs(kwargs)
        await self.aload()  # loads (and imports torch) in a worker thread, off the loop
        # Compiled here, per call, so a bad grammar fails its own caller, not the batch.
        compiled = await asyncio.to_thread(self._compile_grammars, grammars) if any(grammars) else grammars
        batcher = self._batcher()
        futures = [batcher.submit(p, stop, gen_kwargs, g) for p, g in zip(prompts, compiled, strict=True)]
        rows = await asyncio.gather(*futures)
        return self._to_result(list(rows))

    # ------------------------------------------------------------------ internals
    def _batcher(self) -> _LoopBatcher:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = _LoopBatcher(self)
            self._batchers[loop] = batcher
        return batcher

    def _compile_grammars(self, grammars: list[str | None]) -> list[Any]:
        """Compile each row's grammar for this model's tokenizer (cached per tokenizer)."""
        if not any(grammars):
            return [None] * len(grammars)
        from langchain_lumos.grammar import compile_grammar

        model, tokenizer = self._ensure_loaded()
        vocab_size = getattr(getattr(model, "config", None), "vocab_size", None)
        compiled: dict[str, Any] = {}
        for grammar in grammars:
            if grammar and grammar not in compiled:
                compiled[grammar] = compile_grammar(grammar, tokenizer, vocab_size=vocab_size)
        return [compiled[g] if g else None for g in grammars]

    def _merge_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        merged = {"max_new_tokens": self.max_new_tokens, **self.generation_kwargs, **kwargs}
        for key in ("do_sample", "num_return_sequences"):
            if merged.pop(key, None) not in (None, False, 1):
                msg = f"{key} is not supported: Lumos decoding is greedy, one sequence"
                raise ValueError(msg)
        return merged

    def _to_result(self, rows: list[_Row]) -> LLMResult:
        prompt_tokens = sum(r.prompt_tokens for r in rows)
        completion_tokens = sum(r.completion_tokens for r in rows)
        return LLMResult(
            generations=[
                [
                    Generation(
                        text=r.text,
                        generation_info={
                            "prompt_tokens": r.prompt_tokens,
                            "completion_tokens": r.completion_tokens,
                            "finish_reason": r.finish_reason,
                            "cached_tokens": r.cached_tokens,
                            **(
                                {"choice_logprobs": r.choice_logprobs}
                                if r.choice_logprobs is not None
                                else {}
                            ),
                        },
                    )
                ]
                for r in rows
            ],
            llm_output={
                "token_usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                "model_name": self.model_id,
            },
        )

    def _generate_rows(
        self,
        prompts: list[str],
        stops: list[list[str] | None],
        gen_kwargs: dict[str, Any],
        grammars: list[Any] | None = None,
    ) -> list[_Row]:
        """Generate for many prompts, one padded `generate` per `max_batch_size` chunk.

        `grammars` holds one compiled grammar (or None) per prompt.
        """
        rows: list[_Row] = []
        size = self.max_batch_size
        compiled = grammars if grammars is not None else [None] * len(prompts)
        for start in range(0, len(prompts), size):
            chunk = slice(start, start + size)
            rows.extend(self._generate_chunk(prompts[chunk], stops[chunk], gen_kwargs, compiled[chunk]))
        return rows

    def _generate_chunk(
        self,
        prompts: list[str],
        stops: list[list[str] | None],
        gen_kwargs: dict[str, Any],
        grammars: list[Any],
    ) -> list[_Row]:
        if not prompts:
            return []
        torch = _import_backend()
        from transformers import LogitsProcessorList, StoppingCriteriaList

        model, tokenizer = self._ensure_loaded()
        enc = tokenizer(list(prompts), padding="longest", return_tensors="pt", add_special_tokens=False)
        device = model.device
        input_ids = enc["input_ids"].to(device)
        attention_mask = enc["attention_mask"].to(device)
        prompt_len = input_ids.shape[1]
        eos_ids = _eos_ids(model, tokenizer)
        criteria = NewlineStoppingCriteria(
            tokenizer,
            prompt_len,
            len(prompts),
            stop_at_newline=self.stop_at_newline,
            stops=stops,
            eos_token_ids=eos_ids,
        )
        kwargs = dict(gen_kwargs)
        extra_criteria = list(kwargs.pop("stopping_criteria", None) or [])
        kwargs.setdefault("pad_token_id", tokenizer.pad_token_id)
        if eos_ids:
            kwargs.setdefault("eos_token_id", eos_ids)
        if any(g is not None for g in grammars):
            from langchain_lumos.grammar import GrammarLogitsProcessor

            processors = list(kwargs.pop("logits_processor", None) or [])
            # Last, so it masks what the other processors produced.
            processors.append(GrammarLogitsProcessor(grammars, prompt_length=prompt_len))
            kwargs["logits_processor"] = LogitsProcessorList(processors)
        prompt_counts = [int(n) for n in attention_mask.sum(dim=1).tolist()]
        with self._gen_lock, torch.inference_mode():
            reused, cache, disk, from_disk = 0, None, None, 0
            if self._may_reuse(model, len(prompts), kwargs):
                store = self._store()
                cache, reused = store.take(input_ids[0].tolist())
                if cache is None and (disk := self._disk(model)) is not None:
                    # An opening prompt: its exemplars may be on disk from an earlier process.
                    cache, reused = disk.take(input_ids[0].tolist(), device=device)
                    from_disk = reused
                if cache is None:
                    from transformers import DynamicCache

                    cache = DynamicCache(config=model.config)
                kwargs[_cache_kwarg(model)] = cache
            output = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                do_sample=False,
                num_beams=1,
                stopping_criteria=StoppingCriteriaList([criteria, *extra_criteria]),
                **kwargs,
            )
            if cache is not None and _reusable(cache):
                if disk is not None:
                    self._offer(disk, input_ids[0].tolist(), cache)
                held = min(cache.get_seq_length(), output.shape[1])
                _crop(cache, held)
                self._store().put(output[0, :held].tolist(), cache, prompt_len)
            self._stats["calls"] += len(prompts)
            self._stats["prompt_tokens"] += sum(prompt_counts)
            self._stats["prefilled_tokens"] += sum(prompt_counts) - reused
            self._stats["reused_tokens"] += reused
            self._stats["cache_hits"] += int(reused > 0)
            self._stats["disk_reused_tokens"] += from_disk
        new_tokens = output[:, prompt_len:].tolist()
        rows = []
        for i, ids in enumerate(new_tokens):
            n_gen = criteria.finished_at[i] or len(ids)
            gen_ids = ids[:n_gen]
            text = _decode_completion(tokenizer, enc["input_ids"][i].tolist(), gen_ids)
            reason = criteria.reasons[i] or "length"
            text = self._cut(text, stops[i])
            rows.append(_Row(text, prompt_counts[i], n_gen, reason, reused if i == 0 else 0))
        self._stats["generated_tokens"] += sum(r.completion_tokens for r in rows)
        return rows

    def _choose_rows(self, prompts: list[str], choices: list[list[str]], end: str | None) -> list[_Row]:
        """Score each prompt's choices (`supports_choices`); the likeliest is the row's text."""
        from langchain_lumos.models.choices import choice_logprobs

        model, tokenizer = self._ensure_loaded()
        if end is None:
            end_ids = _eos_ids(model, tokenizer)[:1]
        else:
            end_ids = tokenizer(end, add_special_tokens=False)["input_ids"] if end else []
        rows = []
        for prompt, options in zip(prompts, choices, strict=True):
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ids = [tokenizer(c, add_special_tokens=False)["input_ids"] + end_ids for c in options]
            with self._gen_lock:
                scores = choice_logprobs(
                    model, prompt_ids, ids, cache_kwarg=_cache_kwarg(model), chunk_size=self.max_batch_size
                )
                self._stats["calls"] += 1
                self._stats["prompt_tokens"] += len(prompt_ids)
                self._stats["prefilled_tokens"] += len(prompt_ids)
            best = max(range(len(options)), key=scores.__getitem__)
            rows.append(
                _Row(options[best], len(prompt_ids), len(ids[best]), "choice", choice_logprobs=scores)
            )
        return rows

    def _may_reuse(self, model: Any, n_prompts: int, kwargs: dict[str, Any]) -> bool:
        """Prefix reuse applies to a prompt running alone, with the default dynamic cache."""
        if n_prompts != 1 or self.prefix_cache_max_entries < 1 or self.prefix_cache_max_tokens < 1:
            return False
        if any(k in kwargs for k in ("cache", "past_key_values", "cache_implementation")):
            return False
        config = getattr(model, "generation_config", None)
        return getattr(config, "cache_implementation", None) is None

    def _disk(self, model: Any) -> Any:
        """The on-disk store of opening prompts (`prefix_cache_dir`), or None."""
        if self.prefix_cache_dir is None:
            return None
        if self._disk_store is None or self._disk_store.root != Path(self.prefix_cache_dir).expanduser():
            from langchain_lumos.models.prefix_store import DiskPrefixStore, model_fingerprint

            fingerprint = model_fingerprint(model, self.model_id, revision=self.revision)
            self._disk_store = DiskPrefixStore(self.prefix_cache_dir, fingerprint)
        return self._disk_store

    def _offer(self, disk: Any, ids: list[int], cache: Any) -> None:
        """Offer an opening prompt to the disk store; a failing store never fails the call."""
        try:
            disk.offer(ids, cache)
        except Exception as exc:  # a full or read-only disk: keep generating, memory only
            warnings.warn(
                f"prefix_cache_dir {self.prefix_cache_dir!r}: {exc}; prompts are no longer stored there",
                stacklevel=2,
            )
            self.prefix_cache_dir = None
            self._disk_store = None

    def _store(self) -> _PrefixCache:
        if self._prefix_cache is None:
            self._prefix_cache = _PrefixCache(self.prefix_cache_max_entries, self.prefix_cache_max_tokens)
        store = self._prefix_cache
        store.max_entries = self.prefix_cache_max_entries  # fields may change after construction
        store.max_tokens = self.prefix_cache_max_tokens
        return store

    def _cut(self, text: str, stop: list[str] | None) -> str:
        cuts = [*(stop or []), *(["\n"] if self.stop_at_newline else [])]
        positions = [text.find(s) for s in cuts if s]
        positions = [p for p in positions if p >= 0]
        return text[: min(positions)] if positions else text


def load_tokenizer(source: str, *, slow: bool = False, **kwargs: Any) -> Any:
    """Load a Hugging Face tokenizer, fast or the slow sentencepiece one.

    The original Lumos eval and fine-tuning loaded the released Llama-2 tokenizers with
    `use_fast=False`; transformers 5 ignores `use_fast`, so the slow tokenizer is the
    sentencepiece class itself here (legacy behaviour, as the original).

    Args:
        source: Hub id or local directory.
        slow: Load the slow sentencepiece tokenizer (needs the `sentencepiece` package).
        **kwargs: Passed to `from_pretrained` (`local_files_only`, `cache_dir`, ...).

    Returns:
        The tokenizer.

    Raises:
        ImportError: `slow` without the `sentencepiece` package.
    """
    from transformers import AutoTokenizer

    if not slow:
        return AutoTokenizer.from_pretrained(source, **kwargs)
    if importlib.util.find_spec("sentencepiece") is None:
        msg = "The slow tokenizer needs the sentencepiece package: pip install sentencepiece"
        raise ImportError(msg)
    try:  # transformers 5: AutoTokenizer ignores use_fast; this is the sentencepiece class
        from transformers.tokenization_utils_sentencepiece import SentencePieceBackend
    except ImportError:  # transformers 4
        return AutoTokenizer.from_pretrained(source, use_fast=False, **kwargs)
    tokenizer = SentencePieceBackend.from_pretrained(source, legacy=True, **kwargs)
    # Its generic decoding joins pieces as text: byte pieces stay `<0x0A>` (Llama-2's
    # newline) and the ends are stripped. Decode as the original LlamaTokenizer did.
    # Set on the instance, so `save_pretrained` still writes the backend's class name.
    tokenizer.convert_tokens_to_string = functools.partial(_sentencepiece_text, tokenizer)
    return tokenizer


def _sentencepiece_text(tokenizer: Any, tokens: list[str]) -> str:
    """Pieces to text with the sentencepiece model (special tokens kept verbatim)."""
    specials = set(tokenizer.all_special_tokens)
    out: list[str] = []
    run: list[str] = []
    for token in tokens:
        if token in specials:
            out.append(tokenizer.sp_model.decode(run) + token)
            run = []
        else:
            run.append(token)
    out.append(tokenizer.sp_model.decode(run))
    return "".join(out)


def _has_sentencepiece_model(source: str, cache_dir: str | None) -> bool:
    """Whether a checkpoint ships `tokenizer.model`.

    A local directory or a cached Hub snapshot is looked at; a Hub id not cached yet is
    assumed to ship one when it is a released `ai2lumos/*` checkpoint (Llama-2 based).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return (path / "tokenizer.model").is_file()
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(source, "tokenizer.model", cache_dir=cache_dir)
    except ValueError:  # not a valid repo id
        return False
    if isinstance(found, str):
        return True
    if is_checkpoint_cached(source, cache_dir):  # a cached snapshot without the file
        return False
    return source.startswith("ai2lumos/")


def _prepare_tokenizer(tokenizer: Any) -> None:
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return []
    return [int(e) for e in eos] if isinstance(eos, (list, tuple)) else [int(eos)]


def _decode_completion(tokenizer: Any, prompt_ids: list[int], gen_ids: list[int]) -> str:
    """Decode generated text as the original did: decode(prompt + new) minus decode(prompt).

    Decoding the full sequence keeps the leading space that sentencepiece drops when a
    completion is decoded on its own.
    """
    prompt_text = tokenizer.decode(prompt_ids, skip_special_tokens=True)
    full_text = tokenizer.decode(prompt_ids + gen_ids, skip_special_tokens=True)
    if full_text.startswith(prompt_text):
        return full_text[len(prompt_text) :]
    return tokenizer.decode(gen_ids, skip_special_tokens=True)
