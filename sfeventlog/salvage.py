"""Recover what SQLite can still read from a damaged spool file.

A damaged stretch (a corrupt page, or the end of a truncated file) is
stepped over by row id, so the rows on intact pages survive.  Rows that
could not be read are estimated, counted in
``eventlog_spool_salvage_lost_total{reason}`` and logged: a recovery that
loses rows is never silent.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from sfeventlog import metrics

LOG = logging.getLogger(__name__)

#: A payload of any SQLite type as bytes: TEXT as its UTF-8 bytes (other
#: writers store JSON as TEXT), numbers as their text, NULL as empty bytes;
#: the drainer delivers what parses and dead-letters the rest.
PAYLOAD_AS_BLOB = "ifnull(CAST(payload AS BLOB), X'')"

# Row ids are stepped over in growing jumps, so a long unreadable tail costs
# about 64 failed reads, not one per row id.
_MAX_JUMP = 1 << 62
# Bounds the work on a file full of garbage; each step moves past one stretch.
_MAX_STEPS = 100_000


def salvage_rows(damaged: Path) -> list[tuple[bytes, float]]:
    """The readable ``events`` rows of ``damaged``, as ``(payload, created_at)``.

    Reads in id order and steps over unreadable stretches, so rows on
    intact pages survive a damaged page elsewhere.  Never raises.
    """
    try:
        src = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        LOG.error("nothing salvageable in %s: %s", damaged, exc)
        return []
    try:
        # Lets SQLite read a file shorter than its header says (truncated)
        # instead of refusing it whole; nothing is written (read-only).
        src.execute("PRAGMA writable_schema=ON")
        rows, skipped, tail_lost = _scan(src)
        pages_missing = _pages_missing(damaged)
    except sqlite3.Error as exc:
        LOG.error("nothing salvageable in %s: %s", damaged, exc)
        return []
    finally:
        src.close()
    lost = {"damaged_page": skipped, "truncated": 0}
    if tail_lost:
        # The end is unreadable: estimate its rows from the pages that are gone.
        per_page = max(1, len(rows) // max(1, _page_count(damaged)))
        lost["truncated" if pages_missing else "damaged_page"] += per_page * max(1, pages_missing)
    for reason, n in lost.items():
        if n:
            metrics.SPOOL_SALVAGE_LOST.labels(reason=reason).inc(n)
    if any(lost.values()):
        LOG.error("salvaged %d rows of damaged spool %s; about %d rows could not be read"
                  " (%s)", len(rows), damaged, sum(lost.values()),
                  ", ".join(f"{k}={v}" for k, v in lost.items() if v))
    return rows


_Row = tuple[int, bytes, object, int]
_QUERY = (f"SELECT id, {PAYLOAD_AS_BLOB}, created_at, payload IS NULL FROM events"
          " WHERE id > ? ORDER BY id LIMIT ?")
# Rows per read.  Python's cursor reads one row ahead, so a read that fails
# on a damaged page also loses the row before it; LIMIT 1 never looks ahead.
_CHUNK = 500


def _scan(src: sqlite3.Connection) -> tuple[list[tuple[bytes, float]], int, bool]:
    """Rows, row ids stepped over between readable rows, and whether the end was unreadable."""
    rows: list[tuple[bytes, float]] = []
    last_id, skipped = 0, 0

    def keep(row: _Row) -> bool:
        # False for a row id going backwards: garbage cells of a damaged page.
        nonlocal last_id
        row_id, payload, created_at, no_payload = row
        if row_id <= last_id:
            return False
        last_id = row_id
        if not (no_payload and created_at is None):  # else a zeroed cell, not a row
            rows.append((bytes(payload), _timestamp(created_at)))
        return True

    for _ in range(_MAX_STEPS):
        before = last_id
        try:
            chunk = src.execute(_QUERY, (last_id, _CHUNK)).fetchall()
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "no such table" in str(exc):
                raise
        else:
            if not chunk:
                return rows, skipped, False
            if all(keep(row) for row in chunk):
                continue
        # Re-read one row at a time up to the damage, then step over it.
        while isinstance(row := _row_after(src, last_id), tuple) and keep(row):
            pass
        if row is _END:
            return rows, skipped, False
        next_id = _next_readable(src, last_id)
        if next_id is None:
            return rows, skipped, True
        if next_id - 1 > last_id:
            skipped += next_id - last_id - 1
            last_id = next_id - 1
        elif last_id == before:
            skipped, last_id = skipped + 1, last_id + 1  # always move on
    return rows, skipped, True


_END, _ERROR = "end", "error"


def _row_after(src: sqlite3.Connection, row_id: int) -> _Row | str:
    """The first row after ``row_id``, ``_END`` if there is none, ``_ERROR`` if unreadable."""
    try:
        row = src.execute(_QUERY, (row_id, 1)).fetchone()
    except sqlite3.DatabaseError:
        return _ERROR
    if row is None:
        return _END
    return (int(row[0]), row[1], row[2], int(row[3]))


def _next_readable(src: sqlite3.Connection, bad: int) -> int | None:
    """The first readable row id after the unreadable stretch just after ``bad``."""
    # Gallop to a readable point, then bisect back to the stretch's end, so
    # no readable row between is jumped over.
    low, jump = bad, 1
    while _row_after(src, bad + jump) is _ERROR:
        low, jump = bad + jump, jump * 2
        if jump > _MAX_JUMP:
            return None
    high = bad + jump  # reading after ``high`` works, after ``low`` fails
    while high - low > 1:
        mid = (low + high) // 2
        if _row_after(src, mid) is _ERROR:
            low = mid
        else:
            high = mid
    found = _row_after(src, high)
    return found[0] if isinstance(found, tuple) else None


def _timestamp(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else time.time()


def _page_count(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            header = f.read(100)
        page_size = int.from_bytes(header[16:18], "big") or 65536
        return max(1, path.stat().st_size // page_size)
    except OSError:
        return 1


def _pages_missing(path: Path) -> int:
    """Pages the file's header counts but the file no longer holds (truncation)."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError:
        return 0
    if len(header) < 32:
        return 0
    in_header = int.from_bytes(header[28:32], "big")
    return max(0, in_header - _page_count(path))
