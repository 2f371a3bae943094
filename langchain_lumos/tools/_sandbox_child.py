"""The program the `Code` sandbox runs: apply limits and guards, then run the user's code.

This file is executed by path in a fresh interpreter (`python -I -S <this file> ...` inside the
bubblewrap sandbox, `python -I <this file> ...` in the weaker process mode); it is never imported
by the package and imports only the standard library. Arguments (all positional):

1. the number of an open, writable descriptor for the result record (see below);
2. the address-space limit in MB, 3. the CPU-time limit in seconds, 4. the file-size limit in MB,
5. the process-count limit (`RLIMIT_NPROC`; `0` leaves it unchanged).

The user's code is read from stdin. The working directory is set by the caller.

The result is one JSON object written to the result descriptor just before exit, e.g.
`{"status": "error", "type": "ZeroDivisionError", "message": "...", "line": 2}` or
`{"status": "ok"}`. Output goes to stdout as usual (when nothing was printed, the `repr` of the
last expression, `str` values as-is). The record never travels on stdout/stderr, so text printed
by the user's code cannot be mistaken for it; the caller still validates the record, since the
user's code runs in this process and could write to the descriptor itself.

The audit hook installed here is an extra layer, not the boundary: Python code in the same
process can disable it. The boundary is the operating system's (namespaces, an unprivileged
user, resource limits) set up by `langchain_lumos.tools.sandbox`.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import resource
import sys
import sysconfig
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

_MB = 1024 * 1024
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_BLOCKED_PREFIXES = (
    "socket.",
    "subprocess.",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.kill",
    "os.killpg",
    "os.startfile",
    "ctypes.",
    "pty.",
    "os.setuid",
    "os.setgid",
    "resource.setrlimit",
    "resource.prlimit",
    "sys.remote_exec",
    "sys.unraisablehook",
    "webbrowser.",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "imaplib.",
    "poplib.",
    "nntplib.",
    "telnetlib.",
    "sqlite3.",
)
_BLOCKED_IMPORTS = frozenset(
    {
        "_posixsubprocess",
        "multiprocessing",
        "_multiprocessing",
        "pty",
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "select",
        "selectors",
        "asyncio",
        "signal",
        "_signal",
        "faulthandler",
        "sqlite3",
        "_sqlite3",
    }
)
_PATH_EVENTS = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.mkdir",
        "os.rmdir",
        "os.chmod",
        "os.chown",
        "os.link",
        "os.symlink",
        "os.truncate",
        "os.utime",
        "os.chdir",
        "os.chflags",
        "os.lchflags",
        "os.mkfifo",
        "os.mknod",
        "os.removexattr",
        "os.setxattr",
        "shutil.rmtree",
        "shutil.copyfile",
        "shutil.copytree",
        "shutil.move",
        "shutil.chown",
        "shutil.make_archive",
        "shutil.unpack_archive",
    }
)
_READ_EVENTS = frozenset(
    {"os.listdir", "os.scandir", "glob.glob", "glob.glob/2", "os.getxattr", "os.listxattr"}
)


def _inside(path: str, bases: tuple[str, ...]) -> bool:
    return any(path == b or path.startswith(b.rstrip("/") + "/") for b in bases)


def _deny(what: str) -> NoReturn:
    raise PermissionError("Blocked by the Lumos Code sandbox: " + what)


def _make_hook(work: str) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook: refuse file access outside `work`, processes, network and native code."""
    roots = {os.path.realpath(p) for p in [*sys.path, *sysconfig.get_paths().values()] if p}
    read_roots = (*sorted(roots), "/dev/null", "/dev/urandom", "/dev/random")

    def real(path: object) -> str | None:
        if isinstance(path, int):
            return None
        if isinstance(path, bytes):
            path = path.decode("utf-8", "surrogateescape")
        if not isinstance(path, (str, os.PathLike)):
            return None
        return os.path.realpath(os.path.join(work, os.fspath(path)))

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path = real(args[0]) if args else None
            if path is None:
                return
            mode = args[1] if len(args) > 1 else None
            flags = args[2] if len(args) > 2 else 0
            writing = bool((flags or 0) & _WRITE_FLAGS)
            writing = writing or (isinstance(mode, str) and any(c in mode for c in "wax+"))
            if _inside(path, (work,)) or (not writing and _inside(path, read_roots)):
                return
            _deny("access outside the sandbox directory: " + path)
        elif event.startswith(_BLOCKED_PREFIXES):
            _deny(event)
        elif event == "import" and args and str(args[0]).split(".")[0] in _BLOCKED_IMPORTS:
            if str(args[0]) not in sys.modules:
                _deny("import of " + str(args[0]))
        elif event in _PATH_EVENTS:
            for arg in args:
                p = real(arg)
                if p is not None and not _inside(p, (work,)):
                    _deny(event + " outside the sandbox directory: " + p)
        elif event in _READ_EVENTS:
            for arg in args[:1]:
                p = real(arg)
                if p is not None and not _inside(p, (work, *read_roots)):
                    _deny(event + " outside the sandbox directory: " + p)

    return hook


class _TrackedOut(io.TextIOBase):
    """Stdout wrapper that remembers whether anything was printed."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw
        self.used = False

    def write(self, s: str) -> int:
        if s:
            self.used = True
        return self.raw.write(s)

    def flush(self) -> None:
        self.raw.flush()

    def writable(self) -> bool:
        return True


def _set_limits(mem_mb: int, cpu_s: int, fsize_mb: int, nproc: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (mem_mb * _MB, mem_mb * _MB))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mb * _MB, fsize_mb * _MB))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _neuter_process_creation() -> None:
    """Import what libraries import at start-up, then block process creation at the C entry point."""
    for name in ("ctypes", "subprocess"):
        with contextlib.suppress(ImportError):
            __import__(name)

    def no_proc(*args: object, **kwargs: object) -> NoReturn:
        _deny("process creation")

    for modname in ("_posixsubprocess", "subprocess"):
        mod = sys.modules.get(modname)
        for attr in ("fork_exec", "_fork_exec"):
            if mod is not None and hasattr(mod, attr):
                setattr(mod, attr, no_proc)


def _neuter_network() -> None:
    import socket

    def no_net(*args: object, **kwargs: object) -> NoReturn:
        _deny("network access")

    for attr in ("socket", "create_connection", "getaddrinfo", "gethostbyname"):
        setattr(socket, attr, no_net)


def _write_record(fd: int, record: dict[str, Any]) -> None:
    data = ("\n" + json.dumps(record) + "\n").encode("utf-8")
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass


def _error_record(exc: BaseException, line: int | None) -> dict[str, Any]:
    message = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return {"status": "error", "type": type(exc).__name__, "message": message[:2000], "line": line}


def _finish(fd: int, record: dict[str, Any], code: int) -> NoReturn:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    _write_record(fd, record)
    os._exit(code)


def main(argv: list[str]) -> NoReturn:
    """Run the code read from stdin under the limits given in `argv` (see the module docstring)."""
    result_fd = int(argv[0])
    mem_mb, cpu_s, fsize_mb, nproc = (int(a) for a in argv[1:5])
    source = sys.stdin.read()
    sys.stdin = open(os.devnull)  # noqa: SIM115 - stays open for the user's code
    _neuter_process_creation()
    _neuter_network()
    sys.dont_write_bytecode = True
    _set_limits(mem_mb, cpu_s, fsize_mb, nproc)
    work = os.path.realpath(os.getcwd())
    out = _TrackedOut(sys.stdout)
    sys.stdout = out
    try:
        tree = ast.parse(source, "<code>", "exec")
    except SyntaxError as exc:
        _finish(result_fd, _error_record(exc, exc.lineno), 2)
    last: ast.Expression | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body[-1].value)
        tree.body.pop()
    body = compile(tree, "<code>", "exec")
    tail = compile(last, "<code>", "eval") if last is not None else None
    env: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    sys.addaudithook(_make_hook(work))
    try:
        exec(body, env)
        value = eval(tail, env) if tail is not None else None
        if not out.used and value is not None:
            sys.stdout.write(value if isinstance(value, str) else repr(value))
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            _finish(result_fd, {"status": "ok"}, 0)
        line = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<code>":
                line = tb.tb_lineno
            tb = tb.tb_next
        _finish(result_fd, _error_record(exc, line), 1)
    _finish(result_fd, {"status": "ok"}, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
