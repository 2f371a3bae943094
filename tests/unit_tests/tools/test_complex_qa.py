from __future__ import annotations

import socket
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import ToolException

from langchain_lumos.tools.calculator import CalculatorTool, calculate
from langchain_lumos.tools.code import CodeTool
from langchain_lumos.tools.complex_qa import (
    QA_PROMPT,
    KnowledgeQueryTool,
    ParagraphRetrieveTool,
    QATool,
    complex_qa_tools,
    small_question,
    split_sentences,
)
from langchain_lumos.tools.corpus import Corpus, WikiCorpus
from langchain_lumos.tools.search import CorpusBackend, DuckDuckGoBackend, WikipediaBackend
from langchain_lumos.tools.url_policy import UrlPolicy, check_url, extract_url


@pytest.fixture(scope="module")
def wiki_backend(wiki: WikiCorpus) -> CorpusBackend:
    return CorpusBackend(wiki)


def _chat(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


# -- sentences / KnowledgeQuery ----------------------------------------------------------------
def test_split_sentences() -> None:
    text = "First one. Second one.\nThird. Fourth!"
    assert split_sentences(text) == ["First one.", "Second one.", "Third.", "Fourth!"]
    assert split_sentences(text, 2) == ["First one.", "Second one."]


def test_knowledge_query_exact_title(wiki_backend: CorpusBackend) -> None:
    tool = KnowledgeQueryTool(backend=wiki_backend)
    out = tool.invoke({"query": "Franz Kafka"})
    assert isinstance(out, list) and out
    assert all(e.startswith("Franz Kafka *** ") for e in out)
    assert any("born in Prague" in e for e in out)
    assert len(out) <= 40


def test_knowledge_query_search_results(wiki_backend: CorpusBackend) -> None:
    tool = KnowledgeQueryTool(backend=wiki_backend)
    out = tool.invoke({"query": "capital of the Czech Republic on the Vltava"})
    titles = [e.split(" *** ")[0] for e in out]
    assert titles[0] == "Prague"
    assert 1 < len(set(titles)) <= 5
    for title in set(titles):
        assert titles.count(title) <= 15


def test_knowledge_query_wiki_url_is_offline_lookup(wiki_backend: CorpusBackend) -> None:
    tool = KnowledgeQueryTool(backend=wiki_backend)
    out = tool.invoke({"query": "https://en.wikipedia.org/wiki/Franz_Kafka"})
    assert out[0].startswith("Franz Kafka *** ")
    assert tool.invoke({"query": "/wiki/Prague"})[0].startswith("Prague *** ")


async def test_knowledge_query_async(wiki_backend: CorpusBackend) -> None:
    tool = KnowledgeQueryTool(backend=wiki_backend)
    out = await tool.ainvoke({"query": "Prague"})
    assert out[0].startswith("Prague *** Prague is the capital")


def test_knowledge_query_no_result() -> None:
    tool = KnowledgeQueryTool(backend=CorpusBackend(Corpus([("A", "alpha text")])))
    with pytest.raises(ToolException, match="no page"):
        tool.invoke({"query": "zzzz"})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/",
        "https://evil.example.com/wiki/X",
        "file:///etc/passwd",
    ],
)
def test_knowledge_query_rejects_urls(url: str, wiki_backend: CorpusBackend) -> None:
    tool = KnowledgeQueryTool(backend=wiki_backend)
    with pytest.raises(ToolException, match="Refused"):
        tool.invoke({"query": f"look at {url}"})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/",
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
def test_policy_rejects_private_even_if_allow_listed(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-socket blocks real DNS: resolve like /etc/hosts does.
    def fake_getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == "localhost"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    policy = UrlPolicy(["127.0.0.1", "10.0.0.1", "169.254.169.254", "localhost", "::1", "0.0.0.0"])
    with pytest.raises(ToolException, match=r"not a public address|non-public"):
        policy.check_url(url)


def test_policy_rejects_dns_to_private(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.5", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ToolException, match=r"non-public 192\.168\.1\.5"):
        check_url("https://en.wikipedia.org/wiki/Paris")


def test_policy_accepts_public(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("185.15.59.224", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    check_url("https://en.wikipedia.org/wiki/Paris")
    with pytest.raises(ToolException, match="credentials"):
        check_url("https://user:pw@en.wikipedia.org/wiki/Paris")
    with pytest.raises(ToolException, match="port"):
        check_url("https://en.wikipedia.org:8443/wiki/Paris")
    with pytest.raises(ToolException, match="allow-list"):
        check_url("https://en.wikipedia.org.evil.com/")


def test_extract_url() -> None:
    assert extract_url("see https://en.wikipedia.org/wiki/Paris.") == ("https://en.wikipedia.org/wiki/Paris")
    assert extract_url("/wiki/Marie_Curie") == "https://en.wikipedia.org/wiki/Marie_Curie"
    assert extract_url("Albany, Georgia") is None


def test_network_backends_construct_without_network() -> None:
    KnowledgeQueryTool(backend=WikipediaBackend())
    KnowledgeQueryTool(backend=DuckDuckGoBackend())


# -- ParagraphRetrieve -------------------------------------------------------------------------
CONTEXT = [
    "Franz Kafka *** Franz Kafka was a writer born in Prague.",
    "Franz Kafka *** His works include The Metamorphosis.",
    "Prague *** Prague has a population of about 1.4 million.",
    "Prague *** It lies on the Vltava river.",
]


def test_paragraph_retrieve_format_and_ranking() -> None:
    out = ParagraphRetrieveTool().invoke({"context": CONTEXT, "query": "population of Prague"})
    lines = out.split("\n")
    assert lines[0] == "Evidence 1: Prague has a population of about 1.4 million."
    assert out.endswith("\n") and len(lines) == 5  # 4 evidences + trailing newline
    assert [ln.split(":")[0] for ln in lines[:4]] == [f"Evidence {i}" for i in range(1, 5)]


def test_paragraph_retrieve_top5_and_reference_table() -> None:
    context = ["Reference Table: *** Born 3 July 1883 Prague"] + [
        f"Doc *** Sentence number {i} about cats." for i in range(10)
    ]
    out = ParagraphRetrieveTool().invoke({"context": context, "query": "born Prague"})
    assert out.startswith("Reference Table: Born 3 July 1883 Prague\nEvidence 1: Born 3 July")
    assert out.count("Evidence ") == 5


async def test_paragraph_retrieve_accepts_strings_and_nested_lists() -> None:
    tool = ParagraphRetrieveTool()
    out = await tool.ainvoke({"context": str(CONTEXT), "query": "Vltava river"})
    assert out.startswith("Evidence 1: It lies on the Vltava river.")
    out = tool.invoke({"context": [CONTEXT[:2], CONTEXT[2:]], "query": "Metamorphosis"})
    assert out.startswith("Evidence 1: His works include The Metamorphosis.")
    with pytest.raises(ToolException, match="empty context"):
        tool.invoke({"context": [], "query": "x"})


# -- QA ---------------------------------------------------------------------------------------
def test_qa_chat_model_format() -> None:
    tool = QATool(llm=_chat("Answer: Prague"))
    out = tool.invoke({"context": CONTEXT, "question": "Where was Kafka born?"})
    assert out == "Question: Where was Kafka born?; Answer: Prague"


def test_qa_prompt_is_verbatim() -> None:
    seen: list[str] = []

    class Spy(FakeListLLM):
        def _call(self, prompt: str, *args: Any, **kwargs: Any) -> str:
            seen.append(prompt)
            return super()._call(prompt, *args, **kwargs)

    tool = QATool(llm=Spy(responses=["Answer: 1883"]))
    assert tool.invoke({"context": "ctx", "question": "When?"}) == "Question: When?; Answer: 1883"
    assert seen == [QA_PROMPT.format(question="When?", context="ctx")]
    assert seen[0].startswith(
        "Please answer the following question according to the context. Please answer with one "
        "brief entity, beginning with 'Answer: '. If the answer can't be found in the context, "
        "answer 'No answer'. No more details and explanations.\n\nQuestion: When?\nContext: ctx\n"
    )


def test_qa_no_answer_retries_without_context() -> None:
    tool = QATool(llm=FakeListLLM(responses=["No answer", "Answer: Vienna"]))
    assert tool.invoke({"context": "x", "question": "Q?"}) == "Question: Q?; Answer: Vienna"


def test_qa_no_answer_fallback_small_style() -> None:
    tool = QATool(llm=_chat("No answer", "No answer"), style="small")
    assert tool.invoke({"context": "x", "question": "Q?"}) == "No answer."


def test_qa_eval_style_keeps_the_last_reply_whole() -> None:
    """The original returns `f"Question: {q}; {reply}"` with the reply untouched."""
    tool = QATool(llm=_chat("No answer", "No answer"))
    assert tool.invoke({"context": "x", "question": "Q?"}) == "Question: Q?; No answer"
    reply = "The capital is Prague.\nIt lies on the Vltava."
    tool = QATool(llm=_chat(reply))
    assert tool.invoke({"context": "x", "question": "Q?"}) == f"Question: Q?; {reply}"
    tool = QATool(llm=_chat("Answer: Prague, the capital\nSecond line"))
    out = tool.invoke({"context": "x", "question": "Q?"})
    assert out == "Question: Q?; Answer: Prague, the capital\nSecond line"


def test_qa_eval_style_retries_only_on_the_exact_no_answer_substring() -> None:
    # the original's test is `"No answer" in reply` (case-sensitive)
    tool = QATool(llm=_chat("no answer here", "Answer: unused"))
    assert tool.invoke({"context": "x", "question": "Q?"}) == "Question: Q?; no answer here"


def test_qa_small_style_answers_with_a_short_span_of_the_evidence() -> None:
    evidence = "Evidence 1: Franz Kafka was a writer. He was born in Prague in 1883."
    question = "Where was Franz Kafka born?"
    tool = QATool(llm=_chat('Sure! Answer: "Prague"'), style="small")
    assert tool.invoke({"context": evidence, "question": question}) == f"Question: {question}; Answer: Prague"
    tools = complex_qa_tools(llm=_chat("Prague"), qa_style="small")
    assert (
        tools[2].invoke({"context": [evidence], "question": question})
        == f"Question: {question}; Answer: Prague"
    )
    # a reply that copies the evidence is cut down to a span, never returned whole
    copied = QATool(llm=_chat(evidence), style="small").invoke({"context": evidence, "question": question})
    assert copied.startswith(f"Question: {question}; Answer: ") and "Evidence" not in copied
    assert (
        QATool(llm=_chat("Prague"), style="small").invoke({"context": "", "question": question})
        == "No answer."
    )


async def test_qa_force_yes_no_async() -> None:
    tool = QATool(llm=_chat("No answer", "Answer: yes"), force_yes_no=True)
    out = await tool.ainvoke({"context": ["a", "b"], "question": "Is Prague big?"})
    assert out == "Question: Is Prague big? Must answer yes/no.; Answer: yes"


# -- Calculator -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("28 * 1/7", "4"),
        ("2010 - 1975", "35"),
        ("2^10", "1024"),
        ("(1975 + 1980) / 2", "1977.5"),
        ("1/3", "0.333333"),
        ("0.1 + 0.2", "0.3"),
        ("1,000 + 2,500", "3500"),
        ("10% * 200", "20"),
        ("sqrt(16) + abs(-3)", "7"),
        ("round(2.567, 2)", "2.57"),
        ("max(3, 7, 2) - min(4, 1)", "6"),
        ("1.4 million / 2", "700000"),
        ("1975 < 1980", "yes"),
        ("3 >= 4", "no"),
        ("7 % 3", "1"),
        ("Question: When was A born?; Answer: 1975 - 1900", "75"),
        (
            "Question: When was B born?; Answer: July 4, 1980 - Question: When was A born?; Answer: 1975",
            "5",
        ),
        ("Question: Pop of X?; Answer: 1,400,000 > Question: Pop of Y?; Answer: 900000", "yes"),
    ],
)
def test_calculator_values(formula: str, expected: str) -> None:
    assert CalculatorTool(boolean_style="yes/no").invoke({"formula": formula}) == expected


def test_calculator_bool_style() -> None:
    assert calculate("1 < 2") == "True"
    assert calculate("1 < 2", boolean_style="yes/no") == "yes"
    assert calculate("2 + 2 = 4", boolean_style="yes/no") == "yes"


def test_complex_qa_toolkit_uses_the_shared_calculator() -> None:
    calc = complex_qa_tools(llm=_chat("x"))[3]
    assert type(calc) is CalculatorTool
    assert calc.boolean_style == "yes/no"


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("1/0", "(?i)division by zero"),
        ("5 // 0", "(?i)division by zero"),
        ("9**9**9", "too large"),
        ("__import__('os').system('ls')", "unsupported characters"),
        ("Question: Who?; Answer: Paris + 1", "could not find a number"),
        ("2 +* ", "Cannot parse"),
        ("", "needs a formula"),
    ],
)
def test_calculator_errors(formula: str, match: str) -> None:
    with pytest.raises(ToolException, match=match):
        CalculatorTool().invoke({"formula": formula})


# -- factory + two-hop scripted run --------------------------------------------------------------
def test_complex_qa_tools_factory(wiki_backend: CorpusBackend) -> None:
    tools = complex_qa_tools(llm=_chat("Answer: x"), knowledge_backend=wiki_backend)
    assert [t.name for t in tools] == [
        "KnowledgeQuery",
        "ParagraphRetrieve",
        "QA",
        "Calculator",
        "Code",
    ]
    assert isinstance(tools[-1], CodeTool)
    with pytest.raises(ValueError):
        complex_qa_tools(llm=_chat("x"), code_runner=CalculatorTool())


def test_two_hop_scripted(wiki_backend: CorpusBackend) -> None:
    kq, pr, qa, calc, _ = complex_qa_tools(
        llm=_chat("Answer: Prague", "Answer: 1.4 million"), knowledge_backend=wiki_backend
    )
    r1 = kq.invoke({"query": "Franz Kafka"})
    r2 = pr.invoke({"context": r1, "query": "Where was Franz Kafka born?"})
    assert "born in Prague" in r2.split("\n")[0]
    r3 = qa.invoke({"context": [r2], "question": "Where was Franz Kafka born?"})
    assert r3 == "Question: Where was Franz Kafka born?; Answer: Prague"
    r4 = kq.invoke({"query": r3.split("Answer: ")[1]})
    r5 = pr.invoke({"context": r4, "query": "population of Prague"})
    assert "1.4 million" in r5.split("\n")[0]
    r6 = qa.invoke({"context": [r5], "question": "What is the population of Prague?"})
    assert calc.invoke({"formula": f"{r6} * 2"}) == "2800000"


def _wiki_api(request: Any) -> Any:
    import httpx

    params = dict(request.url.params)
    if params.get("list") == "search":
        return httpx.Response(200, json={"query": {"search": [{"title": "Prague"}, {"title": "Kafka"}]}})
    title = params.get("titles")
    if title == "Franz Kafka":
        extract = "Franz Kafka was a writer. He was born in Prague.\n\n== Life ==\nMore text."
        return httpx.Response(200, json={"query": {"pages": {"1": {"title": title, "extract": extract}}}})
    if title in {"Prague", "Kafka"}:
        extract = f"{title} text one. {title} text two."
        return httpx.Response(200, json={"query": {"pages": {"2": {"title": title, "extract": extract}}}})
    return httpx.Response(200, json={"query": {"pages": {"-1": {"missing": ""}}}})


async def test_wikipedia_backend_mocked_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    def public(*args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("185.15.59.224", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", public)
    for cls in (httpx.Client, httpx.AsyncClient):
        init = cls.__init__

        def patched(self: Any, *args: Any, _init: Any = init, **kwargs: Any) -> None:
            kwargs["transport"] = httpx.MockTransport(_wiki_api)
            _init(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", patched)
    tool = KnowledgeQueryTool(backend=WikipediaBackend())
    assert tool.invoke({"query": "Franz Kafka"}) == [
        "Franz Kafka *** Franz Kafka was a writer.",
        "Franz Kafka *** He was born in Prague.",
        "Franz Kafka *** More text.",
    ]
    expected = [
        "Prague *** Prague text one.",
        "Prague *** Prague text two.",
        "Kafka *** Kafka text one.",
        "Kafka *** Kafka text two.",
    ]
    assert tool.invoke({"query": "czech writers"}) == expected
    assert await tool.ainvoke({"query": "czech writers"}) == expected
    out = tool.invoke({"query": "https://en.wikipedia.org/wiki/Franz_Kafka"})
    assert out[1] == "Franz Kafka *** He was born in Prague."


async def test_qa_eval_style_async_keeps_the_reply() -> None:
    tool = QATool(llm=_chat("No answer", "I think it is Prague"))
    out = await tool.ainvoke({"context": "x", "question": "Q?"})
    assert out == "Question: Q?; I think it is Prague"


def test_small_style_drops_an_answer_the_grounder_wrote_into_the_question() -> None:
    assert small_question("Where is Prague located? Answer: on the Danube") == "Where is Prague located?"
    assert small_question("In which city is it?; Answer: Paris") == "In which city is it?"
    assert small_question("Who wrote it?") == "Who wrote it?"
    assert small_question("Answer: x") == "Answer: x"  # nothing else: kept as it is
    evidence = "Evidence 1: Prague is located on the Vltava River.\n"
    tool = QATool(llm=_chat("Vltava River"), style="small")
    result = tool.invoke({"context": evidence, "question": "On which river is Prague?; Answer: Danube"})
    assert result == "Question: On which river is Prague?; Answer: Vltava River"
    eval_tool = QATool(llm=_chat("Answer: Vltava"))  # the eval style keeps the question as written
    assert "Answer: Danube" in eval_tool.invoke({"context": evidence, "question": "River?; Answer: Danube"})


ABBREVIATED = (
    "The Nutcracker, Op. 71, is an 1892 ballet by Pyotr Ilyich Tchaikovsky. It premiered in St. Petersburg. "
    "H. L. Mencken was a journalist in the U.S. He wrote a lot. Washington, D.C. is the capital."
)


def test_the_small_style_keeps_abbreviations_inside_their_sentences() -> None:
    from langchain_lumos.profiles import evidence_sentences
    from langchain_lumos.tools.complex_qa import split_sentences

    kept = [
        "The Nutcracker, Op. 71, is an 1892 ballet by Pyotr Ilyich Tchaikovsky.",
        "It premiered in St. Petersburg.",
        "H. L. Mencken was a journalist in the U.S.",
        "He wrote a lot.",
        "Washington, D.C. is the capital.",
    ]
    assert split_sentences(ABBREVIATED, abbreviations=True) == kept
    assert evidence_sentences("Evidence 1: " + ABBREVIATED) == kept
    # The original cut at every ". ", which the eval style keeps.
    assert split_sentences(ABBREVIATED)[:2] == [
        "The Nutcracker, Op.",
        "71, is an 1892 ballet by Pyotr Ilyich Tchaikovsky.",
    ]
    small = {t.name: t for t in complex_qa_tools(llm=FakeListLLM(responses=["x"]), qa_style="small")}
    assert small["KnowledgeQuery"].abbreviations
    assert not {t.name: t for t in complex_qa_tools(llm=FakeListLLM(responses=["x"]))}[
        "KnowledgeQuery"
    ].abbreviations
