"""Orphan rescue: spools of dead processes are merged, live ones untouched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sfeventlog.orphans import rescue_orphans
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path

CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from sfeventlog.spool import Spool, spool_path
    spool = Spool(spool_path(Path(sys.argv[1]), "orphan", os.getpid()))
    for i in range(int(sys.argv[2])):
        spool.enqueue(('{"n": %d}' % i).encode())
    spool.move_to_deadletter(spool.dequeue_batch(1)[0][0], b'{"n": 0}', reason="rejected",
                             error="e", error_class="PermanentError", attempts=1,
                             first_seen=time.time())
    print("ready", flush=True)
    if sys.argv[3] == "die":
        os._exit(0)        # no close: the file is left as a crash leaves it
    time.sleep(60)
""")


def _child(spool_dir: Path, n: int, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(spool_dir), str(n), mode],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _payload_numbers(spool: Spool) -> list[int]:
    return sorted(json.loads(p)["n"] for _, p in spool.dequeue_batch(10_000))


@pytest.fixture
def live(tmp_path: Path) -> Spool:
    prepare_spool_dir(tmp_path)
    return Spool(spool_path(tmp_path, "rescuer", os.getpid()))


def test_dead_process_spools_are_merged_without_loss(tmp_path: Path, live: Spool) -> None:
    for _ in range(3):
        _child(tmp_path, 400, "die").wait()
    assert len(list(tmp_path.glob("orphan-*.db"))) == 3
    assert rescue_orphans(live) == 3 * 399
    assert live.count() == 3 * 399
    assert _payload_numbers(live) == sorted(list(range(1, 400)) * 3)
    assert live.deadletter_count() == 3
    assert not list(tmp_path.glob("orphan-*")), "orphan files and their -wal/-shm removed"
    live.close()


def test_killed_process_spool_is_rescued(tmp_path: Path, live: Spool) -> None:
    proc = _child(tmp_path, 250, "stay")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert rescue_orphans(live) == 249
    assert _payload_numbers(live) == list(range(1, 250))
    live.close()


def test_live_process_spool_is_never_touched(tmp_path: Path, live: Spool) -> None:
    proc = _child(tmp_path, 50, "stay")
    try:
        assert rescue_orphans(live) == 0
        (their,) = tmp_path.glob("orphan-*.db")
        assert their.exists()
        assert live.count() == 0
    finally:
        proc.kill()
        proc.wait()
    assert rescue_orphans(live) == 49
    live.close()


def test_a_second_merge_of_the_same_file_adds_nothing(tmp_path: Path, live: Spool) -> None:
    """A crash after the merge commit but before the unlink must not duplicate."""
    _child(tmp_path, 100, "die").wait()
    (orphan,) = tmp_path.glob("orphan-*.db")
    assert live.absorb(orphan) == 99
    assert live.absorb(orphan) == 0
    assert live.count() == 99
    assert rescue_orphans(live) == 0
    assert live.count() == 99
    assert not orphan.exists()
    live.close()


def test_rescued_markers_travel_with_the_rows(tmp_path: Path) -> None:
    """A merges orphan O; A dies; B merges A and must not take O again."""
    prepare_spool_dir(tmp_path)
    _child(tmp_path, 30, "die").wait()
    (orphan,) = tmp_path.glob("orphan-*.db")
    a = Spool(tmp_path / "a-1.db")
    assert a.absorb(orphan) == 29
    a.close()
    b = Spool(tmp_path / "b-2.db")
    assert b.absorb(tmp_path / "a-1.db") == 29
    assert b.absorb(orphan) == 0
    assert b.count() == 29
    b.close()


def test_upstream_spool_file_without_our_tables_is_merged(tmp_path: Path, live: Spool) -> None:
    import sqlite3

    path = tmp_path / "sf-api-999999.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT,"
                 " payload BLOB NOT NULL, created_at REAL NOT NULL)")
    conn.executemany("INSERT INTO events(payload, created_at) VALUES (?, ?)",
                     [(b'{"n": %d}' % i, 1.0) for i in range(10)])
    conn.commit()
    conn.close()
    assert rescue_orphans(live) == 10
    assert _payload_numbers(live) == list(range(10))
    live.close()
