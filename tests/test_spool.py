"""The SQLite spool, on real files."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from sfeventlog.errors import ConfigError
from sfeventlog.spool import Spool, SpoolLocked, prepare_spool_dir, spool_path


def _spool(tmp_path: Path, **kwargs: object) -> Spool:
    prepare_spool_dir(tmp_path / "spool")
    return Spool(spool_path(tmp_path / "spool", "test", os.getpid()), **kwargs)  # type: ignore[arg-type]


def test_enqueue_dequeue_delete_and_exact_count(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for i in range(250):
        assert spool.enqueue(f"p{i}".encode()) is None
    assert spool.count() == 250
    batch = spool.dequeue_batch(100)
    assert [p for _, p in batch] == [f"p{i}".encode() for i in range(100)]
    assert spool.count() == 250  # dequeue does not remove
    assert spool.delete_ids([i for i, _ in batch]) == 100
    assert spool.delete_ids([i for i, _ in batch]) == 0  # already gone: harmless
    assert spool.count() == 150
    assert spool.dequeue_batch(1)[0][1] == b"p100"
    spool.close()


def test_count_survives_reopen(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for _ in range(7):
        spool.enqueue(b"x")
    path = spool.path
    spool.close()
    again = Spool(path)
    assert again.count() == 7
    again.close()


def test_high_water_mark_drops_exactly(tmp_path: Path) -> None:
    spool = _spool(tmp_path, high_water_mark=500)
    attempted, accepted, dropped = 800, 0, 0
    for _ in range(attempted):
        reason = spool.enqueue(b"x")
        if reason is None:
            accepted += 1
        else:
            assert reason == "high_water_mark"
            dropped += 1
    assert accepted == 500
    assert dropped == attempted - accepted
    assert spool.count() == 500
    with sqlite3.connect(spool.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 500
    # Room again once the drainer deletes.
    spool.delete_ids([i for i, _ in spool.dequeue_batch(10)])
    assert spool.enqueue(b"y") is None
    spool.close()


def test_enqueue_at_100k_backlog_never_counts_rows(tmp_path: Path) -> None:
    """The high-water check must not scan: no COUNT(*) per enqueue."""
    spool = _spool(tmp_path, high_water_mark=200_000)
    spool.insert_raw((b"backlog", 0.0) for _ in range(100_000))
    assert spool.count() == 100_000
    statements: list[str] = []
    spool._conn.set_trace_callback(statements.append)
    for _ in range(100):
        assert spool.enqueue(b"new") is None
    spool._conn.set_trace_callback(None)
    assert spool.count() == 100_100
    assert not [s for s in statements if "COUNT" in s.upper()]
    assert len([s for s in statements if s.startswith("INSERT")]) == 100
    spool.close()


def test_external_change_is_noticed(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.enqueue(b"a")
    with sqlite3.connect(spool.path) as other:
        other.execute("INSERT INTO events(payload, created_at) VALUES (x'00', 0)")
    spool.dequeue_batch(1)  # resyncs on data_version change
    assert spool.count() == 2
    spool.close()


def test_file_and_directory_modes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        spool = _spool(tmp_path)
        spool.enqueue(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "spool").st_mode) == 0o700
    for path in (tmp_path / "spool").iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    spool.close()


@pytest.mark.parametrize(("durability", "expected"), [("normal", 1), ("full", 2)])
def test_durability_sets_wal_and_synchronous(tmp_path: Path, durability: str, expected: int) -> None:
    spool = _spool(tmp_path, durability=durability)
    assert spool._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert spool._conn.execute("PRAGMA synchronous").fetchone()[0] == expected
    spool.close()


def test_a_live_spool_file_cannot_be_opened_twice(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    with pytest.raises(SpoolLocked):
        Spool(spool.path, lock_wait=0.2)
    spool.close()


def test_unwritable_spool_dir_names_dir_and_key(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(ConfigError) as err:
        prepare_spool_dir(blocker / "spool")
    assert str(blocker / "spool") in str(err.value)
    assert "SHAKENFIST_EVENTLOG_SPOOL_DIR" in str(err.value)


def test_close_is_idempotent_and_removes_an_empty_file(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.enqueue(b"x")
    spool.delete_ids([i for i, _ in spool.dequeue_batch(10)])
    spool.close(remove_if_empty=True)
    spool.close()
    assert not spool.path.exists()


def test_close_keeps_a_file_with_rows(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.enqueue(b"x")
    spool.close(remove_if_empty=True)
    assert spool.path.exists()


def test_opening_races_with_a_rescuer_without_error_or_loss(tmp_path: Path) -> None:
    """A rescuer may lock a just-created file before its creator does."""
    import threading

    from sfeventlog.orphans import rescue_orphans

    prepare_spool_dir(tmp_path)
    rescuer = Spool(tmp_path / "rescuer-1.db")
    stop = threading.Event()

    def rescue_forever() -> None:
        while not stop.is_set():
            rescue_orphans(rescuer)

    thread = threading.Thread(target=rescue_forever)
    thread.start()
    try:
        for i in range(200):
            s = Spool(tmp_path / f"daemon-{100_000 + i}.db")  # pids above pid_max: dead
            assert s.enqueue(b"x") is None
            s.close()  # left behind with one row: the rescuer takes it
    finally:
        stop.set()
        thread.join()
    rescue_orphans(rescuer)
    assert rescuer.count() == 200
    rescuer.close()


def test_dequeue_respects_a_byte_budget_but_returns_at_least_one_row(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for size in (400, 400, 400, 5000, 10):
        spool.enqueue(b"x" * size)
    assert [len(p) for _, p in spool.dequeue_batch(100, max_bytes=1000)] == [400, 400]
    spool.delete_ids([i for i, _ in spool.dequeue_batch(2)])
    assert [len(p) for _, p in spool.dequeue_batch(100, max_bytes=1000)] == [400]
    spool.delete_ids([i for i, _ in spool.dequeue_batch(1)])
    assert [len(p) for _, p in spool.dequeue_batch(100, max_bytes=1000)] == [5000]
    spool.close()


def test_a_file_unlinked_as_it_is_opened_is_opened_anew(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rescuer may remove a just-created empty file between our open and fstat."""
    import os

    prepare_spool_dir(tmp_path)
    path = tmp_path / "daemon-100500.db"
    real_fstat = os.fstat
    unlinked: list[int] = []

    def unlink_first(fd: int) -> os.stat_result:
        if not unlinked:
            unlinked.append(fd)
            os.unlink(path)
        return real_fstat(fd)

    monkeypatch.setattr(os, "fstat", unlink_first)
    spool = Spool(path)
    monkeypatch.undo()
    assert unlinked, "the race was not staged"
    assert spool.enqueue(b"x") is None
    assert path.exists() and spool.count() == 1
    spool.close()


def test_two_processes_creating_the_spool_dir_at_once_both_go_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Daemons of a node start together: the one that loses the mkdir race
    must not fail start() with 'cannot create spool directory: File exists'."""
    spool_dir = tmp_path / "spool"
    prepare_spool_dir(spool_dir)  # the other process won
    monkeypatch.setattr(Path, "exists", lambda self: False)  # we looked just before it
    prepare_spool_dir(spool_dir)
    monkeypatch.undo()
    assert spool_dir.is_dir() and (spool_dir.stat().st_mode & 0o777) == 0o700
