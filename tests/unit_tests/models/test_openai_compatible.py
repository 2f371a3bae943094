"""Tests for LumosCompletionsLLM against a local fake /v1/completions server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler

from langchain_lumos.grammar import gbnf_grammar, grounding_grammar, planning_grammar
from langchain_lumos.models import openai_compatible
from langchain_lumos.models.openai_compatible import LumosCompletionsLLM
from tests.unit_tests.loopback import FakeCompletionsServer, JSONServer, Request

pytestmark = pytest.mark.enable_socket

PROMPT = (
    "<|user|>\nPlease provide a reasonable subgoal-based plan to solve the given task.\n"
    "Task: Wie heißt die Hauptstadt?  ±1; Initial Environment Description: None.\n"
    "<|assistant|>\n"
)
MODEL = "ai2lumos/lumos_complex_qa_plan_iterative"
_TEXT = "Subgoal {i}: Query the capital.\nSubgoal 99: more"
"""What the fake server completes (`{i}`: the prompt's index in its batch)."""


@pytest.fixture
def server() -> Iterator[FakeCompletionsServer]:
    fake = FakeCompletionsServer([_TEXT])
    yield fake
    fake.close()


@pytest.fixture
def llm(server: FakeCompletionsServer, monkeypatch: pytest.MonkeyPatch) -> LumosCompletionsLLM:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LUMOS_API_KEY", "sk-test")
    monkeypatch.setattr(openai_compatible, "_backoff", lambda attempt: 0.0)
    return LumosCompletionsLLM(base_url=server.base_url, model=MODEL, server="vllm", timeout=10)


def test_exact_request_body(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
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


def test_batch_is_one_request_ordered_by_index(
    llm: LumosCompletionsLLM, server: FakeCompletionsServer
) -> None:
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


def test_batch_size_splits_requests(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    llm.batch_size = 2
    out = llm.batch([PROMPT] * 5)
    assert len(out) == 5
    assert [r["prompt"] for r in server.requests] == [[PROMPT] * 2, [PROMPT] * 2, PROMPT]


def test_caller_stop_merged_and_cut(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    server.replies = ["R1 = KnowledgeQuery(France); R2 = QA([R1])"]
    assert llm.invoke(PROMPT, stop=["; "]) == "R1 = KnowledgeQuery(France)"
    assert server.requests[0]["stop"] == ["\n", "; "]


def test_kwargs_override_body(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    llm.invoke(PROMPT, max_tokens=7)
    assert server.requests[0]["max_tokens"] == 7


async def test_async_invoke_and_abatch(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    assert await llm.ainvoke(PROMPT) == "Subgoal 0: Query the capital."
    out = await llm.abatch([PROMPT, PROMPT])
    assert out == ["Subgoal 0: Query the capital.", "Subgoal 1: Query the capital."]
    assert [r["prompt"] for r in server.requests] == [PROMPT, [PROMPT, PROMPT]]
    assert server.requests[1]["add_special_tokens"] is False


def test_retries_then_succeeds(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    server.statuses = [503, 429]
    llm.max_retries = 2
    assert llm.invoke(PROMPT) == "Subgoal 0: Query the capital."
    assert len(server.requests) == 3


async def test_async_retries(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    server.statuses = [500]
    assert await llm.ainvoke(PROMPT) == "Subgoal 0: Query the capital."
    assert len(server.requests) == 2


def test_http_error_is_raised(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    server.statuses = [400]
    with pytest.raises(httpx.HTTPStatusError, match="400"):
        llm.invoke(PROMPT)
    assert len(server.requests) == 1  # 400 is not retried


def test_connection_error_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_compatible, "_backoff", lambda attempt: 0.0)
    fake = FakeCompletionsServer([_TEXT])
    url = fake.base_url
    fake.close()
    llm = LumosCompletionsLLM(base_url=url, model=MODEL, server="vllm", max_retries=1, timeout=2)
    with pytest.raises(httpx.TransportError):
        llm.invoke(PROMPT)


def test_api_key_from_openai_env_and_none(
    server: FakeCompletionsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
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


class ReplayServer(JSONServer):
    """Answers requests from recorded exchanges: same method, path and JSON body -> same response.

    A request that matches no exchange gets a 599 naming it, so a test fails loudly.
    """

    def __init__(self, fixture: str) -> None:
        self.data = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
        self.seen: list[str] = []  # names of the exchanges replayed, in order
        super().__init__()

    def answer(self, request: Request) -> tuple[int, Any]:
        for exchange in self.data["exchanges"]:
            recorded = exchange["request"]
            if (recorded["method"], recorded["path"], recorded["body"]) == request[:3]:
                self.seen.append(exchange["name"])
                return exchange["response"]["status"], exchange["response"]["body"]
        self.seen.append(f"UNRECORDED {request.method} {request.path} {request.body}")
        return 599, {"error": {"message": "no recorded exchange"}}

    def prompt(self, name: str = "one_prompt") -> Any:
        return next(e for e in self.data["exchanges"] if e["name"] == name)["request"]["body"]["prompt"]

    def text(self, name: str = "one_prompt", index: int = 0) -> str:
        exchange = next(e for e in self.data["exchanges"] if e["name"] == name)
        return exchange["response"]["body"]["choices"][index]["text"].split("\n")[0]


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


def test_extra_body_reaches_every_server(server: FakeCompletionsServer) -> None:
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


def test_no_model_listed_is_a_clear_error(server: FakeCompletionsServer) -> None:
    llm = LumosCompletionsLLM(base_url=server.base_url, api_key=None)  # the fake has no GET /models
    with pytest.raises(ValueError, match=r"lists no model; set `model`"):
        llm.invoke(PROMPT)


# ---------------------------------------------------------------------------- constrained decoding

GRAMMAR = grounding_grammar(["KnowledgeQuery", "QA"], max_argument_words=40)
PLAN_GRAMMAR = planning_grammar(mode="iterative", next_index=2)


def test_vllm_gets_the_grammar_as_structured_outputs(
    llm: LumosCompletionsLLM, server: FakeCompletionsServer
) -> None:
    assert llm.supports_grammar is True
    server.replies = ["R1 = KnowledgeQuery(France)\n"]
    assert llm.invoke(PROMPT, grammar=GRAMMAR) == "R1 = KnowledgeQuery(France)"
    body = server.requests[0]
    assert body["structured_outputs"] == {"grammar": GRAMMAR}
    assert body["guided_grammar"] == GRAMMAR
    assert body["add_special_tokens"] is False and body["stop"] == ["\n"]
    llm.invoke(PROMPT)
    assert "structured_outputs" not in server.requests[1] and "guided_grammar" not in server.requests[1]


def test_vllm_batches_hold_one_grammar_each(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    prompts = [PROMPT + "a", PROMPT + "b", PROMPT + "c", PROMPT + "d"]
    result = llm.generate(prompts, grammar=GRAMMAR)
    assert len(server.requests) == 1 and server.requests[0]["prompt"] == prompts
    assert len(result.generations) == 4
    server.requests.clear()
    grammars = [GRAMMAR, GRAMMAR, PLAN_GRAMMAR, None]
    result = llm.generate(prompts, grammar=grammars)
    assert [r["prompt"] for r in server.requests] == [prompts[:2], prompts[2], prompts[3]]
    assert [r.get("guided_grammar") for r in server.requests] == [GRAMMAR, PLAN_GRAMMAR, None]
    assert [g[0].text for g in result.generations] == [
        "Subgoal 0: Query the capital.",
        "Subgoal 1: Query the capital.",
        "Subgoal 0: Query the capital.",
        "Subgoal 0: Query the capital.",
    ]


async def test_async_calls_send_the_grammar(llm: LumosCompletionsLLM, server: FakeCompletionsServer) -> None:
    await llm.abatch([PROMPT, PROMPT + "x"], grammar=GRAMMAR)
    assert server.requests[0]["structured_outputs"] == {"grammar": GRAMMAR}
    await llm.agenerate([PROMPT, PROMPT], grammar=[GRAMMAR, PLAN_GRAMMAR])
    assert sorted(r["guided_grammar"] for r in server.requests[1:]) == sorted([GRAMMAR, PLAN_GRAMMAR])


def test_llama_cpp_gets_gbnf_in_its_grammar_field(server: FakeCompletionsServer) -> None:
    llm = LumosCompletionsLLM(base_url=server.base_url, model=MODEL, server="llama.cpp", api_key=None)
    assert llm.supports_grammar is True
    grammar = GRAMMAR + 'extra_rule ::= "x"\n'
    llm.batch([PROMPT, PROMPT + "x"], grammar=grammar)
    assert [r["grammar"] for r in server.requests] == [gbnf_grammar(grammar)] * 2
    assert "extra-rule ::=" in server.requests[0]["grammar"]
    assert "structured_outputs" not in server.requests[0]
    with pytest.raises(ValueError, match="lookahead"):
        llm.invoke(PROMPT, grammar='root ::= "x" (= "y")\n')
    assert len(server.requests) == 2  # refused before any request


@pytest.mark.parametrize("kind", ["openai", "transformers"])
async def test_other_servers_refuse_grammars_before_sending(server: FakeCompletionsServer, kind: str) -> None:
    llm = LumosCompletionsLLM(base_url=server.base_url, model=MODEL, server=kind, api_key=None)  # type: ignore[arg-type]
    assert llm.supports_grammar is False
    with pytest.raises(ValueError, match=f"The '{kind}' completions server does not accept grammars"):
        llm.invoke(PROMPT, grammar=GRAMMAR)
    with pytest.raises(ValueError, match="does not accept grammars"):
        await llm.ainvoke(PROMPT, grammar=GRAMMAR)
    assert server.requests == []
    llm.invoke(PROMPT)  # without a grammar the server is used as before
    assert len(server.requests) == 1


def test_auto_detection_settles_supports_grammar() -> None:
    tserve = ReplayServer("transformers_serve.json")
    vllm = ReplayServer("vllm.json")
    try:
        llm = replay_llm(tserve)
        assert llm.supports_grammar is True  # unknown until the server is asked
        with pytest.raises(ValueError, match="'openai' completions server does not accept"):
            llm.invoke(tserve.prompt(), grammar=GRAMMAR)
        assert tserve.seen == ["models"]
        assert llm.supports_grammar is False
        detected = replay_llm(vllm)
        detected.invoke(vllm.prompt())
        assert detected.supports_grammar is True
    finally:
        tserve.close()
        vllm.close()


def test_a_grammar_list_of_the_wrong_length_fails_fast(
    llm: LumosCompletionsLLM, server: FakeCompletionsServer
) -> None:
    with pytest.raises(ValueError, match="one per prompt"):
        llm.generate([PROMPT, PROMPT], grammar=[GRAMMAR])
    assert server.requests == []
