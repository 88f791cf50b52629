"""Who owns a spool file: same name and pid twice, a new owner, pid reuse,
damaged or foreign things at the process's own path, and rescued backlog
versus the high-water mark (issue 10 §1; issue 13 items 1, 7, 8, 10)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog import api, metrics, ownership
from sfeventlog.config import Settings
from sfeventlog.orphans import rescue_orphans
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path

# Pids at or above pid_max are never given to a process: "dead" for sure.
DEAD_PID = 99_999


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--pid", "--fork", sys.executable, "-c",
                            "import os; print(os.getpid())"], capture_output=True, text=True)
    return probe.returncode == 0 and probe.stdout.strip() == "1"


def _same_pid_argv(code: str, fake_pid: int) -> list[str]:
    """A real process with a chosen pid: pid 1 of a new pid namespace where
    the kernel allows it (a container), else one whose getpid() is faked."""
    if _unshare_works():
        return ["unshare", "--pid", "--fork", sys.executable, "-c", code]
    return [sys.executable, "-c", f"import os; os.getpid = lambda: {fake_pid}\n" + code]


def _stored(store: Path) -> Counter[str]:
    try:
        with sqlite3.connect(store) as conn:
            return Counter(r[0] for r in conn.execute("SELECT message FROM events"))
    except sqlite3.OperationalError:  # the store creates its tables on first write
        return Counter()


def _drain_into(store: Path, spool_dir: Path, expected: int) -> Counter[str]:
    """Start sfeventlog here (it rescues every orphan) and drain into ``store``."""
    sfeventlog.start("collector", Settings(eventlog_transport="sqlite",
                                           eventlog_spool_dir=spool_dir,
                                           eventlog_sqlite_path=store))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if store.exists() and sum(_stored(store).values()) >= expected:
            break
        time.sleep(0.1)
    assert sfeventlog.stop()
    return _stored(store)


# -- issue 10 §1: the same daemon name and pid in two processes -------------

TWIN = textwrap.dedent("""
    import os, sys, time
    import sfeventlog
    from sfeventlog import api
    from sfeventlog.config import Settings
    settings = Settings(eventlog_transport="sqlite", eventlog_spool_dir=sys.argv[1],
                        eventlog_sqlite_path=sys.argv[2])
    sfeventlog.start("twin", settings)
    print(api.current_spool().path, os.getpid(), flush=True)
    sys.stdin.readline()
    worst = 0.0
    for i in range(200):
        t = time.monotonic()
        assert sfeventlog.add_event("audit", "instance", "u-1", f"{sys.argv[3]}-{i}")
        worst = max(worst, time.monotonic() - t)
    print(worst, sfeventlog.stop(), flush=True)
""")


def test_same_name_and_pid_in_two_processes_each_get_their_own_file(tmp_path: Path) -> None:
    spool_dir, store = tmp_path / "spool", tmp_path / "events.sqlite"
    twins = []
    for tag in ("a", "b"):
        proc = subprocess.Popen(
            [*_same_pid_argv(TWIN, 4242), str(spool_dir), str(store), tag],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdin is not None
        twins.append((proc, proc.stdout.readline().split()))
    (a, (path_a, pid_a)), (b, (path_b, pid_b)) = twins
    assert pid_a == pid_b, "both processes have the same pid"
    assert path_a != path_b, "each its own file"
    assert Path(path_b).name == f"twin-{pid_b}.1.db"
    results = []
    for proc, _ in twins:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc, _ in twins:
        assert proc.stdout is not None
        worst, drained = proc.stdout.readline().split()
        results.append((float(worst), drained))
        assert proc.wait(timeout=30) == 0
    assert all(worst < 2.0 for worst, _ in results), f"add_event never blocks: {results}"
    assert all(drained == "True" for _, drained in results)
    assert _stored(store) == Counter({f"{tag}-{i}": 1 for tag in "ab" for i in range(200)})


# -- issue 13 item 1: a new owner gives the file a new identity --------------

STEP = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from sfeventlog import orphans
    from sfeventlog.payload import build_payload, encode
    from sfeventlog.spool import open_own_spool
    spool_dir, role, first, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    spool = open_own_spool(spool_dir, role, os.getpid())
    if role == "daemon":
        for i in range(first, first + count):
            assert spool.enqueue(encode(build_payload(
                event_type="audit", objects=[("instance", "u-1")], message=f"event-{i}",
                fqdn="node"))) is None
    elif count:  # a rescuer killed between its merge commit and the orphan's unlink
        def die(path):
            os._exit(9)
        orphans._remove_spool_files = die
        orphans.rescue_orphans(spool)
    else:
        orphans.rescue_orphans(spool)
    os._exit(0)  # no close: as a crash leaves it
""")


def _step(spool_dir: Path, role: str, pid: int, first: int, count: int) -> int:
    argv = [sys.executable, "-c", f"import os; os.getpid = lambda: {pid}\n" + STEP,
            str(spool_dir), role, str(first), str(count)]
    return subprocess.run(argv, timeout=60).returncode


def test_a_restarted_daemon_reopening_a_half_rescued_file_loses_nothing(tmp_path: Path) -> None:
    """Rescuer killed between merge commit and unlink; a daemon with the same
    name and pid reopens the file and spools 300 more; the next rescue must
    take all of them."""
    spool_dir = tmp_path / "spool"
    prepare_spool_dir(spool_dir)
    daemon_pid, rescuer_pid = DEAD_PID, DEAD_PID - 1  # the same pids after each restart
    assert _step(spool_dir, "daemon", daemon_pid, 0, 100) == 0
    assert _step(spool_dir, "rescuer", rescuer_pid, 0, 1) == 9, "killed mid-rescue"
    assert (spool_dir / f"daemon-{daemon_pid}.db").exists(), "merged but not unlinked"
    assert _step(spool_dir, "daemon", daemon_pid, 100, 300) == 0
    assert _step(spool_dir, "rescuer", rescuer_pid, 0, 0) == 0
    got = _drain_into(tmp_path / "events.sqlite", spool_dir, 400)
    assert got == Counter({f"event-{i}": 1 for i in range(400)})


# -- issue 10 §1: pid reuse -------------------------------------------------


def _orphan(spool_dir: Path, name: str, rows: int) -> Path:
    path = spool_dir / name
    spool = Spool(path)
    spool.insert_raw((json.dumps({"n": i}).encode(), 1.0) for i in range(rows))
    spool.close()
    return path


def _upstream_file(path: Path, rows: int) -> Path:
    """A spool file as upstream leaves it: no flock protocol, no ``meta``."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " payload BLOB NOT NULL, created_at REAL NOT NULL)")
        conn.execute("CREATE TABLE schema_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO schema_meta VALUES ('version', '1')")
        conn.executemany("INSERT INTO events (payload, created_at) VALUES (?, ?)",
                         [(json.dumps({"n": i}).encode(), 1.0) for i in range(rows)])
    conn.close()
    return path


def test_a_live_pid_keeps_its_file_unless_it_started_after_the_last_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare_spool_dir(tmp_path)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        path = _upstream_file(tmp_path / f"upstream-{sleeper.pid}.db", 5)
        live = Spool(spool_path(tmp_path, "rescuer", os.getpid()))
        assert rescue_orphans(live) == 0, "the pid in the name is alive: never taken"
        assert path.exists()
        # As if the file had last changed well before that process started:
        # the pid was reused, the writer is gone.
        monkeypatch.setattr(ownership, "_REUSE_SLACK", -30.0)
        assert rescue_orphans(live) == 5
        assert not path.exists()
        live.close()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_name_without_a_pid_is_never_rescued(tmp_path: Path) -> None:
    prepare_spool_dir(tmp_path)
    _orphan(tmp_path, f"gone-{DEAD_PID}.db", 3)
    path = _orphan(tmp_path, f"gone-{DEAD_PID}.db", 0).rename(tmp_path / "backup.db")
    _orphan(tmp_path, f"gone-{DEAD_PID}.db", 3)
    live = Spool(spool_path(tmp_path, "rescuer", os.getpid()))
    assert rescue_orphans(live) == 3
    assert path.exists(), "backup.db has no pid in its name: not a spool file"
    live.close()


# -- issue 13 item 7: a failed open neither leaks nor locks the process out --


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_foreign_meta_table_neither_leaks_the_lock_nor_locks_us_out(tmp_path: Path) -> None:
    prepare_spool_dir(tmp_path)
    path = spool_path(tmp_path, "d", os.getpid())
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (name TEXT, data BLOB)")
    corrupt = metrics.SPOOL_CORRUPT._value.get()
    fds = _open_fds()
    spool = Spool(path)
    assert spool.enqueue(b"x") is None
    assert metrics.SPOOL_CORRUPT._value.get() == corrupt + 1, "moved aside, counted"
    spool.close()
    assert _open_fds() == fds
    started = time.monotonic()
    Spool(path).close()
    assert time.monotonic() - started < 3.0, "no 5 s wait on our own lock"


def test_a_failing_open_releases_the_file_lock(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    prepare_spool_dir(tmp_path)
    path = spool_path(tmp_path, "d", os.getpid())
    fds = _open_fds()

    def broken(self: Spool) -> str:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as m:
        m.setattr(Spool, "_ensure_spool_id", broken)
        with pytest.raises(sqlite3.OperationalError):
            Spool(path)
    assert _open_fds() == fds, "no fd leaked"
    started = time.monotonic()
    spool = Spool(path)
    assert time.monotonic() - started < 3.0, "not locked out by our own leaked lock (5 s)"
    assert spool.enqueue(b"x") is None
    spool.close()


# -- issue 13 item 8: damaged or foreign things at the process's own path ----


def test_a_directory_at_our_own_path_takes_the_next_name(settings: Settings) -> None:
    prepare_spool_dir(settings.eventlog_spool_dir)
    blocker = spool_path(settings.eventlog_spool_dir, "d", os.getpid())
    blocker.mkdir()
    taken = metrics.SPOOL_NAME_TAKEN.labels(reason="not_a_spool")
    before = taken._value.get()
    for _ in range(2):  # every start, not once
        sfeventlog.start("d", settings)
        assert sfeventlog.add_event("audit", "instance", "u-1", "m")
        spool = api.current_spool()
        assert spool is not None and spool.path.name == f"d-{os.getpid()}.1.db"
        sfeventlog.stop()
    assert taken._value.get() == before + 2
    assert blocker.is_dir()


def test_an_events_table_without_created_at_is_moved_aside(tmp_path: Path) -> None:
    prepare_spool_dir(tmp_path)
    path = spool_path(tmp_path, "d", os.getpid())
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
    corrupt = metrics.SPOOL_CORRUPT._value.get()
    spool = Spool(path)
    assert spool.enqueue(b"x") is None
    assert metrics.SPOOL_CORRUPT._value.get() == corrupt + 1
    assert len([p for p in tmp_path.glob(f"{path.name}.corrupt-*")
                if not p.name.endswith(("-wal", "-shm"))]) == 1
    spool.close()


# -- issue 13 item 10: rescued backlog and the high-water mark ---------------


def test_rescued_backlog_never_silences_the_live_daemon(tmp_path: Path) -> None:
    prepare_spool_dir(tmp_path)
    _orphan(tmp_path, f"gone-{DEAD_PID}.db", 2700)
    live = Spool(spool_path(tmp_path, "d", os.getpid()), high_water_mark=1000)
    assert rescue_orphans(live) == 2700
    reasons = [live.enqueue(b"own") for _ in range(1001)]
    assert reasons[:1000] == [None] * 1000, "the mark counts the process's own rows"
    assert reasons[1000] == "high_water_mark"
    # Delivering rescued rows frees no room for own rows; delivering own ones does.
    rescued = [i for i, p in live.dequeue_batch(3000) if p != b"own"]
    live.delete_ids(rescued)
    assert live.enqueue(b"own") == "high_water_mark"
    own = [i for i, _ in live.dequeue_batch(10)]
    live.delete_ids(own)
    assert [live.enqueue(b"own") for _ in range(11)] == [None] * 10 + ["high_water_mark"]
    live.close()


def test_a_predecessors_backlog_in_a_reopened_file_does_not_count(tmp_path: Path) -> None:
    prepare_spool_dir(tmp_path)
    path = spool_path(tmp_path, "d", os.getpid())
    first = Spool(path, high_water_mark=100)
    assert [first.enqueue(b"x") for _ in range(100)] == [None] * 100
    first.close()
    again = Spool(path, high_water_mark=100)
    assert [again.enqueue(b"y") for _ in range(100)] == [None] * 100
    assert again.count() == 200
    again.close()
