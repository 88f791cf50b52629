"""The ``mariadb`` backend: a fresh database per test on the suite's own MariaDB."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.testing.backend import make_record
from sfeventlog.testing.requirements import Requirement

if TYPE_CHECKING:
    from tests.servers.mariadb import MariaDBServer

#: The server fixtures (``mariadb_server``, ``mariadb_database``) for the whole suite.
pytest_plugins = ["tests.servers.mariadb"]


class MariaDBBackend:
    name = "mariadb"
    meets = frozenset({Requirement.READ_BACK, Requirement.DEDUPES,
                       Requirement.REJECTS_RECORDS, Requirement.UNREACHABLE})
    unmet = {Requirement.PROBE: "the mariadb transport has no cheap probe"}

    def __init__(self, server: MariaDBServer, database: str, tmp_path: Path) -> None:
        self.server = server
        self.database = database
        self.tmp_path = tmp_path

    def settings(self) -> Settings:
        return self.server.settings(self.database, eventlog_spool_dir=self.tmp_path / "spool")

    def unreachable_settings(self) -> Settings:
        # A port nothing listens on: connection refused at once.
        from tests.servers.mariadb import free_port

        return self.server.settings(self.database, mariadb_port=free_port(),
                                    eventlog_spool_dir=self.tmp_path / "spool")

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        store = MariaDBEventStore(self.settings())
        try:
            return store.get_events(event_uuids)
        finally:
            store.close()

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        uuids = list(event_uuids)
        total = 0
        for start in range(0, len(uuids), 500):
            chunk = uuids[start:start + 500]
            rows = self.server.execute(
                f"SELECT COUNT(*) FROM events WHERE event_uuid IN ({', '.join(['%s'] * len(chunk))})",
                chunk, database=self.database,
            )
            total += int(rows[0][0])
        return total

    def rejected_record(self) -> EventRecord:
        # event_type is VARCHAR(32): strict mode rejects 33 characters.
        return make_record(event_type="x" * 33)


@pytest.fixture
def backend_mariadb(mariadb_server: MariaDBServer, mariadb_database: str,
                    tmp_path: Path) -> MariaDBBackend:
    return MariaDBBackend(mariadb_server, mariadb_database, tmp_path)
