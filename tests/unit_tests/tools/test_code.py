from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

import pytest
from langchain_core.tools import ToolException

from langchain_lumos.tools import sandbox
from langchain_lumos.tools.code import ISOLATION_ENV, CodeTool, arun_code, code_tools, run_code
from langchain_lumos.tools.sandbox import (
    SandboxLimits,
    SandboxResult,
    SandboxUnavailableError,
    remove_tree,
    sandbox_available,
)

BWRAP_OK, BWRAP_REASON = sandbox_available()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap sandbox unavailable: {BWRAP_REASON}")


@pytest.fixture(
    params=[
        pytest.param("bwrap", marks=needs_bwrap),
        "process",
    ]
)
def isolation(request: pytest.FixtureRequest) -> str:
    """Run the behaviour tests in both modes (the process mode warns: silenced here)."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _quiet_process_warning() -> None:
    warnings.filterwarnings("ignore", message="Code runs with isolation='process'")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("print(1 + 1)", "2"),
        ("x = 3\nx * 2", "6"),  # last expression, like a REPL
        ("'abc'", "abc"),
        ("import math\nprint(math.factorial(10))", "3628800"),
        ("```python\nprint(sum(range(10)))\n```", "45"),
        ("x = 1", ""),
        ("open('a.txt', 'w').write('hi')\nprint(open('a.txt').read())", "hi"),
        ("import json\njson.dumps({'a': [1, 2]})", '{"a": [1, 2]}'),
        ("import sys\nsys.exit(0)", ""),
    ],
)
def test_code_values(source: str, expected: str, isolation: str) -> None:
    assert run_code(source, isolation=isolation) == expected  # type: ignore[arg-type]


@needs_bwrap
def test_code_tool_invoke() -> None:
    tool = CodeTool()
    assert tool.name == "Code"
    assert tool.isolation == "bwrap"
    assert tool.invoke({"pseudo_code": "def f(n):\n    return n * n\nf(12)"}) == "144"


async def test_code_tool_async(isolation: str) -> None:
    tool = CodeTool(isolation=isolation)  # type: ignore[arg-type]
    assert await tool.ainvoke({"pseudo_code": "print(2 ** 10)"}) == "1024"
    with pytest.raises(ToolException, match="timed out after 1 s"):
        await arun_code("while True:\n    pass", timeout_s=1, isolation=isolation)  # type: ignore[arg-type]


def test_code_timeout(isolation: str) -> None:
    with pytest.raises(ToolException, match="Code timed out after 1 s"):
        run_code("while True:\n    pass", timeout_s=1, isolation=isolation)  # type: ignore[arg-type]


def test_code_memory_limit(isolation: str) -> None:
    with pytest.raises(ToolException, match="memory limit"):
        run_code("x = bytearray(10 * 1024 ** 3)", isolation=isolation)  # type: ignore[arg-type]


def test_code_gradual_memory_limit(isolation: str) -> None:
    with pytest.raises(ToolException, match="memory limit"):
        run_code(
            "chunks = []\nwhile True:\n    chunks.append(' ' * 10 ** 7)",
            memory_mb=256,
            isolation=isolation,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("open('/etc/passwd').read()", "outside the sandbox"),
        ("open('../escape.txt', 'w').write('x')", "outside the sandbox"),
        ("import os\nos.listdir('/')", "outside the sandbox"),
        ("import os\nos.remove('/usr/anything')", "outside the sandbox"),
        ("import socket\nsocket.socket()", "network"),
        ("import socket\nsocket.create_connection(('example.com', 80))", "network"),
        ("import os\nos.system('ls')", "os.system"),
        ("import subprocess\nsubprocess.run(['ls'])", "subprocess.Popen"),
        ("import os\nos.fork()", "os.fork"),
        ("import ctypes\nctypes.CDLL(None)", "ctypes"),
        ("import sqlite3", "import of sqlite3"),
    ],
)
def test_code_audit_layer_blocks(source: str, match: str, isolation: str) -> None:
    # The audit hook is an extra layer in both modes (the boundary is tested in test_sandbox_escapes).
    with pytest.raises(ToolException, match=match):
        run_code(source, isolation=isolation)  # type: ignore[arg-type]


def test_code_errors(isolation: str) -> None:
    with pytest.raises(ToolException, match=r"ZeroDivisionError: division by zero \(line 2\)"):
        run_code("x = 1\nx / 0", isolation=isolation)  # type: ignore[arg-type]
    with pytest.raises(ToolException, match="not valid Python"):
        run_code("for each item in list: add item to total", isolation=isolation)  # type: ignore[arg-type]
    with pytest.raises(ToolException, match="no code"):
        run_code("   ", isolation=isolation)  # type: ignore[arg-type]
    with pytest.raises(ToolException, match=r"SystemExit: 3"):
        run_code("import sys\nsys.exit(3)", isolation=isolation)  # type: ignore[arg-type]


def test_code_env_is_clean(monkeypatch: pytest.MonkeyPatch, isolation: str) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    out = run_code("import os\nprint(sorted(os.environ))", isolation=isolation)  # type: ignore[arg-type]
    assert "SECRET_TOKEN" not in out


def test_code_output_truncated(isolation: str) -> None:
    out = run_code("print('x' * 50)", max_output_chars=10, isolation=isolation)  # type: ignore[arg-type]
    assert out.startswith("x" * 10) and "truncated" in out


def test_code_file_size_limit(isolation: str) -> None:
    with pytest.raises(ToolException, match="file size limit"):
        run_code("open('big', 'wb').write(b'x' * 20 * 1024 * 1024)", isolation=isolation)  # type: ignore[arg-type]


def test_code_bad_config() -> None:
    with pytest.raises(ValueError):
        run_code("1", timeout_s=0)
    with pytest.raises(ValueError):
        run_code("1", max_output_chars=0)
    with pytest.raises(ValueError):
        run_code("1", isolation="none")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CodeTool(disk_mb=1)
    with pytest.raises(ValueError, match="memory_mb"):
        SandboxLimits(memory_mb=10)
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="timeout_s"):
            SandboxLimits(timeout_s=bad)


def test_fake_error_marker_on_stderr_does_not_crash_the_caller(isolation: str) -> None:
    # The old protocol parsed a marker from stderr: forged markers raised AttributeError/IndexError.
    forged = [
        '\\x00LUMOS_CODE_ERROR\\x00{"type": 1}',
        "\\x00LUMOS_CODE_ERROR\\x00[1, 2]",
        "\\x00LUMOS_CODE_ERROR\\x00",
        '\\x00LUMOS_CODE_ERROR\\x00{"status": "error"}',
    ]
    for marker in forged:
        src = f"import sys\nsys.stderr.write('\\n{marker}\\n')\nprint('fine')"
        assert run_code(src, isolation=isolation) == "fine"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "record",
    [
        '{"status": "error"}',
        '{"status": "error", "type": 1, "message": null}',
        '{"status": "error", "type": "X", "message": "m", "line": "two"}',
        "[1, 2]",
        '"ok"',
        "{not json",
        '{"status": "weird"}',
    ],
)
def test_forged_result_record_gives_a_tool_exception_or_output(record: str, isolation: str) -> None:
    # User code can write to the record descriptor itself; whatever it writes, the caller only
    # ever gets a string or a ToolException.
    src = f"import os, sys\nfd = int(sys.modules['__main__'].sys.argv[1])\nos.write(fd, {record!r}.encode())\nos._exit(0)"
    try:
        out = run_code(src, isolation=isolation)  # type: ignore[arg-type]
    except ToolException as exc:
        assert str(exc).startswith("Code")
    else:
        assert isinstance(out, str)


@pytest.mark.parametrize(
    ("result", "match"),
    [
        (SandboxResult(0, "", "", None), "exit status 0"),
        (SandboxResult(1, "", "Traceback\nMemoryError\n", None), "memory limit"),
        (SandboxResult(-signal.SIGXCPU, "", "", None), "CPU time limit"),
        (SandboxResult(-signal.SIGXFSZ, "", "", None), "file size limit"),
        (SandboxResult(1, "", "", {"status": "error", "type": "OSError", "message": "No space left on device", "line": None}), "disk limit"),
        (SandboxResult(1, "", "", {"status": "error", "type": "E", "message": "E: boom", "line": 0}), r"E: boom$"),
        (SandboxResult(1, "", "last words\n", None), "last words"),
    ],
)  # fmt: skip
def test_interpret_is_total(result: SandboxResult, match: str) -> None:
    from langchain_lumos.tools.code import _interpret

    with pytest.raises(ToolException, match=match):
        _interpret(result, SandboxLimits(), 100)


def test_nested_directories_clean_up(isolation: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,500 nested directories crashed the old cleanup with RecursionError and left the temp dir.
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    src = "import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\nprint('deep')"
    assert run_code(src, isolation=isolation) == "deep"  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_remove_tree_is_iterative_and_never_raises(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:
        for i in range(1200):  # deeper than the recursion limit
            os.mkdir("d", dir_fd=fd)
            if i % 100 == 0:
                os.close(os.open("f.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
            nxt = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.symlink("/usr", "link", dir_fd=fd)
    finally:
        os.close(fd)
    remove_tree(str(root))
    assert not root.exists()
    remove_tree(str(root))  # already gone: no error
    (tmp_path / "file").write_text("x")
    remove_tree(str(tmp_path / "file"))  # not a directory: no error
    assert Path("/usr").is_dir()


def test_disk_cap(isolation: str) -> None:
    if isolation != "bwrap":
        pytest.skip("the total disk cap needs the bubblewrap tmpfs")
    src = "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * 1024 * 1024)\n    i += 1"
    with pytest.raises(ToolException, match=r"disk limit .*16 MB"):
        run_code(src, disk_mb=16, isolation="bwrap")


# -- availability and registration -----------------------------------------------------------------
@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_find_bwrap", lambda: None)
    monkeypatch.delenv(ISOLATION_ENV, raising=False)


@pytest.mark.usefixtures("no_bwrap")
def test_unavailable_sandbox_is_reported_and_code_is_not_registered() -> None:
    ok, reason = sandbox_available()
    assert not ok and "bubblewrap" in reason
    with pytest.warns(UserWarning, match="Code tool is not registered: bubblewrap"):
        assert code_tools(timeout_s=2) == []
    with pytest.raises(SandboxUnavailableError, match="not installed"):
        CodeTool().invoke({"pseudo_code": "1"})


@pytest.mark.usefixtures("no_bwrap")
def test_process_mode_is_an_explicit_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings.resetwarnings()
    with pytest.warns(UserWarning, match="not a security boundary"):
        (tool,) = code_tools(isolation="process", timeout_s=2)
    assert tool.isolation == "process" and tool.timeout_s == 2
    monkeypatch.setenv(ISOLATION_ENV, "process")
    with pytest.warns(UserWarning, match="not a security boundary"):
        (tool,) = code_tools()
    assert tool.isolation == "process"
    assert tool.invoke({"pseudo_code": "6 * 7"}) == "42"
    monkeypatch.setenv(ISOLATION_ENV, "chroot")
    with pytest.raises(ValueError, match=ISOLATION_ENV):
        CodeTool()


def test_failing_bwrap_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox, "_find_bwrap", lambda: str(fake))
    ok, reason = sandbox_available()
    assert not ok and "self-test failed" in reason and "Permission denied" in reason


@needs_bwrap
def test_available_sandbox_registers_code() -> None:
    (tool,) = code_tools(timeout_s=3)
    assert isinstance(tool, CodeTool) and tool.isolation == "bwrap" and tool.timeout_s == 3


def test_child_is_a_real_module() -> None:
    child = Path(sandbox.__file__).with_name("_sandbox_child.py")
    text = child.read_text()
    assert "def main(argv: list[str])" in text
    assert os.access(child, os.R_OK)


def test_user_code_cannot_import_the_package_modules(isolation: str) -> None:
    # `import code` must be the standard library's, not langchain_lumos/tools/code.py.
    out = run_code("import code, sys\nprint(code.__file__, sys.path)", isolation=isolation)  # type: ignore[arg-type]
    assert "langchain_lumos" not in out
