"""The `lumos` command line: live event printing and the offline main job."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from langchain_lumos.cli import main
from langchain_lumos.testing import ScriptedLLM
from tests.unit_tests.loopback import FakeCompletionsServer


def test_run_prints_modules_live_and_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = ScriptedLLM(
        responses=[
            "Subgoal 1: Obtain the city where Franz Kafka was born.",
            "R1 = KnowledgeQuery(Franz Kafka); R2 = ParagraphRetrieve(R1, Query: Where was Franz Kafka born?); "
            "R3 = QA([R2], Question: Where was Franz Kafka born?)",
            "Answer: Prague",  # the QA tool's model
            "Yes, I will stop planning.",
            "Answer: Prague",  # the final QA
        ]
    )

    def fake_loader(**_: Any) -> ScriptedLLM:
        return script

    monkeypatch.setattr("langchain_lumos.models.smollm2.load_default_llm", fake_loader)
    assert main(["run", "Where was Franz Kafka born?"]) == 0
    out = capsys.readouterr().out
    assert "[plan]    Subgoal 1: Obtain the city where Franz Kafka was born." in out
    assert "[ground]  R1 = KnowledgeQuery(Franz Kafka)" in out
    assert "[execute] R2 = ParagraphRetrieve(R1, Query: Where was Franz Kafka born?)" in out
    assert "born in Prague" in out  # the real offline corpus answered the retrieval
    assert "Answer: Prague" in out and "Stopped: planner_stop" in out


def test_run_says_when_the_plan_was_written_by_rule(capsys: pytest.CaptureFixture[str]) -> None:
    from langchain_lumos.cli import _print

    _print({"event": "plan_ruled", "output": "Subgoal 1: Obtain the author of the Metamorphoses."})
    _print({"event": "subgoal_planned", "index": 1, "subgoal": "Obtain the author of the Metamorphoses."})
    assert capsys.readouterr().out == (
        "\n[plan]    (the small profile's nested-question rule, no model call)"
        "\n[plan]    Subgoal 1: Obtain the author of the Metamorphoses.\n"
    )


def test_run_needs_a_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "give a task" in capsys.readouterr().err


@pytest.mark.slow
def test_main_job_with_the_real_offline_model(capsys: pytest.CaptureFixture[str]) -> None:
    """SmolLM2-135M plans, grounds and answers through the real pipeline (correctness not expected)."""
    code = main(["run", "Where was Franz Kafka born?", "--max-subgoals", "1", "--max-new-tokens", "48"])
    out = capsys.readouterr().out
    assert code == 0
    assert "[plan]" in out and "Answer:" in out and "Stopped:" in out


# -- model specs, domains and request options ---------------------------------------------------


def _script(tmp_path: Path, script: dict[str, Any]) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script), encoding="utf-8")
    return f"scripted:{path}"


def test_run_maths_on_scripted_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "What is 1 + 1?", "--domain", "maths", "--model", "scripted"]) == 0
    out = capsys.readouterr().out
    assert "[execute] R1 = Calculator(1 + 1)" in out and "Answer: 2" in out


def test_run_web_agent_on_the_demo_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _script(
        tmp_path,
        {
            "planner": ["Subgoal 1: Open the flights page.", "Yes, I will stop planning."],
            "grounder": ["R1 = CLICK(Env, QUERY: Flights)"],
        },
    )
    assert main(["run", "Find a flight.", "--domain", "web_agent", "--model", spec]) == 0
    assert "-> success: [link] Flights -> CLICK" in capsys.readouterr().out


def test_run_webshop_on_the_demo_shop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _script(
        tmp_path,
        {
            # Keyed by prompt text: the WebShop prompts start with the original's two exemplars.
            "planner": {
                "Task: Buy a toothbrush.": "Subgoal 1: Search for a toothbrush.",
                "The executed result for Subgoal 1": "Yes, I will stop planning.",
            },
            "grounder": {"": "R1 = Search(toothbrush)"},
        },
    )
    assert main(["run", "Buy a toothbrush.", "--domain", "webshop", "--model", spec]) == 0
    out = capsys.readouterr().out
    assert "[execute] R1 = Search(toothbrush)\n          -> success:" in out
    assert "b09s3bn15c" in out  # a result page of the demo shop


def test_every_registered_domain_is_accepted() -> None:
    from langchain_lumos.cli import add_run_parser
    from langchain_lumos.domains import list_datasets, list_domains

    parser = argparse.ArgumentParser()
    run = add_run_parser(parser.add_subparsers())
    for name in [*list_domains(with_tools=True), *list_datasets()]:
        assert run.parse_args(["--domain", name]).domain == name


def test_qa_model_reaches_the_qa_tool(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    qa = ScriptedLLM(responses=["Answer: from the QA model"])
    seen: list[str] = []

    def fake_qa(spec: str, **_: Any) -> ScriptedLLM:
        seen.append(spec)
        return qa

    monkeypatch.setattr("langchain_lumos.presets.resolve_qa_model", fake_qa)
    code = main(
        ["run", "Who?", "--model", "scripted", "--qa-model", "openai:http://127.0.0.1:9/v1#gpt-3.5-turbo"]
    )
    assert code == 0
    assert seen == ["openai:http://127.0.0.1:9/v1#gpt-3.5-turbo"]
    assert qa.calls and "Answer: from the QA model" in capsys.readouterr().out


def test_help_says_what_the_qa_model_defaults_to(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--qa-model SPEC" in out and "gpt-3.5-turbo" in out and "default: the planner's model" in out


@pytest.mark.enable_socket
def test_served_model_names_and_extra_body_reach_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    server = FakeCompletionsServer(
        ["Subgoal 1: Calculate 2 + 3.", "R1 = Calculator(2 + 3)", "Yes, I will stop planning."]
    )
    try:
        code = main(
            [
                "run",
                "What is 2 + 3?",
                "--domain",
                "maths",
                "--model",
                f"completions:{server.base_url}",
                "--served-model",
                "my-planner,my-grounder",
                "--extra-body",
                '{"top_k": 1}',
                "--server",
                "llama.cpp",
            ]
        )
    finally:
        server.close()
    assert code == 0, capsys.readouterr().err
    assert [b["model"] for b in server.requests] == ["my-planner", "my-grounder", "my-planner"]
    assert all(b["top_k"] == 1 for b in server.requests)
    assert all(isinstance(b["prompt"], str) for b in server.requests)  # the llama.cpp dialect
    assert "Answer: 5" in capsys.readouterr().out


@pytest.mark.enable_socket
def test_a_server_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    server = FakeCompletionsServer(status=500)
    try:
        code = main(["run", "x", "--domain", "maths", "--model", f"vllm:{server.base_url}", "--timeout", "5"])
    finally:
        server.close()
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("lumos run: ") and "500" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# -- bad configuration: one line, no traceback ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--max-new-tokens", "-1"], "--max-new-tokens: must be a positive integer"),
        (["--max-subgoals", "-2"], "--max-subgoals: must be a positive integer"),
        (["--time-limit", "-1"], "--time-limit: must be a positive number"),
        (["--timeout", "0"], "--timeout: must be a positive number"),
        (["--time-limit", "nan"], "--time-limit: must be a positive number"),
        (["--extra-body", "[1]"], "--extra-body: must be a JSON object"),
        (["--domain", "chess"], "invalid choice"),
    ],
)
def test_bad_arguments_are_rejected(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "x", "--model", "scripted", *args])
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ("bogus", "Bad model spec 'bogus'"),
        ("released:8b", "unknown size"),
        ("vllm:localhost", "not an http(s) URL"),
    ],
)
def test_bad_model_specs(model: str, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "x", "--model", model]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_released_without_weights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert main(["run", "x", "--domain", "maths", "--model", "released"]) == 2
    err = capsys.readouterr().err
    assert "huggingface-cli download ai2lumos/lumos_maths_plan_iterative" in err
    assert len(err.strip().splitlines()) == 1


def test_resume_of_an_unknown_thread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LUMOS_DATA_DIR", str(tmp_path))
    assert main(["run", "--resume", "--thread-id", "never-ran", "--model", "scripted"]) == 2
    assert "no saved run for --thread-id 'never-ran'" in capsys.readouterr().err


def test_resume_continues_a_saved_thread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LUMOS_DATA_DIR", str(tmp_path))
    assert (
        main(["run", "What is 1 + 1?", "--domain", "maths", "--model", "scripted", "--thread-id", "t1"]) == 0
    )
    assert (tmp_path / "checkpoints.sqlite").is_file()
    capsys.readouterr()
    assert main(["run", "--resume", "--thread-id", "t1", "--domain", "maths", "--model", "scripted"]) == 0
    assert "Answer: 2" in capsys.readouterr().out


def test_unwritable_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LUMOS_DATA_DIR", str(blocker / "data"))
    assert main(["run", "x", "--model", "scripted", "--thread-id", "t"]) == 1
    err = capsys.readouterr().err
    assert "cannot open the checkpoint database" in err and "LUMOS_DATA_DIR" in err


def test_unexpected_errors_are_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        msg = "deep failure"
        raise RuntimeError(msg)

    monkeypatch.setattr("langchain_lumos.presets.resolve_models", boom)
    assert main(["run", "x"]) == 1
    assert "RuntimeError: deep failure (set LUMOS_DEBUG=1" in capsys.readouterr().err
    monkeypatch.setenv("LUMOS_DEBUG", "1")
    with pytest.raises(RuntimeError, match="deep failure"):
        main(["run", "x"])


def test_subcommand_parsers_are_built_on_demand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("run", "checkpoints", "eval", "train", "convert"):
        assert name in out
    assert main(["checkpoints"]) == 0
    assert "lumos_complex_qa_plan_iterative" in capsys.readouterr().out


CONSOLE_SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
import torch  # the quick exit applies once torch is loaded
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late() -> None:
    time.sleep(0.3)
    (out / "thread").write_text("joined")
threading.Thread(target=late).start()
sys.argv = ["lumos", "run", "What is 1 + 1?", "--domain", "maths", "--model", "scripted"]
from langchain_lumos.cli import console
console()
"""


def test_console_script_exits_quickly_but_runs_exit_handlers_and_threads(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CONSOLE_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Answer: " in done.stdout  # flushed before the quick exit
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "joined"
    failing = CONSOLE_SCRIPT.replace('"What is 1 + 1?", ', "")  # no task: an error, exit code 2
    done = subprocess.run(
        [sys.executable, "-c", failing, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "give a task" in done.stderr


def test_run_says_when_no_answer_was_found(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = ScriptedLLM(
        responses=[
            "Subgoal 1: Obtain the birthplace of Qzxv Wrtp.",
            "R1 = KnowledgeQuery(Qzxv Wrtp); R2 = ParagraphRetrieve(R1, Query: Where was Qzxv Wrtp born?); "
            "R3 = QA([R2], Question: Where was Qzxv Wrtp born?)",
            "Yes, I will stop planning.",
        ]
    )
    monkeypatch.setattr("langchain_lumos.models.smollm2.load_default_llm", lambda **_: script)
    assert main(["run", "Where was Qzxv Wrtp born?"]) == 0
    out = capsys.readouterr().out
    assert "found no page for 'Qzxv Wrtp'" in out
    assert "Answer: (none: no subgoal found one)" in out
