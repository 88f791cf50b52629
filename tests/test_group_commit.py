"""Group commit in the spool: many callers at once, on real files and processes.

Callers that arrive while a commit is in flight queue and are committed
together; each still gets its own row's result, only once that row is
durable.  Holding the spool's lock with ``quiesce()`` (as a fork does)
is what makes a group here deterministic: the first caller leads and waits
for the lock, the others queue behind it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog import api, metrics
from sfeventlog.config import Settings
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path
from tests.faults import REPO, Emitter, settings_env
from tests.mounts import fill, tmpfs

_NOT_RETURNED = "not returned"


def _spool(directory: Path, **kwargs: object) -> Spool:
    prepare_spool_dir(directory)
    return Spool(spool_path(directory, "test", os.getpid()), **kwargs)  # type: ignore[arg-type]


def _rows(path: Path) -> list[bytes]:
    """The spool's rows as another connection sees them (committed ones only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [bytes(p) for (p,) in conn.execute("SELECT payload FROM events ORDER BY id")]
    finally:
        conn.close()


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _enqueue_as_one_group(spool: Spool, payloads: Sequence[bytes]) -> list[str | None]:
    """Each payload from its own thread, all queued behind a held commit; their results."""
    results: list[str | None] = [_NOT_RETURNED] * len(payloads)

    def call(k: int) -> None:
        results[k] = spool.enqueue(payloads[k])

    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(payloads))]
    spool.quiesce()
    try:
        for thread in threads:
            thread.start()
        # One caller leads (waiting for the lock), every other one queues.
        _wait_for(lambda: len(spool._queue) == len(payloads) - 1)
        assert all(r == _NOT_RETURNED for r in results), "nobody returns before its commit"
        # While the lock is held (as across a fork), no group commit runs.
        assert len(_rows(spool.path)) == spool.count()
    finally:
        spool.resume()
    for thread in threads:
        thread.join(10)
    return results


def test_a_lone_caller_commits_its_own_row_before_enqueue_returns(tmp_path: Path) -> None:
    spool = _spool(tmp_path / "spool", durability="full")
    for i in range(50):
        assert spool.enqueue(f"p{i}".encode()) is None
        # Visible to another connection the moment the call returns: no batching delay.
        assert len(_rows(spool.path)) == i + 1
    assert spool.group_commits == 0, "no contention, no group"
    spool.close()


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_callers_queued_behind_a_commit_are_committed_in_one_group(
        tmp_path: Path, durability: str) -> None:
    spool = _spool(tmp_path / "spool", durability=durability)
    payloads = [f"g{k}".encode() for k in range(16)]
    results = _enqueue_as_one_group(spool, payloads)
    assert results == [None] * 16
    assert (spool.group_commits, spool.grouped_rows) == (1, 16)
    assert sorted(_rows(spool.path)) == sorted(payloads)
    assert spool.count() == 16
    spool.close()


def test_every_commit_runs_under_the_lock_a_fork_waits_for(tmp_path: Path) -> None:
    spool = _spool(tmp_path / "spool")
    held: list[bool] = []

    def inside_sqlite() -> int:
        held.append(spool._mutex.locked())  # called from within SQLite's statement steps
        return 0

    spool._conn.set_progress_handler(inside_sqlite, 1)
    assert spool.enqueue(b"alone") is None
    assert _enqueue_as_one_group(spool, [f"g{k}".encode() for k in range(16)]) == [None] * 16
    spool._conn.set_progress_handler(None, 1)
    assert held and all(held), "quiesce() (before fork) must wait out every commit"
    assert spool.group_commits == 1
    spool.close()


def test_the_high_water_mark_holds_exactly_inside_a_group(tmp_path: Path) -> None:
    spool = _spool(tmp_path / "spool", high_water_mark=20)
    for i in range(15):
        assert spool.enqueue(f"p{i}".encode()) is None
    results = _enqueue_as_one_group(spool, [f"g{k}".encode() for k in range(16)])
    assert results.count(None) == 5
    assert results.count("high_water_mark") == 11
    assert len(_rows(spool.path)) == spool.count() == 20
    assert (spool.group_commits, spool.grouped_rows) == (1, 5)
    spool.close()


def test_one_bad_row_does_not_drop_the_rest_of_its_group(tmp_path: Path) -> None:
    spool = _spool(tmp_path / "spool")
    # Rows over 1,000 bytes are refused by this connection: the group's
    # INSERT fails as a whole, then every row is tried on its own.
    spool._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)
    payloads = [f"g{k}".encode() for k in range(16)]
    payloads[7] = b"x" * 5000
    results = _enqueue_as_one_group(spool, payloads)
    assert results[7] == "spool_error"
    assert results[:7] + results[8:] == [None] * 15
    assert sorted(_rows(spool.path)) == sorted(payloads[:7] + payloads[8:])
    assert spool.count() == 15
    spool.close()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "tmpfs", "4m") as mount:
        yield mount


def test_a_group_on_a_full_disk_reports_disk_full_to_every_caller(small_fs: Path) -> None:
    spool = _spool(small_fs / "spool")
    assert spool.enqueue(b"before") is None
    filler = fill(small_fs)
    results = _enqueue_as_one_group(spool, [b"y" * 3000 for _ in range(16)])
    assert results == ["disk_full"] * 16
    assert _rows(spool.path) == [b"before"], "nothing of the group written"
    assert spool.count() == 1
    filler.unlink()
    assert spool.enqueue(b"after") is None
    assert _rows(spool.path) == [b"before", b"after"]
    spool.close()


def _dropped(reason: str) -> float:
    return float(metrics.SPOOL_DROPPED.labels(reason=reason)._value.get())


def test_high_water_mark_exact_with_16_threads_racing_at_it(tmp_path: Path) -> None:
    api.reset_for_tests(Settings(eventlog_transport="null", eventlog_spool_dir=tmp_path / "spool",
                                 eventlog_spool_high_water_mark=300, node_name="node1"))
    before = _dropped("high_water_mark")
    ready = threading.Barrier(16)
    outcomes: list[bool | str] = []

    def emit(t: int) -> None:
        ready.wait()
        for i in range(40):
            try:
                outcomes.append(sfeventlog.add_event("audit", "instance", f"t{t}", f"t{t}-{i}"))
            except BaseException as exc:  # noqa: BLE001 - counted below
                outcomes.append(repr(exc))

    threads = [threading.Thread(target=emit, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    spool = api.current_spool()
    assert spool is not None
    assert Counter(outcomes) == {True: 300, False: 340}
    assert _dropped("high_water_mark") - before == 340
    assert len(_rows(spool.path)) == spool.count() == 300
    assert spool.grouped_rows > 0, "the threads' calls met in group commits"
    api.reset_for_tests()


class _Burst:
    """``python -m tests.burst`` as a child process, collecting its lines."""

    def __init__(self, env: dict[str, str], threads: int, each: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.burst", str(threads), str(each)],
                                     cwd=REPO, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def kinds(self, kind: str) -> list[str]:
        return [line.split(" ", 1)[1] for line in list(self.lines) if line.startswith(kind + " ")]

    def grouped_rows(self) -> int:
        groups = self.kinds("groups")
        return int(groups[-1].split()[1]) if groups else 0

    def kill(self) -> str:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(10)
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def _stored(store: Path) -> Counter[str]:
    conn = sqlite3.connect(store)
    try:
        return Counter(m for (m,) in conn.execute("SELECT message FROM events"))
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["normal", "full"])
def test_kill_9_mid_burst_of_16_threads_loses_and_duplicates_nothing(
        tmp_path: Path, durability: str) -> None:
    store = tmp_path / "events.sqlite"
    settings = Settings(eventlog_transport="sqlite", eventlog_sqlite_path=store,
                        eventlog_spool_durability=durability)  # type: ignore[arg-type]
    env = settings_env(settings, tmp_path / "spool")
    burst = _Burst(env, 16, 5000)
    deadline = time.monotonic() + 60
    # Killed mid-burst, once group commits are under way.
    while len(burst.kinds("accepted")) < 2000 or burst.grouped_rows() == 0:
        assert burst.proc.poll() is None and time.monotonic() < deadline, burst.lines[-5:]
        time.sleep(0.01)
    stderr = burst.kill()
    accepted = burst.kinds("accepted")
    assert "done" not in burst.lines, "the kill landed mid-burst"
    assert not burst.kinds("exception"), stderr
    assert not burst.kinds("dropped")
    assert len(set(accepted)) == len(accepted)
    # A new process rescues the dead one's spool and drains it to the store.
    survivor = Emitter(env, "--name", "restarted", "--count", "0")
    assert survivor.wait() == 0, survivor.lines + [survivor.stderr]
    stored = _stored(store)
    missing = [m for m in accepted if stored[m] != 1]
    assert not missing, f"{len(missing)} of {len(accepted)} accepted events not stored exactly once"
    assert max(stored.values()) == 1, "no event stored twice"
    attempted = {f"t{t}-{i}" for t in range(16) for i in range(5000)}
    assert set(stored) <= attempted
    # Calls in flight at the kill may be stored unreported: at most one per thread.
    assert len(stored) - len(accepted) <= 16
    assert not list((tmp_path / "spool").glob("*.db"))


class _Interrupted(Exception):
    pass


def test_a_waiting_caller_interrupted_by_a_signal_never_wedges_the_spool(tmp_path: Path) -> None:
    spool = _spool(tmp_path / "spool")
    leader_result: list[str | None] = []
    spool.quiesce()  # the leader below waits for the lock; this thread queues behind it
    leader = threading.Thread(target=lambda: leader_result.append(spool.enqueue(b"leader")))
    leader.start()
    _wait_for(lambda: spool._leading)

    def interrupt(signum: int, frame: object) -> None:
        raise _Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(_Interrupted):
            spool.enqueue(b"interrupted")  # queued, then the handler raises in its wait
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        spool.resume()
    leader.join(10)
    assert leader_result == [None]
    # Left the queue before any leader took it: not written, and nothing wedged.
    assert _rows(spool.path) == [b"leader"]
    later: list[str | None] = []
    caller = threading.Thread(target=lambda: later.append(spool.enqueue(b"after")))
    caller.start()
    caller.join(10)
    assert later == [None], "the next caller is not stuck behind a lost lead"
    assert _rows(spool.path) == [b"leader", b"after"]
    spool.close()


def test_forks_while_16_threads_group_commit_never_hang_a_child(tmp_path: Path) -> None:
    """``tests/forkload.py`` with 16 loading threads: 30 forks amid group commits."""
    store = tmp_path / "events.sqlite"
    env = {**os.environ, "SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
           "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path / "spool"),
           "SHAKENFIST_EVENTLOG_SQLITE_PATH": str(store)}
    proc = subprocess.run([sys.executable, "-m", "tests.forkload", "30", "10", "16"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["hung"] == 0 and report["failed"] == 0, proc.stderr[-2000:]
    assert report["grouped_rows"] > 0, "the forks happened amid group commits"
    assert report["drained"]
    acked = Counter(report["acked"])
    assert sum(1 for m in acked if m.startswith("c")) == 30 * 5
    assert _stored(store) == acked, "every acked event stored exactly once, nothing else"
