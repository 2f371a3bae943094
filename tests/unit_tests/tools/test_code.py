from __future__ import annotations

import pytest
from langchain_core.tools import ToolException

from langchain_lumos.tools.code import CodeTool, arun_code, run_code


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
    ],
)
def test_code_values(source: str, expected: str) -> None:
    assert run_code(source) == expected


def test_code_tool_invoke() -> None:
    tool = CodeTool()
    assert tool.name == "Code"
    assert tool.invoke({"pseudo_code": "def f(n):\n    return n * n\nf(12)"}) == "144"


async def test_code_tool_async() -> None:
    assert await CodeTool().ainvoke({"pseudo_code": "print(2 ** 10)"}) == "1024"
    with pytest.raises(ToolException, match="timed out after 1 s"):
        await arun_code("while True:\n    pass", timeout_s=1)


def test_code_timeout() -> None:
    with pytest.raises(ToolException, match="Code timed out after 1 s"):
        run_code("while True:\n    pass", timeout_s=1)


def test_code_memory_limit() -> None:
    with pytest.raises(ToolException, match="memory limit"):
        run_code("x = bytearray(10 * 1024 ** 3)")


def test_code_gradual_memory_limit() -> None:
    with pytest.raises(ToolException, match="memory limit"):
        run_code("chunks = []\nwhile True:\n    chunks.append(' ' * 10 ** 7)", memory_mb=256)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("open('/etc/passwd').read()", "outside the sandbox"),
        ("open('../escape.txt', 'w').write('x')", "outside the sandbox"),
        ("import os\nos.listdir('/')", "outside the sandbox"),
        ("import os\nos.remove('/tmp/anything')", "outside the sandbox"),
        ("import socket\nsocket.socket()", "network"),
        ("import socket\nsocket.create_connection(('example.com', 80))", "network"),
        ("import os\nos.system('ls')", "os.system"),
        ("import subprocess\nsubprocess.run(['ls'])", "subprocess.Popen"),
        ("import os\nos.fork()", "os.fork"),
        ("import ctypes\nctypes.CDLL(None)", "ctypes"),
    ],
)
def test_code_sandbox_blocks(source: str, match: str) -> None:
    with pytest.raises(ToolException, match=match):
        run_code(source)


def test_code_errors() -> None:
    with pytest.raises(ToolException, match=r"ZeroDivisionError: division by zero \(line 2\)"):
        run_code("x = 1\nx / 0")
    with pytest.raises(ToolException, match="not valid Python"):
        run_code("for each item in list: add item to total")
    with pytest.raises(ToolException, match="no code"):
        run_code("   ")


def test_code_env_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    out = run_code("import os\nprint(sorted(os.environ))")
    assert "SECRET_TOKEN" not in out


def test_code_output_truncated() -> None:
    out = run_code("print('x' * 50)", max_output_chars=10)
    assert out.startswith("x" * 10) and "truncated" in out


def test_code_bad_config() -> None:
    with pytest.raises(ValueError):
        run_code("1", timeout_s=0)
