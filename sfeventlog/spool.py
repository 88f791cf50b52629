"""The durable per-process SQLite spool.

One file per process, ``<spool_dir>/<daemon_name>-<pid>.db``, in WAL mode.
The owning process holds an exclusive ``flock`` on the file for its whole
life; ``ownership.py`` has the full rule for who owns a file, and
``open_own_spool`` takes the next free name when another process already
owns this one.  The row count is kept in memory
(seeded once at open), so the high-water check and the depth gauge cost
O(1) whatever the backlog; a change committed by another connection (the
CLI replaying dead letters, say) is noticed through ``PRAGMA data_version``
and triggers one recount.

This module is the queue; a ``Spool`` also has the dead-letter table
(``sfeventlog.deadletters``) and recovery from damage, an unlinked file or
a full disk (``sfeventlog.recovery``).  The tables are in
``sfeventlog.spool_schema``, transactions go through ``sfeventlog.sqlite_tx``.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from sfeventlog import metrics
from sfeventlog.deadletters import DeadLetter as DeadLetter  # re-exported
from sfeventlog.deadletters import DeadLetterTable
from sfeventlog.errors import ConfigError
from sfeventlog.ids import uuid7
from sfeventlog.inherited import InheritedRows
from sfeventlog.ownership import CORRUPT_MARKER as CORRUPT_MARKER  # re-exported
from sfeventlog.ownership import SPOOL_SUFFIX as SPOOL_SUFFIX  # re-exported
from sfeventlog.ownership import (
    PathTaken,
    check_spool_dir,
    lock_own_file,
    restrict_mode,
    spool_file_name,
)
from sfeventlog.ownership import SpoolLocked as SpoolLocked  # re-exported
from sfeventlog.recovery import LINK_CHECK_EVERY as LINK_CHECK_EVERY  # re-exported
from sfeventlog.recovery import LINK_CHECK_SECONDS, Recovery
from sfeventlog.recovery import move_aside as move_aside  # re-exported
from sfeventlog.salvage import PAYLOAD_AS_BLOB
from sfeventlog.spool_schema import SCHEMA, check_columns
from sfeventlog.sqlite_tx import immediate
from sfeventlog.sqlite_tx import rollback as _rollback

LOG = logging.getLogger(__name__)

Durability = Literal["normal", "full"]

#: How long opening a spool waits out another process's brief hold on it
#: (a rescuer merging the file, ``sfeventlog status`` probing it).
LOCK_WAIT_SECONDS = 0.2
#: How many names ``<daemon>-<pid>[.<n>].db`` a process tries for its spool.
MAX_SPOOL_NAMES = 100


class SpoolFull(OSError):
    """No space to create or open the spool file: a full disk, not damage.

    An ``OSError`` with ``errno.ENOSPC``; the caller drops the event as
    ``disk_full`` and tries the open again later.
    """

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(errno.ENOSPC, f"no space left to open spool {path}: {cause}")


def spool_path(spool_dir: Path, daemon_name: str, pid: int) -> Path:
    """The spool file of one process (its first choice of name)."""
    return spool_dir / spool_file_name(daemon_name, pid)


def prepare_spool_dir(spool_dir: Path) -> None:
    """Create the spool directory (mode 0700) and check it is writable.

    Raises ``ConfigError`` naming the directory and the key to set.
    """
    hint = "set SHAKENFIST_EVENTLOG_SPOOL_DIR (eventlog_spool_dir) to a writable directory"
    try:
        if not spool_dir.exists():
            spool_dir.mkdir(mode=0o700, parents=True)
            os.chmod(spool_dir, 0o700)
    except FileExistsError:
        pass  # another process made it between our look and our mkdir
    except OSError as exc:
        raise ConfigError(f"cannot create spool directory {spool_dir}: {exc.strerror}; {hint}") from exc
    if not spool_dir.is_dir():
        raise ConfigError(f"spool directory {spool_dir} is not a directory; {hint}")
    if not os.access(spool_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"spool directory {spool_dir} is not writable; {hint}")
    check_spool_dir(spool_dir)


def open_own_spool(
    spool_dir: Path,
    daemon_name: str,
    pid: int,
    *,
    durability: Durability = "normal",
    high_water_mark: int = 100_000,
) -> Spool:
    """Open this process's spool: ``<daemon>-<pid>.db``, or the next free name.

    A name is skipped, never waited on for long, when another process owns
    the file (the same name and pid in another container or pid namespace)
    or when something else is there (a directory, a symlink, a FIFO, another
    user's file).  Each skip is logged and counted in
    ``eventlog_spool_name_taken_total``.
    """
    for seq in range(MAX_SPOOL_NAMES):
        path = spool_dir / spool_file_name(daemon_name, pid, seq)
        try:
            return Spool(path, durability=durability, high_water_mark=high_water_mark)
        except SpoolLocked as exc:
            reason, why = "locked", str(exc)
        except PathTaken as exc:
            reason, why = "not_a_spool", str(exc)
        metrics.SPOOL_NAME_TAKEN.labels(reason=reason).inc()
        LOG.warning("spool name %s is taken (%s); trying the next one", path, why)
    raise ConfigError(f"no free spool file name for {daemon_name}-{pid} in {spool_dir}"
                      f" after {MAX_SPOOL_NAMES} tries")


def _connect(path: Path, durability: Durability) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=30.0
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=" + ("FULL" if durability == "full" else "NORMAL"))
    return conn


_INSERT = "INSERT INTO events(payload, created_at) VALUES (?, ?)"
#: Most rows in one group commit (two SQL variables each, well under SQLite's limit).
MAX_GROUP = 256


@functools.lru_cache(maxsize=MAX_GROUP)
def _insert_many(n: int) -> str:
    return _INSERT + ", (?, ?)" * (n - 1)


_PENDING = "pending"  # a request's result before its commit ended


class _Request:
    """One caller's row in the group commit, and its own completion."""

    __slots__ = ("payload", "created_at", "lock", "lead", "result")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.created_at = time.time()
        self.lock = threading.Lock()
        self.lock.acquire()  # released by the leader once ``result`` (or ``lead``) is set
        self.lead = False  # this caller commits the next group
        self.result: str | None = _PENDING


class Spool(DeadLetterTable, Recovery):
    """A process's spool file: enqueue, dequeue oldest first, delete by id.

    Thread-safe: one connection, used under a lock by the callers' threads
    and the drainer.  An enqueue returns only once its row is committed
    (alone, or in one group commit with callers that queued behind a commit
    in flight), so success means the row survives a crash of this process
    (``normal``) or a power loss (``full``).
    """

    def __init__(
        self,
        path: Path,
        *,
        durability: Durability = "normal",
        high_water_mark: int = 100_000,
        lock: bool = True,
        lock_wait: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self.path = path
        self.durability = durability
        self.high_water_mark = high_water_mark
        self._mutex = threading.Lock()
        # Group commit (see enqueue): callers waiting for the commit in flight.
        self._group_lock = threading.Lock()
        self._queue: list[_Request] = []
        self._leading = False  # a caller is committing, or about to
        #: Commits of more than one row, and the rows they carried (bench, tests).
        self.group_commits = 0
        self.grouped_rows = 0
        self._lock_fd: int | None = None
        self._closed = False
        self._inherited = InheritedRows()
        # Delivered rows whose delete failed (read-only or full disk): the
        # store owns them, so they are skipped and deleted once possible.
        self._undeleted: set[int] = set()
        self._undeleted_max = 0  # they are the oldest rows: dequeue starts after this id
        self._next_delete_retry = 0.0
        created = lock and not os.path.lexists(path)
        if lock:
            self._lock_fd = self._acquire_file_lock(path, lock_wait)
        try:
            self._conn = self._open_checked()
            try:
                self.spool_id = self._ensure_spool_id()
                self._count = self._recount()
                self._data_version = self._read_data_version()
                # What is already here was spooled by someone else.
                first, last = self._conn.execute("SELECT MIN(id), MAX(id) FROM events").fetchone()
                if self._count:
                    self._inherited.add(int(first), int(last), self._count)
            except BaseException:
                self._conn.close()
                raise
        except BaseException:
            if created:
                # A file this open created and could not make a spool of (a
                # full disk) holds nothing: leave no empty file behind.
                self._remove_if_empty()
            self._release_file_lock()
            raise
        # One cursor reused by every enqueue: Connection.execute() builds a
        # new cursor per call, about 8% of an insert's CPU.
        self._insert_cursor = self._conn.cursor()
        self._identity = self._fd_identity()
        self._ops_since_check = 0
        self._next_check = time.monotonic() + LINK_CHECK_SECONDS
        self._reopen_pending = False  # re-created, but opening it failed

    # -- opening -------------------------------------------------------

    @staticmethod
    def _acquire_file_lock(path: Path, wait: float = LOCK_WAIT_SECONDS) -> int:
        """Create or open ``path`` (never through a symlink) and hold its flock.

        Others take the lock only briefly (``sfeventlog status``, a rescuer),
        so a busy lock is retried for ``wait`` seconds, then ``SpoolLocked``.
        Raises ``PathTaken`` if ``path`` is not a file we may use.
        """
        try:
            return lock_own_file(path, wait)
        except BlockingIOError as exc:
            raise SpoolLocked(str(exc)) from None

    def _remove_if_empty(self) -> None:
        try:
            if self._lock_fd is not None and os.fstat(self._lock_fd).st_size == 0:
                for suffix in ("-wal", "-shm", ""):
                    Path(str(self.path) + suffix).unlink(missing_ok=True)
        except OSError as exc:
            LOG.debug("cannot remove the empty spool file %s: %s", self.path, exc)

    def _release_file_lock(self) -> None:
        # Closed only after the SQLite connection: closing any fd on the
        # file drops this process's POSIX locks, SQLite's included.
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _open_schema(self) -> sqlite3.Connection:
        try:
            conn = _connect(self.path, self.durability)
        except sqlite3.Error as exc:
            if is_disk_full(exc, self.path):
                raise SpoolFull(self.path, exc) from exc
            raise
        try:
            conn.executescript(SCHEMA)
            check_columns(conn)
            conn.execute("SELECT COUNT(*) FROM events").fetchone()
            if self._lock_fd is not None:
                os.fchmod(self._lock_fd, 0o600)
            else:
                restrict_mode(self.path)
        except BaseException as exc:
            conn.close()
            # Not a DatabaseError, so a healthy file is never moved aside for it.
            if isinstance(exc, sqlite3.Error) and is_disk_full(exc, self.path):
                raise SpoolFull(self.path, exc) from exc
            raise
        return conn

    def _ensure_spool_id(self) -> str:
        # A new owner always gives the file a new identity: a rescuer may
        # have merged its rows under the old one already, and would skip
        # the file as "already rescued" with everything spooled since.
        verb = "REPLACE" if self._lock_fd is not None else "IGNORE"
        with self._mutex:
            self._conn.execute(
                f"INSERT OR {verb} INTO meta(key, value) VALUES ('spool_id', ?)", (uuid7(),)
            )
            row = self._conn.execute("SELECT value FROM meta WHERE key='spool_id'").fetchone()
        return str(row[0])

    def _recount(self) -> int:
        total = int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        return max(0, total - len(self._undeleted))

    def _read_data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    # -- hot path ------------------------------------------------------

    def enqueue(self, payload: bytes) -> str | None:
        """Append one row durably.

        Returns None once the row is committed (durable as ``durability``
        says), or the drop reason (``high_water_mark``, ``disk_full``,
        ``spool_error``).  Never raises for storage trouble: the caller is
        a daemon that must not stall on its event log.

        Group commit: a caller that finds no commit in flight commits its
        own row at once, in its own transaction (no timer, no batching
        delay).  Callers arriving meanwhile queue and wait on their own
        request; when the commit in flight ends, the first of them commits
        everything queued in one transaction (one fsync in ``full``), and
        each caller gets its own row's result.
        """
        request: _Request | None = None
        with self._group_lock:
            if self._leading:
                request = _Request(payload)
                self._queue.append(request)
            else:
                self._leading = True
        interrupted: BaseException | None = None
        if request is not None:
            interrupted = self._wait_turn(request)
            if not request.lead:
                if interrupted is not None:
                    raise interrupted
                return request.result
        try:
            with self._mutex:  # a fork (quiesce) never sees a commit in flight
                if request is None and not self._queue:
                    return self._commit_one(payload)  # no contention: as ever
                result = self._commit_queued(request or _Request(payload))
        finally:
            self._pass_lead()
        if interrupted is not None:
            raise interrupted
        return result

    def _wait_turn(self, request: _Request) -> BaseException | None:
        """Wait until a leader has our row's result or hands us the lead.

        A signal handler may raise in a waiting caller (the main thread).
        A row not yet taken by a leader then leaves the queue, and the
        exception goes up at once, nothing written; a row already taken is
        waited for (its caller may have been handed the lead, which must
        never be dropped), and the exception is returned, to raise after.
        """
        interrupted: BaseException | None = None
        while True:
            try:
                request.lock.acquire()
                return interrupted
            except BaseException as exc:
                with self._group_lock:
                    if request in self._queue:
                        self._queue.remove(request)
                        raise
                interrupted = exc

    def _commit_one(self, payload: bytes) -> str | None:
        """Under the mutex: one row, in its own (autocommit) transaction."""
        self._check_linked()
        # Only this process's own rows count (see sfeventlog.inherited).
        if self._count - self._inherited.waiting >= self.high_water_mark:
            return "high_water_mark"
        try:
            self._insert_cursor.execute(_INSERT, (payload, time.time()))
        except sqlite3.Error as exc:
            return _classify_write_error(exc, self.path)
        self._count += 1
        return None

    def _commit_queued(self, own: _Request) -> str | None:
        """Under the mutex: ``own`` and the rows queued behind it, as one group.

        Every follower taken is released with its result, even if an
        exception escapes: no caller is left waiting.
        """
        with self._group_lock:
            group = [own, *self._queue[: MAX_GROUP - 1]]
            del self._queue[: MAX_GROUP - 1]
        try:
            self._commit_group(group)
        finally:
            for request in group[1:]:
                if request.result is _PENDING:
                    request.result = "spool_error"
                request.lock.release()
        return own.result

    def _pass_lead(self) -> None:
        """Hand the lead to the first queued caller, or end it."""
        with self._group_lock:
            if self._queue:
                successor = self._queue.pop(0)
                successor.lead = True
                successor.lock.release()
            else:
                self._leading = False

    def _commit_group(self, group: list[_Request]) -> None:
        """Under the mutex: write the group's rows, one transaction, and set each result.

        Rows past the high-water mark are refused in queue order, so the
        mark holds exactly however many callers race at it.  If the group's
        transaction fails, nothing of it was written, and each row is tried
        again in its own transaction: one bad row cannot drop the others,
        and every caller gets its own row's drop reason.
        """
        self._check_linked()  # once per commit (it counts commits, not rows)
        # Only this process's own rows count (see sfeventlog.inherited).
        room = self.high_water_mark - (self._count - self._inherited.waiting)
        for request in group[max(0, room):]:
            request.result = "high_water_mark"
        rows = group[: max(0, room)]
        if len(rows) > 1:
            # One multi-row INSERT: one statement is one transaction (atomic,
            # one fsync in ``full``), and one step, so the GIL is released
            # and taken back once per group rather than once per row.
            params = [value for r in rows for value in (r.payload, r.created_at)]
            try:
                self._insert_cursor.execute(_insert_many(len(rows)), params)
            except sqlite3.Error as exc:
                _rollback(self._conn)
                LOG.debug("group commit of %d rows to %s failed (%s); one by one",
                          len(rows), self.path, exc)
            else:
                self._count += len(rows)
                self.group_commits += 1
                self.grouped_rows += len(rows)
                for request in rows:
                    request.result = None
                return
        for request in rows:
            try:
                self._insert_cursor.execute(_INSERT, (request.payload, request.created_at))
            except sqlite3.Error as exc:
                request.result = _classify_write_error(exc, self.path)
            else:
                self._count += 1
                request.result = None

    def dequeue_batch(self, limit: int, max_bytes: int | None = None, *,
                      after: int = 0) -> list[tuple[int, bytes]]:
        """The oldest rows as ``(id, payload)``; nothing is removed.

        At most ``limit`` rows and, when ``max_bytes`` is set, no more payload
        bytes than that (but always at least one row).  Only rows with an id
        above ``after``: a drainer reading ahead of the batches in flight.
        """
        with self._mutex:
            self._check_linked()
            self._resync_if_changed()
            # Undeleted rows are the oldest ones (delivery goes oldest first),
            # so skipping them is a range on the rowid.
            cur = self._conn.execute(
                f"SELECT id, {PAYLOAD_AS_BLOB} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (max(self._undeleted_max, after), limit),
            )
            if max_bytes is None:
                rows = cur.fetchall()
            else:
                # Stepped row by row, so large rows past the budget are never read.
                rows, size = [], 0
                for row in cur:
                    size += len(row[1])
                    if rows and size > max_bytes:
                        break
                    rows.append(row)
                cur.close()
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def delete_ids(self, ids: Iterable[int]) -> int:
        """Delete delivered rows by id (the store owns them now).

        Never raises for storage trouble.  If the delete fails (read-only or
        full disk), the ids are remembered: ``dequeue_batch`` skips them, so
        delivery goes on behind them, and they are deleted with the next
        delete that succeeds (or by ``retry_deletes``).  Returns the rows
        deleted now.
        """
        with self._mutex:
            return self._delete_locked(set(ids) - self._undeleted)

    def retry_deletes(self) -> int:
        """Delete remembered undeleted rows, at most once a second; returns rows deleted.

        If they still cannot be deleted and nothing else is in the file (all
        delivered, no dead letters), the file is replaced by a new empty
        one: a disk filled by this spool's own WAL gets its space back.
        """
        with self._mutex:
            if not self._undeleted or time.monotonic() < self._next_delete_retry:
                return 0
            deleted = self._delete_locked(set())
            self._resync_if_changed()  # rows another connection added count too
            if self._undeleted and self._count == 0:
                return self._start_afresh()
            return deleted

    def _delete_locked(self, new: set[int]) -> int:
        pending = sorted(self._undeleted | new)
        if not pending:
            return 0
        deleted = 0
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for start in range(0, len(pending), 500):
                chunk = pending[start : start + 500]
                marks = ",".join("?" * len(chunk))
                cur = self._conn.execute(f"DELETE FROM events WHERE id IN ({marks})", chunk)
                deleted += cur.rowcount
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(self._conn)
            if not self._undeleted:
                LOG.error("cannot delete delivered rows from spool %s (%s); delivery goes on,"
                          " they are deleted once the disk allows", self.path, exc)
            self._undeleted |= new
            self._undeleted_max = max(self._undeleted_max, max(new, default=0))
            self._count = max(0, self._count - len(new))
            self._inherited.forget(new)  # delivered: off the count, as above
            self._next_delete_retry = time.monotonic() + 1.0
            return 0
        # Remembered rows were taken off the count when their delete failed.
        had_backlog = len(self._undeleted)
        self._count = max(0, self._count - max(0, deleted - had_backlog))
        self._inherited.forget(new)
        self._undeleted.clear()
        self._undeleted_max = 0
        if had_backlog:
            LOG.warning("deleted %d delivered rows from spool %s that could not be deleted"
                        " before", deleted, self.path)
            self._reclaim_space()
        return deleted

    def _reclaim_space(self) -> None:
        # A WAL grown while deletes failed keeps its size until truncated.
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            LOG.debug("checkpoint of %s failed: %s", self.path, exc)

    def undeleted(self) -> int:
        """Delivered rows still in the file because their delete failed."""
        return len(self._undeleted)

    def rewrite(self, row_id: int, payload: bytes) -> None:
        """Replace one row's payload in place (upgrading an old-format row)."""
        with self._mutex:
            self._conn.execute("UPDATE events SET payload = ? WHERE id = ?", (payload, row_id))

    def note_drop(self, reason: str) -> None:
        """Persist a drop in the file's meta table, for ``sfeventlog status``.

        Best effort: a full disk is one of the reasons we get here.
        """
        with self._mutex:
            try:
                self._conn.execute(
                    "INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key)"
                    " DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                    (f"dropped_{reason}",),
                )
            except sqlite3.Error:
                pass

    def count(self) -> int:
        """Rows waiting, exact, O(1)."""
        return self._count

    def oldest_created_at(self) -> float | None:
        """When the oldest waiting row was spooled, or None if empty."""
        with self._mutex:
            row = self._conn.execute(
                "SELECT created_at FROM events ORDER BY id LIMIT 1"
            ).fetchone()
        return None if row is None else float(row[0])

    def _resync_if_changed(self) -> None:
        version = self._read_data_version()
        if version != self._data_version:
            self._data_version = version
            self._count = self._recount()
            self._inherited.recount(self._conn)

    # -- the connection and the file (recovery uses them too) ----------

    def _close_conn(self) -> None:
        # A statement left unfinalized (a failed insert's) would keep the
        # connection open as a zombie: its files held, and its WAL deleted by
        # name whenever it finally closes.  So the cursor is closed first.
        self._insert_cursor.close()
        self._conn.close()

    def _fd_identity(self) -> tuple[int, int] | None:
        if self._lock_fd is None:
            return None  # not the owner: never re-creates the file
        st = os.fstat(self._lock_fd)
        return (st.st_dev, st.st_ino)

    # -- orphan merge --------------------------------------------------

    def absorb(self, other: Path) -> int:
        """Merge another (dead) spool file's rows into this one.

        One transaction on this file copies the rows and records the other
        file's ``spool_id``; a file whose id is already recorded is not
        copied again, so a crash between the copy and the other file's
        removal cannot duplicate rows.  Returns the number of queued rows
        taken over.
        """
        with self._mutex:
            self._conn.execute("ATTACH DATABASE ? AS orphan", (str(other),))
            try:
                return self._absorb_attached()
            finally:
                try:
                    self._conn.execute("DETACH DATABASE orphan")
                except sqlite3.Error as exc:  # never in place of the error in flight
                    LOG.debug("detach of %s failed: %s", other, exc)

    def _absorb_attached(self) -> int:
        conn = self._conn
        tables = {r[0] for r in conn.execute("SELECT name FROM orphan.sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            conn.execute("CREATE TABLE orphan.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT OR IGNORE INTO orphan.meta(key, value) VALUES ('spool_id', ?)", (uuid7(),))
        other_id = conn.execute("SELECT value FROM orphan.meta WHERE key='spool_id'").fetchone()[0]
        with immediate(conn):
            if conn.execute("SELECT 1 FROM main.rescued WHERE spool_id = ?", (other_id,)).fetchone():
                return 0
            moved = 0
            before = self._max_id()
            if "events" in tables:
                # Any payload type other writers may have stored is copied
                # as a BLOB; the drainer dead-letters what does not parse.
                moved = conn.execute(
                    "INSERT INTO main.events(payload, created_at)"
                    f" SELECT {PAYLOAD_AS_BLOB}, ifnull(CAST(created_at AS REAL), 0.0)"
                    " FROM orphan.events ORDER BY id"
                ).rowcount
            if "deadletter" in tables:
                conn.execute(
                    "INSERT INTO main.deadletter(payload, created_at, reason, error, error_class,"
                    " attempts, first_seen, last_seen) SELECT payload, created_at, reason, error,"
                    " error_class, attempts, first_seen, last_seen FROM orphan.deadletter ORDER BY id"
                )
            if "rescued" in tables:
                conn.execute("INSERT OR IGNORE INTO main.rescued SELECT * FROM orphan.rescued")
            conn.execute(
                "INSERT INTO main.rescued(spool_id, rescued_at) VALUES (?, ?)", (other_id, time.time())
            )
        self._count += moved
        self._inherited.add_new_rows(conn, before, moved)
        self._data_version = self._read_data_version()
        return moved

    def _max_id(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM main.events").fetchone()[0])

    def insert_raw(self, rows: Iterable[tuple[bytes, float]]) -> int:
        """Insert already-encoded rows in one transaction (salvage, tools).

        They count as taken over, not against the high-water mark.
        """
        with self._mutex:
            with immediate(self._conn):
                before = self._max_id()
                n = self._conn.executemany(
                    "INSERT INTO events(payload, created_at) VALUES (?, ?)", rows
                ).rowcount
            self._count += n
            self._inherited.add_new_rows(self._conn, before, n)
            return n

    # -- lifecycle -----------------------------------------------------

    def close(self, *, remove_if_empty: bool = False) -> None:
        """Close the connection, then release the file lock. Idempotent.

        With ``remove_if_empty``, a spool holding no rows and no dead
        letters is deleted, so clean shutdowns leave no files behind.
        Never raises for storage trouble: a file that cannot be removed (a
        read-only disk) is left for the next process to rescue; its
        delivered rows are sent again there and the store ignores them.
        """
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            self._delete_locked(set())
            empty = False
            if remove_if_empty:
                try:
                    empty = not self._conn.execute(
                        "SELECT 1 FROM events UNION ALL SELECT 1 FROM deadletter LIMIT 1"
                    ).fetchone()
                except sqlite3.Error as exc:
                    LOG.warning("cannot read spool %s at close: %s", self.path, exc)
            self._close_conn()
            if empty:
                try:
                    for suffix in ("-wal", "-shm", ""):
                        Path(str(self.path) + suffix).unlink(missing_ok=True)
                except OSError as exc:
                    LOG.warning("cannot remove empty spool %s: %s", self.path, exc)
            self._release_file_lock()

    def quiesce(self) -> None:
        """Hold the spool's lock so no thread is inside SQLite; see ``resume``.

        Called just before ``fork()``: a thread inside a SQLite call holds
        SQLite's own mutexes, and a child forked then inherits them locked
        and hangs in its first ``sqlite3.connect``.
        """
        self._mutex.acquire()

    def resume(self) -> None:
        """Release what ``quiesce`` took (in the parent and in the child)."""
        self._mutex.release()

    def abandon_after_fork(self) -> None:
        """In a forked child: forget the parent's connection without using it.

        The SQLite connection must not be touched (nor closed) in the child.
        The inherited lock fd is closed: the parent's own fd keeps its lock.
        """
        self._closed = True
        _ABANDONED.append(self._conn)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


# Connections inherited across fork; kept referenced so they are never
# finalised (and so never closed) in the child.
_ABANDONED: list[sqlite3.Connection] = []


def is_disk_full(exc: sqlite3.Error, path: Path) -> bool:
    """True for a write that failed for want of space (not for a damaged file)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return False
    if code & 0xFF == sqlite3.SQLITE_FULL:
        return True
    # ENOSPC while growing the WAL or -shm can also surface as an I/O error.
    return code & 0xFF in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN) and _no_space_left(path)


def _classify_write_error(exc: sqlite3.Error, path: Path) -> str:
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or _no_space_left(path):
        # ENOSPC while growing the WAL can also surface as SQLITE_IOERR.
        return "disk_full"
    LOG.error("spool write to %s failed: %s", path, exc)
    return "spool_error"


def _no_space_left(path: Path) -> bool:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024
