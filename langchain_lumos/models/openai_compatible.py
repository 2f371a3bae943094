"""Lumos raw-prompt protocol over an OpenAI-compatible `/v1/completions` endpoint.

Works with vLLM (`vllm serve ai2lumos/lumos_complex_qa_plan_iterative`), llama.cpp's
`llama-server`, `transformers serve` and any other server that implements the legacy
*completions* API (not chat completions: the Lumos checkpoints have no chat template;
the prompt is sent verbatim). See `docs/serving.md`.

Servers differ in what they accept, so the request follows the server:

| server | `prompt` | batches | extra fields |
| --- | --- | --- | --- |
| `vllm` | string; a list for a batch | one request per `batch_size` prompts | `add_special_tokens: false`, `skip_special_tokens: true` |
| `llama.cpp` | string | one request per prompt | none |
| `transformers` | string (a list is a 400) | one request per prompt | none (unknown fields are a 422) |
| `openai` | string | one request per prompt | none |

`server="auto"` (the default) asks `GET /v1/models` once: `owned_by: "vllm"` is
vLLM, `"llamacpp"` is llama.cpp, anything else gets the plain `openai` request.
Only vLLM can be told not to add a BOS token (the original Lumos eval adds none);
llama.cpp and `transformers serve` tokenize with the model's default special tokens.

Constrained decoding: `generate(prompts, grammar=...)` takes an xgrammar EBNF grammar (see
`langchain_lumos.grammar`), one for every prompt or a list with one per prompt. vLLM gets it
as its structured-outputs grammar (`vllm_grammar_fields`), llama.cpp as GBNF in its
`grammar` field (`gbnf_grammar`); other servers accept no grammar, and a call with one is
a `ValueError` (check `LumosCompletionsLLM.supports_grammar` first).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseLLM, LangSmithParams
from langchain_core.outputs import Generation, LLMResult
from langchain_core.utils import secret_from_env
from pydantic import Field, PrivateAttr, SecretStr

from langchain_lumos.grammar import gbnf_grammar, per_prompt_grammars, vllm_grammar_fields

if TYPE_CHECKING:
    import httpx

__all__ = ["VLLM_EXTRA_BODY", "LumosCompletionsLLM", "Server"]

Server = Literal["auto", "vllm", "llama.cpp", "transformers", "openai"]
"""Which server dialect a request is written in (`"auto"`: ask `GET /v1/models`)."""

VLLM_EXTRA_BODY: dict[str, Any] = {"add_special_tokens": False, "skip_special_tokens": True}
"""vLLM extras: no BOS added to the prompt (as in the original eval), no special tokens
in the returned text. Sent only to vLLM."""

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_OWNERS = {"vllm": "vllm", "llamacpp": "llama.cpp"}
_GRAMMAR_SERVERS = ("vllm", "llama.cpp")


class LumosCompletionsLLM(BaseLLM):
    r"""Lumos planner/grounder served by an OpenAI-compatible completions server.

    Greedy (`temperature=0`), stop at the first newline. vLLM gets every prompt of a
    call in one request (`"prompt"` is a list, `choices` are matched back by
    `index`); other servers get one request per prompt (sent concurrently in async
    code), with `"prompt"` a string.

    Example:
        ```python
        planner = LumosCompletionsLLM(
            base_url="http://localhost:8001/v1",
            model="ai2lumos/lumos_complex_qa_plan_iterative",
        )
        planner.invoke("<|user|>\nPlease provide ...\n<|assistant|>\n")
        ```
    """

    base_url: str
    """Server URL including `/v1`, e.g. `"http://localhost:8000/v1"`."""
    model: str | None = None
    """Served model name (vLLM: the Hub id or `--served-model-name`; `transformers
    serve`: the model it was started with). None: the first model of `GET /v1/models`."""
    server: Server = "auto"
    """The server's dialect (see the module docs); `"auto"` detects it once."""
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
    """Default stop strings (merged with the caller's `stop`)."""
    stop_at_newline: bool = True
    """Also cut each completion at its first newline client-side."""
    batch_size: int = Field(default=64, ge=1)
    """Most prompts per request (vLLM only; other servers get one prompt per request)."""
    max_concurrency: int = Field(default=16, ge=1)
    """Most requests in flight at once from one async call."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Extra JSON fields merged into every request body, for any server (they override
    the defaults, e.g. `{"add_special_tokens": True}` for vLLM, `{"top_k": 1}`)."""
    default_headers: dict[str, str] = Field(default_factory=dict)

    _resolved: tuple[str, str] | None = PrivateAttr(default=None)
    _resolve_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def supports_grammar(self) -> bool:
        """Whether calls may pass `grammar=` (constrained decoding).

        True for vLLM and llama.cpp, and for `server="auto"` until the server is detected
        (the first call then checks the detected server); False for `transformers serve`
        and plain OpenAI-compatible servers.
        """
        server = self._resolved[0] if self._resolved is not None else self.server
        return server == "auto" or server in _GRAMMAR_SERVERS

    @property
    def _llm_type(self) -> str:
        return "lumos-completions"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "model": self.model,
            "server": self.server,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai-compatible"
        params["ls_model_name"] = self.model or (self._resolved[1] if self._resolved else self.base_url)
        params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        return params

    # ------------------------------------------------------------------ requests
    @property
    def completions_url(self) -> str:
        """The `/completions` endpoint URL."""
        return self.base_url.rstrip("/") + "/completions"

    @property
    def models_url(self) -> str:
        """The `/models` endpoint URL (asked when `server` is auto or `model` is None)."""
        return self.base_url.rstrip("/") + "/models"

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

    def _needs_models(self) -> bool:
        return self._resolved is None and (self.server == "auto" or self.model is None)

    def _settle(self, listing: dict[str, Any] | None) -> tuple[str, str]:
        """Fix the server dialect and model name from a `GET /models` answer (or none)."""
        entries = [e for e in (listing or {}).get("data") or [] if isinstance(e, dict)]
        server: str = self.server
        if server == "auto":
            owner = str(entries[0].get("owned_by", "")) if entries else ""
            server = _OWNERS.get(owner, "openai")
        model = self.model
        if model is None:
            if not entries or not entries[0].get("id"):
                msg = f"{self.models_url} lists no model; set `model` to the served model name"
                raise ValueError(msg)
            model = str(entries[0]["id"])
        with self._resolve_lock:
            if self._resolved is None:
                self._resolved = (server, model)
        return self._resolved

    def _resolve_sync(self, client: httpx.Client) -> tuple[str, str]:
        if self._resolved is not None:
            return self._resolved
        if not self._needs_models():
            return self._settle(None)
        response = self._send_sync(client, "GET", self.models_url, None)
        return self._settle(_json_or_none(response) if response.is_success else None)

    async def _resolve_async(self, client: httpx.AsyncClient) -> tuple[str, str]:
        if self._resolved is not None:
            return self._resolved
        if not self._needs_models():
            return self._settle(None)
        response = await self._send_async(client, "GET", self.models_url, None)
        return self._settle(_json_or_none(response) if response.is_success else None)

    def _body(
        self,
        server: str,
        model: str,
        prompts: list[str],
        stop: list[str],
        kwargs: dict[str, Any],
        grammar_fields: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompts[0] if len(prompts) == 1 else prompts,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if stop:
            body["stop"] = stop
        if server == "vllm":
            body.update(VLLM_EXTRA_BODY)
        body.update(grammar_fields or {})
        body.update(self.extra_body)
        body.update(kwargs)
        return body

    def _batches(
        self, server: str, prompts: list[str], grammars: list[str | None]
    ) -> list[tuple[list[str], dict[str, Any]]]:
        """Split prompts into requests, each with its grammar's request fields.

        vLLM takes up to `batch_size` prompts per request, consecutive prompts with the
        same grammar (one grammar per request); other servers take one prompt each.
        """
        fields = {g: _grammar_fields(server, g) for g in set(grammars)}  # fails before any request
        size = self.batch_size if server == "vllm" else 1
        batches: list[tuple[list[str], dict[str, Any]]] = []
        start = 0
        while start < len(prompts):
            end = start + 1
            while end < len(prompts) and end - start < size and grammars[end] == grammars[start]:
                end += 1
            batches.append((prompts[start:end], fields[grammars[start]]))
            start = end
        return batches

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

    def _result(self, model: str, parts: list[tuple[list[Generation], dict[str, int]]]) -> LLMResult:
        generations: list[list[Generation]] = []
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        for gens, counts in parts:
            generations.extend([g] for g in gens)
            for key in usage:
                usage[key] += counts[key]
        return LLMResult(
            generations=generations,
            llm_output={"token_usage": usage, "model_name": model},
        )

    def _send_sync(
        self, client: httpx.Client, method: str, url: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        import httpx

        for attempt in range(self.max_retries):
            try:
                response = client.request(method, url, json=body)
            except httpx.TransportError:
                pass
            else:
                if response.status_code not in _RETRY_STATUS:
                    return response
            time.sleep(_backoff(attempt))
        return client.request(method, url, json=body)

    async def _send_async(
        self, client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        import httpx

        for attempt in range(self.max_retries):
            try:
                response = await client.request(method, url, json=body)
            except httpx.TransportError:
                pass
            else:
                if response.status_code not in _RETRY_STATUS:
                    return response
            await asyncio.sleep(_backoff(attempt))
        return await client.request(method, url, json=body)

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        import httpx

        grammars = per_prompt_grammars(kwargs.pop("grammar", None), len(prompts))
        stops = self._stops(stop)
        parts = []
        with httpx.Client(timeout=self.timeout, headers=self._headers()) as client:
            server, model = self._resolve_sync(client)
            for batch, fields in self._batches(server, prompts, grammars):
                body = self._body(server, model, batch, stops, kwargs, fields)
                response = self._send_sync(client, "POST", self.completions_url, body)
                _raise_for_status(response, server)
                parts.append(self._parse(response.json(), len(batch), stops))
        return self._result(model, parts)

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        import httpx

        grammars = per_prompt_grammars(kwargs.pop("grammar", None), len(prompts))
        stops = self._stops(stop)
        limit = asyncio.Semaphore(self.max_concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, headers=self._headers()) as client:
            server, model = await self._resolve_async(client)

            async def one(
                batch: list[str], fields: dict[str, Any]
            ) -> tuple[list[Generation], dict[str, int]]:
                body = self._body(server, model, batch, stops, kwargs, fields)
                async with limit:
                    response = await self._send_async(client, "POST", self.completions_url, body)
                _raise_for_status(response, server)
                return self._parse(response.json(), len(batch), stops)

            batches = self._batches(server, prompts, grammars)
            parts = await asyncio.gather(*(one(b, f) for b, f in batches))
        return self._result(model, list(parts))


def _grammar_fields(server: str, grammar: str | None) -> dict[str, Any]:
    """The request fields that constrain a completion to `grammar` on `server`."""
    if grammar is None:
        return {}
    if server == "vllm":
        return vllm_grammar_fields(grammar)
    if server == "llama.cpp":
        return {"grammar": gbnf_grammar(grammar)}
    msg = (
        f"The {server!r} completions server does not accept grammars: constrained decoding "
        "needs vLLM (structured outputs) or llama.cpp (GBNF). Call without `grammar=` "
        "(check `supports_grammar`), or set `server` if the server is one of those."
    )
    raise ValueError(msg)


def _backoff(attempt: int) -> float:
    return min(0.5 * 2**attempt, 8.0)


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_text(response: httpx.Response) -> str:
    """The server's own error message: vLLM/llama.cpp `error.message`, FastAPI `detail`."""
    data = _json_or_none(response)
    if data is not None:
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        for key in ("message", "detail"):
            if data.get(key):
                value = data[key]
                return value if isinstance(value, str) else json.dumps(value)
    return response.text[:500].strip() or response.reason_phrase


def _raise_for_status(response: httpx.Response, server: str) -> None:
    """Raise `httpx.HTTPStatusError` saying the URL, the status and the server's error text."""
    import httpx

    if response.is_success:
        return
    request = response.request
    msg = (
        f"{request.method} {request.url} answered {response.status_code} "
        f"{response.reason_phrase}: {_error_text(response)}"
    )
    if response.status_code in (400, 404, 422):
        msg += (
            f" (request written for server={server!r}; set `server` to the server's kind, "
            "`model` to its served model name, or adjust `extra_body`)"
        )
    raise httpx.HTTPStatusError(msg, request=request, response=response)
