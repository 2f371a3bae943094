"""An operating-system boundary for running untrusted Python: the sandbox behind `Code`.

`run_sandboxed` runs `_sandbox_child.py` (a real module, executed by path) on the user's code,
either inside a [bubblewrap](https://github.com/containers/bubblewrap) sandbox (`isolation="bwrap"`,
the default) or as a plain child process with in-process guards (`isolation="process"`, weaker,
opt-in only).

## What the bubblewrap sandbox guarantees

Enforced by the Linux kernel, not by Python code, so code running inside cannot undo it:

- **No network**: a new, empty network namespace (not even loopback is up).
- **Own process tree**: a new PID namespace; the caller and every other host process are
  invisible and cannot be signalled (`os.kill`, `pidfd_send_signal`); every process started
  inside is killed when the run ends (`--die-with-parent`, and the namespace's init exits), so
  nothing outlives the tool call, not even a `setsid` daemon.
- **Private filesystem view**: a new mount namespace holding only `/usr` and the Python
  installation, read-only, with every `site-packages`/`dist-packages` directory and this
  project's checkout hidden; a fresh `/dev` (null, zero, random, ...) read-only; and a
  size-capped tmpfs at `/tmp` as working directory. Nothing of the caller's working tree, home,
  `/etc`, environment, checkpoint or data files is present; the tmpfs vanishes with the run, so
  there is nothing to clean up on the host disk.
- **Unprivileged user**: the code runs as uid/gid 65534 with no capabilities and
  `no_new_privs`. When the caller is root, bubblewrap runs without a user namespace and
  `setpriv` drops to the real `nobody` user; otherwise a user namespace maps the caller to 65534
  and `--disable-userns` forbids nested ones.
- **Seccomp** (x86-64 only): namespace creation (`unshare`, `setns`, namespace flags of
  `clone`), `mount`, `ptrace`, `bpf`, `io_uring`, `perf_event_open`, `userfaultfd`, kernel
  keyring, module loading and similar calls fail with `EPERM`.
- **Resource limits**: address space, CPU time, file size, process count (`setrlimit`, set
  before the user's code runs, soft and hard), a total size for the tmpfs, and a wall-clock
  timeout after which the whole sandbox is killed.

It relies on: Linux with bubblewrap (`bwrap`, Debian/Ubuntu package `bubblewrap`), either
unprivileged user namespaces or running as root (then `setpriv` from util-linux), and the
kernel's namespace, rlimit and seccomp implementation. `sandbox_available` checks all of this by
running a self-test once per process; where it fails, the toolkits leave `Code` out.

## Process mode

`isolation="process"` is the fallback for machines without bubblewrap: a child `python -I` with
the same resource limits, a fresh temporary working directory on the host and an audit hook that
refuses file access outside it, process creation, network and `ctypes`. An audit hook is not a
security boundary (Python code in the same process can disable it), there is no total disk cap
and the child runs as the caller's user: use it only for trusted or already-contained code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import platform
import secrets
import shutil
import signal
import site
import struct
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Isolation",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailableError",
    "arun_sandboxed",
    "remove_tree",
    "run_sandboxed",
    "sandbox_available",
]

Isolation = Literal["bwrap", "process"]
"""`"bwrap"`: the operating-system sandbox (default). `"process"`: in-process guards only."""

_CHILD = Path(__file__).with_name("_sandbox_child.py")
_CHILD_IN_SANDBOX = "/lumos/child.py"
_WORK_IN_SANDBOX = "/tmp"
_SANDBOX_UID = 65534
_MAX_READ = 64 * 1024 * 1024
_MAX_RECORD = 1024 * 1024


class SandboxUnavailableError(RuntimeError):
    """The bubblewrap sandbox cannot run on this machine (the message says why)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run.

    Attributes:
        timeout_s: Wall-clock limit in seconds; the whole sandbox is killed on expiry.
        memory_mb: Address-space limit (`RLIMIT_AS`) in MB.
        file_mb: Size limit of any one file, stdout included (`RLIMIT_FSIZE`), in MB.
        disk_mb: Total size of the working directory (the tmpfs), in MB (bwrap only).
        max_processes: Process and thread limit (`RLIMIT_NPROC`, bwrap only).
    """

    timeout_s: float = 5.0
    memory_mb: int = 512
    file_mb: int = 16
    disk_mb: int = 64
    max_processes: int = 16

    def __post_init__(self) -> None:
        if not (0 < self.timeout_s < 86_400 and self.memory_mb >= 64 and self.file_mb >= 1):
            msg = "Code limits need 0 < timeout_s < 86400, memory_mb >= 64 and file_mb >= 1."
            raise ValueError(msg)
        if self.disk_mb < self.file_mb or self.max_processes < 1:
            msg = "Code limits need disk_mb >= file_mb and max_processes >= 1."
            raise ValueError(msg)

    @property
    def cpu_s(self) -> int:
        """The CPU-time limit: the wall-clock limit rounded up, plus one second."""
        return int(self.timeout_s) + 1


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run left behind.

    Attributes:
        returncode: The child's exit status (negative: killed by that signal).
        stdout: Captured standard output (decoded, invalid UTF-8 replaced).
        stderr: Captured standard error.
        record: The child's validated result record (`status`, and for errors `type`,
            `message`, `line`), or `None` when it wrote none or an invalid one.
        timed_out: Whether the wall-clock limit killed the run.
        isolation: The mode it ran in.
    """

    returncode: int
    stdout: str
    stderr: str
    record: dict[str, Any] | None = None
    timed_out: bool = False
    isolation: Isolation = "bwrap"


# ---------------------------------------------------------------------------------------------
# Seccomp: a small classic-BPF filter (x86-64), passed to bubblewrap with --seccomp FD
# ---------------------------------------------------------------------------------------------
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_EPERM, _ENOSYS = 1, 38
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_SYS_CLONE, _SYS_CLONE3 = 56, 435
_CLONE_NS_FLAGS = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80
)
# x86-64 numbers: ptrace, syslog, uselib, personality? (no), vhangup, pivot_root, adjtimex, chroot,
# acct, settimeofday, mount, umount2, swapon, swapoff, reboot, sethostname, setdomainname, iopl,
# ioperm, create_module, init_module, delete_module, quotactl, nfsservctl, lookup_dcookie,
# clock_settime, kexec_load, add_key, request_key, keyctl, unshare, perf_event_open,
# name_to_handle_at, open_by_handle_at, clock_adjtime, setns, process_vm_readv/writev, kcmp,
# finit_module, kexec_file_load, bpf, userfaultfd, io_uring_*, open_tree, move_mount, fs*,
# pidfd_getfd, mount_setattr.
_DENIED_SYSCALLS = (
    101, 103, 134, 153, 155, 159, 161, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173,
    174, 175, 176, 179, 180, 212, 227, 246, 248, 249, 250, 272, 298, 303, 304, 305, 308, 310,
    311, 312, 313, 320, 321, 323, 425, 426, 427, 428, 429, 430, 431, 432, 433, 438, 442,
)  # fmt: skip


def _seccomp_program() -> bytes | None:
    """The BPF program, or `None` where it is not written for this architecture."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    prog = [
        op(_LD_W_ABS, 4),  # arch
        op(_JEQ_K, _AUDIT_ARCH_X86_64, jt=1),
        op(_RET_K, _RET_KILL_PROCESS),
        op(_LD_W_ABS, 0),  # syscall number
        op(_JGE_K, _X32_BIT, jf=1),
        op(_RET_K, _RET_ERRNO | _EPERM),
    ]
    for nr in _DENIED_SYSCALLS:
        prog += [op(_JEQ_K, nr, jf=1), op(_RET_K, _RET_ERRNO | _EPERM)]
    prog += [op(_JEQ_K, _SYS_CLONE3, jf=1), op(_RET_K, _RET_ERRNO | _ENOSYS)]  # libc falls back to clone
    prog += [
        op(_JEQ_K, _SYS_CLONE, jf=3),
        op(_LD_W_ABS, 16),  # clone flags (low 32 bits of the first argument)
        op(_JSET_K, _CLONE_NS_FLAGS, jf=1),
        op(_RET_K, _RET_ERRNO | _EPERM),
        op(_RET_K, _RET_ALLOW),
    ]
    return b"".join(prog)


# ---------------------------------------------------------------------------------------------
# The bubblewrap command line
# ---------------------------------------------------------------------------------------------
def _python() -> str:
    """The base interpreter (not a virtual environment's launcher)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _hidden_dirs(roots: list[str]) -> list[str]:
    """Directories inside the read-only view that must not be visible: packages and this checkout."""
    candidates: set[str] = set()
    with contextlib.suppress(Exception):
        candidates.update(site.getsitepackages())
    with contextlib.suppress(Exception):
        candidates.add(site.getusersitepackages())
    for base in {sys.base_prefix, sys.base_exec_prefix, sys.prefix}:
        with contextlib.suppress(Exception):
            paths = sysconfig.get_paths(vars={"base": base, "platbase": base})
            candidates.update((paths["purelib"], paths["platlib"]))
        for pattern in (
            "lib*/python3*/site-packages",
            "lib*/python3*/dist-packages",
            "lib*/python3/dist-packages",
        ):
            candidates.update(str(p) for p in Path(base).glob(pattern))
    for base in ("/usr", "/usr/local"):
        for pattern in ("lib*/python3*/site-packages", "lib*/python3*/dist-packages"):
            candidates.update(str(p) for p in Path(base).glob(pattern))
    candidates.add(str(Path(__file__).resolve().parents[2]))  # the checkout or site-packages dir
    hidden = set()
    for c in candidates:
        real = os.path.realpath(c)
        if os.path.isdir(real) and _under(real, roots) and real not in roots:
            hidden.add(real)
    return sorted(hidden)


def _ancestor_dirs(path: str, existing: set[str]) -> list[str]:
    """Parent directories bubblewrap would create with mode 0700; created 0755 instead."""
    parts = Path(path).parents
    out = [str(p) for p in reversed(parts) if str(p) != "/" and str(p) not in existing]
    existing.update(out)
    return out


def _bwrap_argv(bwrap: str, limits: SandboxLimits, seccomp_fd: int | None) -> list[str]:
    python = _python()
    argv = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
    as_root = os.geteuid() == 0
    if not as_root:
        argv += ["--unshare-user", "--uid", str(_SANDBOX_UID), "--gid", str(_SANDBOX_UID)]
        argv += ["--disable-userns"]
    argv += ["--ro-bind", "/usr", "/usr"]
    roots = ["/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
            roots.append(top)
    created: set[str] = set(roots)
    for tree in (os.path.realpath(sys.base_prefix), os.path.dirname(os.path.dirname(python))):
        if not _under(tree, roots):
            for parent in _ancestor_dirs(tree, created):
                argv += ["--perms", "0755", "--dir", parent]
            argv += ["--ro-bind", tree, tree]
            roots.append(tree)
    for hidden in _hidden_dirs(roots):
        argv += ["--perms", "0555", "--tmpfs", hidden, "--remount-ro", hidden]
    argv += ["--perms", "0755", "--dir", "/lumos", "--ro-bind", str(_CHILD), _CHILD_IN_SANDBOX]
    argv += ["--dev", "/dev", "--remount-ro", "/dev"]
    argv += ["--size", str(limits.disk_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", _WORK_IN_SANDBOX]
    argv += ["--chdir", _WORK_IN_SANDBOX, "--clearenv"]
    for key, value in _env(_WORK_IN_SANDBOX).items():
        argv += ["--setenv", key, value]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv.append("--")
    if as_root:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        argv += [setpriv, "--reuid", str(_SANDBOX_UID), "--regid", str(_SANDBOX_UID), "--clear-groups"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return argv


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


def _child_args(limits: SandboxLimits, nproc: int, result_fd: int) -> list[str]:
    return [str(result_fd), str(limits.memory_mb), str(limits.cpu_s), str(limits.file_mb), str(nproc)]


# ---------------------------------------------------------------------------------------------
# Availability self-test
# ---------------------------------------------------------------------------------------------
_PROBE = """
import json, os, socket
net = "up"
try:
    socket.create_connection(("192.0.2.1", 9), timeout=0.5)
except OSError as exc:
    net = "unreachable" if exc.errno in (101, 99, 113) else repr(exc)
print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "net": net,
                  "etc": os.path.exists("/etc/passwd"), "work": os.getcwd(),
                  "writable": os.access(".", os.W_OK)}))
"""


def _find_bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str | None) -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, f"the bubblewrap sandbox needs Linux (this is {sys.platform})"
    if bwrap is None:
        return False, "bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: `apt-get install bubblewrap`)"
    if os.geteuid() == 0 and not (shutil.which("setpriv") or os.path.exists("/usr/bin/setpriv")):
        return False, "running as root needs `setpriv` (util-linux) to drop to an unprivileged user"
    limits = SandboxLimits(timeout_s=10)
    argv = [*_bwrap_argv(bwrap, limits, None), _python(), "-I", "-S", "-c", _PROBE]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=30, check=False, env=_env("/"))
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bubblewrap failed to start: {exc}"
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return False, f"bubblewrap self-test failed: {err[-1] if err else f'exit status {proc.returncode}'}"
    try:
        facts = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, "bubblewrap self-test printed no result"
    if not isinstance(facts, dict) or facts.get("uid") in (0, None) or facts.get("euid") in (0, None):
        return False, "bubblewrap self-test: the sandbox still runs as root"
    if facts.get("net") != "unreachable":
        return False, f"bubblewrap self-test: the network is reachable ({facts.get('net')})"
    if facts.get("etc") or not facts.get("writable"):
        return False, "bubblewrap self-test: unexpected filesystem view"
    return True, f"bubblewrap sandbox ({bwrap}) works"


def sandbox_available() -> tuple[bool, str]:
    """Whether the bubblewrap sandbox works here, and why (not).

    The self-test (one sandboxed interpreter start) runs once per process and `bwrap` path.

    Returns:
        `(True, description)` or `(False, reason)`, the reason naming what is missing.
    """
    return _probe(_find_bwrap())


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------
def remove_tree(path: str) -> None:
    """Delete a directory tree without recursion; never raises (leftovers stay, e.g. on EACCES).

    Every subdirectory is first moved up to be a direct child of `path`, then emptied and
    removed, so neither the Python stack, the path length nor the number of open descriptors
    grows with the depth (a tree of thousands of nested directories is fine).
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        root = os.open(path, flags)
    except OSError:
        return
    prefix, counter, stuck = f".lumos-rm-{secrets.token_hex(4)}-", 0, set()
    try:
        while True:
            with os.scandir(root) as it:
                entries = list(it)
            dirs = []
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    dirs.append(entry.name)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.name, dir_fd=root)
            dirs = [d for d in dirs if d not in stuck]
            if not dirs:
                break
            for name in dirs:
                try:
                    fd = os.open(name, flags, dir_fd=root)
                except OSError:
                    stuck.add(name)
                    continue
                try:
                    with os.scandir(fd) as it:
                        children = list(it)
                    for child in children:
                        with contextlib.suppress(OSError):
                            if child.is_dir(follow_symlinks=False):
                                counter += 1
                                os.rename(child.name, prefix + str(counter), src_dir_fd=fd, dst_dir_fd=root)
                            else:
                                os.unlink(child.name, dir_fd=fd)
                finally:
                    os.close(fd)
                try:
                    os.rmdir(name, dir_fd=root)
                except OSError:
                    stuck.add(name)
    except OSError:
        pass
    finally:
        os.close(root)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _read(path: str, limit: int = _MAX_READ) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _parse_record(text: str) -> dict[str, Any] | None:
    """The child's last result line, if it is a well-formed record (never raises)."""
    for line in reversed(text.splitlines()):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict) or record.get("status") not in ("ok", "error"):
            return None
        if record["status"] == "error":
            if not isinstance(record.get("type"), str) or not isinstance(record.get("message"), str):
                return None
            if not isinstance(record.get("line"), int) or isinstance(record.get("line"), bool):
                record["line"] = None
            record["message"] = record["message"][:2000]
        return record
    return None


def _returncode(code: int | None, isolation: Isolation) -> int:
    if code is None:
        return -signal.SIGKILL
    if isolation == "bwrap" and 128 < code < 128 + 65:
        return -(code - 128)  # bubblewrap's init reports a signal death as 128 + signal
    return code


@dataclass
class _Prepared:
    argv: list[str]
    cwd: str
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    close_after_start: list[int]
    isolation: Isolation


def _prepare(outer: str, limits: SandboxLimits, isolation: Isolation) -> _Prepared:
    result_path = os.path.join(outer, "result")
    result_fd = os.open(result_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    to_close = [result_fd]
    if isolation == "bwrap":
        ok, reason = sandbox_available()
        if not ok:
            os.close(result_fd)
            msg = f"The Code sandbox is unavailable: {reason}."
            raise SandboxUnavailableError(msg)
        bwrap = _find_bwrap()
        assert bwrap is not None
        seccomp_fd: int | None = None
        program = _seccomp_program()
        if program is not None:
            seccomp_fd = os.memfd_create("lumos-seccomp", 0) if hasattr(os, "memfd_create") else None
            if seccomp_fd is not None:
                os.write(seccomp_fd, program)
                os.lseek(seccomp_fd, 0, os.SEEK_SET)
                to_close.append(seccomp_fd)
        argv = _bwrap_argv(bwrap, limits, seccomp_fd)
        argv += [
            _python(),
            "-I",
            "-S",
            _CHILD_IN_SANDBOX,
            *_child_args(limits, limits.max_processes, result_fd),
        ]
        fds = (result_fd, *([seccomp_fd] if seccomp_fd is not None else []))
        return _Prepared(argv, outer, _env("/"), fds, to_close, isolation)
    work = os.path.join(outer, "work")
    os.mkdir(work, 0o700)
    # Run a copy from a directory of its own: before Python 3.11, `-I` still puts the script's
    # directory first on sys.path, which would make this package's modules importable.
    child_dir = os.path.join(outer, "child")
    os.mkdir(child_dir, 0o700)
    child = shutil.copyfile(_CHILD, os.path.join(child_dir, _CHILD.name))
    argv = [sys.executable, "-I", child, *_child_args(limits, 0, result_fd)]
    return _Prepared(argv, work, _env(work), (result_fd,), to_close, isolation)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _result(outer: str, code: int | None, timed_out: bool, isolation: Isolation) -> SandboxResult:
    return SandboxResult(
        returncode=_returncode(code, isolation),
        stdout=_read(os.path.join(outer, "out")),
        stderr=_read(os.path.join(outer, "err")),
        record=_parse_record(_read(os.path.join(outer, "result"), _MAX_RECORD)),
        timed_out=timed_out,
        isolation=isolation,
    )


@contextlib.contextmanager
def _run_dir() -> Any:
    outer = tempfile.mkdtemp(prefix="lumos_code_")
    try:
        yield outer
    finally:
        remove_tree(outer)


def run_sandboxed(source: str, limits: SandboxLimits, isolation: Isolation = "bwrap") -> SandboxResult:
    """Run Python `source` in the sandbox and collect what it left.

    Args:
        source: Python code (already checked to parse).
        limits: Resource limits.
        isolation: `"bwrap"` (operating-system sandbox) or `"process"` (weaker, see module docs).

    Returns:
        The exit status, captured output and the child's result record.

    Raises:
        SandboxUnavailableError: `isolation="bwrap"` on a machine where it does not work.
    """
    with _run_dir() as outer:
        prep = _prepare(outer, limits, isolation)
        timed_out = False
        try:
            with open(os.path.join(outer, "out"), "wb") as out, open(os.path.join(outer, "err"), "wb") as err:
                proc = subprocess.Popen(
                    prep.argv,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    cwd=prep.cwd,
                    env=prep.env,
                    start_new_session=True,
                    close_fds=True,
                    pass_fds=prep.pass_fds,
                )
                for fd in prep.close_after_start:
                    os.close(fd)
                prep.close_after_start.clear()
                try:
                    proc.communicate(source.encode("utf-8"), timeout=limits.timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill_group(proc.pid)
                    proc.wait()
                finally:
                    _kill_group(proc.pid)
        finally:
            for fd in prep.close_after_start:
                os.close(fd)
        return _result(outer, proc.returncode, timed_out, isolation)


async def arun_sandboxed(source: str, limits: SandboxLimits, isolation: Isolation = "bwrap") -> SandboxResult:
    """Async `run_sandboxed` (an asyncio subprocess; the event loop is never blocked)."""
    with _run_dir() as outer:
        prep = _prepare(outer, limits, isolation)
        timed_out = False
        try:
            with open(os.path.join(outer, "out"), "wb") as out, open(os.path.join(outer, "err"), "wb") as err:
                proc = await asyncio.create_subprocess_exec(
                    *prep.argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    cwd=prep.cwd,
                    env=prep.env,
                    start_new_session=True,
                    close_fds=True,
                    pass_fds=prep.pass_fds,
                )
                for fd in prep.close_after_start:
                    os.close(fd)
                prep.close_after_start.clear()
                try:
                    await asyncio.wait_for(proc.communicate(source.encode("utf-8")), limits.timeout_s)
                except asyncio.TimeoutError:
                    timed_out = True
                    _kill_group(proc.pid)
                    await proc.wait()
                finally:
                    _kill_group(proc.pid)
        finally:
            for fd in prep.close_after_start:
                os.close(fd)
        return _result(outer, proc.returncode, timed_out, isolation)
