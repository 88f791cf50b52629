"""Read-only views of spool files, for the CLI and operators.

These open files with their own read-only connection and take no lock, so
they are safe against a live owner; their counts may be a moment stale.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sfeventlog.spool import CORRUPT_MARKER, SPOOL_SUFFIX


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


def _owner_alive(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_spool_file(path: Path) -> SpoolFileStatus:
    """Depth, oldest age, dead letters and persisted drop counts of one file."""
    alive = _owner_alive(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
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


def spool_files(spool_dir: Path) -> list[Path]:
    """Live or orphaned spool files in a directory."""
    return sorted(p for p in spool_dir.glob(f"*{SPOOL_SUFFIX}") if CORRUPT_MARKER not in p.name)


def corrupt_files(spool_dir: Path) -> list[Path]:
    """Damaged spool files that were moved aside (main files only)."""
    return sorted(
        p for p in spool_dir.glob(f"*{CORRUPT_MARKER}*")
        if not p.name.endswith(("-wal", "-shm"))
    )
