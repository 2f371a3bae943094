"""``Code(pseudo_code)``: run model-written Python in a sandboxed child process.

The original Lumos listed ``Code`` but never implemented it. Here the code runs in a fresh
``python -I`` child process with, in layers:

* **time**: a wall-clock limit (default 5 s); the child runs in its own session and the whole
  process group is killed with ``SIGKILL`` on expiry; plus ``RLIMIT_CPU``.
* **memory**: ``RLIMIT_AS`` (default 512 MB); a ``MemoryError`` is reported as such.
* **files**: the working directory is a fresh temporary directory, removed afterwards; the
  environment is cleared; ``RLIMIT_FSIZE`` caps every file (and the captured output); an audit
  hook (``sys.addaudithook``) refuses ``open``/``os.*`` file operations outside that directory,
  except *reads* of Python's own stdlib/site-packages (so ``import math``/``numpy`` work).
* **processes and network**: the audit hook refuses ``subprocess``, ``os.system``, ``os.exec*``,
  ``os.fork``, ``os.kill``, ``ctypes`` and every ``socket.*`` event; ``socket.socket``,
  ``socket.create_connection`` and ``socket.getaddrinfo`` are also replaced by functions that
  raise. Network namespaces (``unshare``) are not used: they need privileges that are not
  reliably available.

The limits are set by the child's bootstrap before any user code runs (rather than in a
``preexec_fn``, which is unsafe in multi-threaded parents such as LangChain's executors).
Audit hooks are defence in depth, not a perfect boundary (the Python docs say so): for
untrusted multi-tenant use, also run the agent in a container.

The result is the captured stdout, or, when nothing was printed, the value of the last
expression (like a REPL: ``str`` values as-is, other values as ``repr``). Failures raise
``ToolException`` with a clear message (timeout, memory, the exception's last traceback line).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, Field

__all__ = ["CodeInput", "CodeTool", "arun_code", "run_code"]

_ERROR_MARK = "\x00LUMOS_CODE_ERROR\x00"
_FENCE_RE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n\s*```\s*$", re.S)

# Bootstrap executed by the child (`python -I -c _BOOTSTRAP work mem_mb cpu_s fsize_mb`).
# It reads the user code from stdin, applies limits, installs the guards, then runs the code.
_BOOTSTRAP = r"""
import sys, os, resource
def _lumos_main():
    work = sys.argv[1]
    mem_mb, cpu_s, fsize_mb = (int(a) for a in sys.argv[2:5])
    src = sys.stdin.read()
    sys.stdin = open(os.devnull)
    mark = "\x00LUMOS_CODE_ERROR\x00"
    import ast, json, traceback, builtins, io, sysconfig
    # Libraries such as numpy and sympy import ctypes/subprocess: load them before the guards
    # (ctypes dlopens at import), then neuter process creation at the C entry point too.
    for name in ("ctypes", "subprocess"):
        try:
            __import__(name)
        except ImportError:
            pass
    def _no_proc(*a, **k):
        raise PermissionError("Blocked by the Lumos Code sandbox: process creation")
    for modname in ("_posixsubprocess", "subprocess"):
        mod = sys.modules.get(modname)
        for attr in ("fork_exec", "_fork_exec"):
            if mod is not None and hasattr(mod, attr):
                setattr(mod, attr, _no_proc)
    sys.dont_write_bytecode = True
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem_mb * mb, mem_mb * mb))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mb * mb, fsize_mb * mb))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir(work)
    work = os.path.realpath(work)
    roots = set()
    for p in list(sys.path) + list(sysconfig.get_paths().values()):
        if p:
            roots.add(os.path.realpath(p))
    read_roots = tuple(sorted(roots)) + ("/dev/null", "/dev/urandom", "/dev/random")
    def inside(path, bases):
        for b in bases:
            if path == b or path.startswith(b.rstrip("/") + "/"):
                return True
        return False
    def real(path):
        if isinstance(path, int):
            return None
        if isinstance(path, bytes):
            path = path.decode("utf-8", "surrogateescape")
        path = os.fspath(path)
        return os.path.realpath(os.path.join(work, path))
    W = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    blocked_prefixes = ("socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn",
                        "os.fork", "os.forkpty", "os.system", "os.kill", "os.killpg",
                        "os.startfile", "ctypes.", "pty.", "os.setuid", "os.setgid",
                        "resource.setrlimit", "resource.prlimit", "sys.remote_exec",
                        "sys.unraisablehook", "webbrowser.", "urllib.", "http.", "ftplib.",
                        "smtplib.", "imaplib.", "poplib.", "nntplib.", "telnetlib.")
    blocked_imports = {"_posixsubprocess", "multiprocessing",
                       "_multiprocessing", "pty", "socket", "_socket", "ssl", "_ssl", "select",
                       "selectors", "asyncio", "signal", "faulthandler"}
    path_events = {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod", "os.chown",
                   "os.link", "os.symlink", "os.truncate", "os.utime", "os.chdir", "os.chflags",
                   "os.lchflags", "os.mkfifo", "os.mknod", "os.removexattr", "os.setxattr",
                   "shutil.rmtree", "shutil.copyfile", "shutil.copytree", "shutil.move",
                   "shutil.chown", "shutil.make_archive", "shutil.unpack_archive"}
    read_events = {"os.listdir", "os.scandir", "glob.glob", "glob.glob/2", "os.getxattr",
                   "os.listxattr"}
    def deny(what):
        raise PermissionError("Blocked by the Lumos Code sandbox: " + what)
    def hook(event, args):
        if event == "open":
            path = real(args[0]) if args else None
            if path is None:
                return
            mode, flags = (args[1] if len(args) > 1 else None), (args[2] if len(args) > 2 else 0)
            writing = bool((flags or 0) & W)
            writing = writing or (isinstance(mode, str) and any(c in mode for c in "wax+"))
            if inside(path, (work,)):
                return
            if not writing and inside(path, read_roots):
                return
            deny("access outside the sandbox directory: " + path)
        elif event.startswith(blocked_prefixes):
            deny(event)
        elif event == "import" and args and str(args[0]).split(".")[0] in blocked_imports:
            if str(args[0]) not in sys.modules:
                deny("import of " + str(args[0]))
        elif event in path_events:
            for a in args:
                if isinstance(a, (str, bytes, os.PathLike)):
                    p = real(a)
                    if p is not None and not inside(p, (work,)):
                        deny(event + " outside the sandbox directory: " + p)
        elif event in read_events:
            for a in args[:1]:
                if isinstance(a, (str, bytes, os.PathLike)):
                    p = real(a)
                    if p is not None and not inside(p, (work,) + read_roots):
                        deny(event + " outside the sandbox directory: " + p)
    import socket as _socket_mod
    def _no_net(*a, **k):
        raise PermissionError("Blocked by the Lumos Code sandbox: network access")
    _socket_mod.socket = _no_net
    _socket_mod.create_connection = _no_net
    _socket_mod.getaddrinfo = _no_net
    _socket_mod.gethostbyname = _no_net
    class _Out(io.TextIOBase):
        def __init__(self, raw):
            self.raw, self.used = raw, False
        def write(self, s):
            if s:
                self.used = True
            return self.raw.write(s)
        def flush(self):
            self.raw.flush()
        def writable(self):
            return True
    out = _Out(sys.stdout)
    sys.stdout = out
    def report(exc, lineno):
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        sys.stdout.flush()
        info = {"type": type(exc).__name__, "message": line, "line": lineno}
        sys.stderr.write("\n" + mark + json.dumps(info) + "\n")
        sys.stderr.flush()
    try:
        tree = ast.parse(src, "<code>", "exec")
    except SyntaxError as exc:
        report(exc, exc.lineno)
        sys.exit(2)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, "<code>", "exec")
    tail = compile(last, "<code>", "eval") if last is not None else None
    env = {"__name__": "__main__", "__builtins__": builtins}
    sys.addaudithook(hook)
    del hook
    try:
        exec(body, env)
        value = eval(tail, env) if tail is not None else None
        if not out.used and value is not None:
            sys.stdout.write(value if isinstance(value, str) else repr(value))
    except BaseException as exc:
        lineno = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<code>":
                lineno = tb.tb_lineno
            tb = tb.tb_next
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            sys.stdout.flush()
            os._exit(0)
        report(exc, lineno)
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)
_lumos_main()
"""


class CodeInput(BaseModel):
    """Arguments of ``Code``."""

    pseudo_code: str = Field(
        description="Python code to run; printed output (or the last expression) is returned."
    )


@dataclass(frozen=True)
class _Limits:
    timeout_s: float
    memory_mb: int
    cpu_s: int
    file_mb: int
    max_output_chars: int


def _limits(timeout_s: float, memory_mb: int, file_mb: int = 16, max_output_chars: int = 10_000) -> _Limits:
    if timeout_s <= 0 or memory_mb < 64 or file_mb < 1 or max_output_chars < 1:
        msg = "Code limits need timeout_s > 0, memory_mb >= 64, file_mb >= 1, max_output_chars >= 1."
        raise ValueError(msg)
    return _Limits(
        timeout_s=float(timeout_s),
        memory_mb=int(memory_mb),
        cpu_s=int(timeout_s) + 1,
        file_mb=int(file_mb),
        max_output_chars=int(max_output_chars),
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
    return source


def _command(work: str, lim: _Limits) -> list[str]:
    return [
        sys.executable,
        "-I",
        "-c",
        _BOOTSTRAP,
        work,
        str(lim.memory_mb),
        str(lim.cpu_s),
        str(lim.file_mb),
    ]


def _env(work: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _interpret(returncode: int, out: str, err: str, lim: _Limits, timed_out: bool) -> str:
    if timed_out:
        msg = f"Code timed out after {lim.timeout_s:g} s."
        raise ToolException(msg)
    info: dict[str, Any] | None = None
    if _ERROR_MARK in err:
        with contextlib.suppress(ValueError):
            info = json.loads(err.rsplit(_ERROR_MARK, 1)[1].strip().splitlines()[0])
    if returncode == 0 and info is None:
        out = out.rstrip("\n")
        if len(out) > lim.max_output_chars:
            out = (
                out[: lim.max_output_chars] + f"\n... [output truncated to {lim.max_output_chars} characters]"
            )
        return out
    if (info and info.get("type") == "MemoryError") or (info is None and "MemoryError" in err):
        msg = f"Code exceeded the memory limit ({lim.memory_mb} MB)."
        raise ToolException(msg)
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL) and info is None:
        msg = f"Code exceeded the CPU time limit ({lim.cpu_s} s) or was killed for its memory use."
        raise ToolException(msg)
    if returncode == -signal.SIGXFSZ or (info and "File too large" in str(info.get("message"))):
        msg = f"Code exceeded the output/file size limit ({lim.file_mb} MB)."
        raise ToolException(msg)
    if info is not None:
        where = f" (line {info['line']})" if info.get("line") else ""
        msg = f"Code failed: {info.get('message')}{where}"
        raise ToolException(msg)
    tail = err.strip().splitlines()[-1] if err.strip() else f"exit status {returncode}"
    msg = f"Code failed: {tail}"
    raise ToolException(msg)


def _read(path: str) -> str:
    with open(path, "rb") as fh:
        return fh.read(64 * 1024 * 1024).decode("utf-8", "replace")


def run_code(
    source: str, *, timeout_s: float = 5.0, memory_mb: int = 512, max_output_chars: int = 10_000
) -> str:
    """Run Python source in the sandbox and return its output.

    Args:
        source: Python code (Markdown fences are stripped).
        timeout_s: Wall-clock limit in seconds.
        memory_mb: Address-space limit in MB.
        max_output_chars: Longer output is truncated.

    Returns:
        The printed output, or the last expression's value when nothing was printed ("" if none).

    Raises:
        ToolException: Invalid Python, timeout, memory limit, or an exception in the code.
    """
    lim = _limits(timeout_s, memory_mb, max_output_chars=max_output_chars)
    source = _prepare(source)
    with tempfile.TemporaryDirectory(prefix="lumos_code_", ignore_cleanup_errors=True) as outer:
        work = os.path.join(outer, "work")
        os.mkdir(work, 0o700)
        out_path, err_path = os.path.join(outer, "out"), os.path.join(outer, "err")
        timed_out = False
        with open(out_path, "wb") as out_fh, open(err_path, "wb") as err_fh:
            proc = subprocess.Popen(
                _command(work, lim),
                stdin=subprocess.PIPE,
                stdout=out_fh,
                stderr=err_fh,
                cwd=work,
                env=_env(work),
                start_new_session=True,
                close_fds=True,
            )
            try:
                proc.communicate(source.encode("utf-8"), timeout=lim.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
            finally:
                _kill_group(proc.pid)
        return _interpret(proc.returncode, _read(out_path), _read(err_path), lim, timed_out)


async def arun_code(
    source: str, *, timeout_s: float = 5.0, memory_mb: int = 512, max_output_chars: int = 10_000
) -> str:
    """Async :func:`run_code` (a real asyncio subprocess; the event loop is never blocked)."""
    lim = _limits(timeout_s, memory_mb, max_output_chars=max_output_chars)
    source = _prepare(source)
    with tempfile.TemporaryDirectory(prefix="lumos_code_", ignore_cleanup_errors=True) as outer:
        work = os.path.join(outer, "work")
        os.mkdir(work, 0o700)
        out_path, err_path = os.path.join(outer, "out"), os.path.join(outer, "err")
        timed_out = False
        with open(out_path, "wb") as out_fh, open(err_path, "wb") as err_fh:
            proc = await asyncio.create_subprocess_exec(
                *_command(work, lim),
                stdin=asyncio.subprocess.PIPE,
                stdout=out_fh,
                stderr=err_fh,
                cwd=work,
                env=_env(work),
                start_new_session=True,
                close_fds=True,
            )
            try:
                await asyncio.wait_for(proc.communicate(source.encode("utf-8")), lim.timeout_s)
            except asyncio.TimeoutError:
                timed_out = True
                _kill_group(proc.pid)
                await proc.wait()
            finally:
                _kill_group(proc.pid)
        returncode = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        return _interpret(returncode, _read(out_path), _read(err_path), lim, timed_out)


class CodeTool(BaseTool):
    """Lumos ``Code(pseudo_code)``: run Python in a sandboxed subprocess.

    Example:
        >>> CodeTool().invoke({"pseudo_code": "sum(range(10))"})
        '45'
    """

    name: str = "Code"
    description: str = (
        "Run Python code in a sandbox (no network, no files outside a temporary directory, "
        "time and memory limits). Returns the printed output, or the last expression's value."
    )
    args_schema: type[BaseModel] = CodeInput
    handle_tool_error: bool = False
    timeout_s: float = 5.0
    """Wall-clock limit per run, in seconds."""
    memory_mb: int = 512
    """Address-space limit per run, in MB."""
    max_output_chars: int = 10_000
    """Longer output is truncated."""

    def _run(self, pseudo_code: str, run_manager: CallbackManagerForToolRun | None = None) -> str:
        return run_code(
            pseudo_code,
            timeout_s=self.timeout_s,
            memory_mb=self.memory_mb,
            max_output_chars=self.max_output_chars,
        )

    async def _arun(self, pseudo_code: str, run_manager: AsyncCallbackManagerForToolRun | None = None) -> str:
        return await arun_code(
            pseudo_code,
            timeout_s=self.timeout_s,
            memory_mb=self.memory_mb,
            max_output_chars=self.max_output_chars,
        )
