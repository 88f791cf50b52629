"""Damaged spool files and a full disk: counted, logged, never a crash loop."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog import api, metrics
from sfeventlog.config import Settings
from sfeventlog.inspect import corrupt_files
from sfeventlog.orphans import rescue_orphans
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path
from tests.backends import in_ci

WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from sfeventlog.spool import Spool, spool_path
    spool = Spool(spool_path(Path(sys.argv[1]), "victim", os.getpid()))
    spool._conn.execute("PRAGMA wal_autocheckpoint=0")  # keep rows in the WAL
    for i in range(int(sys.argv[2])):
        spool.enqueue(('{"n": %d}' % i).encode())
    print("ready", flush=True)
    time.sleep(60)
""")


def _killed_writer(spool_dir: Path, n: int) -> Path:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(spool_dir), str(n)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (path,) = spool_dir.glob("victim-*.db")
    return path


def _closed_spool(spool_dir: Path, n: int, name: str = "victim") -> Path:
    prepare_spool_dir(spool_dir)
    spool = Spool(spool_path(spool_dir, name, 99999))
    spool.insert_raw((json.dumps({"n": i}).encode(), 1.0) for i in range(n))
    spool._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = spool.path
    spool.close()
    return path


@pytest.fixture
def rescuer(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(spool_path(tmp_path, "rescuer", os.getpid()))
    yield s
    s.close()


def _numbers(spool: Spool) -> list[int]:
    return [json.loads(p)["n"] for _, p in spool.dequeue_batch(100_000)]


def test_garbage_header_is_moved_aside_and_counted(tmp_path: Path, rescuer: Spool) -> None:
    path = _closed_spool(tmp_path, 50)
    with open(path, "r+b") as f:
        f.write(os.urandom(100))
    before = metrics.SPOOL_CORRUPT._value.get()
    assert rescue_orphans(rescuer) == 0
    assert metrics.SPOOL_CORRUPT._value.get() - before == 1
    assert not path.exists()
    assert len(corrupt_files(tmp_path)) == 1
    assert rescuer.enqueue(b'{"n": -1}') is None


def test_truncated_file_is_moved_aside_without_a_crash(tmp_path: Path, rescuer: Spool) -> None:
    path = _closed_spool(tmp_path, 3000)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    rescue_orphans(rescuer)
    rows = [p for _, p in rescuer.dequeue_batch(100_000)]
    recovered = [json.loads(p)["n"] for p in rows if p.endswith(b"}")]
    assert recovered == sorted(set(recovered)), "no duplicates"
    assert set(recovered) <= set(range(3000))
    assert len(recovered) > 600, "the rows on the intact first half come back"
    # A row cut in two by the truncation is kept (the drainer dead-letters it).
    assert len(rows) - len(recovered) <= 1
    assert len(corrupt_files(tmp_path)) == 1
    assert rescuer.enqueue(b'{"n": -1}') is None


def test_rows_on_intact_pages_of_a_damaged_file_are_recovered(tmp_path: Path,
                                                              rescuer: Spool) -> None:
    path = _closed_spool(tmp_path, 3000)
    with open(path, "r+b") as f:
        f.seek(4096 * 12)  # one leaf page in the middle of the events table
        f.write(os.urandom(4096))
    before = metrics.SPOOL_CORRUPT._value.get()
    rescue_orphans(rescuer)
    recovered = _numbers(rescuer)
    assert metrics.SPOOL_CORRUPT._value.get() - before == 1
    assert 2000 < len(recovered) < 3000, "rows on intact pages come back"
    assert recovered == sorted(set(recovered)), "no duplicates"
    assert set(recovered) <= set(range(3000))


def test_deleted_wal_loses_only_the_wal_and_nothing_crashes(tmp_path: Path,
                                                            rescuer: Spool) -> None:
    path = _killed_writer(tmp_path, 200)
    Path(str(path) + "-wal").unlink()
    rescue_orphans(rescuer)  # the rows lived in the WAL: they are gone
    assert rescuer.enqueue(b'{"n": 1}') is None
    assert not path.exists()


def test_own_spool_damaged_at_open_gives_a_fresh_spool(tmp_path: Path) -> None:
    path = _closed_spool(tmp_path, 10, name="self")
    with open(path, "r+b") as f:
        f.write(b"\x00" * 64)
    spool = Spool(path)
    assert spool.count() == 0
    assert spool.enqueue(b"x") is None
    spool.close()
    assert len(corrupt_files(tmp_path)) == 1


def test_start_with_a_corrupt_orphan_never_crash_loops(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    path = _closed_spool(spool_dir, 20)
    with open(path, "r+b") as f:
        f.write(b"garbage!" * 20)
    settings = Settings(eventlog_transport="null", eventlog_spool_dir=spool_dir)
    for _ in range(2):
        sfeventlog.start("sf-restart", settings)
        assert sfeventlog.add_event("audit", "instance", "u", "after")
        assert sfeventlog.stop(10)
    out = subprocess.run([str(Path(sys.executable).with_name("sfeventlog")), "status",
                          "--spool-dir", str(spool_dir)], capture_output=True, text=True,
                         check=True).stdout
    assert "corrupt spool moved aside" in out


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        msg = f"cannot mount a tmpfs for the disk-full test: {proc.stderr.strip()}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg + " (run as root to enable)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_returns_false_counts_and_recovers(tiny_fs: Path) -> None:
    settings = Settings(eventlog_transport="null", eventlog_spool_dir=tiny_fs / "spool")
    api.reset_for_tests(settings)
    counter = metrics.SPOOL_DROPPED.labels(reason="disk_full")
    before = counter._value.get()
    assert sfeventlog.add_event("audit", "instance", "u", "first")
    filler = tiny_fs / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    results = [sfeventlog.add_event("audit", "instance", f"u{i}", "x" * 2000)
               for i in range(200)]
    assert results.count(False) > 0, "the disk is full: some events must be refused"
    assert counter._value.get() - before == results.count(False)
    filler.unlink()
    assert sfeventlog.add_event("audit", "instance", "u", "after space is back")
    spool = api.current_spool()
    assert spool is not None
    assert spool.count() == 1 + results.count(True) + 1



def test_a_healthy_spool_is_never_moved_aside_for_trouble_that_is_not_damage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An I/O error, a busy file or no free descriptors at open leave the file
    # intact: moving it aside as corrupt would strand its rows for good.
    path = tmp_path / "sf-api-7.db"
    spool = Spool(path)
    for _ in range(3):
        assert spool.enqueue(b'{"message": "kept"}') is None
    spool.close()
    real = Spool._open_schema

    def io_error_once(self: Spool) -> sqlite3.Connection:
        monkeypatch.setattr(Spool, "_open_schema", real)
        exc = sqlite3.OperationalError("disk I/O error")
        exc.sqlite_errorcode = sqlite3.SQLITE_IOERR  # type: ignore[attr-defined]
        raise exc

    monkeypatch.setattr(Spool, "_open_schema", io_error_once)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        Spool(path)
    assert not list(tmp_path.glob("*.corrupt-*")), "a healthy file was moved aside"
    again = Spool(path)  # the lock was released cleanly; the rows are all there
    assert again.count() == 3
    again.close()


def test_a_spool_replaced_afresh_keeps_rows_another_connection_just_added(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Delivered rows that cannot be deleted (a full disk) make the spool
    # replace its file once nothing else is in it.  A dead-letter replay from
    # the CLI may have just put a row back: the file must then stay.
    path = tmp_path / "sf-api-8.db"
    spool = Spool(path)
    for _ in range(3):
        assert spool.enqueue(b'{"message": "delivered"}') is None
    ids = [row_id for row_id, _ in spool.dequeue_batch(10)]
    monkeypatch.setattr(Spool, "_delete_locked", lambda self, new: 0)  # the disk says no
    spool._undeleted = set(ids)  # as a failed delete leaves them
    spool._count = 0
    spool._next_delete_retry = 0.0
    other = sqlite3.connect(path)  # sfeventlog deadletter replay, say
    other.execute("INSERT INTO events(payload, created_at) VALUES (?, 1.0)",
                  (b'{"message": "replayed"}',))
    other.commit()
    other.close()
    assert spool.retry_deletes() == 0
    monkeypatch.undo()
    conn = sqlite3.connect(path)
    payloads = [bytes(r[0]) for r in conn.execute("SELECT payload FROM events")]
    conn.close()
    assert b'{"message": "replayed"}' in payloads, "the replayed row was thrown away"
    spool.close()
