"""Tests for LumosCompletionsLLM against a local fake /v1/completions server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler

from langchain_lumos.models import openai_compatible
from langchain_lumos.models.openai_compatible import LumosCompletionsLLM

pytestmark = pytest.mark.enable_socket

PROMPT = (
    "<|user|>\nPlease provide a reasonable subgoal-based plan to solve the given task.\n"
    "Task: Wie heißt die Hauptstadt?  ±1; Initial Environment Description: None.\n"
    "<|assistant|>\n"
)
MODEL = "ai2lumos/lumos_complex_qa_plan_iterative"


class FakeServer:
    """Records request JSON bodies and answers with canned completions."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []  # forced statuses for the next requests
        self.text = "Subgoal {i}: Query the capital.\nSubgoal 99: more"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                raw = self.rfile.read(length)
                server.raw.append(raw)
                server.headers.append(dict(self.headers))
                body = json.loads(raw)
                server.requests.append({"path": self.path, **body})
                status = server.statuses.pop(0) if server.statuses else 200
                if status != 200:
                    self._send(status, {"error": {"message": "overloaded"}})
                    return
                prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
                choices = [
                    {"index": i, "text": server.text.format(i=i), "finish_reason": "stop"}
                    for i in range(len(prompts))
                ]
                choices.reverse()  # the client must order by index
                usage = {
                    "prompt_tokens": 10 * len(prompts),
                    "completion_tokens": 3 * len(prompts),
                    "total_tokens": 13 * len(prompts),
                }
                self._send(
                    200,
                    {
                        "id": "cmpl-1",
                        "object": "text_completion",
                        "model": body["model"],
                        "choices": choices,
                        "usage": usage,
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture
def llm(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> LumosCompletionsLLM:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LUMOS_API_KEY", "sk-test")
    monkeypatch.setattr(openai_compatible, "_backoff", lambda attempt: 0.0)
    return LumosCompletionsLLM(base_url=server.base_url, model=MODEL, server="vllm", timeout=10)


def test_exact_request_body(llm: LumosCompletionsLLM, server: FakeServer) -> None:
    assert llm.invoke(PROMPT, stop=["\n"]) == "Subgoal 0: Query the capital."
    assert len(server.requests) == 1
    assert server.requests[0] == {
        "path": "/v1/completions",
        "model": MODEL,
        "prompt": PROMPT,
        "max_tokens": 512,
        "temperature": 0.0,
        "stop": ["\n"],
        "add_special_tokens": False,
        "skip_special_tokens": True,
    }
    # the prompt arrives byte-exact (UTF-8 JSON string)
    assert json.loads(server.raw[0])["prompt"].encode() == PROMPT.encode()
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_batch_is_one_request_ordered_by_index(llm: LumosCompletionsLLM, server) -> None:
    prompts = [PROMPT, PROMPT + "x", "<s><|user|>\nhi</s>\n<|user|>\nyo\n<|assistant|>\n"]
    result = llm.generate(prompts)
    assert len(server.requests) == 1
    assert server.requests[0]["prompt"] == prompts
    assert [g[0].text for g in result.generations] == [f"Subgoal {i}: Query the capital." for i in range(3)]
    assert result.generations[0][0].generation_info == {"finish_reason": "stop"}
    assert result.llm_output == {
        "token_usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39},
        "model_name": MODEL,
    }


def test_batch_size_splits_requests(llm: LumosCompletionsLLM, server: FakeServer) -> None:
    llm.batch_size = 2
    out = llm.batch([PROMPT] * 5)
    assert len(out) == 5
    assert [r["prompt"] for r in server.requests] == [[PROMPT] * 2, [PROMPT] * 2, PROMPT]


def test_caller_stop_merged_and_cut(llm: LumosCompletionsLLM, server: FakeServer) -> None:
    server.text = "R1 = KnowledgeQuery(France); R2 = QA([R1])"
    assert llm.invoke(PROMPT, stop=["; "]) == "R1 = KnowledgeQuery(France)"
    assert server.requests[0]["stop"] == ["\n", "; "]


def test_kwargs_override_body(llm: LumosCompletionsLLM, server: FakeServer) -> None:
    llm.invoke(PROMPT, max_tokens=7)
    assert server.requests[0]["max_tokens"] == 7


async def test_async_invoke_and_abatch(llm: LumosCompletionsLLM, server: FakeServer) -> None:
    assert await llm.ainvoke(PROMPT) == "Subgoal 0: Query the capital."
    out = await llm.abatch([PROMPT, PROMPT])
    assert out == ["Subgoal 0: Query the capital.", "Subgoal 1: Query the capital."]
    assert [r["prompt"] for r in server.requests] == [PROMPT, [PROMPT, PROMPT]]
    assert server.requests[1]["add_special_tokens"] is False


def test_retries_then_succeeds(llm: LumosCompletionsLLM, server: FakeServer) -> None:
    server.statuses = [503, 429]
    llm.max_retries = 2
    assert llm.invoke(PROMPT) == "Subgoal 0: Query the capital."
    assert len(server.requests) == 3


async def test_async_retries(llm: LumosCompletionsLLM, server: FakeServer) -> None:
    server.statuses = [500]
    assert await llm.ainvoke(PROMPT) == "Subgoal 0: Query the capital."
    assert len(server.requests) == 2


def test_http_error_is_raised(llm: LumosCompletionsLLM, server: FakeServer) -> None:
    server.statuses = [400]
    with pytest.raises(httpx.HTTPStatusError, match="400"):
        llm.invoke(PROMPT)
    assert len(server.requests) == 1  # 400 is not retried


def test_connection_error_after_retries(monkeypatch) -> None:
    monkeypatch.setattr(openai_compatible, "_backoff", lambda attempt: 0.0)
    fake = FakeServer()
    url = fake.base_url
    fake.close()
    llm = LumosCompletionsLLM(base_url=url, model=MODEL, server="vllm", max_retries=1, timeout=2)
    with pytest.raises(httpx.TransportError):
        llm.invoke(PROMPT)


def test_api_key_from_openai_env_and_none(server: FakeServer, monkeypatch) -> None:
    monkeypatch.delenv("LUMOS_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    llm = LumosCompletionsLLM(base_url=server.base_url, model=MODEL)
    assert llm.api_key is not None
    assert llm.api_key.get_secret_value() == "sk-openai"
    assert "sk-openai" not in repr(llm)
    monkeypatch.delenv("OPENAI_API_KEY")
    bare = LumosCompletionsLLM(base_url=server.base_url + "/", model=MODEL, server="vllm")
    assert bare.api_key is None
    bare.invoke(PROMPT)
    assert "Authorization" not in server.headers[-1]
    assert server.requests[-1]["path"] == "/v1/completions"


def test_callbacks_and_identity(llm: LumosCompletionsLLM) -> None:
    seen: list[dict[str, Any]] = []

    class Recorder(BaseCallbackHandler):
        def on_llm_start(self, serialized: Any, prompts: list[str], **kwargs: Any) -> None:
            seen.append({"prompts": prompts, **kwargs})

    llm.invoke(PROMPT, config={"callbacks": [Recorder()], "run_name": "lumos_grounder"})
    assert seen[0]["prompts"] == [PROMPT]
    assert seen[0]["name"] == "lumos_grounder"
    assert seen[0]["metadata"]["ls_model_name"] == MODEL
    assert llm._llm_type == "lumos-completions"
    assert llm._identifying_params["model"] == MODEL


# ---------------------------------------------------------------------------- recorded servers

FIXTURES = Path(__file__).parent / "fixtures"


class ReplayServer:
    """Answers requests from recorded exchanges: same method, path and JSON body -> same response.

    A request that matches no exchange gets a 599 naming it, so a test fails loudly.
    """

    def __init__(self, fixture: str) -> None:
        self.data = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
        self.seen: list[str] = []  # names of the exchanges replayed, in order
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                for exchange in replay.data["exchanges"]:
                    request = exchange["request"]
                    if (request["method"], request["path"], request["body"]) == (
                        self.command,
                        self.path,
                        body,
                    ):
                        replay.seen.append(exchange["name"])
                        self._send(exchange["response"]["status"], exchange["response"]["body"])
                        return
                replay.seen.append(f"UNRECORDED {self.command} {self.path} {body}")
                self._send(599, {"error": {"message": "no recorded exchange"}})

            do_GET = do_POST = _answer

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def prompt(self, name: str = "one_prompt") -> Any:
        return next(e for e in self.data["exchanges"] if e["name"] == name)["request"]["body"]["prompt"]

    def text(self, name: str = "one_prompt", index: int = 0) -> str:
        exchange = next(e for e in self.data["exchanges"] if e["name"] == name)
        return exchange["response"]["body"]["choices"][index]["text"].split("\n")[0]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(params=["vllm.json", "llama_cpp.json", "transformers_serve.json"])
def replay(request: pytest.FixtureRequest) -> Iterator[ReplayServer]:
    fake = ReplayServer(request.param)
    yield fake
    fake.close()


def replay_llm(replay: ReplayServer, **kwargs: Any) -> LumosCompletionsLLM:
    return LumosCompletionsLLM(base_url=replay.base_url, max_tokens=8, api_key=None, **kwargs)


def test_fixtures_say_where_they_come_from() -> None:
    for path in FIXTURES.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["provenance"] in {"recorded", "reconstructed"}, path
        assert data["server"] in {"vllm", "llama.cpp", "transformers"}, path
        assert data["note"], path


def test_auto_detects_the_server_and_sends_what_it_accepts(replay: ReplayServer) -> None:
    llm = replay_llm(replay)  # server="auto", model=None: both come from GET /v1/models
    assert llm.invoke(replay.prompt()) == replay.text()
    assert replay.seen == ["models", "one_prompt"]
    llm.invoke(replay.prompt())
    assert replay.seen == ["models", "one_prompt", "one_prompt"]  # detected once


async def test_auto_detection_async(replay: ReplayServer) -> None:
    llm = replay_llm(replay)
    assert await llm.ainvoke(replay.prompt()) == replay.text()
    assert replay.seen == ["models", "one_prompt"]


def test_batches_follow_the_server() -> None:
    vllm = ReplayServer("vllm.json")
    llama = ReplayServer("llama_cpp.json")
    try:
        prompts = vllm.prompt("batch")
        assert replay_llm(vllm).batch(prompts) == [vllm.text("batch", 0), vllm.text("batch", 1)]
        assert vllm.seen == ["models", "batch"]  # one request, prompt as a list
        assert replay_llm(llama).batch(prompts) == [llama.text(), llama.text("second_prompt")]
        assert llama.seen == ["models", "one_prompt", "second_prompt"]  # one string prompt per request
    finally:
        vllm.close()
        llama.close()


async def test_async_batch_on_one_prompt_servers_runs_requests_concurrently() -> None:
    llama = ReplayServer("llama_cpp.json")
    try:
        llm = replay_llm(llama)
        out = await llm.abatch([llama.prompt(), llama.prompt("second_prompt")])
        assert out == [llama.text(), llama.text("second_prompt")]
        assert sorted(llama.seen[1:]) == ["one_prompt", "second_prompt"]
    finally:
        llama.close()


def test_the_old_vllm_only_request_is_what_the_others_reject() -> None:
    """The recorded rejections: list prompts and vLLM-only fields (issue 14 item 5)."""
    tserve = ReplayServer("transformers_serve.json")
    llama = ReplayServer("llama_cpp.json")
    try:
        with pytest.raises(httpx.HTTPStatusError) as info:
            old_style = replay_llm(tserve, server="vllm", model="/tmp/models_tiny", extra_body={"n": 1})
            old_style.invoke(tserve.prompt())
        message = str(info.value)
        assert f"POST {tserve.base_url}/completions answered 422" in message
        assert "Unexpected fields in the request" in message
        old_style = replay_llm(
            llama,
            server="vllm",
            model="lumos_complex_qa_plan_iterative.Q8_0.gguf",
            max_retries=0,
            extra_body={"n": 1},
        )
        with pytest.raises(httpx.HTTPStatusError, match=r"answered 500 .*type must be string"):
            old_style.batch([llama.prompt(), llama.prompt("second_prompt")])
    finally:
        tserve.close()
        llama.close()


def test_server_errors_are_readable() -> None:
    tserve = ReplayServer("transformers_serve.json")
    vllm = ReplayServer("vllm.json")
    try:
        wrong = replay_llm(tserve, model=MODEL)  # the server is pinned to another model
        with pytest.raises(httpx.HTTPStatusError) as info:
            wrong.invoke(tserve.prompt())
        message = str(info.value)
        assert f"{tserve.base_url}/completions" in message
        assert "400" in message
        assert "Server is pinned to '/tmp/models_tiny'" in message
        assert "`model`" in message  # says what to change
        with pytest.raises(
            httpx.HTTPStatusError, match=r"answered 404 Not Found: The model `lumos-planner` does not"
        ):
            replay_llm(vllm, model="lumos-planner").invoke(vllm.prompt())
    finally:
        tserve.close()
        vllm.close()


def test_extra_body_reaches_every_server(server: FakeServer) -> None:
    llm = LumosCompletionsLLM(
        base_url=server.base_url, model=MODEL, server="llama.cpp", extra_body={"top_k": 1}, api_key=None
    )
    llm.invoke(PROMPT)
    assert server.requests[-1] == {
        "path": "/v1/completions",
        "model": MODEL,
        "prompt": PROMPT,
        "max_tokens": 512,
        "temperature": 0.0,
        "stop": ["\n"],
        "top_k": 1,
    }
    vllm = LumosCompletionsLLM(
        base_url=server.base_url, model=MODEL, server="vllm", extra_body={"add_special_tokens": True}
    )
    vllm.invoke(PROMPT)
    assert server.requests[-1]["add_special_tokens"] is True  # the caller overrides the vLLM default
    assert server.requests[-1]["skip_special_tokens"] is True


def test_no_model_listed_is_a_clear_error(server: FakeServer) -> None:
    llm = LumosCompletionsLLM(base_url=server.base_url, api_key=None)  # the fake has no GET /models
    with pytest.raises(ValueError, match=r"lists no model; set `model`"):
        llm.invoke(PROMPT)
