"""Read-only views of spool files, for the CLI and operators.

These open files with their own read-only connection and take no lasting
lock, so they are safe against a live owner; their counts may be a moment
stale.  They never create, rename or change a file, and skip anything that
is not a regular file (a FIFO named ``*.db`` would block an open).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sfeventlog.ownership import (
    CORRUPT_MARKER,
    SPOOL_SUFFIX,
    owner_alive,
    readonly_uri,
    regular_file,
)
from sfeventlog.spool import DeadLetter


@dataclass(frozen=True)
class SpoolFileStatus:
    """What one spool file holds."""

    path: str
    owner_alive: bool
    depth: int
    oldest_age_seconds: float | None
    deadletter: int
    dropped: dict[str, int]
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _connect_ro(path: Path) -> sqlite3.Connection:
    if not regular_file(path):
        raise sqlite3.DatabaseError(f"{path} is not a regular file")
    return sqlite3.connect(readonly_uri(path), uri=True, timeout=5.0)


def read_spool_file(path: Path) -> SpoolFileStatus:
    """Depth, oldest age, dead letters and persisted drop counts of one file."""
    alive = owner_alive(path)
    try:
        conn = _connect_ro(path)
        try:
            depth = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            oldest = conn.execute("SELECT created_at FROM events ORDER BY id LIMIT 1").fetchone()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            dead = 0
            dropped: dict[str, int] = {}
            if "deadletter" in tables:
                dead = int(conn.execute("SELECT COUNT(*) FROM deadletter").fetchone()[0])
            if "meta" in tables:
                for key, value in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped_%'"):
                    dropped[key.removeprefix("dropped_")] = int(value)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return SpoolFileStatus(str(path), alive, 0, None, 0, {}, error=str(exc))
    age = None if oldest is None else max(0.0, time.time() - float(oldest[0]))
    return SpoolFileStatus(str(path), alive, depth, age, dead, dropped)


def read_deadletters(path: Path) -> list[DeadLetter]:
    """The dead-letter rows of one file, oldest first, read-only.

    A file without a dead-letter table (an upstream spool) has none.
    """
    conn = _connect_ro(path)
    try:
        if not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='deadletter'"
        ).fetchone():
            return []
        rows = conn.execute(
            "SELECT id, payload, created_at, reason, error, error_class, attempts,"
            " first_seen, last_seen FROM deadletter ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [DeadLetter(int(r[0]), bytes(r[1]), float(r[2]), r[3], r[4], r[5], int(r[6]),
                       float(r[7]), float(r[8])) for r in rows]


def spool_files(spool_dir: Path) -> list[Path]:
    """Live or orphaned spool files in a directory: regular files only."""
    return sorted(
        p for p in spool_dir.glob(f"*{SPOOL_SUFFIX}")
        if CORRUPT_MARKER not in p.name and regular_file(p)
    )


def corrupt_files(spool_dir: Path) -> list[Path]:
    """Damaged spool files that were moved aside (main files only)."""
    return sorted(
        p for p in spool_dir.glob(f"*{CORRUPT_MARKER}*")
        if not p.name.endswith(("-wal", "-shm"))
    )
