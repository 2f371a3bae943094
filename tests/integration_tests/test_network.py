"""The live knowledge backends (Wikipedia, DuckDuckGo): need the internet, skipped by default.

Run with `make integration_tests` (`pytest --run-network -m network`).
"""

from __future__ import annotations

import pytest

from langchain_lumos.tools.complex_qa import KnowledgeQueryTool
from langchain_lumos.tools.search import DuckDuckGoBackend, WikipediaBackend

pytestmark = pytest.mark.network


def test_wikipedia_backend_live() -> None:
    out = KnowledgeQueryTool(backend=WikipediaBackend()).invoke({"query": "Franz Kafka"})
    assert any("Prague" in e for e in out)


def test_duckduckgo_backend_live() -> None:
    out = KnowledgeQueryTool(backend=DuckDuckGoBackend()).invoke({"query": "Franz Kafka"})
    assert out and " *** " in out[0]
