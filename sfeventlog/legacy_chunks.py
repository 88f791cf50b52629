"""sf-eventlog's on-disk history: per-object, per-month SQLite chunk files.

Upstream's layout (``shakenfist/eventlog.py``), under ``<STORAGE_PATH>/events``:

* ``<object_type>/<object_uuid[0:2]>/<object_uuid>.<YYYYMM>``: one chunk per
  object and (local-time) month; beside it ``<object_uuid>.lock``,
  ``*.corrupt`` chunks moved aside, and SQLite's ``-wal`` / ``-shm`` /
  ``-journal`` files.
* data-store version 1 (before sharding) kept ``<object_type>/<object_uuid>``
  unsharded; ``_version`` records the data-store version.

Chunk schema versions 1 to 8, each upgrade in place, recorded in
``version(version int primary key)``:

* v1: ``events(timestamp real PRIMARY KEY, fqdn, operation, phase, duration, message)``
* v2: ``+ extra`` (JSON text); v3, v4: only deletions of old node rows
* v5: ``+ type`` (existing rows set to ``historic``)
* v6: ``- operation, - phase``; v7: timestamp no longer the primary key
* v8: ``+ correlation_id`` (ties the rows of one multi-object event together)

Upgrades also insert marker rows (``Upgraded database to version N``), some
without a type.  ``read_chunk`` reads any version by column name, read-only,
without upgrading the file.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The newest chunk schema version (upstream's ``EventLogChunk.VERSION``).
CHUNK_VERSION = 8
#: Upstream's current chunk DDL (version 8).
CHUNK_DDL = (
    ("CREATE TABLE IF NOT EXISTS events(type text, timestamp real, fqdn text,"
     " duration float, message text, extra text, correlation_id text)"),
    "CREATE INDEX IF NOT EXISTS timestamp_idx ON events (timestamp)",
    "CREATE INDEX IF NOT EXISTS correlation_id_idx ON events (correlation_id)",
    "CREATE TABLE IF NOT EXISTS version(version int primary key)",
)
#: Rows without a type (v1-v4, and some upgrade markers) are upstream's "historic".
UNTYPED_EVENT_TYPE = "historic"
_COLUMNS = ("type", "timestamp", "fqdn", "duration", "message", "extra", "correlation_id")
_SIDE_SUFFIXES = (".lock", "-wal", "-shm", "-journal")


class DamagedChunk(Exception):
    """A chunk that cannot be read; the message says why."""


@dataclass(frozen=True)
class Chunk:
    """One chunk file and the object it belongs to."""

    path: Path
    relpath: str  # relative to the events directory, stable across runs
    object_type: str
    object_uuid: str


@dataclass(frozen=True)
class ChunkRow:
    """One stored row, as upstream wrote it (``extra`` is the raw text)."""

    event_type: str
    timestamp: float
    fqdn: str
    duration: float | None
    message: str
    extra: str | None
    correlation_id: str | None


def events_dir(root: Path) -> Path:
    """``root`` itself, or its ``events`` directory when given ``STORAGE_PATH``."""
    return root / "events" if (root / "events").is_dir() else root


def chunk_path(events: Path, object_type: str, object_uuid: str,
               timestamp: float) -> Path:
    """Where upstream keeps the chunk holding an event at ``timestamp`` (local time)."""
    when = datetime.datetime.fromtimestamp(timestamp)
    return events / object_type / object_uuid[0:2] / f"{object_uuid}.{when.year:04d}{when.month:02d}"


def _is_chunk_name(name: str) -> bool:
    if name.startswith(".") or name.endswith(_SIDE_SUFFIXES) or ".corrupt" in name:
        return False
    return True


def find_chunks(root: Path) -> tuple[list[Chunk], list[tuple[str, str]]]:
    """Every chunk under ``root``, sorted, and (path, reason) for files passed over."""
    events = events_dir(root)
    chunks: list[Chunk] = []
    passed: list[tuple[str, str]] = []
    for type_dir in sorted(p for p in events.iterdir() if p.is_dir()):
        for entry in sorted(type_dir.iterdir()):
            candidates = sorted(entry.iterdir()) if entry.is_dir() else [entry]
            for path in candidates:
                rel = path.relative_to(events).as_posix()
                if not path.is_file():
                    continue
                if not _is_chunk_name(path.name):
                    if ".corrupt" in path.name:
                        passed.append((rel, "moved aside by sf-eventlog as corrupt"))
                    continue
                stem, dot, month = path.name.rpartition(".")
                if entry.is_dir() and dot and len(month) == 6 and month.isdigit():
                    object_uuid = stem
                elif not entry.is_dir():
                    object_uuid = path.name  # data-store version 1: not sharded yet
                else:
                    passed.append((rel, "not named <object_uuid>.<YYYYMM>"))
                    continue
                chunks.append(Chunk(path, rel, type_dir.name, object_uuid))
    return chunks, passed


def chunk_version(db: sqlite3.Connection) -> int | None:
    try:
        row = db.execute("SELECT version FROM version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return int(row[0]) if row and row[0] is not None else None


def read_chunk(chunk: Chunk) -> tuple[int | None, Iterator[ChunkRow | str]]:
    """The chunk's schema version and its rows (a str is a row skipped, with why).

    Raises ``DamagedChunk`` when the file is not a readable chunk.
    """
    try:
        db = sqlite3.connect(f"file:{chunk.path}?mode=ro", uri=True, timeout=10)
        names = [r[1] for r in db.execute("PRAGMA table_info(events)")]
        if not names:
            db.close()
            raise DamagedChunk("no events table")
        version = chunk_version(db)
        present = [c for c in _COLUMNS if c in names]
        if "timestamp" not in present:
            db.close()
            raise DamagedChunk("events table has no timestamp column")
        rows = db.execute(f"SELECT {', '.join(present)} FROM events ORDER BY rowid").fetchall()
        db.close()
    except sqlite3.DatabaseError as exc:
        raise DamagedChunk(f"{type(exc).__name__}: {exc}") from None
    return version, _rows(present, rows)


def _rows(present: list[str], rows: list[tuple[Any, ...]]) -> Iterator[ChunkRow | str]:
    for raw in rows:
        value = dict(zip(present, raw, strict=True))
        timestamp = value.get("timestamp")
        if not isinstance(timestamp, int | float):
            yield f"timestamp is {timestamp!r}, not a number"
            continue
        duration = value.get("duration")
        extra = value.get("extra")
        yield ChunkRow(
            event_type=str(value.get("type") or UNTYPED_EVENT_TYPE),
            timestamp=float(timestamp),
            fqdn=str(value.get("fqdn") or ""),
            duration=float(duration) if isinstance(duration, int | float) else None,
            message=str(value.get("message") or ""),
            extra=None if extra is None else str(extra),
            correlation_id=str(value["correlation_id"]) if value.get("correlation_id") else None,
        )


def write_chunk(path: Path, rows: list[ChunkRow]) -> None:
    """Append ``rows`` to a version-8 chunk at ``path`` (created as upstream does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        for statement in CHUNK_DDL:
            db.execute(statement)
        if db.execute("SELECT COUNT(*) FROM version").fetchone()[0] == 0:
            db.execute("INSERT INTO version VALUES (?)", (CHUNK_VERSION,))
        db.executemany(
            "INSERT INTO events(type, timestamp, fqdn, duration, message, extra, correlation_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r.event_type, r.timestamp, r.fqdn, r.duration, r.message, r.extra,
              r.correlation_id) for r in rows])
        db.commit()
    finally:
        db.close()


def dumps_extra(extra: dict[str, Any] | None) -> str:
    """``extra`` as upstream's chunk stores it: ``json.dumps`` of the dict (``null`` if none)."""
    return json.dumps(extra)
