"""LangChain standard unit tests for the complex-QA tools and the Code sandbox.

The one `Calculator` of both toolkits is tested with the maths tools.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import BaseTool
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_lumos.tools.code import CodeTool
from langchain_lumos.tools.complex_qa import (
    KnowledgeQueryTool,
    ParagraphRetrieveTool,
    QATool,
)
from langchain_lumos.tools.corpus import Corpus
from langchain_lumos.tools.search import CorpusBackend

_CORPUS = Corpus([("Prague", "Prague is the capital of the Czech Republic.")])


class TestKnowledgeQueryStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return KnowledgeQueryTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"backend": CorpusBackend(_CORPUS)}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "Prague"}


class TestParagraphRetrieveStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return ParagraphRetrieveTool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"context": ["Prague *** Prague is a city."], "query": "What is Prague?"}


class TestQAStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        llm = GenericFakeChatModel(messages=iter([AIMessage(content="Answer: a city")]))
        return QATool(llm=llm)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"context": "Prague is a city.", "question": "What is Prague?"}


class TestCodeStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return CodeTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"timeout_s": 2.0, "memory_mb": 256}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"pseudo_code": "print(6 * 7)"}
