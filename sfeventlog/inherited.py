"""Rows a spool took over rather than spooled for its own callers.

The high-water mark bounds only the rows this process spooled itself.  Rows
it took over (a dead predecessor's backlog in the file it reopened, orphans
it rescued, salvaged rows) are delivered like any other but never count
against the mark, so a rescue can never make a live daemon drop its own
events.  The spool can therefore hold up to the mark plus what it took
over, and the part taken over only shrinks.

Taken-over rows arrive in blocks of consecutive ids (one transaction each),
so they are tracked as id ranges; the drainer's deletes are subtracted.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable


class InheritedRows:
    """Id ranges of taken-over rows and how many of them still wait."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ranges: list[tuple[int, int]] = []
        self.waiting = 0

    def add(self, first: int, last: int, rows: int) -> None:
        """Record ``rows`` rows inserted with ids ``first``..``last``."""
        if rows <= 0:
            return
        index = bisect.bisect(self._starts, first)
        self._starts.insert(index, first)
        self._ranges.insert(index, (first, last))
        self.waiting += rows

    def add_new_rows(self, conn: sqlite3.Connection, after_id: int, rows: int) -> None:
        """Record the ``rows`` rows just inserted with ids above ``after_id``."""
        if rows > 0:
            last = int(conn.execute("SELECT MAX(id) FROM main.events").fetchone()[0])
            self.add(after_id + 1, last, rows)

    def forget(self, ids: Iterable[int]) -> None:
        """Subtract deleted rows that were taken over."""
        if not self._ranges:
            return
        for row_id in ids:
            index = bisect.bisect(self._starts, row_id) - 1
            if index >= 0 and row_id <= self._ranges[index][1]:
                self.waiting -= 1
        if self.waiting <= 0:
            self.clear()

    def recount(self, conn: sqlite3.Connection) -> None:
        """Count again after another connection changed the table."""
        self.waiting = sum(
            int(conn.execute("SELECT COUNT(*) FROM events WHERE id BETWEEN ? AND ?",
                             (first, last)).fetchone()[0])
            for first, last in self._ranges
        )
        if self.waiting <= 0:
            self.clear()

    def clear(self) -> None:
        # Ids restart once the table is empty: old ranges would then
        # cover the process's own rows.
        self._starts.clear()
        self._ranges.clear()
        self.waiting = 0
