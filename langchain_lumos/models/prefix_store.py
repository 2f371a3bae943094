"""Key/value caches of opening prompts on disk, shared by processes.

A module's first prompt in a conversation (the planner's, the grounder's, the QA step's)
starts with the same few-shot exemplars in every run. `LumosTransformersLLM` keeps
key/value caches in memory within a process (`prefix_cache_max_entries`); a
`DiskPrefixStore` keeps the opening prompts' caches across processes, so a new `lumos run`
prefills only what follows the exemplars.

What is kept converges on the shared parts: an opening prompt that is mostly new (it
shares less than half of its tokens with the store) is stored whole; a prefix it shares
with an entry (the exemplars of the same prompt template, or a shorter introduction
common to several templates) is stored as its own entry; a prompt that starts with a
stored entry and is mostly covered writes nothing. A new prompt reuses its longest stored
prefix, the shortest entry of that length on a tie, so the shared parts stay in use and
the whole prompts they came from age out. So the store ends up with about one entry per
prompt template, and a prompt of one template never shrinks another's. Entries are
`safetensors` files (keys and values per layer, the token ids in the header) under a
directory named by the model's fingerprint (checkpoint, its files, dtype, config), written
to a temporary name and renamed, so concurrent processes never read half an entry. The
least recently used entries beyond `max_entries` are deleted.

Reuse is token-exact: an entry is used only for prompts whose token ids start with the
entry's ids, and greedy output is the same as without it (as with the in-memory cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["DiskPrefixStore", "common_prefix", "model_fingerprint"]

_SUFFIX = ".safetensors"


def model_fingerprint(model: Any, model_id: str, *, revision: str | None = None) -> str:
    """A key that changes whenever the cached keys/values could differ.

    Args:
        model: The loaded `transformers` model (its config and dtype).
        model_id: The checkpoint id or directory it was loaded from.
        revision: The Hub revision, if any.

    Returns:
        A 24-character hex digest over the id, the revision, the dtype, the config and,
        for a local directory, the names, sizes and modification times of its files.
    """
    parts: list[str] = [model_id, str(revision), str(getattr(model, "dtype", "")), type(model).__name__]
    config = getattr(model, "config", None)
    if config is not None:
        parts.append(
            config.to_json_string(use_diff=False) if hasattr(config, "to_json_string") else repr(config)
        )
    path = Path(model_id)
    if path.is_dir():
        for item in sorted(path.iterdir()):
            if item.is_file():
                stat = item.stat()
                parts.append(f"{item.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading token ids `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class DiskPrefixStore:
    """Opening prompts' key/value caches of one model, in a directory.

    Args:
        directory: The store's root; entries go under `directory/fingerprint`.
        fingerprint: The model's fingerprint (`model_fingerprint`).
        max_entries: Most entries kept (least recently used go first).
        min_tokens: Shortest prefix worth storing or loading.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        fingerprint: str,
        *,
        max_entries: int = 16,
        min_tokens: int = 64,
    ) -> None:
        if max_entries < 1 or min_tokens < 1:
            msg = f"max_entries and min_tokens must be >= 1, got {max_entries} and {min_tokens}."
            raise ValueError(msg)
        self.root = Path(directory).expanduser()
        self.directory = self.root / fingerprint
        self.max_entries = max_entries
        self.min_tokens = min_tokens

    def _entries(self) -> list[tuple[Path, list[int]]]:
        """Every readable entry with its token ids (a broken file is skipped)."""
        from safetensors import safe_open

        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            try:
                with safe_open(str(path), framework="pt") as handle:
                    ids = json.loads((handle.metadata() or {}).get("ids", "[]"))
            except Exception:  # a truncated or foreign file: not an entry
                continue
            if isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids):
                found.append((path, ids))
        return found

    def _best(self, ids: Sequence[int]) -> tuple[Path | None, list[int], int]:
        """The entry sharing the longest prefix with `ids` (the shortest entry on a tie)."""
        best: tuple[Path | None, list[int], int] = (None, [], 0)
        for path, stored in self._entries():
            n = common_prefix(stored, ids)
            if n > best[2] or (n == best[2] and n > 0 and len(stored) < len(best[1])):
                best = (path, stored, n)
        return best

    def take(self, ids: Sequence[int], *, device: Any = None) -> tuple[Any | None, int]:
        """A `DynamicCache` of the longest stored prefix of `ids`, and its length.

        At least one token of `ids` is left to prefill. Returns `(None, 0)` when no entry
        shares `min_tokens` tokens with `ids`, or the entry cannot be read.
        """
        try:
            path, _, shared = self._best(ids)
        except OSError:  # an unreadable directory: prefill instead
            return None, 0
        reuse = min(shared, len(ids) - 1)
        if path is None or reuse < self.min_tokens:
            return None, 0
        try:
            cache = _load(path, reuse, device)
        except Exception:  # deleted or replaced meanwhile: prefill instead
            return None, 0
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
        return cache, reuse

    def offer(self, ids: Sequence[int], cache: Any) -> None:
        """Keep what an opening prompt adds to the store (see the module docstring).

        Args:
            ids: The prompt's token ids.
            cache: A batch-1 cache holding at least `len(ids)` tokens of keys/values for
                them (generated tokens after them are ignored).
        """
        _, stored, shared = self._best(ids)
        keep: list[list[int]] = []
        if shared >= self.min_tokens and len(stored) != shared:
            keep.append(list(ids[:shared]))  # the part it shares with an entry, on its own
        if 2 * shared < len(ids) and len(ids) >= self.min_tokens:
            keep.append(list(ids))  # mostly new: a template not seen yet
        if not keep:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for part in keep:
            _save(self.directory, part, cache)
        self._evict()

    def clear(self) -> None:
        """Delete every entry of this model."""
        for path in self.directory.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                path.unlink()

    def _evict(self) -> None:
        paths = sorted(self.directory.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime_ns)
        for path in paths[: max(0, len(paths) - self.max_entries)]:
            with contextlib.suppress(OSError):
                path.unlink()


def _save(directory: Path, ids: list[int], cache: Any) -> None:
    from safetensors.torch import save_file

    n = len(ids)
    tensors = {}
    for index, layer in enumerate(cache.layers):
        tensors[f"k{index}"] = layer.keys[..., :n, :].detach().to("cpu").contiguous()
        tensors[f"v{index}"] = layer.values[..., :n, :].detach().to("cpu").contiguous()
    name = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:32] + _SUFFIX
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=_SUFFIX, dir=directory)
    os.close(handle)
    try:
        save_file(tensors, tmp, metadata={"ids": json.dumps(ids), "layers": str(len(cache.layers))})
        os.replace(tmp, directory / name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _load(path: Path, keep: int, device: Any) -> Any:
    from safetensors import safe_open
    from transformers import DynamicCache

    cache = DynamicCache()
    with safe_open(str(path), framework="pt", device="cpu") as handle:
        layers = int((handle.metadata() or {})["layers"])
        for index in range(layers):
            keys = handle.get_slice(f"k{index}")[:, :, :keep, :]
            values = handle.get_slice(f"v{index}")[:, :, :keep, :]
            if device is not None:
                keys, values = keys.to(device), values.to(device)
            cache.update(keys, values, index)
    return cache
