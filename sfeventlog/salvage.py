"""Recover what SQLite can still read from a damaged spool file."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

LOG = logging.getLogger(__name__)

# Each skip steps over one rowid of a damaged page; a page holds a few
# hundred rows, so this bounds the work to a few hundred damaged pages.
_MAX_SKIPS = 100_000


def salvage_rows(damaged: Path) -> list[tuple[bytes, float]]:
    """The readable ``events`` rows of ``damaged``, as ``(payload, created_at)``.

    Reads in id order and steps over unreadable stretches, so rows on
    intact pages survive a damaged page elsewhere.
    """
    try:
        src = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    rows: list[tuple[bytes, float]] = []
    try:
        last_id, skips = -1, 0
        while skips < _MAX_SKIPS:
            try:
                cur = src.execute(
                    "SELECT id, payload, created_at FROM events WHERE id > ? ORDER BY id", (last_id,)
                )
                for row_id, payload, created_at in cur:
                    rows.append((bytes(payload), float(created_at)))
                    last_id = int(row_id)
                break
            except sqlite3.DatabaseError as exc:
                if "not a database" in str(exc):
                    break
                skips += 1
                last_id += 1
    except sqlite3.Error as exc:
        LOG.warning("nothing salvageable in %s: %s", damaged, exc)
    finally:
        src.close()
    return rows
