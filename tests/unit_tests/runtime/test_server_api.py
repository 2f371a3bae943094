"""The served graphs through a real in-memory LangGraph API server (`langgraph dev`) on loopback.

Both graphs run through `langgraph-sdk` with scripted models chosen by the environment and
the run context, each pausing for plan review and resumed over the API; the run context
switches review points per run, and a second task on a thread starts a new episode.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
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

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = {
    "planner": {
        "": "Subgoal 1: Calculate 2 + 3.",
        "4 + 4?": "Subgoal 1: Calculate 4 + 4.",
        "Should we stop planning?": "Yes, I will stop planning.",
    },
    "grounder": {"": "R1 = Calculator(2 + 3)", "Calculate 4 + 4.": "R1 = Calculator(4 + 4)"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("langgraph_dev")
    # The graph files alone, outside the checkout: they must need nothing but the installed package.
    (work / "graphs").mkdir()
    for name in ("iterative.py", "onetime.py"):
        shutil.copy(ROOT / "graphs" / name, work / "graphs" / name)
    shutil.copy(ROOT / "langgraph.json", work / "langgraph.json")
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
