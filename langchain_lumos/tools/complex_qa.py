r"""Complex-QA tools: `KnowledgeQuery`, `ParagraphRetrieve` and `QA`, and the toolkit factory.

Outputs keep the shapes of the original Lumos tools (`eval/hotpotqa`):

- `KnowledgeQuery(query)` -> `["<title> *** <sentence>", ...]`. A page whose title equals the
  query is treated like a direct Wikipedia article hit: its first 40 sentences, labelled with
  the query. Otherwise the top 5 pages, 15 sentences each, labelled with their titles.
- `ParagraphRetrieve(context, Query: q)` -> `"Evidence 1: <text>\nEvidence 2: <text>\n..."`
  (top 5, texts only, each line ending in `\n`), prefixed by `"Reference Table: <table>\n"`
  when the first context entry is a `Reference Table: *** ...` entry.
- `QA([R1, R2], Question: q)` -> `"Question: q; <reply>"` (eval style: the model's reply
  as it is, normally `Answer: X`), or, in the small-model style, `"Question: q; Answer: X"`
  / `"No answer."`.

The toolkit adds the shared `Calculator` (`langchain_lumos.tools.calculator`) and the sandboxed
`Code` tool. Where pages come from is a `KnowledgeBackend` (`langchain_lumos.tools.search`);
every URL a model writes is checked by a `UrlPolicy` (`langchain_lumos.tools.url_policy`).
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.language_models import BaseLanguageModel
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from langchain_lumos.tools.calculator import CalculatorTool
from langchain_lumos.tools.code import code_tools
from langchain_lumos.tools.ranking import BM25Ranker, Ranker
from langchain_lumos.tools.search import CorpusBackend, KnowledgeBackend
from langchain_lumos.tools.url_policy import UrlPolicy, extract_url, wiki_title_from_url

__all__ = [
    "ABBREVIATIONS",
    "ANSWER_PROMPT",
    "ANSWER_PROMPT_NO_CONTEXT",
    "ANSWER_PROMPT_YES_NO",
    "QA_PROMPT",
    "QA_RUN_NAME",
    "TITLE_TEXT_SEP",
    "KnowledgeQueryInput",
    "KnowledgeQueryTool",
    "ParagraphRetrieveInput",
    "ParagraphRetrieveTool",
    "QAInput",
    "QAStyle",
    "QATool",
    "complex_qa_tools",
    "join_abbreviations",
    "small_question",
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
QAStyle = Literal["eval", "small"]
"""`"eval"`: the original QA tool's behaviour; `"small"`: conveniences for small QA models."""


ABBREVIATIONS = frozenset(
    {"op", "opp", "no", "nos", "vol", "st", "mt", "ft", "mr", "mrs", "ms", "dr", "jr", "sr", "prof"}
    | {"gen", "gov", "sen", "rep", "rev", "col", "capt", "lt", "sgt", "co", "corp", "inc", "ltd"}
    | {"bros", "vs", "etc", "approx", "ca", "c", "b", "d", "fl", "est", "jan", "feb", "aug", "sept"}
    | {"oct", "nov", "dec", "ave", "blvd"}
)
"""Words whose period ends no sentence (`Op. 71`, `St. Petersburg`, `c. 1500`), lower-cased."""


_OPENERS = frozenset(
    {"he", "she", "it", "they", "the", "this", "these", "his", "her", "its", "their", "in", "a", "an"}
)


def _cut_by_abbreviation(text: str, following: str) -> bool:
    """Whether the period ending `text` is an abbreviation's, not the end of a sentence.

    An initial (`H. L. Mencken`) or a word of `ABBREVIATIONS` (`Op. 71`); a dotted
    abbreviation (`U.S`, `D.C`) unless the next piece opens a sentence (`... in the U.S. He
    ...`). `text` may end with that period or stop before it.
    """
    word = text.rsplit(None, 1)[-1] if text.strip() else ""
    word = word.lstrip("(\"'").removesuffix(".")
    if (len(word) == 1 and word.isalpha()) or word.casefold() in ABBREVIATIONS:
        return True
    opener = following.split(None, 1)[0].casefold() if following.strip() else ""
    return "." in word and len(word) <= 6 and opener not in _OPENERS


def join_abbreviations(pieces: Sequence[str], separator: str = ". ") -> list[str]:
    """Glue back the pieces of a sentence split that an abbreviation's period cut apart.

    Args:
        pieces: The split text, in order.
        separator: What the split removed between two pieces (`". "`; `" "` for pieces that
            keep their period).

    Returns:
        The sentences.
    """
    out: list[str] = []
    for piece in pieces:
        if out and _cut_by_abbreviation(out[-1], piece):
            out[-1] = f"{out[-1]}{separator}{piece}"
        else:
            out.append(piece)
    return out


def split_sentences(text: str, limit: int | None = None, *, abbreviations: bool = False) -> list[str]:
    r"""Cut a page into sentences the way the original `get_page_obs` did.

    Paragraphs (`\\n`) are split on `". "`; each sentence gets a final `.` unless it already
    ends with sentence punctuation (the original doubled the period at paragraph ends).
    The original also cut at every abbreviation (`The Nutcracker, Op.` / `71, is an 1892
    ballet by Pyotr Ilyich Tchaikovsky.`), which the released checkpoints were evaluated
    with; `abbreviations=True` (the small-model style) keeps `Op. 71`, `St. Petersburg` and
    initials in one sentence (`join_abbreviations`).

    Args:
        text: Page text.
        limit: Keep only the first `limit` sentences.
        abbreviations: Do not cut after an abbreviation or an initial.

    Returns:
        The sentences.
    """
    sentences: list[str] = []
    for para in text.split("\n"):
        pieces = para.strip().split(". ")
        for sent in join_abbreviations(pieces) if abbreviations else pieces:
            sent = sent.strip()
            if not sent:
                continue
            sentences.append(sent if sent.endswith((".", "!", "?")) else sent + ".")
    return sentences[:limit] if limit is not None else sentences


# --------------------------------------------------------------------------------------------
# KnowledgeQuery
# --------------------------------------------------------------------------------------------
class KnowledgeQueryInput(BaseModel):
    """Arguments of `KnowledgeQuery`."""

    query: str = Field(description="An entity or topic to look up, e.g. 'Albany, Georgia'.")


def _norm(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).casefold()


class KnowledgeQueryTool(BaseTool):
    """Lumos `KnowledgeQuery(query)`: fetch knowledge pages as `"<title> *** <sentence>"` lists.

    Attributes:
        backend: A `KnowledgeBackend` (default: `CorpusBackend` over the offline
            Wikipedia corpus).
        url_policy: Which URLs in a query may be fetched (default: `en.wikipedia.org` only).
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
    abbreviations: bool = False
    """Keep an abbreviation's period inside its sentence (`Op. 71`; the small-model style).
    False (default): cut at every `". "`, as the original did (`split_sentences`)."""

    def _format(self, query: str, pages: Sequence[tuple[str, str]]) -> list[str]:
        if not pages:
            msg = f"KnowledgeQuery found no page for {query!r}; try another query."
            raise ToolException(msg)
        first_title, first_text = pages[0]
        if len(pages) == 1 or _norm(first_title) == _norm(query):
            label = query if _norm(first_title) == _norm(query) else first_title
            return [
                f"{label} {TITLE_TEXT_SEP} {s}"
                for s in split_sentences(first_text, self.sentences_article, abbreviations=self.abbreviations)
            ]
        out: list[str] = []
        for title, text in pages[: self.top_pages]:
            out += [
                f"{title} {TITLE_TEXT_SEP} {s}"
                for s in split_sentences(text, self.sentences_per_page, abbreviations=self.abbreviations)
            ]
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
                wiki_title_from_url(url) or query, self._url_fetcher(url)(url, self.url_policy)
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
            return self._format(wiki_title_from_url(url) or query, pages)
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
    """Arguments of `ParagraphRetrieve`."""

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
    """Lumos `ParagraphRetrieve(context, Query: q)`: the 5 passages most relevant to the query.

    Attributes:
        ranker: Any `langchain_lumos.tools.ranking.Ranker` (default BM25; the original
            used the DPR reader `facebook/dpr-reader-multiset-base`). Passages are ranked as
            `"<title> <text>"`; only the text is returned.
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
    """Arguments of `QA`."""

    context: list[Any] | str = Field(description="Evidence to answer from (variables' values).")
    question: str = Field(description="The question to answer.")
    exclude: list[str] | None = Field(
        default=None,
        description=(
            "Answers this one is not (an earlier step's bridge entity). Only the small style "
            "uses it; the eval style returns the model's reply as it is."
        ),
    )


_ANSWER_RE = re.compile(r"answer\s*:\s*", re.I)
_NO_ANSWER = "No answer"  # the original's retry test: a case-sensitive substring of the reply


def _reply_text(reply: Any) -> str:
    if isinstance(reply, str):
        return reply
    text = getattr(reply, "text", None)
    if isinstance(text, str):  # a message's text (a str subclass)
        return str(text)
    return str(getattr(reply, "content", reply))


QA_RUN_NAME = "lumos_qa"
"""The traced name of the `QA` tool's model call (a child of the tool's run)."""


def _qa_config(callbacks: Any) -> RunnableConfig:
    return {"run_name": QA_RUN_NAME, "callbacks": callbacks}


_WRITTEN_ANSWER_RE = re.compile(r"[;,.]?\s*\bAnswer\s*:.*$", re.I | re.S)


def small_question(question: str) -> str:
    """The question a small-style `QA` answers: without an answer the grounder wrote into it.

    A small grounder often copies the exemplars' result format into the action,
    `QA([R2], Question: On which river is Prague?; Answer: Danube)`; the `; Answer: ...`
    tail is its guess, not part of the question (and would be read back as the answer).
    """
    cut = _WRITTEN_ANSWER_RE.sub("", question).strip()
    return cut or question.strip()


def _small_result(question: str, answer: str) -> str:
    """The small-model style's result for a short answer span (`"No answer."` for none)."""
    if not answer or answer.strip().lower().startswith("no answer"):
        return "No answer."
    return f"Question: {question}; Answer: {answer}"


class QATool(BaseTool):
    """Lumos `QA([R1, R2], Question: q)`: answer a question from context with an LLM.

    Uses the original prompt verbatim. When the reply contains `No answer`, it asks once
    more without the context (or, for questions containing `Must answer yes/no`, forces an
    answer), as the original did. The original's last resort (scraping Google) is not
    reproduced.

    Two styles:

    - `"eval"` (default, the original): the result is `"Question: q; <reply>"` with the last
      reply exactly as the model wrote it (not rewritten, not truncated), whether or not it
      begins with `Answer: `.
    - `"small"` (small QA models): one call of the small-model QA step
      (`langchain_lumos.profiles.small_qa_answer`: the evidence sentences that best match the
      question, the model's chat template, the reply snapped to a short span of the
      evidence); the result is `"Question: q; Answer: X"`, or `"No answer."` when the
      evidence offers none. Never raw evidence text.

    Attributes:
        llm: A chat model (gets one `HumanMessage`) or a completion LLM (gets the string).
            Use temperature 0 for the original behaviour.
        force_yes_no: Append " Must answer yes/no." to every question (StrategyQA).
        style: `"eval"` or `"small"` (see above).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "QA"
    description: str = "Given context, answer the given query."
    args_schema: type[BaseModel] = QAInput
    llm: BaseLanguageModel
    force_yes_no: bool = False
    style: QAStyle = "eval"

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

    def _result(self, question: str, reply: str, last: bool) -> str | None:
        """The eval style's result for one reply, or None to ask again with the next prompt."""
        return None if not last and _NO_ANSWER in reply else f"Question: {question}; {reply}"

    def _run(
        self,
        context: list[Any] | str,
        question: str,
        exclude: list[str] | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        question = self._question(question)
        if self.style == "small":
            from langchain_lumos.profiles import small_qa_answer

            question = small_question(question)
            config = _qa_config(run_manager.get_child() if run_manager else None)
            answer = small_qa_answer(self.llm, question, context, config=config, exclude=exclude or ())
            return _small_result(question, answer)
        prompts = self._prompts(context, question)
        for i, prompt in enumerate(prompts):
            config = _qa_config(run_manager.get_child() if run_manager else None)
            reply = _reply_text(self.llm.invoke(self._input(prompt), config=config))
            result = self._result(question, reply, last=i == len(prompts) - 1)
            if result is not None:
                return result
        raise AssertionError  # pragma: no cover - the last prompt always gives a result

    async def _arun(
        self,
        context: list[Any] | str,
        question: str,
        exclude: list[str] | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> str:
        question = self._question(question)
        if self.style == "small":
            from langchain_lumos.profiles import asmall_qa_answer

            question = small_question(question)
            config = _qa_config(run_manager.get_child() if run_manager else None)
            answer = await asmall_qa_answer(self.llm, question, context, config=config, exclude=exclude or ())
            return _small_result(question, answer)
        prompts = self._prompts(context, question)
        for i, prompt in enumerate(prompts):
            config = _qa_config(run_manager.get_child() if run_manager else None)
            reply = _reply_text(await self.llm.ainvoke(self._input(prompt), config=config))
            result = self._result(question, reply, last=i == len(prompts) - 1)
            if result is not None:
                return result
        raise AssertionError  # pragma: no cover - the last prompt always gives a result


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
    qa_style: QAStyle = "eval",
) -> list[BaseTool]:
    """The Lumos complex-QA action set: KnowledgeQuery, ParagraphRetrieve, QA, Calculator, Code.

    Args:
        llm: The model behind `QA` (chat model or LLM).
        knowledge_backend: Default: the offline Wikipedia corpus (`CorpusBackend`).
        ranker: Default: `langchain_lumos.tools.ranking.BM25Ranker`.
        url_policy: Default: fetch only `en.wikipedia.org`.
        code_runner: A tool named `Code` (default: the sandboxed `CodeTool` where its sandbox
            is available, else none; see `langchain_lumos.tools.code.code_tools`).
        force_yes_no: StrategyQA mode for `QA`.
        qa_style: `QA` result style: `"eval"` (the original's, for the released checkpoints)
            or `"small"` (answers extracted and normalised, for small QA models; its
            `KnowledgeQuery` also keeps abbreviations inside their sentences).

    Returns:
        The tools, in the order of the Lumos action list.
    """
    if code_runner is not None and code_runner.name != "Code":
        msg = f"code_runner must be a tool named 'Code', got {code_runner.name!r}."
        raise ValueError(msg)
    return [
        KnowledgeQueryTool(
            backend=knowledge_backend or CorpusBackend(),
            url_policy=url_policy or UrlPolicy(),
            abbreviations=qa_style == "small",
        ),
        ParagraphRetrieveTool(ranker=ranker or BM25Ranker()),
        QATool(llm=llm, force_yes_no=force_yes_no, style=qa_style),
        CalculatorTool(boolean_style="yes/no"),
        *([code_runner] if code_runner is not None else code_tools()),
    ]
