"""The ``sqlite`` backend: a fresh SQLite events file per test."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record
from sfeventlog.testing.requirements import Requirement


class SqliteBackend:
    name = "sqlite"
    meets = frozenset({Requirement.READ_BACK, Requirement.DEDUPES,
                       Requirement.REJECTS_RECORDS, Requirement.UNREACHABLE})
    unmet = {Requirement.PROBE: "a local file needs no cheap probe"}

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.path = tmp_path / "events" / "events.sqlite"

    def settings(self) -> Settings:
        return Settings(eventlog_transport="sqlite", eventlog_sqlite_path=self.path,
                        eventlog_spool_dir=self.tmp_path / "spool")

    def unreachable_settings(self) -> Settings:
        # A path under a regular file: the store can never be opened there.
        blocker = self.tmp_path / "not-a-directory"
        blocker.write_text("")
        return Settings(eventlog_transport="sqlite",
                        eventlog_sqlite_path=blocker / "events.sqlite",
                        eventlog_spool_dir=self.tmp_path / "spool")

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        if not self.path.exists():
            return []
        store = SqliteEventStore(self.path)
        try:
            return store.get_events(event_uuids)
        finally:
            store.close()

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        uuids = list(event_uuids)
        conn = sqlite3.connect(self.path)
        try:
            return sum(
                conn.execute(
                    f"SELECT COUNT(*) FROM events WHERE event_uuid IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchone()[0]
                for chunk in (uuids[i:i + 500] for i in range(0, len(uuids), 500))
            )
        finally:
            conn.close()

    def rejected_record(self) -> EventRecord:
        # Same column limits as MariaDB: event_type is at most 32 characters.
        return make_record(event_type="x" * 33)


@pytest.fixture
def backend_sqlite(tmp_path: Path) -> SqliteBackend:
    return SqliteBackend(tmp_path)
