"""LangChain tools for every Lumos action, offline by default.

Toolkits by domain: `complex_qa_tools` (KnowledgeQuery, ParagraphRetrieve, QA, Calculator,
Code), `maths_tools` (Calculator, SetEquation, SolveEquation, Count, SolveInequality, Define,
Code), `web_agent_tools` (CLICK, TYPE, SELECT) and `webshop_tools` (Search, FeatureRetrieve,
Pick, Click). `get_tools(domain, ...)` picks one.

Modules: `complex_qa` (the complex-QA tools), `maths` (the maths actions), `calculator`
(the one Calculator), `expressions` (maths notation, parsing, bounds, formatting),
`symbolic` (the maths tools' base), `code` and `sandbox` (the Code tool and its
operating-system boundary), `web` and `webshop` (environment interfaces and their tools),
`webshop_server` (a running WebShop server as a shop), `search` (knowledge backends),
`corpus` (BM25 corpora), `fetch` (checked HTTP fetching), `url_policy` (which URLs may be
fetched), `ranking` (passage rankers), `worker` (deadlines for CPU-heavy work). Test doubles and demo environments (an in-memory shop, static web pages) live in
`langchain_lumos.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langchain_lumos.domains import Domain, get_domain

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from langchain_lumos.tools.calculator import CalculatorTool
    from langchain_lumos.tools.code import CodeTool, run_code
    from langchain_lumos.tools.complex_qa import (
        KnowledgeQueryTool,
        ParagraphRetrieveTool,
        QATool,
        complex_qa_tools,
    )
    from langchain_lumos.tools.corpus import Corpus, WikiCorpus
    from langchain_lumos.tools.maths import maths_tools
    from langchain_lumos.tools.ranking import BM25Ranker, CrossEncoderRanker, EmbeddingsRanker, Ranker
    from langchain_lumos.tools.search import (
        CorpusBackend,
        DuckDuckGoBackend,
        KnowledgeBackend,
        RetrieverBackend,
        WikipediaBackend,
    )
    from langchain_lumos.tools.url_policy import UrlPolicy
    from langchain_lumos.tools.web import CallableWebEnvironment, WebEnvironment, web_agent_tools
    from langchain_lumos.tools.webshop import ShopEnvironment, webshop_tools

__all__ = [
    "BM25Ranker",
    "CalculatorTool",
    "CallableWebEnvironment",
    "CodeTool",
    "Corpus",
    "CorpusBackend",
    "CrossEncoderRanker",
    "DuckDuckGoBackend",
    "EmbeddingsRanker",
    "KnowledgeBackend",
    "KnowledgeQueryTool",
    "ParagraphRetrieveTool",
    "QATool",
    "Ranker",
    "RetrieverBackend",
    "ShopEnvironment",
    "UrlPolicy",
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


# Each name is imported from its module on first use, so building one toolkit does not
# import the others (the maths engine's SymPy, the web environments).
_LOCATIONS = {
    "BM25Ranker": "ranking",
    "CalculatorTool": "calculator",
    "CallableWebEnvironment": "web",
    "CodeTool": "code",
    "Corpus": "corpus",
    "CorpusBackend": "search",
    "CrossEncoderRanker": "ranking",
    "DuckDuckGoBackend": "search",
    "EmbeddingsRanker": "ranking",
    "KnowledgeBackend": "search",
    "KnowledgeQueryTool": "complex_qa",
    "ParagraphRetrieveTool": "complex_qa",
    "QATool": "complex_qa",
    "Ranker": "ranking",
    "RetrieverBackend": "search",
    "ShopEnvironment": "webshop",
    "UrlPolicy": "url_policy",
    "WebEnvironment": "web",
    "WikiCorpus": "corpus",
    "WikipediaBackend": "search",
    "complex_qa_tools": "complex_qa",
    "maths_tools": "maths",
    "run_code": "code",
    "web_agent_tools": "web",
    "webshop_tools": "webshop",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        module = importlib.import_module(f"langchain_lumos.tools.{_LOCATIONS[name]}")
        return getattr(module, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(__all__)


def get_tools(domain: str | Domain, **kwargs: Any) -> list[BaseTool]:
    """The toolkit of a Lumos domain or dataset (`get_domain(domain).create_tools(**kwargs)`).

    Args:
        domain: A registered domain or dataset name, or a `Domain`: `complex_qa` (needs
            `llm=` for QA), `maths`, `web_agent` or `webshop` (needs `env=`).
        **kwargs: Passed to the domain's factory.

    Raises:
        ValueError: For an unknown domain or one without a toolkit.
    """
    return get_domain(domain).create_tools(**kwargs)
