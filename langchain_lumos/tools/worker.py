"""Run CPU-heavy tool work in a killable worker process, under a deadline.

A SymPy call on model-written input can run for hours (`SolveEquation` of a degree-36
system, a huge exact power); a thread cannot be stopped. `call_with_deadline(func, *args,
timeout_s=...)` runs a module-level function in a worker process (`python -m
langchain_lumos.tools.worker`, started on first use and then reused) and kills that worker
when the deadline passes, raising `ToolException`. Workers are pooled, so concurrent calls
each get their own; a killed worker is replaced by a fresh one on the next call.

Where no worker process can be started (no `fork`/`exec`, a non-POSIX system), the call runs
in the calling process without a deadline, with a one-time warning.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar, cast

from langchain_core.tools import ToolException

__all__ = ["call_with_deadline", "shutdown_workers"]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)
_HEADER = 8
_MAX_IDLE = 4
_STARTUP_TIMEOUT_S = 120.0
_MEMORY_LIMIT = 4 * 1024**3
"""Address-space cap of a worker (bytes): a runaway computation fails instead of swapping."""


class _Worker:
    def __init__(self, preload: str) -> None:
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": path}
        safe_path = ["-P"] if sys.version_info >= (3, 11) else []  # no cwd on sys.path
        self.proc = subprocess.Popen(
            [sys.executable, *safe_path, "-m", "langchain_lumos.tools.worker", preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        try:  # start-up (imports) does not count against a call's deadline
            self._read(cast(BinaryIO, self.proc.stdout), 1, time.monotonic() + _STARTUP_TIMEOUT_S)
        except (TimeoutError, EOFError) as exc:
            self.kill()
            msg = "the worker process did not start"
            raise OSError(msg) from exc

    def call(self, payload: bytes, timeout_s: float) -> tuple[bool, Any]:
        """Send one call and wait for its answer; raises TimeoutError or EOFError."""
        stdin, stdout = cast(BinaryIO, self.proc.stdin), cast(BinaryIO, self.proc.stdout)
        stdin.write(len(payload).to_bytes(_HEADER, "big") + payload)
        stdin.flush()
        deadline = time.monotonic() + timeout_s
        header = self._read(stdout, _HEADER, deadline)
        return cast(
            tuple[bool, Any], pickle.loads(self._read(stdout, int.from_bytes(header, "big"), deadline))
        )

    @staticmethod
    def _read(stream: BinaryIO, size: int, deadline: float) -> bytes:
        fd = stream.fileno()
        data = bytearray()
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return bytes(data)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover - already gone
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


_idle: list[_Worker] = []
_lock = threading.Lock()
_warned = False


def _acquire(preload: str) -> _Worker | None:
    global _warned
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.proc.poll() is None:
                return worker
            worker.kill()
    if os.name != "posix":
        return None
    try:
        return _Worker(preload)
    except OSError as exc:
        if not _warned:
            _warned = True
            _log.warning("No worker process could be started (%s); tools run without a deadline.", exc)
        return None


def _release(worker: _Worker) -> None:
    with _lock:
        if len(_idle) < _MAX_IDLE:
            _idle.append(worker)
            return
    worker.kill()


def shutdown_workers() -> None:
    """Stop every idle worker process (they are also stopped when the interpreter exits)."""
    with _lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.kill()


atexit.register(shutdown_workers)


def call_with_deadline(func: Callable[..., _T], *args: Any, timeout_s: float | None, what: str = "") -> _T:
    """`func(*args)` in a worker process, killed after `timeout_s` seconds.

    Args:
        func: A module-level function (it is imported by name in the worker); its arguments
            and result must be picklable.
        *args: Its arguments.
        timeout_s: The deadline; `None` runs `func` here, without one.
        what: How to name the computation in the timeout message (e.g. the action text).

    Returns:
        What `func` returned.

    Raises:
        ToolException: When the deadline passes (the worker is killed) or the worker dies.
        Exception: Whatever `func` raised, re-raised here.
    """
    if timeout_s is None:
        return func(*args)
    if timeout_s <= 0:
        msg = "timeout_s must be positive or None."
        raise ValueError(msg)
    worker = _acquire(func.__module__)
    if worker is None:
        return func(*args)
    payload = pickle.dumps((func.__module__, func.__qualname__, args))
    label = f" ({what})" if what else ""
    try:
        ok, value = worker.call(payload, timeout_s)
    except TimeoutError:
        worker.kill()
        msg = f"The computation{label} took longer than {timeout_s:g} s and was stopped."
        raise ToolException(msg) from None
    except (EOFError, OSError, pickle.UnpicklingError) as exc:
        worker.kill()
        msg = f"The computation{label} failed: its worker process died (out of memory?)."
        raise ToolException(msg) from exc
    _release(worker)
    if ok:
        return cast(_T, value)
    raise cast(BaseException, value)


def _serve() -> None:  # pragma: no cover - runs in the worker process
    """Worker main loop: read length-prefixed pickled calls on stdin, answer on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT, _MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass
    for module in sys.argv[1:]:
        importlib.import_module(module)
    stdout.write(b"R")
    stdout.flush()
    while True:
        header = stdin.read(_HEADER)
        if len(header) < _HEADER:
            return
        module, name, args = pickle.loads(stdin.read(int.from_bytes(header, "big")))
        try:
            target: Any = importlib.import_module(module)
            for part in name.split("."):
                target = getattr(target, part)
            result: tuple[bool, Any] = (True, target(*args))
        except MemoryError:
            result = (False, ToolException("The computation ran out of memory."))
        except Exception as exc:
            result = (False, exc)
        try:
            data = pickle.dumps(result)
        except Exception:
            data = pickle.dumps((False, ToolException(repr(result[1])[:2000])))
        stdout.write(len(data).to_bytes(_HEADER, "big") + data)
        stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    _serve()
