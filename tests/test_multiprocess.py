"""Several processes on one node, each with its own spool, into one real store.

Counts events in vs rows out in the sqlite events store: nothing lost,
nothing duplicated, and no spool error ever reaches a caller.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

EMITTER = textwrap.dedent("""
    import os, sys
    import sfeventlog
    tag, n, fork = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "fork"
    sfeventlog.start("emitter-" + tag)
    errors = 0
    def emit(prefix, count):
        global errors
        ok = 0
        for i in range(count):
            try:
                ok += sfeventlog.add_event("audit", "instance", f"{prefix}-{i}", f"{prefix}-{i}")
            except Exception as exc:          # would be a bug: report it
                errors += 1
                print("caller saw", type(exc).__name__, exc, file=sys.stderr)
        return ok
    child = os.fork() if fork else -1
    if child == 0:
        ok = emit(tag + "c", n)
        drained = sfeventlog.stop(60)
        os._exit(0 if ok == n and drained and not errors else 3)
    ok = emit(tag, n)
    drained = sfeventlog.stop(60)
    if child > 0:
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "forked child failed"
    print(ok, drained, errors)
    sys.exit(0 if ok == n and drained and not errors else 4)
""")


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ,
            "SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
            "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path / "spool"),
            "SHAKENFIST_EVENTLOG_SQLITE_PATH": str(tmp_path / "events.sqlite")}


def _run_all(tmp_path: Path, specs: list[tuple[str, int, bool]]) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", EMITTER, tag, str(n),
                               "fork" if fork else "no"], env=_env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag, n, fork in specs]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, out + err
        assert "caller saw" not in err


def _stored(tmp_path: Path) -> Counter[str]:
    with sqlite3.connect(tmp_path / "events.sqlite") as conn:
        return Counter(m for (m,) in conn.execute("SELECT message FROM events"))


def test_two_processes_and_a_forked_child_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    _run_all(tmp_path, [("a", 400, True), ("b", 400, False)])
    stored = _stored(tmp_path)
    expected = {f"{tag}-{i}" for tag in ("a", "ac", "b") for i in range(400)}
    assert set(stored) == expected
    assert max(stored.values()) == 1
    assert not list((tmp_path / "spool").glob("*.db"))


@pytest.mark.slow
def test_eight_writers_with_drainers_on_one_node(tmp_path: Path) -> None:
    """Contention: 8 spools + 8 drainers + one store file, no lock error to callers."""
    _run_all(tmp_path, [(f"w{k}", 250, False) for k in range(8)])
    stored = _stored(tmp_path)
    assert sum(stored.values()) == 8 * 250
    assert len(stored) == 8 * 250
