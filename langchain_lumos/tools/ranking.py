"""Passage rankers: lexical BM25 (default) plus cross-encoder and embeddings adapters.

Every ranker follows the `Ranker` protocol::

    ranker.rank(query, passages, k) -> list[int]  # indices into `passages`, best first

`BM25Ranker` is dependency-light (`bm25s` + `numpy`), deterministic and fast enough to
rank a few hundred passages per call; ties keep the input order. It is the default ranker of
`ParagraphRetrieve` and is reused to rank web-page elements.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

__all__ = [
    "BM25Ranker",
    "CrossEncoderRanker",
    "EmbeddingsRanker",
    "Ranker",
    "tokenize",
]

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)

# A small English stop-word list: enough to keep function words from dominating BM25.
_STOPWORDS = frozenset(
    {
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    }
)


def _stem(token: str) -> str:
    """Very light suffix stripping so that plurals and possessives match their stems."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Split text into lower-cased, lightly stemmed word tokens without stop words.

    Args:
        text: Any text.

    Returns:
        The tokens, in order (duplicates kept).
    """
    return [
        _stem(tok) for tok in _TOKEN_RE.findall(text.lower().replace("'s ", " ")) if tok not in _STOPWORDS
    ]


def _top_k(scores: Sequence[float] | np.ndarray, k: int) -> list[int]:
    """Indices of the `k` highest scores, best first; ties keep the input order."""
    arr = np.asarray(scores, dtype=float)
    if arr.size == 0 or k <= 0:
        return []
    order = np.argsort(-arr, kind="stable")
    return [int(i) for i in order[:k]]


@runtime_checkable
class Ranker(Protocol):
    """Ranks passages against a query."""

    def rank(self, query: str, passages: Sequence[str], k: int) -> list[int]:
        """Return the indices of the `k` most relevant passages, best first."""
        ...


class BM25Ranker:
    """Okapi BM25 ranker (`bm25s`) built on the fly over the given passages.

    Example:
        >>> BM25Ranker().rank("capital of France", ["Berlin is big.", "Paris is the capital of France."], k=1)
        [1]

    Args:
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            msg = "BM25Ranker needs k1 >= 0 and 0 <= b <= 1."
            raise ValueError(msg)
        self.k1 = k1
        self.b = b

    def scores(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage (0 when no query term occurs in it).

        Args:
            query: The query text.
            passages: The passages to score.

        Returns:
            One float per passage.
        """
        import bm25s

        if not passages:
            return np.zeros(0)
        corpus_tokens = [tokenize(p) for p in passages]
        query_tokens = tokenize(query)
        vocab = {tok for toks in corpus_tokens for tok in toks}
        query_tokens = [tok for tok in query_tokens if tok in vocab]
        if not query_tokens:
            return np.zeros(len(passages))
        index = bm25s.BM25(k1=self.k1, b=self.b)
        index.index(corpus_tokens, show_progress=False)
        return np.asarray(index.get_scores(query_tokens), dtype=float)

    def rank(self, query: str, passages: Sequence[str], k: int) -> list[int]:
        """Return the indices of the `k` best passages, best first (ties keep input order)."""
        return _top_k(self.scores(query, passages), k)


class CrossEncoderRanker:
    """Ranks with a transformers sequence-classification cross-encoder.

    The model (e.g. `cross-encoder/ms-marco-MiniLM-L-6-v2`, or the MindAct DeBERTa ranker) is
    loaded lazily with `AutoModelForSequenceClassification` on first use; nothing is loaded at
    construction. A single-logit head is used as the score; for a multi-class head the last
    class (the "relevant" class by convention) is used.

    Args:
        model_name_or_path: A local path or hub id (offline use needs a local path or cache).
        device: Torch device; default CUDA when available, else CPU.
        batch_size: Pairs scored per forward pass.
        max_length: Tokenizer truncation length.
    """

    def __init__(
        self,
        model_name_or_path: str,
        *,
        device: str | None = None,
        batch_size: int = 16,
        max_length: int = 512,
    ) -> None:
        if not isinstance(model_name_or_path, str) or not model_name_or_path.strip():
            msg = "CrossEncoderRanker needs a non-empty model_name_or_path."
            raise ValueError(msg)
        if batch_size < 1 or max_length < 8:
            msg = "CrossEncoderRanker needs batch_size >= 1 and max_length >= 8."
            raise ValueError(msg)
        self.model_name_or_path = model_name_or_path
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - both are dependencies
            msg = "CrossEncoderRanker needs `torch` and `transformers` installed."
            raise ImportError(msg) from exc
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
        model = AutoModelForSequenceClassification.from_pretrained(self.model_name_or_path)
        self._model = model.to(device).eval()
        self.device = device

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Relevance score of each `(query, passage)` pair."""
        import torch

        self._load()
        out: list[float] = []
        for start in range(0, len(passages), self.batch_size):
            batch = list(passages[start : start + self.batch_size])
            enc = self._tokenizer(
                [query] * len(batch),
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                logits = self._model(**enc).logits
            col = logits[:, 0] if logits.shape[-1] == 1 else logits[:, -1]
            out.extend(float(x) for x in col.float().cpu())
        return out

    def rank(self, query: str, passages: Sequence[str], k: int) -> list[int]:
        """Return the indices of the `k` best passages, best first."""
        if not passages:
            return []
        return _top_k(self.score(query, passages), k)


class EmbeddingsRanker:
    """Ranks by cosine similarity of any LangChain `Embeddings`.

    Args:
        embeddings: e.g. `HuggingFaceEmbeddings(...)` or `OpenAIEmbeddings()`.
    """

    def __init__(self, embeddings: Embeddings) -> None:
        if not hasattr(embeddings, "embed_query") or not hasattr(embeddings, "embed_documents"):
            msg = "EmbeddingsRanker needs a langchain_core Embeddings instance."
            raise TypeError(msg)
        self.embeddings = embeddings

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Cosine similarity between the query and each passage."""
        q = np.asarray(self.embeddings.embed_query(query), dtype=float)
        docs = np.asarray(self.embeddings.embed_documents(list(passages)), dtype=float)
        qn = math.sqrt(float(q @ q)) or 1.0
        dn = np.linalg.norm(docs, axis=1)
        dn[dn == 0] = 1.0
        return [float(x) for x in (docs @ q) / (dn * qn)]

    def rank(self, query: str, passages: Sequence[str], k: int) -> list[int]:
        """Return the indices of the `k` best passages, best first."""
        if not passages:
            return []
        return _top_k(self.score(query, passages), k)
