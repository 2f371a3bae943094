"""Traces as LangSmith receives them: a recording LangSmith endpoint on loopback.

The test server speaks LangSmith's ingest API (`GET /info`, `POST /runs/multipart`,
`POST /runs/batch`, `POST /runs`, `PATCH /runs/{id}`) and keeps every run it is sent; an
agent runs with `LANGSMITH_TRACING=true` pointed at it, and the recorded runs are checked:
one run per module call, with its name, tags, metadata, parent and token usage.
"""

from __future__ import annotations

import email.parser
import email.policy
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from langchain_core.tools import StructuredTool

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.testing import ScriptedLLM
from langchain_lumos.tools.complex_qa import QA_RUN_NAME, QATool

langsmith = pytest.importorskip("langsmith")

pytestmark = pytest.mark.enable_socket

INFO = {
    "version": "0.0.0-lumos-test",
    "batch_ingest_config": {
        "use_multipart_endpoint": True,
        "size_limit": 100,
        "size_limit_bytes": 20_971_520,
        "scale_up_qsize_trigger": 1000,
        "scale_up_nthreads_limit": 16,
        "scale_down_nempty_trigger": 4,
    },
    "instance_flags": {},
}
"""What `GET /info` answers: multipart ingest, no zstd compression."""


class LangSmithRecorder(ThreadingHTTPServer):
    """A loopback HTTP server that records the runs LangSmith clients send."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.runs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def create(self, run: dict[str, Any]) -> None:
        with self.lock:
            self.runs.setdefault(str(run["id"]), {}).update(run)

    def update(self, run_id: str, fields: dict[str, Any]) -> None:
        with self.lock:
            self.runs.setdefault(run_id, {"id": run_id}).update(fields)


class _Handler(BaseHTTPRequestHandler):
    server: LangSmithRecorder

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet

    def _body(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body

    def _reply(self, payload: Any = None, status: int = 200) -> None:
        data = json.dumps({} if payload is None else payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path))
        self._reply(INFO if self.path.split("?")[0].endswith("/info") else {})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        self.server.requests.append(("POST", path))
        body = self._body()
        if path.endswith("/runs/multipart"):
            self._multipart(body)
        elif path.endswith("/runs/batch"):
            batch = json.loads(body)
            for run in batch.get("post") or []:
                self.server.create(run)
            for run in batch.get("patch") or []:
                self.server.update(str(run["id"]), run)
        elif path.endswith("/runs"):
            self.server.create(json.loads(body))
        self._reply()

    def do_PATCH(self) -> None:
        path = self.path.split("?")[0]
        self.server.requests.append(("PATCH", path))
        body = self._body()
        if "/runs/" in path:
            self.server.update(path.rsplit("/", 1)[1], json.loads(body))
        self._reply()

    def _multipart(self, body: bytes) -> None:
        """Parts `post.<id>` / `patch.<id>` (the run) and `post.<id>.<field>` (its inputs, ...)."""
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in message.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            payload = bytes(part.get_payload(decode=True))
            op, run_id, *field = name.split(".")
            if op not in ("post", "patch"):
                continue  # attachments, feedback
            data = json.loads(payload)
            if field:
                self.server.update(run_id, {field[0]: data})
            elif op == "post":
                self.server.create({**data, "id": run_id})
            else:
                self.server.update(run_id, data)


@pytest.fixture
def recorder() -> Iterator[LangSmithRecorder]:
    server = LangSmithRecorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _agent() -> Any:
    def knowledge_query(query: str) -> str:
        """Capture the relevant webpages according to the query."""
        return f"Doc about {query}."

    return create_lumos_agent(
        ScriptedLLM(
            responses=["Subgoal 1: Look up A.", "Yes, I will stop planning."], by="turn", usage=(11, 4)
        ),
        ScriptedLLM(responses=["R1 = KnowledgeQuery(A); R2 = QA([R1], Question: What is A?)"], usage=(13, 6)),
        [
            StructuredTool.from_function(knowledge_query, name="KnowledgeQuery"),
            QATool(llm=ScriptedLLM(responses=["Answer: Doc A."], usage=(5, 2))),
        ],
    )


def _tokens(run: dict[str, Any]) -> tuple[int, int]:
    usage = (run.get("outputs") or {}).get("llm_output", {}).get("token_usage", {})
    return usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)


@pytest.mark.parametrize("use_async", [False, True])
async def test_langsmith_receives_one_run_per_module_call(
    recorder: LangSmithRecorder, monkeypatch: pytest.MonkeyPatch, use_async: bool
) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_ENDPOINT", recorder.url)
    monkeypatch.setenv("LANGSMITH_API_KEY", "test")
    monkeypatch.setenv("LANGSMITH_PROJECT", "lumos-tests")
    monkeypatch.setenv("LANGSMITH_DISABLE_RUN_COMPRESSION", "true")  # the recorder reads plain parts
    monkeypatch.delenv("LANGCHAIN_TRACING_V2", raising=False)
    client = langsmith.Client(api_url=recorder.url, api_key="test")
    agent = _agent()
    config = {"tags": ["my-app"], "metadata": {"user": "u1"}}
    try:
        with langsmith.tracing_context(enabled=True, client=client, project_name="lumos-tests"):
            if use_async:
                result = await agent.ainvoke("What is A?", config)
            else:
                result = agent.invoke("What is A?", config)
        client.flush(timeout=30)
    finally:
        client.cleanup()
    assert result["answer"] == "Doc A."
    assert ("GET", "/info") in recorder.requests
    runs = recorder.runs
    assert runs and all(r.get("end_time") for r in runs.values())  # every run was closed
    by_name: dict[str, list[dict[str, Any]]] = {}
    for run in runs.values():
        by_name.setdefault(run["name"], []).append(run)

    def parent(run: dict[str, Any]) -> dict[str, Any]:
        return runs[str(run["parent_run_id"])]

    # One root: the graph.
    (root,) = [r for r in runs.values() if not r.get("parent_run_id")]
    assert root["name"] == "lumos" and root["run_type"] == "chain"
    assert {str(r["trace_id"]) for r in runs.values()} == {str(root["id"])}
    assert "my-app" in root["tags"]

    # One run per module call: two plans, one grounding, two actions, one final QA.
    assert [r["run_type"] for r in by_name["lumos_plan"]] == ["llm", "llm"]
    assert [r["run_type"] for r in by_name["lumos_ground"]] == ["llm"]
    assert [r["run_type"] for r in by_name["KnowledgeQuery"]] == ["tool"]
    assert sorted(r["run_type"] for r in by_name["QA"]) == ["tool", "tool"]  # the action and the final QA
    assert len(by_name[QA_RUN_NAME]) == 2
    assert not {"route_planner", "route_grounding", "route_action", "route_executor"} & set(by_name)

    module_of = {"lumos_plan": "planner", "lumos_ground": "grounder", "KnowledgeQuery": "executor"}
    for name, module in module_of.items():
        for run in by_name[name]:
            meta = run["extra"]["metadata"]
            assert {"lumos", f"lumos:{module}", "lumos:iterative", "lumos:complex_qa", "my-app"} <= set(
                run["tags"]
            )
            assert (meta["lumos_module"], meta["lumos_mode"], meta["user"]) == (module, "iterative", "u1")
    assert by_name["lumos_ground"][0]["extra"]["metadata"]["lumos_subgoal"] == "Subgoal 1: Look up A."
    assert by_name["KnowledgeQuery"][0]["extra"]["metadata"]["lumos_action_id"] == "s1.g0.a1"

    # Parents: each model call and action in its node's run, the nodes in the graph's run.
    assert [parent(r)["name"] for r in by_name["lumos_plan"]] == ["planner", "planner"]
    assert parent(by_name["lumos_ground"][0])["name"] == "grounder"
    assert parent(by_name["KnowledgeQuery"][0])["name"] == "execute_action"
    assert sorted(parent(r)["name"] for r in by_name["QA"]) == ["execute_action", "finalize"]
    assert all(parent(r)["name"] == "QA" for r in by_name[QA_RUN_NAME])
    for node in ("planner", "grounder", "execute_action", "finalize"):
        assert all(parent(r) is root for r in by_name[node])
    final = [r for r in by_name["QA"] if parent(r)["name"] == "finalize"]
    assert final[0]["extra"]["metadata"]["lumos_final_qa"] is True

    # Token usage on every model run, as the models reported it.
    assert [_tokens(r) for r in by_name["lumos_plan"]] == [(11, 4), (11, 4)]
    assert _tokens(by_name["lumos_ground"][0]) == (13, 6)
    assert [_tokens(r) for r in by_name[QA_RUN_NAME]] == [(5, 2), (5, 2)]
    assert result["usage"]["tool:QA"]["prompt_tokens"] == 10
