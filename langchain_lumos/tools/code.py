"""`Code(pseudo_code)`: run model-written Python in a sandbox.

The original Lumos listed `Code` but never implemented it. Here the code runs in a fresh
interpreter inside an operating-system sandbox (`langchain_lumos.tools.sandbox`: bubblewrap
namespaces with no network, its own process tree, a private read-only filesystem view with a
size-capped tmpfs as working directory, an unprivileged user, seccomp and resource limits). See
that module for exactly what is guaranteed and on what it relies.

Where bubblewrap is missing or fails its self-test, the toolkits do not register `Code` (they
warn, naming the reason; see `code_tools`). The weaker mode, a plain child process with
resource limits and an audit hook (not a security boundary), is opt-in only:
`CodeTool(isolation="process")`, `run_code(..., isolation="process")`, or the environment
variable `LUMOS_CODE_ISOLATION=process`; it warns when selected.

The result is the captured stdout, or, when nothing was printed, the value of the last
expression (like a REPL: `str` values as-is, other values as `repr`). Failures raise
`ToolException` with a clear message (timeout, memory, disk, the exception's last line).
"""

from __future__ import annotations

import ast
import os
import re
import signal
import warnings
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, Field, model_validator

from langchain_lumos.tools.sandbox import (
    Isolation,
    SandboxLimits,
    SandboxResult,
    arun_sandboxed,
    run_sandboxed,
    sandbox_available,
)

__all__ = ["ISOLATION_ENV", "CodeInput", "CodeTool", "arun_code", "code_tools", "run_code"]

ISOLATION_ENV = "LUMOS_CODE_ISOLATION"
"""Environment variable choosing the default isolation: `bwrap` (default) or `process` (weaker)."""

_FENCE_RE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n\s*```\s*$", re.S)
_PROCESS_WARNING = (
    "Code runs with isolation='process': resource limits and an audit hook only, which Python "
    "code can bypass. It is not a security boundary; install bubblewrap for the sandbox."
)


def _default_isolation() -> Isolation:
    value = os.environ.get(ISOLATION_ENV, "").strip().lower() or "bwrap"
    if value not in ("bwrap", "process"):
        msg = f"{ISOLATION_ENV} must be 'bwrap' or 'process', got {value!r}."
        raise ValueError(msg)
    return "process" if value == "process" else "bwrap"


def _resolve(isolation: Isolation | None) -> Isolation:
    resolved = _default_isolation() if isolation is None else isolation
    if resolved not in ("bwrap", "process"):
        msg = f"isolation must be 'bwrap' or 'process', got {resolved!r}."
        raise ValueError(msg)
    if resolved == "process":
        warnings.warn(_PROCESS_WARNING, UserWarning, stacklevel=3)
    return resolved


class CodeInput(BaseModel):
    """Arguments of `Code`."""

    pseudo_code: str = Field(
        description="Python code to run; printed output (or the last expression) is returned."
    )


def _limits(
    timeout_s: float, memory_mb: int, max_output_chars: int, disk_mb: int = 64
) -> tuple[SandboxLimits, int]:
    if max_output_chars < 1:
        msg = "Code limits need max_output_chars >= 1."
        raise ValueError(msg)
    return SandboxLimits(timeout_s=float(timeout_s), memory_mb=int(memory_mb), disk_mb=int(disk_mb)), int(
        max_output_chars
    )


def _prepare(source: str) -> str:
    """Strip Markdown fences and check the syntax (parsing only; nothing is executed here)."""
    if not isinstance(source, str) or not source.strip():
        msg = "Code got no code to run."
        raise ToolException(msg)
    fenced = _FENCE_RE.match(source)
    if fenced:
        source = fenced.group(1)
    try:
        ast.parse(source, "<code>", "exec")
    except SyntaxError as exc:
        msg = (
            f"The code is not valid Python: SyntaxError: {exc.msg} (line {exc.lineno}). "
            "Write runnable Python, not pseudo-code."
        )
        raise ToolException(msg) from exc
    except (RecursionError, MemoryError) as exc:  # e.g. 50,000 chained operators
        msg = "The code is too deeply nested to parse; write it as shorter statements."
        raise ToolException(msg) from exc
    except ValueError as exc:  # e.g. a NUL byte in the source
        msg = f"The code is not valid Python: {exc}."
        raise ToolException(msg) from exc
    return source


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _interpret(result: SandboxResult, lim: SandboxLimits, max_output_chars: int) -> str:
    """Turn what the child left into the tool's output or a `ToolException` (never anything else)."""
    if result.timed_out:
        msg = f"Code timed out after {lim.timeout_s:g} s."
        raise ToolException(msg)
    record = result.record
    error = record if record is not None and record.get("status") == "error" else None
    message = str(error.get("message", "")) if error is not None else ""
    if result.returncode == 0 and record is not None and error is None:
        out = result.stdout.rstrip("\n")
        if len(out) > max_output_chars:
            out = out[:max_output_chars] + f"\n... [output truncated to {max_output_chars} characters]"
        return out
    if (error is not None and error.get("type") == "MemoryError") or (
        record is None and "MemoryError" in _last_line(result.stderr)
    ):
        msg = f"Code exceeded the memory limit ({lim.memory_mb} MB)."
        raise ToolException(msg)
    if result.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and record is None:
        msg = f"Code exceeded the CPU time limit ({lim.cpu_s} s) or was killed for its memory use."
        raise ToolException(msg)
    if result.returncode == -signal.SIGXFSZ or "File too large" in message:
        msg = f"Code exceeded the output/file size limit ({lim.file_mb} MB)."
        raise ToolException(msg)
    if "No space left on device" in message:
        msg = f"Code exceeded the disk limit of its working directory ({lim.disk_mb} MB)."
        raise ToolException(msg)
    if error is not None:
        line = error.get("line")
        where = f" (line {line})" if isinstance(line, int) and line > 0 else ""
        msg = f"Code failed: {message}{where}"
        raise ToolException(msg)
    tail = _last_line(result.stderr) or f"exit status {result.returncode}"
    msg = f"Code failed: {tail}"
    raise ToolException(msg)


def run_code(
    source: str,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    max_output_chars: int = 10_000,
    disk_mb: int = 64,
    isolation: Isolation | None = None,
) -> str:
    """Run Python source in the sandbox and return its output.

    Args:
        source: Python code (Markdown fences are stripped).
        timeout_s: Wall-clock limit in seconds.
        memory_mb: Address-space limit in MB.
        max_output_chars: Longer output is truncated.
        disk_mb: Total size of the working directory in MB (bubblewrap sandbox only).
        isolation: `"bwrap"` (the operating-system sandbox) or `"process"` (weaker, warns);
            default: the `LUMOS_CODE_ISOLATION` environment variable, else `"bwrap"`.

    Returns:
        The printed output, or the last expression's value when nothing was printed ("" if none).

    Raises:
        ToolException: Invalid Python, timeout, a resource limit, or an exception in the code.
        SandboxUnavailableError: The bubblewrap sandbox does not work on this machine.
    """
    lim, max_chars = _limits(timeout_s, memory_mb, max_output_chars, disk_mb)
    mode = _resolve(isolation)
    source = _prepare(source)
    return _interpret(run_sandboxed(source, lim, mode), lim, max_chars)


async def arun_code(
    source: str,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    max_output_chars: int = 10_000,
    disk_mb: int = 64,
    isolation: Isolation | None = None,
) -> str:
    """Async `run_code` (an asyncio subprocess; the event loop is never blocked)."""
    lim, max_chars = _limits(timeout_s, memory_mb, max_output_chars, disk_mb)
    mode = _resolve(isolation)
    source = _prepare(source)
    return _interpret(await arun_sandboxed(source, lim, mode), lim, max_chars)


class CodeTool(BaseTool):
    """Lumos `Code(pseudo_code)`: run Python in the sandbox.

    `isolation` defaults to the `LUMOS_CODE_ISOLATION` environment variable, else `"bwrap"`
    (the operating-system sandbox; running raises `SandboxUnavailableError` where it does not
    work). `"process"` opts in to the weaker in-process limits and warns.

    Example:
        >>> CodeTool().invoke({"pseudo_code": "sum(range(10))"})  # doctest: +SKIP
        '45'
    """

    name: str = "Code"
    description: str = (
        "Run Python code in a sandbox (standard library only, no network, no files outside a "
        "temporary directory, time and memory limits). Returns the printed output, or the last "
        "expression's value."
    )
    args_schema: type[BaseModel] = CodeInput
    handle_tool_error: bool = False
    timeout_s: float = 5.0
    """Wall-clock limit per run, in seconds."""
    memory_mb: int = 512
    """Address-space limit per run, in MB."""
    max_output_chars: int = 10_000
    """Longer output is truncated."""
    disk_mb: int = 64
    """Total size of the working directory, in MB (bubblewrap sandbox only)."""
    isolation: Isolation = Field(default_factory=_default_isolation)
    """`"bwrap"` (operating-system sandbox) or `"process"` (weaker, opt-in)."""

    @model_validator(mode="after")
    def _check(self) -> CodeTool:
        _limits(self.timeout_s, self.memory_mb, self.max_output_chars, self.disk_mb)
        if self.isolation == "process":
            warnings.warn(_PROCESS_WARNING, UserWarning, stacklevel=2)
        return self

    def _run(self, pseudo_code: str, run_manager: CallbackManagerForToolRun | None = None) -> str:
        lim, max_chars = _limits(self.timeout_s, self.memory_mb, self.max_output_chars, self.disk_mb)
        source = _prepare(pseudo_code)
        return _interpret(run_sandboxed(source, lim, self.isolation), lim, max_chars)

    async def _arun(self, pseudo_code: str, run_manager: AsyncCallbackManagerForToolRun | None = None) -> str:
        lim, max_chars = _limits(self.timeout_s, self.memory_mb, self.max_output_chars, self.disk_mb)
        source = _prepare(pseudo_code)
        return _interpret(await arun_sandboxed(source, lim, self.isolation), lim, max_chars)


def code_tools(**kwargs: Any) -> list[CodeTool]:
    """The `Code` tool a toolkit should register: `[CodeTool(**kwargs)]`, or `[]` with a warning.

    Returns the tool when the bubblewrap sandbox works here, or when the weaker mode was chosen
    explicitly (`isolation="process"` or `LUMOS_CODE_ISOLATION=process`). Otherwise warns with
    the reason (from `sandbox_available`) and returns an empty list: the toolkit leaves `Code` out.

    Args:
        **kwargs: `CodeTool` fields (`timeout_s`, `memory_mb`, `isolation`, ...).

    Returns:
        Zero or one tool, to splice into a toolkit's list (`[..., *code_tools(), ...]`).
    """
    isolation = kwargs.get("isolation") or _default_isolation()
    if isolation != "process":
        ok, reason = sandbox_available()
        if not ok:
            warnings.warn(
                f"The Code tool is not registered: {reason}. Install bubblewrap, or opt in to the "
                f"weaker in-process limits with {ISOLATION_ENV}=process or CodeTool(isolation='process').",
                UserWarning,
                stacklevel=2,
            )
            return []
    return [CodeTool(**{**kwargs, "isolation": isolation})]
