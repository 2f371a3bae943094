"""Shared fixtures of the tool tests."""

from __future__ import annotations

import pytest

from langchain_lumos.tools.corpus import WikiCorpus


@pytest.fixture(scope="session")
def wiki(tmp_path_factory: pytest.TempPathFactory) -> WikiCorpus:
    """The offline Wikipedia-summaries corpus, indexed once per session in a fresh cache."""
    return WikiCorpus(cache_dir=tmp_path_factory.mktemp("lumos_cache"))
