"""Lumos raw-prompt protocol over an OpenAI-compatible ``/v1/completions`` endpoint.

Works with vLLM (``vllm serve ai2lumos/lumos_complex_qa_plan_iterative``) and any other
server that implements the legacy *completions* API (not chat completions: the Lumos
checkpoints have no chat template; the prompt is sent verbatim). See ``docs/serving.md``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseLLM, LangSmithParams
from langchain_core.outputs import Generation, LLMResult
from langchain_core.utils import secret_from_env
from pydantic import Field, SecretStr

__all__ = ["DEFAULT_EXTRA_BODY", "LumosCompletionsLLM"]

DEFAULT_EXTRA_BODY: dict[str, Any] = {"add_special_tokens": False, "skip_special_tokens": True}
"""vLLM extras: no BOS added to the prompt (as in the original eval), no special tokens
in the returned text."""

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class LumosCompletionsLLM(BaseLLM):
    r"""Lumos planner/grounder served by an OpenAI-compatible completions server.

    All prompts of one call go in ONE request (``"prompt"`` is a list); the server's
    ``choices`` are matched back by ``index``. Greedy (``temperature=0``), stop at the
    first newline.

    Example:
        .. code-block:: python

            planner = LumosCompletionsLLM(
                base_url="http://localhost:8001/v1",
                model="ai2lumos/lumos_complex_qa_plan_iterative",
            )
            planner.invoke("<|user|>\nPlease provide ...\n<|assistant|>\n")
    """

    base_url: str
    """Server URL including ``/v1``, e.g. ``"http://localhost:8000/v1"``."""
    model: str
    """Model name on the server (vLLM: the Hub id it serves, or ``--served-model-name``)."""
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env(["LUMOS_API_KEY", "OPENAI_API_KEY"], default=None)
    )
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = 0.0
    timeout: float | None = 120.0
    """Seconds per HTTP request (None: no timeout)."""
    max_retries: int = Field(default=2, ge=0)
    """Retries on connection errors and 408/409/429/5xx responses (exponential backoff)."""
    stop: list[str] | None = Field(default_factory=lambda: ["\n"])
    """Default stop strings (merged with the caller's ``stop``)."""
    stop_at_newline: bool = True
    """Also cut each completion at its first newline client-side."""
    batch_size: int = Field(default=64, ge=1)
    """Most prompts per request."""
    extra_body: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_EXTRA_BODY))
    """Extra JSON fields merged into every request body."""
    default_headers: dict[str, str] = Field(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "lumos-completions"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai-compatible"
        params["ls_model_name"] = self.model
        params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        return params

    # ------------------------------------------------------------------ requests
    @property
    def completions_url(self) -> str:
        """The ``/completions`` endpoint URL."""
        return self.base_url.rstrip("/") + "/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.default_headers}
        if self.api_key is not None and self.api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return headers

    def _stops(self, stop: list[str] | None) -> list[str]:
        merged: list[str] = []
        for s in [*(self.stop or []), *(stop or [])]:
            if s and s not in merged:
                merged.append(s)
        return merged

    def _body(self, prompts: list[str], stop: list[str], kwargs: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompts,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "n": 1,
        }
        if stop:
            body["stop"] = stop
        body.update(self.extra_body)
        body.update(kwargs)
        return body

    def _parse(
        self, response: dict[str, Any], n_prompts: int, stop: list[str]
    ) -> tuple[list[Generation], dict[str, int]]:
        choices = response.get("choices")
        if not isinstance(choices, list) or len(choices) != n_prompts:
            got = len(choices) if isinstance(choices, list) else type(choices).__name__
            msg = f"{self.completions_url} returned {got} choices for {n_prompts} prompts"
            raise ValueError(msg)
        ordered = sorted(choices, key=lambda c: c.get("index", 0))
        generations = []
        for choice in ordered:
            info: dict[str, Any] = {"finish_reason": choice.get("finish_reason")}
            if choice.get("logprobs") is not None:
                info["logprobs"] = choice["logprobs"]
            generations.append(
                Generation(text=self._cut(choice.get("text") or "", stop), generation_info=info)
            )
        usage = response.get("usage") or {}
        counts = {k: int(usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        return generations, counts

    def _cut(self, text: str, stop: list[str]) -> str:
        cuts = [*stop, *(["\n"] if self.stop_at_newline else [])]
        positions = [p for p in (text.find(s) for s in cuts if s) if p >= 0]
        return text[: min(positions)] if positions else text

    def _result(self, parts: list[tuple[list[Generation], dict[str, int]]]) -> LLMResult:
        generations: list[list[Generation]] = []
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        for gens, counts in parts:
            generations.extend([g] for g in gens)
            for key in usage:
                usage[key] += counts[key]
        return LLMResult(
            generations=generations,
            llm_output={"token_usage": usage, "model_name": self.model},
        )

    def _batches(self, prompts: list[str]) -> list[list[str]]:
        return [prompts[i : i + self.batch_size] for i in range(0, len(prompts), self.batch_size)]

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        import httpx

        stops = self._stops(stop)
        parts = []
        with httpx.Client(timeout=self.timeout, headers=self._headers()) as client:
            for batch in self._batches(prompts):
                body = self._body(batch, stops, kwargs)
                for attempt in range(self.max_retries + 1):
                    try:
                        response = client.post(self.completions_url, json=body)
                    except httpx.TransportError:
                        if attempt == self.max_retries:
                            raise
                    else:
                        if response.status_code not in _RETRY_STATUS or attempt == self.max_retries:
                            break
                    time.sleep(_backoff(attempt))
                _raise_for_status(response)
                parts.append(self._parse(response.json(), len(batch), stops))
        return self._result(parts)

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        import httpx

        stops = self._stops(stop)
        async with httpx.AsyncClient(timeout=self.timeout, headers=self._headers()) as client:

            async def one(batch: list[str]) -> tuple[list[Generation], dict[str, int]]:
                body = self._body(batch, stops, kwargs)
                for attempt in range(self.max_retries + 1):
                    try:
                        response = await client.post(self.completions_url, json=body)
                    except httpx.TransportError:
                        if attempt == self.max_retries:
                            raise
                    else:
                        if response.status_code not in _RETRY_STATUS or attempt == self.max_retries:
                            break
                    await asyncio.sleep(_backoff(attempt))
                _raise_for_status(response)
                return self._parse(response.json(), len(batch), stops)

            parts = await asyncio.gather(*(one(b) for b in self._batches(prompts)))
        return self._result(list(parts))


def _backoff(attempt: int) -> float:
    return min(0.5 * 2**attempt, 8.0)


def _raise_for_status(response: Any) -> None:
    import httpx

    if response.is_success:
        return
    detail = response.text[:500]
    msg = f"{response.request.method} {response.request.url} -> {response.status_code}: {detail}"
    raise httpx.HTTPStatusError(msg, request=response.request, response=response)
