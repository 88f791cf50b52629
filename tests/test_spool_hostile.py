"""The spool under hostile local conditions (issue 13): full and read-only
disks, a spool file unlinked under its process, damaged orphans.

Real files on real small file systems (``tests/mounts.py``), counting events
acked against events stored in a real sqlite events store.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import sfeventlog
from sfeventlog import api, drainer, metrics
from sfeventlog.config import Settings
from sfeventlog.inspect import corrupt_files
from sfeventlog.payload import build_payload, encode
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path
from tests.faults import settings_env
from tests.mounts import Ext4Loop, ext4_loop, fill, tmpfs


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "tmpfs", "16m") as mount:
        yield mount
        api.reset_for_tests()  # close the spool before the unmount


@pytest.fixture
def ext4(tmp_path: Path) -> Iterator[Ext4Loop]:
    with ext4_loop(tmp_path) as fs:
        yield fs
        api.reset_for_tests()  # close the spool before the unmount


def _settings(spool_dir: Path, store: Path, **kw: object) -> Settings:
    return Settings(eventlog_transport="sqlite", eventlog_spool_dir=spool_dir,
                    eventlog_sqlite_path=store, **kw)  # type: ignore[arg-type]


def _emit(n: int, prefix: str = "e") -> list[str]:
    """Add ``n`` events; the messages whose ``add_event`` returned True."""
    return [m for m in (f"{prefix}{i}" for i in range(n))
            if sfeventlog.add_event("audit", "instance", m, m)]


def _stored(store: Path) -> Counter[str]:
    if not store.exists():
        return Counter()
    conn = sqlite3.connect(store)
    try:
        return Counter(m for (m,) in conn.execute("SELECT message FROM events"))
    except sqlite3.OperationalError:  # created, schema not committed yet
        return Counter()
    finally:
        conn.close()


def _rows_on_disk(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def _wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


# -- item 3: a failed delete must not wedge the drainer -----------------------

def test_full_disk_failed_deletes_do_not_wedge_delivery_and_space_comes_back(
        small_fs: Path, tmp_path: Path) -> None:
    store = tmp_path / "events.sqlite"
    settings = _settings(small_fs / "spool", store)
    api.reset_for_tests(settings)
    ballast = small_fs / "ballast"
    ballast.write_bytes(b"\0" * (10 << 20))
    # The spool's own WAL fills the rest of the disk, so no delete fits.
    acked: list[str] = []
    for i in range(20_000):
        if not sfeventlog.add_event("audit", "instance", f"e{i}", f"e{i}"):
            break
        acked.append(f"e{i}")
    assert 300 < len(acked) < 20_000, "the disk filled up"
    fill(small_fs)
    spool = api.current_spool()
    assert spool is not None
    wal = Path(str(spool.path) + "-wal")
    sfeventlog.start("sf-full", settings)
    # Every batch is delivered although no delete can be written.
    assert _wait_for(lambda: _stored(store) == Counter(acked)), \
        f"{len(_stored(store))} of {len(acked)} delivered while deletes fail"
    assert _rows_on_disk(spool.path) == len(acked), "the deletes really failed"
    assert spool.count() == 0, "nothing waits for delivery"
    full_wal = wal.stat().st_size
    ballast.unlink()
    # Once there is space, the remembered rows are deleted and the WAL shrinks.
    assert _wait_for(lambda: _rows_on_disk(spool.path) == 0)
    assert _wait_for(lambda: wal.stat().st_size < full_wal / 2)
    assert sfeventlog.stop(10)
    assert _stored(store) == Counter(acked), "each acked event stored exactly once"
    assert not list((small_fs / "spool").glob("*.db"))


def test_read_only_disk_delivery_goes_on_stop_never_raises_and_a_rescue_adds_nothing(
        ext4: Ext4Loop, tmp_path: Path) -> None:
    store = tmp_path / "events.sqlite"
    spool_dir = ext4.path / "spool"
    settings = _settings(spool_dir, store, eventlog_spool_durability="full")
    api.reset_for_tests(settings)
    acked = _emit(500)
    assert len(acked) == 500
    ext4.abort()  # read-only under the open spool file
    sfeventlog.start("sf-ro", settings)
    assert _wait_for(lambda: _stored(store) == Counter(acked)), \
        f"{len(_stored(store))} of 500 delivered on a read-only disk"
    assert sfeventlog.stop(10)  # the unlink fails: no OSError, the file stays
    ext4.remount()
    (left,) = spool_dir.glob("*.db")
    assert _rows_on_disk(left) == 500
    # The next process rescues the delivered rows and sends them again:
    # the store ignores the copies.
    api.reset_for_tests(settings)
    sfeventlog.start("sf-ro-next", settings)
    assert sfeventlog.stop(10)
    assert _stored(store) == Counter(acked), "each acked event stored exactly once"
    assert not list(spool_dir.glob("*.db"))


# -- item 5: a full disk at first open -----------------------------------------

def test_full_disk_at_first_open_drops_as_disk_full_and_opens_later(
        small_fs: Path, tmp_path: Path) -> None:
    store = tmp_path / "events.sqlite"
    spool_dir = small_fs / "spool"
    settings = _settings(spool_dir, store)
    prepare_spool_dir(spool_dir)
    filler = fill(small_fs)
    api.reset_for_tests(settings)
    full = metrics.SPOOL_DROPPED.labels(reason="disk_full")
    before_full, before_corrupt = full._value.get(), metrics.SPOOL_CORRUPT._value.get()
    assert sfeventlog.add_event("audit", "instance", "u", "early") is False
    sfeventlog.start("sf-full-open", settings)  # never raises for a full disk
    assert sfeventlog.add_event("audit", "instance", "u", "later") is False
    assert full._value.get() - before_full == 2
    assert metrics.SPOOL_CORRUPT._value.get() == before_corrupt, "a full disk is not damage"
    assert not corrupt_files(spool_dir)
    filler.unlink()
    time.sleep(api.OPEN_RETRY_SECONDS)
    acked = _emit(300)
    assert len(acked) == 300, "the open is retried once there is space"
    assert sfeventlog.stop(10)
    assert _stored(store) == Counter(acked)
    assert not list(spool_dir.glob("*.db"))


# -- item 6: a full disk during orphan rescue ----------------------------------

ORPHAN_WRITER = textwrap.dedent("""
    import os, sys
    import sfeventlog
    for i in range(int(sys.argv[1])):
        m = f"{sys.argv[2]}{i}"
        if sfeventlog.add_event("audit", "instance", m, m):
            print(m)
    sys.stdout.flush()
    os._exit(0)  # dies without stop(): its spool file is an orphan
""")


def _orphan(settings: Settings, n: int, prefix: str = "o") -> list[str]:
    """A process that spools ``n`` events and dies; the messages it acked."""
    env = settings_env(settings, settings.eventlog_spool_dir)
    proc = subprocess.run([sys.executable, "-c", ORPHAN_WRITER, str(n), prefix], env=env,
                          capture_output=True, text=True, check=True, timeout=120)
    return proc.stdout.split()


def test_full_disk_during_orphan_rescue_leaves_the_orphan_in_place_to_retry(
        small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drainer, "RESCUE_RETRY_SECONDS", 0.5, raising=False)
    store = tmp_path / "events.sqlite"
    spool_dir = small_fs / "spool"
    settings = _settings(spool_dir, store)
    acked = _orphan(settings, 3000)
    assert len(acked) == 3000
    (orphan,) = spool_dir.glob("*.db")
    api.reset_for_tests(settings)
    acked += _emit(10, "own")  # this process's spool opens while there is space
    filler = fill(small_fs)
    before_corrupt = metrics.SPOOL_CORRUPT._value.get()
    sfeventlog.start("sf-rescuer", settings)  # the copy of the orphan cannot be written
    assert orphan.exists(), "our failed write is not the orphan's damage"
    assert not corrupt_files(spool_dir)
    assert metrics.SPOOL_CORRUPT._value.get() == before_corrupt
    assert _rows_on_disk(orphan) == 3000
    filler.unlink()
    # The running drainer tries the rescue again and delivers the orphan's rows.
    assert _wait_for(lambda: _stored(store) == Counter(acked), 30), \
        f"{len(_stored(store))} of {len(acked)} stored"
    assert sfeventlog.stop(10)
    assert _stored(store) == Counter(acked), "each acked event stored exactly once"
    assert not list(spool_dir.glob("*.db"))


# -- item 9: salvage recovers what SQLite can still read -----------------------

def _raw_event(message: str) -> bytes:
    return encode(build_payload(event_type="audit", objects=[("instance", message)],
                                message=message, fqdn="node1"))


def _closed_orphan(spool_dir: Path, messages: list[str]) -> Path:
    """A dead process's spool holding ``messages``, all in the main file."""
    prepare_spool_dir(spool_dir)
    spool = Spool(spool_path(spool_dir, "victim", 99999))
    spool.insert_raw((_raw_event(m), time.time()) for m in messages)
    spool._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    spool.close()
    return spool.path


def _lost() -> float:
    """``eventlog_spool_salvage_lost_total``, all reasons (from the default registry)."""
    return sum(s.value for metric in REGISTRY.collect()
               if metric.name == "eventlog_spool_salvage_lost"
               for s in metric.samples if s.name.endswith("_total"))


def test_truncated_orphan_recovers_its_readable_rows_and_counts_the_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = tmp_path / "events.sqlite"
    spool_dir = tmp_path / "spool"
    acked = [f"t{i}" for i in range(2000)]
    orphan = _closed_orphan(spool_dir, acked)
    page = 4096
    with open(orphan, "r+b") as f:  # the last 10% of the file is gone
        f.truncate(orphan.stat().st_size * 9 // 10 // page * page)
    # What SQLite still reads of it: each row on an intact page.
    readable = {m for m in acked if m.encode() in orphan.read_bytes()}
    assert 1700 < len(readable) < 2000
    before = _lost()
    settings = _settings(spool_dir, store)
    sfeventlog.start("sf-salvage", settings)
    assert sfeventlog.stop(10)
    stored = _stored(store)
    assert set(stored) == readable, "every readable row, and only those"
    assert max(stored.values()) == 1
    lost = _lost() - before
    assert lost > 0, "the lost rows are counted"
    assert abs((len(readable) + lost) - 2000) < 200, "an estimate within a page or two"
    assert "could not be read" in caplog.text


def _foreign_orphan(spool_dir: Path, rows: list[tuple[object, object]]) -> Path:
    """An orphan written by another writer: untyped columns, no constraints."""
    prepare_spool_dir(spool_dir)
    path = spool_path(spool_dir, "other", 99998)
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE events (id INTEGER PRIMARY KEY, payload, created_at);"
                       "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                       "INSERT INTO meta VALUES ('spool_id', 'foreign-1');")
    conn.executemany("INSERT INTO events(payload, created_at) VALUES (?, ?)", rows)
    conn.commit()
    conn.close()
    return path


def test_text_payload_in_a_rescued_orphan_is_delivered_other_types_dead_lettered(
        tmp_path: Path) -> None:
    store = tmp_path / "events.sqlite"
    spool_dir = tmp_path / "spool"
    good = [f"g{i}" for i in range(250)]
    rows: list[tuple[object, object]] = [(_raw_event(m), 1.0) for m in good[:100]]
    rows += [(_raw_event("as-text").decode(), 1.0), (42, 1.0), (2.5, 1.0)]
    rows += [(_raw_event(m), 1.0) for m in good[100:]]
    _foreign_orphan(spool_dir, rows)
    sfeventlog.start("sf-types", _settings(spool_dir, store))
    assert _wait_for(lambda: len(_stored(store)) == 251, 15), "the drainer is not wedged"
    spool = api.current_spool()
    assert spool is not None
    assert sorted(bytes(d.payload) for d in spool.deadletters()) == [b"2.5", b"42"]
    assert _stored(store) == Counter([*good, "as-text"])
    spool.purge_deadletters()
    assert sfeventlog.stop(10)


def test_null_and_text_payloads_in_a_damaged_orphan_never_raise_out_of_start(
        tmp_path: Path) -> None:
    store = tmp_path / "events.sqlite"
    spool_dir = tmp_path / "spool"
    good = [f"d{i}" for i in range(3000)]
    rows: list[tuple[object, object]] = [
        (None, 1.0), (_raw_event("as-text").decode(), None), (b"\x00\x01", 1.0)]
    rows += [(_raw_event(m), 1.0) for m in good]
    orphan = _foreign_orphan(spool_dir, rows)
    with open(orphan, "r+b") as f:  # one leaf page in the middle is garbage
        f.seek(4096 * 20)
        f.write(os.urandom(4096))
    before = _lost()
    sfeventlog.start("sf-damaged", _settings(spool_dir, store))
    assert corrupt_files(spool_dir), "a damaged orphan is moved aside"
    spool = api.current_spool()
    assert spool is not None
    assert _wait_for(lambda: spool.count() == 0, 15)
    stored = _stored(store)
    assert "as-text" in stored
    assert 2500 < len(stored) < 3001 and set(stored) <= {*good, "as-text"}
    assert max(stored.values()) == 1
    assert sorted(bytes(d.payload) for d in spool.deadletters()) == [b"", b"\x00\x01"]
    assert _lost() - before > 0
    spool.purge_deadletters()
    assert sfeventlog.stop(10)


# -- item 4: the live spool file unlinked under its process --------------------

UNLINKED_WRITER = textwrap.dedent("""
    import sys, time
    import sfeventlog
    from sfeventlog import api
    def emit(prefix, n):
        for i in range(n):
            if sfeventlog.add_event("audit", "instance", f"{prefix}{i}", f"{prefix}{i}"):
                print(f"{prefix}{i}", flush=True)
    emit("a", 300)
    print("path", api.current_spool().path, flush=True)
    sys.stdin.readline()          # the test deletes the spool files now
    emit("b", 300)                # the 256-enqueue check notices
    sys.stdin.readline()          # deleted again
    emit("c", 5)
    time.sleep(1.2)               # a quiet process: the timed check notices
    emit("d", 5)
    print("done", flush=True)
    sys.stdin.readline()          # then killed -9, never drained
""")


def test_spool_unlinked_under_a_running_process_is_recreated_with_its_rows(
        tmp_path: Path) -> None:
    store = tmp_path / "events.sqlite"
    spool_dir = tmp_path / "spool"
    settings = _settings(spool_dir, store)
    proc = subprocess.Popen([sys.executable, "-c", UNLINKED_WRITER],
                            env=settings_env(settings, spool_dir), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    acked: list[str] = []
    try:
        for expected_end in ("path", "b299", "done"):
            while not (line := proc.stdout.readline().strip()).startswith(expected_end):
                assert line, "the writer died"
                acked.append(line)
            if expected_end == "path":
                path = Path(line.split(" ", 1)[1])
            elif expected_end == "b299":
                acked.append(line)
            if expected_end != "done":
                for victim in spool_dir.glob(path.name + "*"):  # rm <name>.db*
                    victim.unlink()
                proc.stdin.write("go\n")
                proc.stdin.flush()
    finally:
        proc.kill()
        proc.wait(10)
    assert len(acked) == 610
    assert path.exists(), "the process re-created its spool file"
    # The next process rescues the killed writer's file: nothing acked is lost.
    sfeventlog.start("sf-after", settings)
    assert sfeventlog.stop(10)
    assert _stored(store) == Counter(acked), "each acked event stored exactly once"
    assert not list(spool_dir.glob("*.db"))


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "tiny", "4m") as mount:
        yield mount
        api.reset_for_tests()  # close the spool before the unmount


def test_disk_filled_by_the_spools_own_wal_recovers_by_itself(tiny_fs: Path,
                                                              tmp_path: Path) -> None:
    store = tmp_path / "events.sqlite"
    spool_dir = tiny_fs / "spool"
    settings = _settings(spool_dir, store)
    api.reset_for_tests(settings)
    # Nothing else on the disk: the spool's WAL alone fills it.
    acked: list[str] = []
    for i in range(100_000):
        if not sfeventlog.add_event("audit", "instance", f"w{i}", f"w{i}"):
            break
        acked.append(f"w{i}")
    assert len(acked) < 100_000, "the disk filled up"
    fill(tiny_fs).unlink()  # the last bytes too, then nothing else holds space
    spool = api.current_spool()
    assert spool is not None
    sfeventlog.start("sf-own-wal", settings)
    assert _wait_for(lambda: _stored(store) == Counter(acked)), \
        f"{len(_stored(store))} of {len(acked)} delivered"
    # Every row is delivered and none can be deleted: the file is replaced.
    assert _wait_for(lambda: shutil.disk_usage(tiny_fs).used < (1 << 20), 20), \
        "the space comes back without anyone freeing it"
    later = _emit(200, "later")
    assert len(later) == 200
    assert sfeventlog.stop(10)
    assert _stored(store) == Counter(acked + later), "each acked event stored exactly once"
    assert not list(spool_dir.glob("*.db"))
