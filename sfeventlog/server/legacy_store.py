"""The reference sf-eventlog's own store: one SQLite row per (event, object).

Upstream keeps per-object SQLite files and has no idempotency.  This store
keeps one file, keyed by (correlation_id, object_type, object_uuid), where
the correlation id is the sender's ``event_uuid`` extension field when
present (so a replayed event adds nothing) and a fresh uuid otherwise (an
upstream sender: every copy is kept, as upstream would).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS legacy_events (
    correlation_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    object_uuid TEXT NOT NULL,
    event_type TEXT NOT NULL,
    timestamp REAL NOT NULL,
    fqdn TEXT NOT NULL,
    duration REAL,
    message TEXT NOT NULL,
    extra TEXT NOT NULL,
    method TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (correlation_id, object_type, object_uuid)
)
"""


@dataclass(frozen=True)
class LegacyRow:
    """One stored row; ``extra`` is the JSON string exactly as received."""

    correlation_id: str
    position: int
    object_type: str
    object_uuid: str
    event_type: str
    timestamp: float
    fqdn: str
    duration: float | None
    message: str
    extra: str
    method: str
    received_at: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = ", ".join(LegacyRow.__dataclass_fields__)
_PLACEHOLDERS = ", ".join("?" for _ in LegacyRow.__dataclass_fields__)


class LegacyStore:
    """Thread-safe (one connection behind a lock); writes commit per call."""

    FILENAME = "eventlog.sqlite"

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / self.FILENAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()
        self._inode = self.path.stat().st_ino

    def _same_file(self) -> None:
        """Raise if the file was removed or replaced: rows written now would be lost."""
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            raise OSError(f"{self.path} is gone") from None
        if inode != self._inode:
            raise OSError(f"{self.path} was replaced by another file")

    def insert(self, rows: Iterable[LegacyRow]) -> int:
        """Store rows in one transaction; returns how many were new."""
        values = [tuple(asdict(r).values()) for r in rows]
        with self._lock:
            self._same_file()
            before = self._db.total_changes
            with self._db:
                self._db.executemany(
                    f"INSERT OR IGNORE INTO legacy_events ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
                    values,
                )
            return self._db.total_changes - before

    def ping(self) -> None:
        """Check the file is still ours and read one row; raises if not."""
        with self._lock:
            self._same_file()
            self._db.execute("SELECT 1 FROM legacy_events LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def read_rows(directory: Path) -> list[LegacyRow]:
    """Every stored row, oldest first (read-only; for tests and the CLI)."""
    path = directory / LegacyStore.FILENAME
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        cursor = db.execute(f"SELECT {_COLUMNS} FROM legacy_events ORDER BY rowid")
        return [LegacyRow(*row) for row in cursor.fetchall()]
    finally:
        db.close()
