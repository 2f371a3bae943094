"""The served graphs through a real in-memory LangGraph API server (`langgraph dev`) on loopback.

The server reads a pip user's `langgraph.json`, which names the package's graph factories
(`langchain_lumos.serve:iterative`) and nothing from the checkout. Both graphs run through
`langgraph-sdk` with scripted models chosen by the environment and
the run context, each pausing for plan review and resumed over the API; the run context
switches review points per run, and a second task on a thread starts a new episode.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Only look the server packages up: importing langgraph_runtime_inmem writes `.langgraph_api/` here.
if (
    importlib.util.find_spec("langgraph_api") is None
    or importlib.util.find_spec("langgraph_runtime_inmem") is None
):
    pytest.skip("needs langgraph-cli[inmem]", allow_module_level=True)
sdk = pytest.importorskip("langgraph_sdk")

pytestmark = pytest.mark.enable_socket

SCRIPT = {
    "planner": {
        "": "Subgoal 1: Calculate 2 + 3.",
        "4 + 4?": "Subgoal 1: Calculate 4 + 4.",
        "Should we stop planning?": "Yes, I will stop planning.",
    },
    "grounder": {"": "R1 = Calculator(2 + 3)", "Calculate 4 + 4.": "R1 = Calculator(4 + 4)"},
}


PIP_USER_CONFIG = {
    "dependencies": ["langchain-lumos"],
    "graphs": {
        "lumos_iterative": "langchain_lumos.serve:iterative",
        "lumos_onetime": "langchain_lumos.serve:onetime",
    },
}
"""What a user who installed the package with pip writes (no copied files)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("langgraph_dev")
    # A pip user's folder, outside the checkout: a langgraph.json naming the package's factories.
    (work / "langgraph.json").write_text(json.dumps(PIP_USER_CONFIG), encoding="utf-8")
    script = work / "script.json"
    script.write_text(json.dumps(SCRIPT), encoding="utf-8")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "LUMOS_"))}
    env.update(
        {
            "LUMOS_MODEL": f"scripted:{script}",
            "LUMOS_DOMAIN": "maths",
            "LUMOS_REVIEW": "plan",
            "LUMOS_DATA_DIR": str(work),
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGSMITH_TRACING": "false",
            "HF_HUB_OFFLINE": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    command = [
        sys.executable,
        "-m",
        "langgraph_cli",
        "dev",
        "--config",
        str(work / "langgraph.json"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
    ]
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited: {(work / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not start: {(work / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield {"url": url, "script": str(script), "log": work / "server.log"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.mark.parametrize(
    ("graph_id", "stop_reason"), [("lumos_iterative", "planner_stop"), ("lumos_onetime", "plan_complete")]
)
def test_served_graph_with_review_over_the_api(
    server: dict[str, Any], graph_id: str, stop_reason: str
) -> None:
    client = sdk.get_sync_client(url=server["url"])
    context = {"model": f"scripted:{server['script']}", "domain": "maths", "max_subgoals": 3}
    thread = client.threads.create()
    paused = client.runs.wait(
        thread["thread_id"], graph_id, input={"task": "What is 2 + 3?"}, context=context
    )
    assert isinstance(paused, dict), paused
    (interrupt,) = paused["__interrupt__"]
    assert interrupt["value"] == {
        "type": "plan_review",
        "subgoals": ["Calculate 2 + 3."],
        "planner_output": "Subgoal 1: Calculate 2 + 3.",
    }
    state = client.threads.get_state(thread["thread_id"])
    assert state["next"] == ["review_plan"]

    events = [
        part.data
        for part in client.runs.stream(
            thread["thread_id"],
            graph_id,
            command={"resume": {"action": "approve"}},
            context=context,
            stream_mode=["custom", "values"],
        )
        if part.event == "custom"
    ]
    done = client.threads.get_state(thread["thread_id"])["values"]
    while done.get("stop_reason") is None:  # iterative: the stop turn is reviewed too
        client.runs.wait(
            thread["thread_id"], graph_id, command={"resume": {"action": "approve"}}, context=context
        )
        done = client.threads.get_state(thread["thread_id"])["values"]
    assert done["answer"] == "5"
    assert done["stop_reason"] == stop_reason
    assert any(
        e.get("event") == "action_finished" and e.get("action") == "R1 = Calculator(2 + 3)" for e in events
    )


@pytest.mark.parametrize(
    ("review", "first_pause"), [([], None), (["actions"], "actions_review"), (None, "plan_review")]
)
def test_review_points_are_chosen_per_run_over_the_api(
    server: dict[str, Any], review: list[str] | None, first_pause: str | None
) -> None:
    client = sdk.get_sync_client(url=server["url"])
    context: dict[str, Any] = {"model": f"scripted:{server['script']}", "domain": "maths"}
    if review is not None:
        context["review"] = review  # None: the graph's LUMOS_REVIEW=plan
    if review == []:
        context["no_such_key"] = 1  # dropped by langgraph-api before the graph runs
    thread = client.threads.create()
    result = client.runs.wait(
        thread["thread_id"], "lumos_onetime", input={"task": "What is 2 + 3?"}, context=context
    )
    assert isinstance(result, dict), result
    if first_pause is None:
        assert "__interrupt__" not in result
        assert (result["answer"], result["stop_reason"]) == ("5", "plan_complete")
        return
    (interrupt,) = result["__interrupt__"]
    assert interrupt["value"]["type"] == first_pause
    done = client.runs.wait(
        thread["thread_id"], "lumos_onetime", command={"resume": "approve"}, context=context
    )
    assert isinstance(done, dict) and done["answer"] == "5", done


@pytest.mark.parametrize("graph_id", ["lumos_iterative", "lumos_onetime"])
def test_a_second_task_on_a_thread_starts_a_new_episode_over_the_api(
    server: dict[str, Any], graph_id: str
) -> None:
    client = sdk.get_sync_client(url=server["url"])
    context = {"model": f"scripted:{server['script']}", "domain": "maths", "review": [], "max_subgoals": 3}
    thread = client.threads.create()
    first = client.runs.wait(thread["thread_id"], graph_id, input={"task": "What is 2 + 3?"}, context=context)
    assert isinstance(first, dict) and first["answer"] == "5", first
    second = client.runs.wait(
        thread["thread_id"], graph_id, input={"task": "What is 4 + 4?"}, context=context
    )
    assert isinstance(second, dict), second
    assert (second["task"], second["answer"]) == ("What is 4 + 4?", "8")
    assert [s["text"] for s in second["subgoals"]] == ["Calculate 4 + 4."]
    assert [a["text"] for a in second["actions"]] == ["R1 = Calculator(4 + 4)"]
    state = client.threads.get_state(thread["thread_id"])["values"]
    [episode] = state["episodes"]
    assert (episode["task"], episode["answer"]) == ("What is 2 + 3?", "5")


def test_the_server_ran_without_blocking_errors(server: dict[str, Any]) -> None:
    """Runs last: every run above left no error in the server log."""
    client = sdk.get_sync_client(url=server["url"])
    assert {a["graph_id"] for a in client.assistants.search()} >= {"lumos_iterative", "lumos_onetime"}
    log = server["log"].read_text()
    assert "BlockingError" not in log and "Traceback" not in log


def test_the_factories_build_their_graph_once_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import threading

    from langchain_lumos import serve

    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT), encoding="utf-8")
    monkeypatch.setenv("LUMOS_MODEL", f"scripted:{script}")
    monkeypatch.setenv("LUMOS_DOMAIN", "maths")
    serve.clear_caches()
    assert not serve._SERVED  # importing the module built nothing
    builders: list[int] = []
    build = serve.build_graph

    def recording(mode: Any, *, name: str) -> Any:
        builders.append(threading.get_ident())
        return build(mode, name=name)

    monkeypatch.setattr(serve, "build_graph", recording)

    async def serve_twice() -> tuple[Any, Any, Any]:
        return await serve.iterative(), await serve.iterative(), await serve.onetime()

    try:
        first, again, onetime = asyncio.run(serve_twice())
    finally:
        serve.clear_caches()
    assert first is again and first.name == "lumos_iterative" and onetime.name == "lumos_onetime"
    assert len(builders) == 2 and threading.get_ident() not in builders
    result = first.invoke({"task": "What is 2 + 3?"}, context={"review": []})
    assert result["answer"] == "5"
