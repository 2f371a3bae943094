"""Serve the released Lumos checkpoints with vLLM and point the agent at them.

Start one OpenAI-compatible completions server per module (GPU machine):

    vllm serve ai2lumos/lumos_complex_qa_plan_iterative --port 8001
    vllm serve ai2lumos/lumos_complex_qa_ground_iterative --port 8002

then run `python cookbook/serve_vllm.py` (URLs from `LUMOS_PLANNER_URL` /
`LUMOS_GROUNDER_URL`). The served graphs take the same servers as
`LUMOS_PLANNER_MODEL=lumos:http://localhost:8001/v1` (see `.env.example`).

With `LUMOS_COOKBOOK_FAKE=1`, two local fake completions servers stand in for vLLM.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _common import FAKE, QUESTION, ScriptedLLM, models, tools

from langchain_lumos.agent import create_lumos_agent
from langchain_lumos.models.openai_compatible import LumosCompletionsLLM
from langchain_lumos.models.registry import resolve_checkpoints


@contextmanager
def fake_vllm(script: ScriptedLLM) -> Iterator[str]:
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
    planner_id, grounder_id = resolve_checkpoints("complex_qa", "iterative")
    planner = LumosCompletionsLLM(base_url=planner_url, model=planner_id)
    grounder = LumosCompletionsLLM(base_url=grounder_url, model=grounder_id)
    agent = create_lumos_agent(planner, grounder, tools(planner), mode="iterative")
    result = agent.invoke(QUESTION)
    print("planner:", planner_id, "@", planner_url)
    print("grounder:", grounder_id, "@", grounder_url)
    print("subgoals:", [s["text"] for s in result["subgoals"]])
    print("answer:", result["answer"])
    print("planner tokens:", result["usage"]["planner"]["prompt_tokens"], "prompt")


def main() -> None:
    if FAKE:
        os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
        planner_script, grounder_script = models("iterative")
        with fake_vllm(planner_script) as p_url, fake_vllm(grounder_script) as g_url:
            run(p_url, g_url)
        return
    run(
        os.environ.get("LUMOS_PLANNER_URL", "http://localhost:8001/v1"),
        os.environ.get("LUMOS_GROUNDER_URL", "http://localhost:8002/v1"),
    )


if __name__ == "__main__":
    main()
