"""Resume after a crash with the PostgreSQL checkpointer (a throwaway local server).

Runs when the PostgreSQL server binaries (`initdb`, `pg_ctl`) are installed and
`langgraph.checkpoint.postgres` is importable (`pip install "langchain-lumos[postgres]"`);
skipped otherwise. The server listens only on a Unix socket in a temp dir (no TCP), so it
also runs under `--disable-socket --allow-unix-socket`.
"""

from __future__ import annotations

import collections
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration_tests._crash_worker import TASK, build_agent
from tests.unit_tests.runtime import CallLog, read_log

pytestmark = pytest.mark.postgres
WORKER = str(Path(__file__).with_name("_crash_worker.py"))
PORT = 5439


def _bin_dir() -> Path | None:
    found = shutil.which("initdb") or shutil.which("pg_ctl")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    pytest.importorskip(
        "langgraph.checkpoint.postgres",
        reason="langgraph-checkpoint-postgres is not installed (pip install 'langchain-lumos[postgres]')",
    )
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    prefix: list[str] = []
    owner = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # initdb refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and runuser is missing")
        prefix = [runuser, "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="lumos-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if owner is not None:
        for path in (base, sock):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    env = {**os.environ, "LC_ALL": "C"}

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    init = pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    opts = f"-c listen_addresses='' -k {sock} -p {PORT} -c fsync=off"
    start = pg(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        opts,
        "-l",
        str(base / "server.log"),
        "-w",
        "-t",
        "30",
        "start",
    )
    if start.returncode != 0:
        log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed: {start.stderr.strip()[-300:]} {log[-300:]}")
    try:
        yield f"postgresql://postgres@/postgres?host={sock}&port={PORT}"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _counts(path: Path) -> collections.Counter[str]:
    return collections.Counter(
        e["key"] for e in read_log(path) if e["kind"] == "tool" and e["phase"] == "start"
    )


@pytest.mark.parametrize(("scenario", "crash_on"), [("onetime", "C"), ("iterative", "C")])
def test_postgres_crash_then_resume(tmp_path: Path, postgres_dsn: str, scenario: str, crash_on: str) -> None:
    log = tmp_path / "calls.jsonl"
    thread = f"pg-{scenario}"
    common = [
        sys.executable,
        WORKER,
        scenario,
        "--postgres",
        postgres_dsn,
        "--log",
        str(log),
        "--thread",
        thread,
    ]
    crashed = subprocess.run(
        [*common, "--crash-on", crash_on], capture_output=True, text=True, timeout=60, check=False
    )
    assert crashed.returncode == 1, crashed.stderr
    resumed = subprocess.run([*common, "--resume"], capture_output=True, text=True, timeout=60, check=False)
    assert resumed.returncode == 0, resumed.stderr
    counts = _counts(log)
    assert counts[crash_on] == 2
    assert all(n == 1 for key, n in counts.items() if key != crash_on), counts


def test_postgres_second_instance_reads_the_thread(postgres_dsn: str) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    config = {"configurable": {"thread_id": "pg-instances"}}
    log = CallLog()
    with PostgresSaver.from_conn_string(postgres_dsn) as saver:
        saver.setup()
        build_agent("onetime", log, saver).graph.invoke(
            {"task": TASK}, config, interrupt_before=["execute_action"]
        )
    assert log.calls() == []
    with PostgresSaver.from_conn_string(postgres_dsn) as other:  # another "instance"
        result = build_agent("onetime", log, other).graph.invoke(None, config)
    assert result["stop_reason"] == "plan_complete"
    assert len(log.calls()) == len(set(log.calls())) == 5
