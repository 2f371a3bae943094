"""Knowledge backends: where `KnowledgeQuery` looks things up.

Every backend implements the `KnowledgeBackend` protocol, `search(query, k)` and `asearch`,
returning `(title, text)` pages, best first; backends that can open a URL the model wrote also
have `fetch_url(url, policy)` / `afetch_url`.

- `CorpusBackend`: offline, over a BM25 `Corpus` (default: the shipped Wikipedia sample);
  never fetches.
- `WikipediaBackend`: live English Wikipedia through the MediaWiki API.
- `DuckDuckGoBackend`: web search snippets through DuckDuckGo.
- `RetrieverBackend`: any LangChain `BaseRetriever` (e.g. `vectorstore.as_retriever()`).

Only the network backends fetch, through `langchain_lumos.tools.fetch.HttpFetcher`, and every
URL is checked by a `UrlPolicy`.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from langchain_core.tools import ToolException

from langchain_lumos.tools.corpus import Corpus, WikiCorpus, document_to_pair
from langchain_lumos.tools.fetch import HttpFetcher, html_page
from langchain_lumos.tools.url_policy import UrlPolicy, wiki_title_from_url

if TYPE_CHECKING:
    from langchain_core.retrievers import BaseRetriever

__all__ = [
    "CorpusBackend",
    "DuckDuckGoBackend",
    "KnowledgeBackend",
    "RetrieverBackend",
    "WikipediaBackend",
]


@runtime_checkable
class KnowledgeBackend(Protocol):
    """Where `KnowledgeQuery` looks things up."""

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """The `k` best `(title, text)` pages for `query`, best first."""
        ...

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async `search`."""
        ...


class CorpusBackend:
    """Offline backend over a `langchain_lumos.tools.corpus.Corpus` (default: Wikipedia).

    URLs are never fetched: a Wikipedia `/wiki/Title` URL (after the policy's allow-list check)
    becomes a title lookup in the corpus.

    Args:
        corpus: Any `Corpus` (default: the shared `WikiCorpus.default()`, loaded lazily).
    """

    def __init__(self, corpus: Corpus | None = None) -> None:
        self._corpus = corpus

    @property
    def corpus(self) -> Corpus:
        """The corpus (the offline Wikipedia one is loaded on first access)."""
        if self._corpus is None:
            self._corpus = WikiCorpus.default()
        return self._corpus

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """BM25 search of the corpus."""
        return self.corpus.search(query, k)

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async `search`."""
        return await asyncio.to_thread(self.corpus.search, query, k)

    def unknown(self, text: str) -> bool:
        """Whether the corpus knows none of `text`'s search terms (the small profile's grammar asks)."""
        return self.corpus.unknown(text)

    def link(self, mention: str, context: str) -> str | None:
        """The longest page title `context` spells around `mention` (the small profile asks; see `Corpus.link`)."""
        return self.corpus.link(mention, context)

    def fetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Resolve an allow-listed Wikipedia URL to the corpus page of that title (no fetch)."""
        policy.check_url(url, resolve=False)
        title = wiki_title_from_url(url)
        if title is None:
            msg = f"The offline knowledge corpus cannot fetch {url}; query an entity name instead."
            raise ToolException(msg)
        page = self.corpus.get(title)
        return [page] if page is not None else self.corpus.search(title, 5)

    async def afetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Async `fetch_url`."""
        return await asyncio.to_thread(self.fetch_url, url, policy)


class WikipediaBackend:
    """Live English Wikipedia through the MediaWiki API (`https://en.wikipedia.org/w/api.php`).

    The host is fixed; the request still goes through the URL policy (public-address check).

    Args:
        timeout_s: Per-request timeout.
        policy: URL policy for the API and for URLs in queries (default allows only
            `en.wikipedia.org`).
    """

    api_url = "https://en.wikipedia.org/w/api.php"

    def __init__(self, *, timeout_s: float = 10.0, policy: UrlPolicy | None = None) -> None:
        self.policy = policy or UrlPolicy()
        self._http = HttpFetcher(self.policy, timeout_s)

    @staticmethod
    def _search_params(query: str, k: int) -> dict[str, Any]:
        return {
            "action": "query",
            "list": "search",
            "srsearch": query,
            "srlimit": k,
            "format": "json",
        }

    @staticmethod
    def _extract_params(title: str) -> dict[str, Any]:
        return {
            "action": "query",
            "prop": "extracts",
            "explaintext": 1,
            "redirects": 1,
            "titles": title,
            "format": "json",
        }

    @staticmethod
    def _parse_extract(data: dict[str, Any]) -> tuple[str, str] | None:
        for page in (data.get("query", {}).get("pages") or {}).values():
            if "missing" not in page and page.get("extract"):
                text = re.sub(r"\n=+ [^\n]* =+\n", "\n", page["extract"])
                return str(page.get("title", "")), text
        return None

    def _titles(self, data: dict[str, Any]) -> list[str]:
        return [str(hit["title"]) for hit in data.get("query", {}).get("search", [])]

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Exact article first (as the original's `index.php?search=` redirect), else search."""
        exact = self._parse_extract(self._http.get(self.api_url, self._extract_params(query)).json())
        if exact is not None and "may refer to:" not in exact[1][:500]:
            return [exact]
        pages: list[tuple[str, str]] = []
        for title in self._titles(self._http.get(self.api_url, self._search_params(query, k)).json()):
            page = self._parse_extract(self._http.get(self.api_url, self._extract_params(title)).json())
            if page is not None:
                pages.append(page)
        return pages[:k]

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async `search` (concurrent page requests)."""
        resp = await self._http.aget(self.api_url, self._extract_params(query))
        exact = self._parse_extract(resp.json())
        if exact is not None and "may refer to:" not in exact[1][:500]:
            return [exact]
        resp = await self._http.aget(self.api_url, self._search_params(query, k))
        titles = self._titles(resp.json())
        resps = await asyncio.gather(
            *(self._http.aget(self.api_url, self._extract_params(t)) for t in titles)
        )
        pages = [p for p in (self._parse_extract(r.json()) for r in resps) if p is not None]
        return pages[:k]

    def fetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Fetch an allow-listed URL (Wikipedia article URLs go through the API)."""
        policy.check_url(url)
        title = wiki_title_from_url(url)
        if title is not None:
            page = self._parse_extract(self._http.get(self.api_url, self._extract_params(title)).json())
            return [page] if page else []
        fetcher = HttpFetcher(policy, self._http.timeout_s)
        return html_page(url, fetcher.get(url).text)

    async def afetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Async `fetch_url`."""
        await asyncio.to_thread(policy.check_url, url)
        title = wiki_title_from_url(url)
        if title is not None:
            resp = await self._http.aget(self.api_url, self._extract_params(title))
            page = self._parse_extract(resp.json())
            return [page] if page else []
        fetcher = HttpFetcher(policy, self._http.timeout_s)
        return html_page(url, (await fetcher.aget(url)).text)


class DuckDuckGoBackend:
    """Web search through DuckDuckGo (`langchain_community`'s wrapper over `ddgs`).

    Pages are the result snippets (`(title, snippet)`); URLs in queries are fetched only when
    the policy allows them.

    Args:
        region: DuckDuckGo region code.
        safesearch: `"strict"`, `"moderate"` or `"off"`.
        timeout_s: Timeout for URL fetches.
    """

    def __init__(
        self, *, region: str = "wt-wt", safesearch: str = "moderate", timeout_s: float = 10.0
    ) -> None:
        self.region = region
        self.safesearch = safesearch
        self.timeout_s = timeout_s
        self._wrapper: Any = None

    def _get_wrapper(self) -> Any:
        if self._wrapper is None:
            try:
                from langchain_community.utilities import DuckDuckGoSearchAPIWrapper
            except ImportError as exc:  # pragma: no cover - dependency
                msg = "DuckDuckGoBackend needs `langchain-community` and `ddgs` installed."
                raise ImportError(msg) from exc
            self._wrapper = DuckDuckGoSearchAPIWrapper(
                region=self.region, safesearch=self.safesearch, source="text"
            )
        return self._wrapper

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """The top `k` results as `(title, snippet)`."""
        try:
            results = self._get_wrapper().results(query, max_results=k)
        except ImportError:
            raise
        except Exception as exc:  # the ddgs client raises many exception types
            msg = f"DuckDuckGo search failed: {exc}"
            raise ToolException(msg) from exc
        return [(str(r.get("title", "")), str(r.get("snippet", ""))) for r in results if r.get("snippet")][:k]

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async `search` (the client is synchronous; runs in a worker thread)."""
        return await asyncio.to_thread(self.search, query, k)

    def fetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Fetch an allow-listed URL and extract its paragraphs."""
        fetcher = HttpFetcher(policy, self.timeout_s)
        return html_page(url, fetcher.get(url).text)

    async def afetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Async `fetch_url`."""
        fetcher = HttpFetcher(policy, self.timeout_s)
        return html_page(url, (await fetcher.aget(url)).text)


class RetrieverBackend:
    """Adapts any LangChain retriever (`vectorstore.as_retriever()`, BM25Retriever, ...).

    Document titles come from `metadata["title"]` (else `metadata["source"]`, else the
    first line of the content).

    Args:
        retriever: The retriever; it decides how many documents it returns, this backend keeps
            the first `k`.
    """

    def __init__(self, retriever: BaseRetriever) -> None:
        if not hasattr(retriever, "invoke"):
            msg = "RetrieverBackend needs a langchain_core BaseRetriever."
            raise TypeError(msg)
        self.retriever = retriever

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """The first `k` documents the retriever returns, as `(title, text)`."""
        return [document_to_pair(d) for d in self.retriever.invoke(query)[:k]]

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async `search` (uses the retriever's native `ainvoke`)."""
        docs = await self.retriever.ainvoke(query)
        return [document_to_pair(d) for d in docs[:k]]
