"""Shared helpers of the benchmarks (fake models and tools)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.llms import LLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import StructuredTool

__all__ = [
    "ScriptChatModel",
    "SleepChatModel",
    "SleepLLM",
    "async_sleep_tool",
    "echo_tool",
    "sync_sleep_tool",
]


class SleepLLM(LLM):
    """A fake LLM with a fixed latency: always returns `response` after `delay_s`."""

    response: str
    delay_s: float = 0.05

    @property
    def _llm_type(self) -> str:
        return "sleep-fake"

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        time.sleep(self.delay_s)
        return self.response

    async def _acall(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        await asyncio.sleep(self.delay_s)
        return self.response


class SleepChatModel(BaseChatModel):
    """`SleepLLM` as a chat model: always replies `response` after `delay_s`."""

    response: str
    delay_s: float = 0.05

    @property
    def _llm_type(self) -> str:
        return "sleep-chat-fake"

    def _result(self) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.response))])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._result()

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._result()


class ScriptChatModel(SleepChatModel):
    """An instant fake chat model replaying `responses` in turn, natively async.

    `FakeListChatModel` has no async path of its own: langchain-core runs it in a thread
    for `ainvoke`, a cost `create_agent`'s fakes do not pay.
    """

    response: str = ""
    responses: list[str]
    delay_s: float = 0.0
    i: int = 0

    def _result(self) -> ChatResult:
        text = self.responses[self.i % len(self.responses)]
        self.i += 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def echo_tool(name: str = "Echo") -> StructuredTool:
    """An instant tool returning its input."""

    def echo(query: str) -> str:
        return query

    async def aecho(query: str) -> str:
        return query

    return StructuredTool.from_function(echo, coroutine=aecho, name=name, description="Return the query.")


def async_sleep_tool(seconds: float, name: str = "Sleep") -> StructuredTool:
    """A tool whose async path awaits `asyncio.sleep(seconds)`."""

    def run(query: str) -> str:
        time.sleep(seconds)
        return f"slept {query}"

    async def arun(query: str) -> str:
        await asyncio.sleep(seconds)
        return f"slept {query}"

    return StructuredTool.from_function(run, coroutine=arun, name=name, description="Sleep.")


def sync_sleep_tool(seconds: float, name: str = "Sleep") -> StructuredTool:
    """A sync-only tool that blocks in `time.sleep(seconds)` (async runs it in a thread)."""

    def run(query: str) -> str:
        time.sleep(seconds)
        return f"slept {query}"

    return StructuredTool.from_function(run, name=name, description="Sleep.")
