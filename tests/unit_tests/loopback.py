"""Loopback JSON servers for tests: a fake OpenAI-compatible completions server and its base."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple

__all__ = ["FakeCompletionsServer", "JSONServer", "Request"]


class Request(NamedTuple):
    """One request a `JSONServer` received."""

    method: str
    path: str
    body: Any
    """The JSON body (None when empty)."""
    raw: bytes
    headers: dict[str, str]


class JSONServer:
    """A threaded HTTP server on `127.0.0.1` whose `answer` turns each request into JSON.

    Subclasses implement `answer(request) -> (status, payload)`. Use it as a context
    manager or call `close`.
    """

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, payload = owner.answer(
                    Request(self.command, self.path, body, raw, dict(self.headers))
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, request: Request) -> tuple[int, Any]:
        """The status and JSON payload for one request."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the server."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> JSONServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class FakeCompletionsServer(JSONServer):
    """A `/v1/completions` server: records every request, answers with scripted completions.

    Only `POST` is served (a `GET` gets 501, as from a server without `/models`). The
    `n`-th request gets `replies[n]` (the last one repeats) for each prompt of its batch,
    with `{i}` replaced by the prompt's index in the batch. Choices come in reverse order
    (a client must order them by `index`), with `usage` (10 prompt and 3 completion tokens
    per prompt).

    Args:
        replies: The completion texts, by request.
        status: The HTTP status of every answer (an error body unless 200).
    """

    def __init__(
        self, replies: Sequence[str] = ("Subgoal 1: Calculate 2 + 3.",), *, status: int = 200
    ) -> None:
        self.replies = list(replies)
        self.status = status
        self.statuses: list[int] = []
        """Statuses forced for the next requests, in order (then `status` again)."""
        self.requests: list[dict[str, Any]] = []
        """Each request's JSON body, with its `path`."""
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        super().__init__()

    def answer(self, request: Request) -> tuple[int, Any]:
        if request.method != "POST":  # no `GET /models`: the client must be told the served model
            return 501, {"error": {"message": f"Unsupported method ({request.method!r})"}}
        body = request.body
        self.raw.append(request.raw)
        self.headers.append(request.headers)
        self.requests.append({"path": request.path, **body})
        status = self.statuses.pop(0) if self.statuses else self.status
        if status != 200:
            return status, {"error": {"message": "overloaded"}}
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        text = self.replies[min(len(self.requests), len(self.replies)) - 1]
        choices = [
            {"index": i, "text": text.replace("{i}", str(i)), "finish_reason": "stop"}
            for i in range(len(prompts))
        ]
        choices.reverse()
        n = len(prompts)
        usage = {"prompt_tokens": 10 * n, "completion_tokens": 3 * n, "total_tokens": 13 * n}
        payload = {"id": "cmpl-1", "object": "text_completion", "model": body.get("model")}
        return 200, {**payload, "choices": choices, "usage": usage}
