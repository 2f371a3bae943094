"""Serve the released Lumos checkpoints with vLLM and point the agent at them.

Start one OpenAI-compatible completions server per module (GPU machine):

    vllm serve ai2lumos/lumos_complex_qa_plan_iterative --port 8001
    vllm serve ai2lumos/lumos_complex_qa_ground_iterative --port 8002

then run `python cookbook/serve_vllm.py` (URLs from `LUMOS_PLANNER_URL` /
`LUMOS_GROUNDER_URL`). The model spec is the one `lumos run --model` and the served graphs
take: `completions:http://localhost:8001/v1,http://localhost:8002/v1` (e.g.
`LUMOS_MODEL=completions:... langgraph dev`; see `.env.example`).

With `LUMOS_COOKBOOK_FAKE=1`, two local fake completions servers stand in for vLLM.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from _common import FAKE, QUESTION, models, tools

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.presets import resolve_models


@contextmanager
def fake_vllm(script: Any) -> Iterator[str]:
    """A local `/v1/completions` server answering from a script (stands in for vLLM)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            texts = [g[0].text for g in script.generate(prompts).generations]
            choices = [{"index": i, "text": t, "finish_reason": "stop"} for i, t in enumerate(texts)]
            usage = {"prompt_tokens": 100 * len(prompts), "completion_tokens": 10 * len(prompts)}
            data = json.dumps({"choices": choices, "usage": usage, "model": body["model"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def run(planner_url: str, grounder_url: str) -> None:
    m = resolve_models(f"completions:{planner_url},{grounder_url}", domain="complex_qa", mode="iterative")
    agent = create_lumos_agent(m.planner, m.grounder, tools(m), mode="iterative", domain=m.domain)
    result = agent.invoke(QUESTION)
    print("planner:", m.planner.model, "@", planner_url)  # type: ignore[attr-defined]
    print("grounder:", m.grounder.model, "@", grounder_url)  # type: ignore[attr-defined]
    print("subgoals:", [s["text"] for s in result["subgoals"]])
    print("answer:", result["answer"])
    print("planner tokens:", result["usage"]["planner"]["prompt_tokens"], "prompt")


def main() -> None:
    if FAKE:
        os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
        scripts = models("iterative")
        with fake_vllm(scripts.planner) as p_url, fake_vllm(scripts.grounder) as g_url:
            run(p_url, g_url)
        return
    run(
        os.environ.get("LUMOS_PLANNER_URL", "http://localhost:8001/v1"),
        os.environ.get("LUMOS_GROUNDER_URL", "http://localhost:8002/v1"),
    )


if __name__ == "__main__":
    main()
