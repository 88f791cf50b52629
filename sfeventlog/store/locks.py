"""Named locks shared by every process using one store.

A prune must not run twice at once, and with ``serve database
--prune-every`` exactly one of the servers sharing a store runs the
schedule.  Both use a ``NamedLock`` from ``EventStore.named_lock``:

* MariaDB: ``GET_LOCK(name, 0)`` on a connection of the lock's own.  The
  server releases it when that connection ends, so a crashed holder never
  leaves a stale lock behind (no lock table to clean up).  Names are
  prefixed with the database name: the lock namespace is server-wide.
* SQLite: ``flock`` on ``<store>.<name>.lock`` next to the store file,
  released by the kernel when the holder dies.
"""

from __future__ import annotations

import abc
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfeventlog.errors import RetryableError

if TYPE_CHECKING:
    import pymysql.connections
    import pymysql.cursors

    Conn = pymysql.connections.Connection[pymysql.cursors.Cursor]

LOG = logging.getLogger(__name__)

#: Held while one prune runs (RPC, CLI or schedule).
PRUNE_RUN_LOCK = "sfeventlog-prune-run"
#: Held by the one server that runs ``--prune-every``.
PRUNE_SCHEDULE_LOCK = "sfeventlog-prune-schedule"


class NamedLock(abc.ABC):
    """A non-blocking, exclusive lock; ``try_acquire`` again to check it is still held."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def try_acquire(self) -> bool:
        """True if this holder has the lock now (taking it if free).

        Raises ``RetryableError`` when the store cannot be reached.
        """

    @abc.abstractmethod
    def release(self) -> None:
        """Give the lock up; safe to call when not held."""

    def __enter__(self) -> bool:
        return self.try_acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class MariaDBNamedLock(NamedLock):
    """``GET_LOCK`` on a dedicated connection made by ``connect``."""

    def __init__(self, name: str, connect: Callable[[], Conn]) -> None:
        if len(name) > 64:  # MariaDB's limit on lock names
            raise ValueError(f"lock name {name!r} is longer than MariaDB's 64 characters")
        super().__init__(name)
        self._connect = connect
        self._conn: Conn | None = None

    def _scalar(self, sql: str) -> Any:
        assert self._conn is not None
        with self._conn.cursor() as cur:
            cur.execute(sql, (self.name,))
            row = cur.fetchone()
        return row[0] if row else None

    def try_acquire(self) -> bool:
        import pymysql

        try:
            if self._conn is not None and self._scalar(
                    "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()") == 1:
                return True
            self._close()
            self._conn = self._connect()
            return bool(self._scalar("SELECT GET_LOCK(%s, 0)") == 1)
        except pymysql.MySQLError as exc:
            self._close()
            raise RetryableError(f"lock {self.name}: {exc}") from exc

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()  # ends the session: the server releases its locks
            except Exception:  # noqa: BLE001 - already broken
                pass

    def release(self) -> None:
        self._close()


class FileNamedLock(NamedLock):
    """``flock`` on ``path``; the kernel releases it if the holder dies."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise RetryableError(f"lock file {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
