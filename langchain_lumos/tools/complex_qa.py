r"""Complex-QA tools: KnowledgeQuery, ParagraphRetrieve, QA, Calculator (and Code).

Outputs keep the shapes of the original Lumos tools (``eval/hotpotqa``):

* ``KnowledgeQuery(query)`` -> ``["<title> *** <sentence>", ...]``. A page whose title equals the
  query is treated like a direct Wikipedia article hit: its first 40 sentences, labelled with
  the query. Otherwise the top 5 pages, 15 sentences each, labelled with their titles.
* ``ParagraphRetrieve(context, Query: q)`` -> ``"Evidence 1: <text>\\nEvidence 2: <text>\\n..."``
  (top 5, texts only, each line ending in ``\\n``), prefixed by ``"Reference Table: <table>\\n"``
  when the first context entry is a ``Reference Table: *** ...`` entry.
* ``QA([R1, R2], Question: q)`` -> ``"Question: q; Answer: <answer>"``, or ``"No answer."``.
* ``Calculator(formula)`` -> the value as plain text (real arithmetic; see :class:`CalculatorTool`).

Only the network backends (:class:`DuckDuckGoBackend`, :class:`WikipediaBackend`) ever fetch;
every URL a model writes is checked by a :class:`~langchain_lumos.tools._security.UrlPolicy`.
"""

from __future__ import annotations

import ast
import asyncio
import math
import operator
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import unquote, urljoin, urlsplit

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.language_models import BaseLanguageModel
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from langchain_lumos.tools._ranking import BM25Ranker, Ranker
from langchain_lumos.tools._security import UrlPolicy, extract_url
from langchain_lumos.tools.code import CodeTool

if TYPE_CHECKING:
    from langchain_lumos.tools.corpus import Corpus

__all__ = [
    "ANSWER_PROMPT",
    "ANSWER_PROMPT_NO_CONTEXT",
    "ANSWER_PROMPT_YES_NO",
    "QA_PROMPT",
    "TITLE_TEXT_SEP",
    "CalculatorInput",
    "CalculatorTool",
    "CorpusBackend",
    "DuckDuckGoBackend",
    "KnowledgeBackend",
    "KnowledgeQueryInput",
    "KnowledgeQueryTool",
    "ParagraphRetrieveInput",
    "ParagraphRetrieveTool",
    "QAInput",
    "QATool",
    "WikipediaBackend",
    "complex_qa_tools",
    "evaluate_formula",
    "split_sentences",
]

TITLE_TEXT_SEP = "***"
_REFERENCE_TABLE = "Reference Table:"

# The original QA prompts (eval/hotpotqa/qa_tool.py), verbatim.
QA_PROMPT = (
    "Please answer the following question according to the context. Please answer with one "
    "brief entity, beginning with 'Answer: '. If the answer can't be found in the context, "
    "answer 'No answer'. No more details and explanations.\n\nQuestion: {question}\n"
    "Context: {context}\n"
)
ANSWER_PROMPT_NO_CONTEXT = (
    "Please answer the following question. Please answer with one brief entity, beginning with "
    "'Answer: '. If the answer can't be answered, output 'No answer'. No more details and "
    "explanations.\n\nQuestion: {question}\n"
)
ANSWER_PROMPT_YES_NO = (
    "Please answer the following question. Please answer with one brief entity, beginning with "
    "'Answer: '.\n\nQuestion: {question}\n"
)
ANSWER_PROMPT = QA_PROMPT
_YES_NO_MARK = "Must answer yes/no"
_USER_AGENT = "langchain-lumos/0.1 (https://github.com/allenai/lumos re-implementation)"


# --------------------------------------------------------------------------------------------
# Knowledge backends
# --------------------------------------------------------------------------------------------
@runtime_checkable
class KnowledgeBackend(Protocol):
    """Where ``KnowledgeQuery`` looks things up."""

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """The ``k`` best ``(title, text)`` pages for ``query``, best first."""
        ...

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async :meth:`search`."""
        ...


def split_sentences(text: str, limit: int | None = None) -> list[str]:
    r"""Cut a page into sentences the way the original ``get_page_obs`` did.

    Paragraphs (``\\n``) are split on ``". "``; each sentence gets a final ``.`` unless it already
    ends with sentence punctuation (the original doubled the period at paragraph ends).

    Args:
        text: Page text.
        limit: Keep only the first ``limit`` sentences.

    Returns:
        The sentences.
    """
    sentences: list[str] = []
    for para in text.split("\n"):
        for sent in para.strip().split(". "):
            sent = sent.strip()
            if not sent:
                continue
            sentences.append(sent if sent.endswith((".", "!", "?")) else sent + ".")
    return sentences[:limit] if limit is not None else sentences


def _wiki_title_from_url(url: str) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.endswith("wikipedia.org") and parts.path.startswith("/wiki/"):
        return unquote(parts.path[len("/wiki/") :]).replace("_", " ").strip() or None
    return None


class _TextExtractor(HTMLParser):
    """Collects the text of ``<title>``, ``<p>`` and ``<li>`` elements of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.blocks: list[str] = []
        self._stack: list[str] = []
        self._buf: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "noscript"}:
            self._skip += 1
        elif tag in {"p", "li", "title"}:
            self._flush()
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "noscript"}:
            self._skip = max(0, self._skip - 1)
        elif tag in {"p", "li", "title"} and self._stack:
            if tag == "title":
                self.title = " ".join("".join(self._buf).split())
                self._buf = []
            self._flush()
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and not self._skip:
            self._buf.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if len(text.split()) > 10:  # the original kept paragraphs longer than 10 words
            self.blocks.append(text)
        self._buf = []


class _HttpFetcher:
    """Fetches pages over httpx, checking every URL (and redirect hop) against the policy."""

    def __init__(self, policy: UrlPolicy, timeout_s: float, max_bytes: int = 2_000_000) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout_s,
            "follow_redirects": False,
            "headers": {"User-Agent": _USER_AGENT},
            "trust_env": False,
        }

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        import httpx

        with httpx.Client(**self._client_kwargs()) as client:
            for _ in range(5):
                self.policy.check_url(url)
                try:
                    resp = client.get(url, params=params)
                except httpx.HTTPError as exc:
                    msg = f"Fetching {url} failed: {exc}"
                    raise ToolException(msg) from exc
                if resp.is_redirect and "location" in resp.headers:
                    url, params = urljoin(str(resp.url), resp.headers["location"]), None
                    continue
                return self._checked(resp, url)
        msg = f"Fetching {url} failed: too many redirects."
        raise ToolException(msg)

    async def aget(self, url: str, params: dict[str, Any] | None = None) -> Any:
        import httpx

        async with httpx.AsyncClient(**self._client_kwargs()) as client:
            for _ in range(5):
                await asyncio.to_thread(self.policy.check_url, url)
                try:
                    resp = await client.get(url, params=params)
                except httpx.HTTPError as exc:
                    msg = f"Fetching {url} failed: {exc}"
                    raise ToolException(msg) from exc
                if resp.is_redirect and "location" in resp.headers:
                    url, params = urljoin(str(resp.url), resp.headers["location"]), None
                    continue
                return self._checked(resp, url)
        msg = f"Fetching {url} failed: too many redirects."
        raise ToolException(msg)

    def _checked(self, resp: Any, url: str) -> Any:
        if resp.status_code >= 400:
            msg = f"Fetching {url} failed: HTTP {resp.status_code}."
            raise ToolException(msg)
        if len(resp.content) > self.max_bytes:
            msg = f"Fetching {url} failed: the page is larger than {self.max_bytes} bytes."
            raise ToolException(msg)
        return resp

    @staticmethod
    def page(url: str, html: str) -> list[tuple[str, str]]:
        parser = _TextExtractor()
        parser.feed(html)
        parser.close()
        title = parser.title or _wiki_title_from_url(url) or url
        return [(title, "\n".join(parser.blocks))] if parser.blocks else []


class CorpusBackend:
    """Offline backend over a :class:`~langchain_lumos.tools.corpus.Corpus` (default: Wikipedia).

    URLs are never fetched: a Wikipedia ``/wiki/Title`` URL (after the policy's allow-list check)
    becomes a title lookup in the corpus.

    Args:
        corpus: Any ``Corpus`` (default: the shared ``WikiCorpus.default()``, loaded lazily).
    """

    def __init__(self, corpus: Corpus | None = None) -> None:
        self._corpus = corpus

    @property
    def corpus(self) -> Corpus:
        """The corpus (the offline Wikipedia one is loaded on first access)."""
        if self._corpus is None:
            from langchain_lumos.tools.corpus import WikiCorpus

            self._corpus = WikiCorpus.default()
        return self._corpus

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """BM25 search of the corpus."""
        return self.corpus.search(query, k)

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async :meth:`search`."""
        return await asyncio.to_thread(self.corpus.search, query, k)

    def fetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Resolve an allow-listed Wikipedia URL to the corpus page of that title (no fetch)."""
        policy.check_url(url, resolve=False)
        title = _wiki_title_from_url(url)
        if title is None:
            msg = f"The offline knowledge corpus cannot fetch {url}; query an entity name instead."
            raise ToolException(msg)
        page = self.corpus.get(title)
        return [page] if page is not None else self.corpus.search(title, 5)

    async def afetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Async :meth:`fetch_url`."""
        return await asyncio.to_thread(self.fetch_url, url, policy)


class WikipediaBackend:
    """Live English Wikipedia through the MediaWiki API (``https://en.wikipedia.org/w/api.php``).

    The host is fixed; the request still goes through the URL policy (public-address check).

    Args:
        timeout_s: Per-request timeout.
        policy: URL policy for the API and for URLs in queries (default allows only
            ``en.wikipedia.org``).
    """

    api_url = "https://en.wikipedia.org/w/api.php"

    def __init__(self, *, timeout_s: float = 10.0, policy: UrlPolicy | None = None) -> None:
        self.policy = policy or UrlPolicy()
        self._http = _HttpFetcher(self.policy, timeout_s)

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
        """Exact article first (as the original's ``index.php?search=`` redirect), else search."""
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
        """Async :meth:`search` (concurrent page requests)."""
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
        title = _wiki_title_from_url(url)
        if title is not None:
            page = self._parse_extract(self._http.get(self.api_url, self._extract_params(title)).json())
            return [page] if page else []
        fetcher = _HttpFetcher(policy, self._http.timeout_s)
        return fetcher.page(url, fetcher.get(url).text)

    async def afetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Async :meth:`fetch_url`."""
        await asyncio.to_thread(policy.check_url, url)
        title = _wiki_title_from_url(url)
        if title is not None:
            resp = await self._http.aget(self.api_url, self._extract_params(title))
            page = self._parse_extract(resp.json())
            return [page] if page else []
        fetcher = _HttpFetcher(policy, self._http.timeout_s)
        return fetcher.page(url, (await fetcher.aget(url)).text)


class DuckDuckGoBackend:
    """Web search through DuckDuckGo (``langchain_community``'s wrapper over ``ddgs``).

    Pages are the result snippets (``(title, snippet)``); URLs in queries are fetched only when
    the policy allows them.

    Args:
        region: DuckDuckGo region code.
        safesearch: ``"strict"``, ``"moderate"`` or ``"off"``.
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
        """The top ``k`` results as ``(title, snippet)``."""
        try:
            results = self._get_wrapper().results(query, max_results=k)
        except ImportError:
            raise
        except Exception as exc:  # the ddgs client raises many exception types
            msg = f"DuckDuckGo search failed: {exc}"
            raise ToolException(msg) from exc
        return [(str(r.get("title", "")), str(r.get("snippet", ""))) for r in results if r.get("snippet")][:k]

    async def asearch(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """Async :meth:`search` (the client is synchronous; runs in a worker thread)."""
        return await asyncio.to_thread(self.search, query, k)

    def fetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Fetch an allow-listed URL and extract its paragraphs."""
        fetcher = _HttpFetcher(policy, self.timeout_s)
        return fetcher.page(url, fetcher.get(url).text)

    async def afetch_url(self, url: str, policy: UrlPolicy) -> list[tuple[str, str]]:
        """Async :meth:`fetch_url`."""
        fetcher = _HttpFetcher(policy, self.timeout_s)
        return fetcher.page(url, (await fetcher.aget(url)).text)


# --------------------------------------------------------------------------------------------
# KnowledgeQuery
# --------------------------------------------------------------------------------------------
class KnowledgeQueryInput(BaseModel):
    """Arguments of ``KnowledgeQuery``."""

    query: str = Field(description="An entity or topic to look up, e.g. 'Albany, Georgia'.")


def _norm(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).casefold()


class KnowledgeQueryTool(BaseTool):
    """Lumos ``KnowledgeQuery(query)``: fetch knowledge pages as ``"<title> *** <sentence>"`` lists.

    Args (fields):
        backend: A :class:`KnowledgeBackend` (default: :class:`CorpusBackend` over the offline
            Wikipedia corpus).
        url_policy: Which URLs in a query may be fetched (default: ``en.wikipedia.org`` only).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "KnowledgeQuery"
    description: str = (
        "Capture the relevant webpages according to the query. Returns a list of "
        "'<title> *** <sentence>' strings."
    )
    args_schema: type[BaseModel] = KnowledgeQueryInput
    backend: Any = Field(default_factory=CorpusBackend)
    url_policy: UrlPolicy = Field(default_factory=UrlPolicy)
    top_pages: int = 5
    """Pages kept when the query is not an exact title (the original kept 5 search results)."""
    sentences_per_page: int = 15
    """Sentences kept per search-result page (original: 15)."""
    sentences_article: int = 40
    """Sentences kept for an exact article hit (original: 40)."""

    def _format(self, query: str, pages: Sequence[tuple[str, str]]) -> list[str]:
        if not pages:
            msg = f"KnowledgeQuery found no page for {query!r}; try another query."
            raise ToolException(msg)
        first_title, first_text = pages[0]
        if len(pages) == 1 or _norm(first_title) == _norm(query):
            label = query if _norm(first_title) == _norm(query) else first_title
            return [
                f"{label} {TITLE_TEXT_SEP} {s}" for s in split_sentences(first_text, self.sentences_article)
            ]
        out: list[str] = []
        for title, text in pages[: self.top_pages]:
            out += [f"{title} {TITLE_TEXT_SEP} {s}" for s in split_sentences(text, self.sentences_per_page)]
        return out

    def _url_fetcher(self, url: str) -> Callable[..., Any]:
        fetch = getattr(self.backend, "fetch_url", None)
        if fetch is None:
            self.url_policy.check_url(url, resolve=False)
            msg = f"The knowledge backend cannot fetch URLs ({url}); query an entity name instead."
            raise ToolException(msg)
        return fetch

    def _run(self, query: str, run_manager: CallbackManagerForToolRun | None = None) -> list[str]:
        query = query.strip()
        if not query:
            msg = "KnowledgeQuery needs a non-empty query."
            raise ToolException(msg)
        url = extract_url(query)
        if url is not None:
            return self._format(
                _wiki_title_from_url(url) or query, self._url_fetcher(url)(url, self.url_policy)
            )
        return self._format(query, self.backend.search(query, self.top_pages))

    async def _arun(self, query: str, run_manager: AsyncCallbackManagerForToolRun | None = None) -> list[str]:
        query = query.strip()
        if not query:
            msg = "KnowledgeQuery needs a non-empty query."
            raise ToolException(msg)
        url = extract_url(query)
        if url is not None:
            self._url_fetcher(url)
            afetch = getattr(self.backend, "afetch_url", None)
            if afetch is not None:
                pages = await afetch(url, self.url_policy)
            else:
                pages = await asyncio.to_thread(self.backend.fetch_url, url, self.url_policy)
            return self._format(_wiki_title_from_url(url) or query, pages)
        asearch = getattr(self.backend, "asearch", None)
        if asearch is not None:
            pages = await asearch(query, self.top_pages)
        else:
            pages = await asyncio.to_thread(self.backend.search, query, self.top_pages)
        return self._format(query, pages)


# --------------------------------------------------------------------------------------------
# ParagraphRetrieve
# --------------------------------------------------------------------------------------------
class ParagraphRetrieveInput(BaseModel):
    """Arguments of ``ParagraphRetrieve``."""

    context: list[Any] | str = Field(
        description="Passages to search (a KnowledgeQuery result: '<title> *** <text>' strings)."
    )
    query: str = Field(description="What to look for in the context.")


_EVIDENCE_RE = re.compile(r"^\s*Evidence \d+:\s*")


def _context_entries(context: Any) -> list[str]:
    """Flatten a context value (list, nested lists, a list's repr, or plain text) into entries."""
    if isinstance(context, str):
        text = context.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)  # literals only; never evaluates code
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                parsed = None
            if isinstance(parsed, list):
                return _context_entries(parsed)
        return [_EVIDENCE_RE.sub("", line) for line in text.split("\n") if line.strip()]
    if isinstance(context, (list, tuple)):
        out: list[str] = []
        for item in context:
            out += _context_entries(item) if isinstance(item, (list, tuple)) else [str(item)]
        return [e for e in out if e.strip()]
    return _context_entries(str(context))


def _split_entry(entry: str) -> tuple[str, str]:
    if TITLE_TEXT_SEP in entry:
        title, text = entry.split(TITLE_TEXT_SEP, 1)
        return title.strip(), text.strip()
    return "", entry.strip()


class ParagraphRetrieveTool(BaseTool):
    """Lumos ``ParagraphRetrieve(context, Query: q)``: the 5 passages most relevant to the query.

    Args (fields):
        ranker: Any :class:`~langchain_lumos.tools._ranking.Ranker` (default BM25; the original
            used the DPR reader ``facebook/dpr-reader-multiset-base``). Passages are ranked as
            ``"<title> <text>"``; only the text is returned.
        top_k: Passages returned (original: 5).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "ParagraphRetrieve"
    description: str = "Given a query, retrieve the most relevant paragraphs from the given context."
    args_schema: type[BaseModel] = ParagraphRetrieveInput
    ranker: Any = Field(default_factory=BM25Ranker)
    top_k: int = 5

    def _prepare(self, context: Any, query: str) -> tuple[list[str], list[str], str]:
        entries = _context_entries(context)
        if not entries:
            msg = "ParagraphRetrieve got an empty context; run KnowledgeQuery first."
            raise ToolException(msg)
        if not query or not query.strip():
            msg = "ParagraphRetrieve needs a non-empty query."
            raise ToolException(msg)
        pairs = [_split_entry(e) for e in entries]
        titles, texts = [t for t, _ in pairs], [x for _, x in pairs]
        prefix = ""
        if _REFERENCE_TABLE in titles[0]:
            prefix = f"{_REFERENCE_TABLE} {texts[0]}\n"
        return titles, texts, prefix

    def _format(self, texts: list[str], order: list[int], prefix: str) -> str:
        return prefix + "".join(
            f"Evidence {i}: {texts[idx]}\n" for i, idx in enumerate(order[: self.top_k], 1)
        )

    def _run(
        self,
        context: list[Any] | str,
        query: str,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        titles, texts, prefix = self._prepare(context, query)
        passages = [f"{t} {x}".strip() for t, x in zip(titles, texts, strict=True)]
        return self._format(texts, self.ranker.rank(query, passages, self.top_k), prefix)

    async def _arun(
        self,
        context: list[Any] | str,
        query: str,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> str:
        titles, texts, prefix = self._prepare(context, query)
        passages = [f"{t} {x}".strip() for t, x in zip(titles, texts, strict=True)]
        order = await asyncio.to_thread(self.ranker.rank, query, passages, self.top_k)
        return self._format(texts, order, prefix)


# --------------------------------------------------------------------------------------------
# QA
# --------------------------------------------------------------------------------------------
class QAInput(BaseModel):
    """Arguments of ``QA``."""

    context: list[Any] | str = Field(description="Evidence to answer from (variables' values).")
    question: str = Field(description="The question to answer.")


_ANSWER_RE = re.compile(r"answer\s*:\s*", re.I)


def _reply_text(reply: Any) -> str:
    if isinstance(reply, str):
        return reply
    text = getattr(reply, "text", None)
    if isinstance(text, str):  # langchain-core >= 1: a str subclass (property)
        return str(text)
    if callable(text):  # older langchain-core: a method
        text = text()
        if isinstance(text, str):
            return text
    return str(getattr(reply, "content", reply))


def _extract_answer(reply: str) -> str | None:
    """The answer in a model reply, or ``None`` for "No answer"/empty replies."""
    reply = reply.strip()
    match = _ANSWER_RE.search(reply)
    answer = reply[match.end() :] if match else reply
    answer = answer.strip().split("\n", 1)[0].strip().strip("\"'").strip()
    if not answer or "no answer" in answer.lower() or "no answer" in reply.lower()[:40]:
        return None
    return answer


class QATool(BaseTool):
    """Lumos ``QA([R1, R2], Question: q)``: answer a question from context with an LLM.

    Uses the original prompt verbatim. When the model replies "No answer", it retries without
    the context (or, for questions containing "Must answer yes/no", forces an answer), as the
    original did; if that also fails it returns ``"No answer."``. The original's last resort
    (scraping Google) is not reproduced.

    Args (fields):
        llm: A chat model (gets one ``HumanMessage``) or a completion LLM (gets the string).
            Use temperature 0 for the original behaviour.
        force_yes_no: Append " Must answer yes/no." to every question (StrategyQA).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "QA"
    description: str = "Given context, answer the given query."
    args_schema: type[BaseModel] = QAInput
    llm: BaseLanguageModel
    force_yes_no: bool = False

    def _question(self, question: str) -> str:
        question = question.strip()
        if not question:
            msg = "QA needs a non-empty question."
            raise ToolException(msg)
        if self.force_yes_no and _YES_NO_MARK.lower() not in question.lower():
            question = f"{question} {_YES_NO_MARK}."
        return question

    def _prompts(self, context: Any, question: str) -> list[str]:
        ctx = "\n".join(_context_entries(context)) if not isinstance(context, str) else context
        retry = ANSWER_PROMPT_YES_NO if _YES_NO_MARK in question else ANSWER_PROMPT_NO_CONTEXT
        return [
            QA_PROMPT.format(question=question, context=ctx.strip()),
            retry.format(question=question),
        ]

    def _input(self, prompt: str) -> Any:
        return [HumanMessage(content=prompt)] if isinstance(self.llm, BaseChatModel) else prompt

    def _run(
        self,
        context: list[Any] | str,
        question: str,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        question = self._question(question)
        for prompt in self._prompts(context, question):
            answer = _extract_answer(_reply_text(self.llm.invoke(self._input(prompt))))
            if answer is not None:
                return f"Question: {question}; Answer: {answer}"
        return "No answer."

    async def _arun(
        self,
        context: list[Any] | str,
        question: str,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> str:
        question = self._question(question)
        for prompt in self._prompts(context, question):
            reply = await self.llm.ainvoke(self._input(prompt))
            answer = _extract_answer(_reply_text(reply))
            if answer is not None:
                return f"Question: {question}; Answer: {answer}"
        return "No answer."


# --------------------------------------------------------------------------------------------
# Calculator
# --------------------------------------------------------------------------------------------
class CalculatorInput(BaseModel):
    """Arguments of ``Calculator``."""

    formula: str = Field(description="An arithmetic expression or comparison, e.g. '2010 - 1975'.")


Number = Fraction | float
_MAX_BITS = 4096
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_QA_ANSWER_RE = re.compile(
    r"(?:Question:(?:(?!Answer:).)*?)?Answer:\s*(?P<ans>.*?)"
    r"(?=\s+(?:\*\*|//|[-+*/^%]|[<>]=?|[=!]=|=)\s+|\)|;\s*Question:|\s*$)",
    re.S,
)
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:\s*(?:thousand|million|billion|trillion)\b)?", re.I)


def _answer_number(answer: str) -> str:
    """The number in a QA answer (the one with most digits: '4 July 1975' -> 1975)."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", answer)
    found = _NUMBER_RE.findall(text)
    if not found:
        low = answer.strip().strip(".").lower()
        if low in {"yes", "no", "true", "false"}:
            return "True" if low in {"yes", "true"} else "False"
        msg = f"Calculator could not find a number in the answer {answer.strip()!r}."
        raise ToolException(msg)
    best = max(found, key=lambda s: len(re.sub(r"\D", "", s.split()[0])))
    return f"({best})"


def _preprocess(formula: str) -> str:
    text = _QA_ANSWER_RE.sub(lambda m: _answer_number(m.group("ans")), formula)
    for old, new in {
        "×": "*",
        "÷": "/",
        "−": "-",
        "–": "-",
        "^": "**",
        "$": "",
        "€": "",
        "£": "",
    }.items():
        text = text.replace(old, new)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(
        r"(\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)\b",
        lambda m: f"({m.group(1)}*{_SCALES[m.group(2).lower()]})",
        text,
        flags=re.I,
    )
    text = re.sub(r"(\d+(?:\.\d+)?)\s*%(?!\s*[\d(.])", r"(\1/100)", text)
    text = re.sub(r"(?<![<>=!])=(?!=)", "==", text)
    text = text.strip().rstrip("?").strip()
    text = re.sub(r"(?<=\d)\.$", "", text).strip()
    return text.rstrip("=").strip()


def _to_float(x: Number) -> float:
    return float(x)


def _check_size(x: Number) -> Number:
    if isinstance(x, Fraction) and max(x.numerator.bit_length(), x.denominator.bit_length()) > _MAX_BITS:
        msg = "Calculator result is too large."
        raise ToolException(msg)
    if isinstance(x, float) and math.isnan(x):
        msg = "Calculator result is not a number."
        raise ToolException(msg)
    return x


def _div(a: Number, b: Number) -> Number:
    if b == 0:
        msg = "Calculator error: division by zero."
        raise ToolException(msg)
    return a / b


def _floordiv(a: Number, b: Number) -> Number:
    if b == 0:
        msg = "Calculator error: division by zero."
        raise ToolException(msg)
    return Fraction(a // b) if isinstance(a, Fraction) and isinstance(b, Fraction) else a // b


def _mod(a: Number, b: Number) -> Number:
    if b == 0:
        msg = "Calculator error: modulo by zero."
        raise ToolException(msg)
    return a % b


def _pow(a: Number, b: Number) -> Number:
    if isinstance(b, Fraction) and b.denominator == 1 and isinstance(a, Fraction):
        bits = max(a.numerator.bit_length(), a.denominator.bit_length(), 1)
        if abs(b.numerator) * bits > _MAX_BITS:
            msg = "Calculator result is too large."
            raise ToolException(msg)
        if a == 0 and b < 0:
            msg = "Calculator error: division by zero."
            raise ToolException(msg)
        return a ** int(b.numerator)
    try:
        result = _to_float(a) ** _to_float(b)
    except (OverflowError, ZeroDivisionError) as exc:
        msg = f"Calculator error: {exc}."
        raise ToolException(msg) from exc
    if isinstance(result, complex):
        msg = "Calculator error: the result is not a real number."
        raise ToolException(msg)
    return result


def _unary_float(fn: Callable[[float], float], name: str) -> Callable[..., Number]:
    def call(*args: Number) -> Number:
        if len(args) != 1:
            msg = f"Calculator: {name}() takes one argument."
            raise ToolException(msg)
        try:
            return fn(_to_float(args[0]))
        except (ValueError, OverflowError) as exc:
            msg = f"Calculator error in {name}(): {exc}."
            raise ToolException(msg) from exc

    return call


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return Fraction(round(x))
    return round(x, int(ndigits)) if isinstance(x, float) else Fraction(round(x, int(ndigits)))


def _log(x: Number, base: Number | None = None) -> Number:
    try:
        return math.log(_to_float(x)) if base is None else math.log(_to_float(x), _to_float(base))
    except (ValueError, ZeroDivisionError) as exc:
        msg = f"Calculator error in log(): {exc}."
        raise ToolException(msg) from exc


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": lambda x: abs(x),
    "round": _round,
    "min": lambda *a: min(a),
    "max": lambda *a: max(a),
    "floor": lambda x: Fraction(math.floor(x)),
    "ceil": lambda x: Fraction(math.ceil(x)),
    "sqrt": _unary_float(math.sqrt, "sqrt"),
    "exp": _unary_float(math.exp, "exp"),
    "ln": _unary_float(math.log, "ln"),
    "log": _log,
    "log10": _unary_float(math.log10, "log10"),
    "log2": _unary_float(math.log2, "log2"),
    "sin": _unary_float(math.sin, "sin"),
    "cos": _unary_float(math.cos, "cos"),
    "tan": _unary_float(math.tan, "tan"),
}
_CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e}
_BINOPS: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _eval_node(node: ast.AST) -> Number | bool:
    if isinstance(node, ast.Expression):
        return _eval_node(node.body)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return Fraction(node.value) if isinstance(node.value, int) else Fraction(repr(node.value))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval_node(node.left), _eval_node(node.right)
        return _check_size(_BINOPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub, ast.Not)):
        value = _eval_node(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
        left = _eval_node(node.left)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval_node(comp)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        values = [_eval_node(v) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Name) and node.id.lower() in _CONSTANTS:
        return _CONSTANTS[node.id.lower()]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.lower() in _FUNCTIONS
        and not node.keywords
    ):
        args = [_eval_node(a) for a in node.args]
        try:
            return _check_size(_FUNCTIONS[node.func.id.lower()](*args))
        except TypeError as exc:
            msg = f"Calculator: bad arguments to {node.func.id}(): {exc}."
            raise ToolException(msg) from exc
    what = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
    msg = (
        f"Calculator can only evaluate numbers, + - * / // % ** ^, comparisons and "
        f"{', '.join(sorted(_FUNCTIONS))}; cannot evaluate {what!r}."
    )
    raise ToolException(msg)


def _format_number(value: Number) -> str:
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return format(value, ".12g")


def evaluate_formula(formula: str, *, boolean_style: Literal["yes/no", "True/False"] = "yes/no") -> str:
    """Evaluate an arithmetic formula safely (an AST walker; never ``eval``).

    Supports numbers, ``+ - * / // % ** ^``, parentheses, unary signs, comparisons
    (``< > <= >= == != =``, chained), ``and/or/not``, ``pi``, ``e`` and ``abs round min max floor
    ceil sqrt exp ln log log10 log2 sin cos tan``. Arithmetic is exact (fractions) where possible.
    Also accepted: thousands separators (``1,000``), ``×``/``÷``, ``5%`` (= 0.05), ``2 million``.

    QA results substituted into a formula (``"Question: ...; Answer: 1975"``) are replaced by the
    number in their answer; with several numbers the one with most digits wins (so a date gives
    its year).

    Args:
        formula: The formula.
        boolean_style: How comparisons are reported: ``"yes"``/``"no"`` (default, the QA answer
            form) or ``"True"``/``"False"``.

    Returns:
        The value: integers without ``.0``, other numbers with up to 12 significant digits.

    Raises:
        ToolException: Unsupported syntax, division by zero, or an oversized result.
    """
    if not isinstance(formula, str) or not formula.strip():
        msg = "Calculator needs a formula."
        raise ToolException(msg)
    expr = _preprocess(formula)
    if len(expr) > 2000:
        msg = "Calculator formula is too long."
        raise ToolException(msg)
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError) as exc:
        msg = f"Calculator cannot parse the formula {formula!r}; write plain arithmetic like '2010 - 1975'."
        raise ToolException(msg) from exc
    try:
        value = _eval_node(tree)
    except RecursionError as exc:
        msg = "Calculator formula is nested too deeply."
        raise ToolException(msg) from exc
    except (ZeroDivisionError, OverflowError) as exc:
        msg = f"Calculator error: {exc}."
        raise ToolException(msg) from exc
    if isinstance(value, bool):
        if boolean_style == "yes/no":
            return "yes" if value else "no"
        return str(value)
    return _format_number(value)


class CalculatorTool(BaseTool):
    """Lumos ``Calculator(formula)`` with real, safe arithmetic (see :func:`evaluate_formula`).

    The original QA Calculator asked an LLM instead; this one computes. Comparisons answer
    ``"yes"``/``"no"`` by default (the form HotpotQA/StrategyQA answers take).
    """

    name: str = "Calculator"
    description: str = "Calculate the input formula (arithmetic and comparisons)."
    args_schema: type[BaseModel] = CalculatorInput
    boolean_style: Literal["yes/no", "True/False"] = "yes/no"

    def _run(self, formula: str, run_manager: CallbackManagerForToolRun | None = None) -> str:
        return evaluate_formula(formula, boolean_style=self.boolean_style)

    async def _arun(self, formula: str, run_manager: AsyncCallbackManagerForToolRun | None = None) -> str:
        return evaluate_formula(formula, boolean_style=self.boolean_style)


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------
def complex_qa_tools(
    *,
    llm: BaseLanguageModel,
    knowledge_backend: KnowledgeBackend | None = None,
    ranker: Ranker | None = None,
    url_policy: UrlPolicy | None = None,
    code_runner: BaseTool | None = None,
    force_yes_no: bool = False,
) -> list[BaseTool]:
    """The Lumos complex-QA action set: KnowledgeQuery, ParagraphRetrieve, QA, Calculator, Code.

    Args:
        llm: The model behind ``QA`` (chat model or LLM).
        knowledge_backend: Default: the offline Wikipedia corpus (:class:`CorpusBackend`).
        ranker: Default: :class:`~langchain_lumos.tools._ranking.BM25Ranker`.
        url_policy: Default: fetch only ``en.wikipedia.org``.
        code_runner: A tool named ``Code`` (default :class:`~langchain_lumos.tools.code.CodeTool`).
        force_yes_no: StrategyQA mode for ``QA``.

    Returns:
        The five tools, in the order of the Lumos action list.
    """
    if code_runner is not None and code_runner.name != "Code":
        msg = f"code_runner must be a tool named 'Code', got {code_runner.name!r}."
        raise ValueError(msg)
    return [
        KnowledgeQueryTool(
            backend=knowledge_backend or CorpusBackend(), url_policy=url_policy or UrlPolicy()
        ),
        ParagraphRetrieveTool(ranker=ranker or BM25Ranker()),
        QATool(llm=llm, force_yes_no=force_yes_no),
        CalculatorTool(),
        code_runner or CodeTool(),
    ]
