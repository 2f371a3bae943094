"""LangChain tools for every Lumos action, offline by default.

Toolkits by domain: `complex_qa_tools` (KnowledgeQuery, ParagraphRetrieve, QA,
Calculator, Code), `maths_tools` (Calculator, SetEquation, SolveEquation, Count,
SolveInequality, Define, Code), `web_agent_tools` (CLICK, TYPE, SELECT) and
`webshop_tools` (Search, FeatureRetrieve, Pick, Click). `get_tools(domain, ...)` picks one.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool

from langchain_lumos.tools.code import CodeTool, run_code
from langchain_lumos.tools.complex_qa import (
    CalculatorTool,
    CorpusBackend,
    DuckDuckGoBackend,
    KnowledgeQueryTool,
    ParagraphRetrieveTool,
    QATool,
    WikipediaBackend,
    complex_qa_tools,
)
from langchain_lumos.tools.corpus import Corpus, RetrieverBackend, WikiCorpus
from langchain_lumos.tools.maths import maths_tools
from langchain_lumos.tools.web import StaticWebEnvironment, WebEnvironment, web_agent_tools
from langchain_lumos.tools.webshop import InMemoryShop, ShopEnvironment, webshop_tools

__all__ = [
    "CalculatorTool",
    "CodeTool",
    "Corpus",
    "CorpusBackend",
    "DuckDuckGoBackend",
    "InMemoryShop",
    "KnowledgeQueryTool",
    "ParagraphRetrieveTool",
    "QATool",
    "RetrieverBackend",
    "ShopEnvironment",
    "StaticWebEnvironment",
    "WebEnvironment",
    "WikiCorpus",
    "WikipediaBackend",
    "complex_qa_tools",
    "get_tools",
    "maths_tools",
    "run_code",
    "web_agent_tools",
    "webshop_tools",
]


def get_tools(domain: str, **kwargs: Any) -> list[BaseTool]:
    """The toolkit of a Lumos domain.

    Args:
        domain: `complex_qa` (needs `llm=` for QA), `maths`, `web_agent` or `webshop`
            (needs `env=`).
        **kwargs: Passed to the domain's factory.

    Raises:
        ValueError: For an unknown domain.
    """
    if domain == "complex_qa":
        return complex_qa_tools(**kwargs)
    if domain == "maths":
        return maths_tools(**kwargs)
    if domain == "web_agent":
        return web_agent_tools(**kwargs)
    if domain == "webshop":
        env = kwargs.pop("env")
        return webshop_tools(env, **kwargs)
    msg = f"No toolkit for domain {domain!r}; expected complex_qa, maths, web_agent or webshop."
    raise ValueError(msg)
