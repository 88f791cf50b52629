"""A spool file's recovery: damaged on open, deleted under its owner, full of undeletable rows.

``Recovery`` is a part of ``sfeventlog.spool.Spool`` (a mixin), working on
the spool's connection and file lock under the spool's mutex:

* a file SQLite reports as damaged when it is opened is moved aside
  (``move_aside``), a new one is made in its place, and the readable rows
  of the old one are salvaged into it (``sfeventlog.salvage``);
* a file unlinked under its owner is noticed (one ``stat`` every
  ``LINK_CHECK_EVERY`` commits or ``LINK_CHECK_SECONDS``) and re-created
  with its waiting rows, dead letters and rescue records, same ids;
* a file holding only delivered rows it cannot delete (a disk filled by
  its own WAL) is replaced by an empty one, which gives the space back.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sfeventlog import metrics
from sfeventlog.ids import uuid7
from sfeventlog.inherited import InheritedRows
from sfeventlog.ownership import CORRUPT_MARKER, SpoolLocked
from sfeventlog.salvage import PAYLOAD_AS_BLOB, salvage_rows
from sfeventlog.spool_schema import SCHEMA
from sfeventlog.sqlite_tx import immediate

LOG = logging.getLogger(__name__)

#: The owner checks that its file is still at its path (one ``stat``) every
#: this many commits (a group commit counts once), and on the first enqueue
#: or dequeue after this many seconds: a file unlinked under it is noticed
#: within a second or so.
LINK_CHECK_EVERY = 256
LINK_CHECK_SECONDS = 1.0


#: SQLite's primary result codes that mean the file itself is damaged.
_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """True when ``exc`` says the file is damaged or not a spool, so moving it
    aside is right; False for trouble that leaves the file intact (busy, no
    file descriptors, I/O errors, a read-only disk), where it must stay."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return True  # raised by our own schema checks: a foreign file
    return code & 0xFF in _DAMAGE_CODES


def move_aside(path: Path, why: str) -> Path:
    """Rename a damaged spool file (and its -wal/-shm) out of the way."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}{CORRUPT_MARKER}{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(target) + suffix))
    metrics.SPOOL_CORRUPT.inc()
    LOG.error("spool file %s is unreadable (%s); moved aside to %s", path, why, target)
    return target


class Recovery:
    """Salvage on open, relink after an unlink, start afresh after a full disk."""

    # The spool's state these methods use (set by Spool.__init__).
    path: Path
    spool_id: str
    _conn: sqlite3.Connection
    _insert_cursor: sqlite3.Cursor
    _lock_fd: int | None
    _identity: tuple[int, int] | None
    _count: int
    _data_version: int
    _inherited: InheritedRows
    _undeleted: set[int]
    _undeleted_max: int
    _ops_since_check: int
    _next_check: float
    _reopen_pending: bool

    if TYPE_CHECKING:
        @staticmethod
        def _acquire_file_lock(path: Path, wait: float = ...) -> int:
            raise NotImplementedError

        def _open_schema(self) -> sqlite3.Connection:
            raise NotImplementedError

        def _recount(self) -> int:
            raise NotImplementedError

        def _read_data_version(self) -> int:
            raise NotImplementedError

        def _close_conn(self) -> None:
            raise NotImplementedError

        def _fd_identity(self) -> tuple[int, int] | None:
            raise NotImplementedError

    def _open_checked(self) -> sqlite3.Connection:
        """Open the file; one SQLite calls damaged is moved aside and its rows salvaged."""
        try:
            return self._open_schema()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise  # busy, no fds, I/O trouble: the file may be fine, keep it
            aside = move_aside(self.path, str(exc))
        if self._lock_fd is not None:
            # The fd still points at the renamed file; lock the new one.
            old_fd, self._lock_fd = self._lock_fd, None
            os.close(old_fd)
            self._lock_fd = self._acquire_file_lock(self.path)
        conn = self._open_schema()
        rows = salvage_rows(aside)
        if rows:
            with immediate(conn):
                conn.executemany("INSERT INTO events(payload, created_at) VALUES (?, ?)", rows)
            LOG.warning("recovered %d rows from damaged spool %s", len(rows), aside)
        return conn

    def _start_afresh(self) -> int:
        """Replace a file holding only undeletable delivered rows; returns rows dropped."""
        if self._lock_fd is None:
            return 0
        try:
            # Decided on the file, not on the in-memory count, and under a
            # write lock: another connection (``sfeventlog deadletter
            # replay``) may have just put rows back, and they must survive.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                waiting = int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
                dead = self._conn.execute("SELECT 1 FROM deadletter LIMIT 1").fetchone()
                if dead or waiting != len(self._undeleted):
                    return 0
                # Unlinked first: if the disk refuses (read-only), nothing changed.
                for suffix in ("", "-wal", "-shm"):
                    Path(str(self.path) + suffix).unlink(missing_ok=True)
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
        except (OSError, sqlite3.Error) as exc:
            LOG.debug("cannot replace spool %s: %s", self.path, exc)
            return 0
        self._close_conn()  # frees the space
        old_fd, self._lock_fd = self._lock_fd, None
        os.close(old_fd)
        dropped = len(self._undeleted)
        self._undeleted.clear()
        self._undeleted_max = 0
        self._inherited.clear()
        self._reopen_pending = True
        self._reopen()
        LOG.warning("spool %s held only %d delivered rows it could not delete (a full disk);"
                    " replaced it with an empty file", self.path, dropped)
        return dropped

    def _check_linked(self) -> None:
        """Under the mutex: if due, check the file is still at our path; relink if not."""
        self._ops_since_check += 1
        if self._identity is None or (self._ops_since_check < LINK_CHECK_EVERY
                                      and time.monotonic() < self._next_check):
            return
        self._ops_since_check = 0
        self._next_check = time.monotonic() + LINK_CHECK_SECONDS
        if self._reopen_pending:
            self._reopen()
            return
        try:
            os.stat(self.path)
            return  # there (a different file there is not ours to take over)
        except FileNotFoundError:
            pass
        except OSError:
            return
        try:
            self._relink()
        except (OSError, sqlite3.Error, SpoolLocked) as exc:
            LOG.error("spool %s was deleted under this process and cannot be re-created"
                      " yet (%s); its rows stay in the deleted file, retrying", self.path, exc)

    def _relink(self) -> None:
        """Write this spool's rows (same ids) into a new file at its path.

        Built under a temporary name (no ``.db``, so rescuers skip it),
        flocked before it is renamed into place; the old connection is closed
        only once the new file is complete, so a failure leaves the old one
        in use and the next check tries again.
        """
        tmp = self.path.with_name(self.path.name + ".relink")
        for suffix in ("", "-journal"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            moved = self._copy_into(tmp)
            self._close_conn()  # also removes a stale -wal at our path, nothing newer
            Path(str(self.path) + "-shm").unlink(missing_ok=True)
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        old_fd, self._lock_fd = self._lock_fd, fd
        if old_fd is not None:
            os.close(old_fd)
        self._identity = self._fd_identity()
        self._undeleted.clear()
        self._undeleted_max = 0
        LOG.error("spool %s was deleted under this process; re-created it with its %d"
                  " waiting rows", self.path, moved)
        self._reopen_pending = True
        self._reopen()

    def _reopen(self) -> None:
        # The rows are safe in the new file; until it opens, writes fail
        # (counted drops) and the next check tries again.
        try:
            if self._lock_fd is None:  # the owner's file is gone: a new one, ours
                self._lock_fd = self._acquire_file_lock(self.path, 0)
                self._identity = self._fd_identity()
            conn = self._open_schema()
        except (OSError, sqlite3.Error, SpoolLocked) as exc:
            LOG.error("cannot open the re-created spool %s yet: %s", self.path, exc)
            return
        self._conn, self._reopen_pending = conn, False
        self._insert_cursor = conn.cursor()
        self._count = self._recount()
        self._data_version = self._read_data_version()
        # A file made afresh needs its (new) identity; a relinked one has it.
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('spool_id', ?)", (uuid7(),))
        row = conn.execute("SELECT value FROM meta WHERE key='spool_id'").fetchone()
        self.spool_id = str(row[0])

    def _copy_into(self, target: Path) -> int:
        """Copy the waiting rows, dead letters and rescue records into a new file."""
        dst = sqlite3.connect(str(target), isolation_level=None)
        try:
            dst.execute("PRAGMA journal_mode=DELETE")  # no -wal to follow the rename
            dst.executescript(SCHEMA)
            with immediate(dst):
                # Delivered rows whose delete failed are not copied.
                events = [r for r in self._conn.execute(
                    f"SELECT id, {PAYLOAD_AS_BLOB}, created_at FROM events ORDER BY id")
                    if r[0] not in self._undeleted]
                dst.executemany("INSERT INTO events(id, payload, created_at) VALUES (?, ?, ?)",
                                events)
                dst.executemany("INSERT INTO deadletter VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                self._conn.execute("SELECT * FROM deadletter"))
                dst.executemany("INSERT INTO rescued VALUES (?, ?)",
                                self._conn.execute("SELECT spool_id, rescued_at FROM rescued"))
                # A new file is a new identity: a fresh spool_id.
                dst.execute("INSERT INTO meta(key, value) VALUES ('spool_id', ?)", (uuid7(),))
        finally:
            dst.close()
        return len(events)
