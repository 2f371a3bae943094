"""Every escape found against the old audit-hook sandbox stays blocked by the bubblewrap boundary.

Each test first disables the audit hook from inside (as an attacker would: walking the frames of
a denied call to the hook's `_deny` and swapping its code, or finding it with `gc.get_objects()`),
checks that this worked, and then attempts the escape: what stops it is the operating system.
`test_the_audit_hook_alone_is_not_a_boundary` shows the same attacks succeed in process mode.
"""

from __future__ import annotations

import os
import platform
import site
import socket
import sqlite3
import stat
import sys
import sysconfig
import textwrap
import time
import warnings
from pathlib import Path

import pytest

import langchain_lumos
from langchain_lumos.tools.sandbox import SandboxLimits, SandboxResult, run_sandboxed, sandbox_available

BWRAP_OK, BWRAP_REASON = sandbox_available()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap sandbox unavailable: {BWRAP_REASON}")

_CHECK = """
try:
    open('/nonexistent-lumos-probe/x')
except PermissionError:
    print('HOOK STILL ACTIVE', flush=True)
except OSError:
    print('NEUTERED', flush=True)
"""
NEUTER = {
    "frames": """
try:
    open('/nonexistent-lumos-probe/x')
except PermissionError as exc:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == '_deny':
            tb.tb_frame.f_globals['_deny'].__code__ = (lambda what: None).__code__
        tb = tb.tb_next
"""
    + _CHECK,
    "gc": """
import gc
for obj in gc.get_objects():
    if getattr(obj, '__name__', None) == '_deny' and hasattr(obj, '__code__'):
        obj.__code__ = (lambda what: None).__code__
"""
    + _CHECK,
}
# A fresh `_posixsubprocess` (the sandbox replaced `fork_exec` on the loaded module).
FRESH_SUBPROCESS = """
import importlib, subprocess, sys
del sys.modules['_posixsubprocess']
fresh = importlib.import_module('_posixsubprocess')
subprocess._posixsubprocess = fresh
if hasattr(subprocess, '_fork_exec'):
    subprocess._fork_exec = fresh.fork_exec
"""


def escape(
    code: str, technique: str = "frames", isolation: str = "bwrap", **limits: float
) -> tuple[SandboxResult, str]:
    source = NEUTER[technique] + textwrap.dedent(code)
    result = run_sandboxed(source, SandboxLimits(**{"timeout_s": 10, **limits}), isolation)  # type: ignore[arg-type]
    text = result.stdout + result.stderr
    assert "NEUTERED" in text, text  # the hook is off: whatever blocks now is the OS
    return result, text


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOPSECRET-7f3a")
    return path


# -- the attack is real: process mode (audit hook only) falls to it -------------------------------
@pytest.mark.parametrize("technique", ["frames", "gc"])
def test_the_audit_hook_alone_is_not_a_boundary(technique: str, secret: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, text = escape(f"print(open({str(secret)!r}).read())", technique, isolation="process")
    assert "TOPSECRET-7f3a" in text


# -- the bubblewrap boundary ---------------------------------------------------------------------


@needs_bwrap
@pytest.mark.parametrize("technique", ["frames", "gc"])
def test_host_files_are_not_readable(technique: str, secret: Path) -> None:
    _, text = escape(
        f"""
        import os
        for attempt in (lambda: open({str(secret)!r}).read(), lambda: os.listdir({str(secret.parent)!r}),
                        lambda: open('/etc/passwd').read(), lambda: open('/etc/shadow').read()):
            try:
                print('READ', attempt())
            except OSError as exc:
                print('blocked', type(exc).__name__)
        os.system('cat {secret} /etc/passwd; ls {secret.parent}')
        try:
            print('HOME', os.listdir({str(Path.home())!r}))
        except OSError:
            print('HOME []')
        """,
        technique,
    )
    # The caller's home shows at most the directories leading to the bound Python installation.
    listed = eval(text.split("HOME ", 1)[1].splitlines()[0])
    assert set(listed) <= set(Path(sys.base_prefix).parts)
    assert "TOPSECRET-7f3a" not in text
    assert "root:x:0:0" not in text
    assert "READ" not in text


@needs_bwrap
def test_parent_environment_is_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMOS_PARENT_SECRET", "hunter2-env")
    _, text = escape(
        """
        import os
        print(dict(os.environ))
        os.system('env; cat /proc/1/environ /proc/self/environ 2>&1')
        for pid in ('1', str(os.getppid())):
            try:
                print(open(f'/proc/{pid}/environ').read())
            except OSError as exc:
                print('blocked', exc)
        """
    )
    assert "hunter2-env" not in text


@needs_bwrap
@pytest.mark.parametrize("how", ["os.system", "fresh _posixsubprocess"])
def test_programs_run_confined_as_an_unprivileged_user(how: str, secret: Path) -> None:
    if how == "os.system":
        code = f"import os\nos.system('id -u; cat {secret}')"
    else:
        code = (
            FRESH_SUBPROCESS
            + f"r = subprocess.run(['sh', '-c', 'id -u; cat {secret}'], capture_output=True, text=True)\nprint(r.stdout, r.stderr)"
        )
    _, text = escape(code)
    assert "65534" in text
    assert "TOPSECRET-7f3a" not in text


@needs_bwrap
def test_runs_without_privileges() -> None:
    _, text = escape(
        """
        import os
        print('uid', os.getuid(), os.geteuid(), os.getgid())
        for call in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.chroot('/tmp')):
            try:
                call()
                print('ESCALATED')
            except OSError as exc:
                print('blocked', exc.errno)
        """
    )
    assert "uid 65534 65534 65534" in text
    assert "ESCALATED" not in text


@needs_bwrap
def test_network_is_unreachable(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock_path = tmp_path / "host.sock"
    server.bind(str(sock_path))
    server.listen(1)
    server.settimeout(0.5)
    try:
        _, text = escape(
            f"""
            import _socket
            print('interfaces', _socket.if_nameindex())
            for family, addr in ((_socket.AF_INET, ('127.0.0.1', 80)), (_socket.AF_INET, ('192.0.2.1', 80)),
                                 (_socket.AF_INET, ('1.1.1.1', 53)), (_socket.AF_UNIX, {str(sock_path)!r})):
                s = _socket.socket(family, _socket.SOCK_STREAM)
                s.settimeout(2)
                try:
                    s.connect(addr)
                    print('CONNECTED', addr)
                except OSError as exc:
                    print('blocked', addr, exc.errno)
            try:
                print('RESOLVED', _socket.getaddrinfo('example.com', 80))
            except OSError as exc:
                print('blocked dns', exc)
            """
        )
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    assert "CONNECTED" not in text and "RESOLVED" not in text
    assert "interfaces [(1, 'lo')]" in text


@needs_bwrap
@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="the seccomp filter is x86-64 only"
)
def test_ctypes_cannot_leave_the_namespaces() -> None:
    _, text = escape(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x10000000, 0x00020000, 0x40000000
        print('unshare', libc.unshare(CLONE_NEWUSER | CLONE_NEWNS))
        print('unshare-net', libc.unshare(CLONE_NEWNET))
        print('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))
        print('ptrace', libc.ptrace(16, 1, 0, 0))  # PTRACE_ATTACH to the namespace's init
        print('setns', libc.setns(0, 0))
        print('setuid', libc.setuid(0))
        """
    )
    for call in ("unshare", "unshare-net", "mount", "ptrace", "setns", "setuid"):
        assert f"{call} -1" in text, text


def _host_processes_with(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(entry.name)
    return found


@needs_bwrap
def test_no_process_outlives_the_run() -> None:
    marker = "31.4159"
    _, _text = escape(
        FRESH_SUBPROCESS
        + f"""
import os
subprocess.Popen(['sleep', '{marker}'], start_new_session=True)
pid = os.fork()
if pid == 0:
    os.setsid()
    os.execv('/usr/bin/sleep', ['sleep', '{marker}'])
print('spawned')
"""
    )
    deadline = time.monotonic() + 5
    while _host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _host_processes_with(marker) == []


@needs_bwrap
def test_cannot_signal_the_caller() -> None:
    result, text = escape(
        f"""
        import os, _signal
        print('ppid', os.getppid())
        for target in (os.getppid(), {os.getpid()}, {os.getppid()}):
            try:
                _signal.pidfd_send_signal(os.pidfd_open(target), 9)
                print('signalled', target)
            except OSError as exc:
                print('blocked', target, exc.errno)
            try:
                os.kill(target, 9)
                print('killed', target)
            except OSError as exc:
                print('blocked kill', target, exc.errno)
        """
    )
    # We are still alive, and the caller's pids do not exist in the sandbox.
    assert f"signalled {os.getpid()}" not in text and f"killed {os.getpid()}" not in text
    assert isinstance(result, SandboxResult)


def _site_dirs() -> list[str]:
    dirs = {*site.getsitepackages(), site.getusersitepackages()}
    for base in (sys.base_prefix, sys.prefix):
        paths = sysconfig.get_paths(vars={"base": base, "platbase": base})
        dirs.update((paths["purelib"], paths["platlib"], paths["stdlib"]))
    return sorted(d for d in dirs if os.path.isdir(d))


@needs_bwrap
def test_no_pth_file_can_be_written_into_site_packages() -> None:
    dirs = _site_dirs()
    _, text = escape(
        f"""
        import os
        for d in {dirs!r}:
            try:
                fd = os.open(d, os.O_RDONLY)
                out = os.open('lumos_escape.pth', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(out, b'import os; os.system("echo pwned")\\n')
                print('WROTE', d)
            except OSError as exc:
                print('blocked', d, exc.errno)
        """
    )
    assert "WROTE" not in text
    for d in dirs:
        assert not os.path.exists(os.path.join(d, "lumos_escape.pth"))


@needs_bwrap
def test_fchmod_on_a_read_only_descriptor_fails() -> None:
    target = os.__file__
    before = os.stat(target).st_mode
    _, text = escape(
        f"""
        import os
        for path in ({target!r}, {os.path.dirname(target)!r}):
            try:
                fd = os.open(path, os.O_RDONLY)
                os.fchmod(fd, 0o777)
                print('CHMODDED', path)
            except OSError as exc:
                print('blocked', exc.errno)
        """
    )
    assert "CHMODDED" not in text
    assert os.stat(target).st_mode == before
    assert not (before & stat.S_IWOTH)


@needs_bwrap
def test_symlink_swap_cannot_reach_host_files(secret: Path) -> None:
    _, text = escape(
        f"""
        import os, threading
        open('benign', 'w').write('benign')
        stop = False
        def swap():
            while not stop:
                for target in ('benign', {str(secret)!r}, '/etc/passwd'):
                    try:
                        os.remove('link')
                    except OSError:
                        pass
                    os.symlink(target, 'link')
        t = threading.Thread(target=swap)
        t.start()
        seen = set()
        for _ in range(2000):
            try:
                seen.add(open('link').read())
            except OSError:
                pass
        stop = True
        t.join()
        print(sorted(seen))
        """
    )
    assert "TOPSECRET-7f3a" not in text and "root:x" not in text


@needs_bwrap
def test_sqlite_cannot_attach_databases_outside(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoints.sqlite"
    con = sqlite3.connect(checkpoint)
    con.execute("CREATE TABLE writes (value TEXT)")
    con.execute("INSERT INTO writes VALUES ('checkpoint-secret-91')")
    con.commit()
    con.close()
    _, text = escape(
        f"""
        import sqlite3
        con = sqlite3.connect(':memory:')
        for path in ({str(checkpoint)!r}, {str(tmp_path / "created.sqlite")!r}):
            try:
                con.execute('ATTACH DATABASE ? AS other', (path,))
                print('ATTACHED', con.execute('SELECT * FROM other.writes').fetchall())
            except sqlite3.Error as exc:
                print('blocked', exc)
        for uri in ('file:{checkpoint}?mode=ro',):
            try:
                print('OPENED', sqlite3.connect(uri, uri=True).execute('SELECT * FROM writes').fetchall())
            except sqlite3.Error as exc:
                print('blocked', exc)
        """
    )
    assert "checkpoint-secret-91" not in text and "ATTACHED" not in text and "OPENED" not in text
    assert not (tmp_path / "created.sqlite").exists()


@needs_bwrap
def test_project_checkout_is_not_reachable() -> None:
    package_dir = Path(langchain_lumos.__file__).resolve().parent
    checkout = package_dir.parent
    _, text = escape(
        f"""
        import os, sys
        print('path', sys.path)
        print('lumos', os.listdir('/lumos'))
        try:
            import langchain_lumos
            print('IMPORTED', langchain_lumos.__file__)
        except ImportError as exc:
            print('blocked', exc)
        for path in ({str(checkout / "pyproject.toml")!r}, {str(package_dir / "__init__.py")!r}, {str(checkout / ".env")!r}):
            try:
                print('READ', open(path).read()[:40])
            except OSError as exc:
                print('blocked', exc.errno)
        try:
            print('LISTED', os.listdir({str(checkout)!r}))
        except OSError as exc:
            print('blocked', exc.errno)
        """
    )
    assert "IMPORTED" not in text and "READ" not in text and "LISTED" not in text
    assert "lumos ['child.py']" in text
    assert str(checkout) not in text.split("path", 1)[1].split("\n", 1)[0]


@needs_bwrap
def test_writes_outside_the_work_dir_fail() -> None:
    _, text = escape(
        """
        import os
        for path in ('/x', '/usr/x', '/dev/shm/x', '/dev/x', '/lumos/x', '/lumos/child.py'):
            try:
                open(path, 'a').write('x')
                print('WROTE', path)
            except OSError as exc:
                print('blocked', path, exc.errno)
        """
    )
    assert "WROTE" not in text


@needs_bwrap
def test_process_count_is_bounded() -> None:
    _, text = escape(
        """
        import os, time
        n = 0
        for _ in range(200):
            try:
                if os.fork() == 0:
                    time.sleep(3)
                    os._exit(0)
                n += 1
            except OSError:
                break
        print('forks', n)
        """,
        max_processes=8,
    )
    forks = int(text.split("forks ", 1)[1].split()[0])
    assert forks < 8


@pytest.mark.parametrize("euid", [0, 1000])
def test_bwrap_command_line(euid: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_lumos.tools import sandbox

    monkeypatch.setattr(sandbox.os, "geteuid", lambda: euid)
    argv = sandbox._bwrap_argv("/usr/bin/bwrap", SandboxLimits(disk_mb=32), 7)
    for flag in (
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ):
        assert flag in argv
    assert argv[argv.index("--seccomp") + 1] == "7"
    assert argv[argv.index("--size") + 1] == str(32 * 1024 * 1024)
    assert argv[argv.index("--chdir") + 1] == "/tmp"
    sources = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    checkout = str(Path(langchain_lumos.__file__).resolve().parents[1])
    assert not any(
        s == checkout or s.startswith(checkout + "/") for s in sources if not s.endswith("_sandbox_child.py")
    )
    if euid == 0:  # root: no user namespace, setpriv drops to the real nobody user
        assert "--unshare-user" not in argv
        tail = argv[argv.index("--") + 1 :]
        assert (
            tail[0].endswith("setpriv") and "--reuid" in tail and "65534" in tail and "--no-new-privs" in tail
        )
    else:  # unprivileged: a user namespace maps the caller to 65534, nested ones forbidden
        assert argv[argv.index("--uid") + 1] == "65534" and "--disable-userns" in argv
        assert argv[-1] == "--"
