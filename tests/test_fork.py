"""After fork() the child uses its own spool file and its own drainer."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog_transports.null import DISCARDED


def test_forked_child_gets_its_own_spool_and_drainer(settings: Settings) -> None:
    sfeventlog.start("sf-fork", settings)
    parent_spool = api.current_spool()
    assert parent_spool is not None
    parent_before = DISCARDED._value.get()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report back through the pipe, never return into pytest
        code = 1
        try:
            child_before = DISCARDED._value.get()
            ok = all(sfeventlog.add_event("audit", "instance", f"c{i}", "child")
                     for i in range(300))
            child_spool = api.current_spool()
            own_file = child_spool is not None and child_spool.path != parent_spool.path
            # The child's drainer is set up on a thread of its own: let it start.
            deadline = time.monotonic() + 10
            while api._state.drainer is None and time.monotonic() < deadline:
                time.sleep(0.01)
            drainers = [t for t in threading.enumerate() if t.name == "eventlog-drainer"]
            drained = sfeventlog.stop(drain_timeout=20)
            delivered = DISCARDED._value.get() - child_before
            report = f"{ok} {own_file} {len(drainers)} {drained} {int(delivered)}"
            os.write(write_fd, report.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    for i in range(200):
        assert sfeventlog.add_event("audit", "instance", f"p{i}", "parent")
    _, status = os.waitpid(pid, 0)
    report = os.read(read_fd, 1000).decode().split()
    os.close(read_fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == ["True", "True", "1", "True", "300"]
    # The parent's spool and drainer still work after the child is gone.
    assert api.current_spool() is parent_spool
    assert sfeventlog.stop(drain_timeout=20)
    assert DISCARDED._value.get() - parent_before == 200
    assert not list(Path(settings.eventlog_spool_dir).glob("*.db"))


def _forks_under_load(tmp_path: Path, forks: int) -> None:
    """``tests/forkload.py``: forks while three threads add events and the
    drainer writes to a real sqlite store; counts acked against stored."""
    store = tmp_path / "events.sqlite"
    env = {**os.environ, "SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
           "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path / "spool"),
           "SHAKENFIST_EVENTLOG_SQLITE_PATH": str(store)}
    proc = subprocess.run([sys.executable, "-m", "tests.forkload", str(forks), "10"],
                          cwd=Path(__file__).resolve().parent.parent, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["hung"] == 0, f"{report['hung']} of {forks} children hung"
    assert report["failed"] == 0
    assert report["drained"]
    acked = Counter(report["acked"])
    assert sum(1 for m in acked if m.startswith("c")) == forks * 5
    with sqlite3.connect(store) as conn:
        stored = Counter(m for (m,) in conn.execute("SELECT message FROM events"))
    assert stored == acked, "every acked event stored exactly once, nothing else"
    assert max(stored.values()) == 1
    assert not list((tmp_path / "spool").glob("*.db"))


def test_forks_under_load_never_hang_a_child(tmp_path: Path) -> None:
    _forks_under_load(tmp_path, 40)


@pytest.mark.slow
def test_150_forks_under_load_never_hang_a_child(tmp_path: Path) -> None:
    _forks_under_load(tmp_path, 150)
