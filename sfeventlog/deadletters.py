"""A spool's dead-letter table: rows the store refused, kept until replayed or purged.

``DeadLetterTable`` is a part of ``sfeventlog.spool.Spool`` (a mixin): it
works on the spool's connection under the spool's mutex and keeps the
spool's in-memory row count right when rows move between the queue and the
table.  The table itself is in ``sfeventlog.spool_schema``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sfeventlog import metrics
from sfeventlog.inherited import InheritedRows
from sfeventlog.sqlite_tx import immediate


@dataclass(frozen=True)
class DeadLetter:
    """One row of the dead-letter table."""

    id: int
    payload: bytes
    created_at: float
    reason: str
    error: str
    error_class: str
    attempts: int
    first_seen: float
    last_seen: float


class DeadLetterTable:
    """Move to, list, replay and purge the spool's dead letters."""

    # The spool's state these methods use (set by Spool.__init__).
    _mutex: threading.Lock
    _conn: sqlite3.Connection
    _count: int
    _data_version: int
    _inherited: InheritedRows

    if TYPE_CHECKING:
        def _read_data_version(self) -> int:
            raise NotImplementedError

    def move_to_deadletter(
        self,
        row_id: int,
        payload: bytes,
        *,
        reason: str,
        error: str,
        error_class: str,
        attempts: int,
        first_seen: float,
    ) -> None:
        """Move one row from the queue to the dead-letter table atomically."""
        now = time.time()
        with self._mutex:
            with immediate(self._conn):
                cur = self._conn.execute("DELETE FROM events WHERE id = ?", (row_id,))
                if cur.rowcount:
                    self._conn.execute(
                        "INSERT INTO deadletter(payload, created_at, reason, error,"
                        " error_class, attempts, first_seen, last_seen)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (payload, now, reason, error, error_class, attempts, first_seen, now),
                    )
            self._count -= cur.rowcount
            if cur.rowcount:
                self._inherited.forget((row_id,))
        if cur.rowcount:
            metrics.SPOOL_DEADLETTER.labels(reason=reason).inc()

    def deadletter_count(self) -> int:
        """Rows in the dead-letter table."""
        with self._mutex:
            return int(self._conn.execute("SELECT COUNT(*) FROM deadletter").fetchone()[0])

    def deadletters(self, ids: Sequence[int] | None = None) -> list[DeadLetter]:
        """Dead-letter rows, all or the given ids, oldest first."""
        where, params = _id_filter(ids)
        query = (
            "SELECT id, payload, created_at, reason, error, error_class, attempts,"
            f" first_seen, last_seen FROM deadletter{where}"
        )
        with self._mutex:
            rows = self._conn.execute(query + " ORDER BY id", params).fetchall()
        return [
            DeadLetter(int(r[0]), bytes(r[1]), float(r[2]), r[3], r[4], r[5], int(r[6]),
                       float(r[7]), float(r[8]))
            for r in rows
        ]

    def replay_deadletters(self, ids: Sequence[int] | None = None) -> int:
        """Move dead letters (all, or the given ids) back into the queue."""
        where, params = _id_filter(ids)
        with self._mutex:
            with immediate(self._conn):
                cur = self._conn.execute(
                    "INSERT INTO events(payload, created_at) SELECT payload, first_seen"
                    f" FROM deadletter{where} ORDER BY id",
                    params,
                )
                moved = cur.rowcount
                self._conn.execute(f"DELETE FROM deadletter{where}", params)
            self._count += moved
            self._data_version = self._read_data_version()
        return moved

    def purge_deadletters(self, ids: Sequence[int] | None = None) -> int:
        """Delete dead letters (all, or the given ids) for good."""
        where, params = _id_filter(ids)
        with self._mutex:
            return int(self._conn.execute(f"DELETE FROM deadletter{where}", params).rowcount)


def _id_filter(ids: Sequence[int] | None) -> tuple[str, list[int]]:
    if ids is None:
        return "", []
    return f" WHERE id IN ({','.join('?' * len(ids))})", list(ids)
