"""The ``legacy`` backend: a reference sf-eventlog process over a temp dir."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.server.legacy_store import LegacyRow, read_rows
from sfeventlog.testing.backend import make_record
from sfeventlog.testing.requirements import Requirement
from sfeventlog.wire.legacy_codec import split_extra
from tests.servers.mariadb import free_port
from tests.servers.reference import ServerProcess


def record_from_rows(rows: Sequence[LegacyRow]) -> EventRecord:
    """Rebuild one event from its rows (one per object, ordered by position)."""
    rows = sorted(rows, key=lambda r: r.position)
    first = rows[0]
    extra, request_id = split_extra(first.extra)
    return EventRecord(
        event_uuid=first.correlation_id, event_type=first.event_type,
        timestamp=first.timestamp, fqdn=first.fqdn, message=first.message,
        duration=first.duration, extra=extra, request_id=request_id,
        objects=[(r.object_type, r.object_uuid) for r in rows],
    )


class LegacyBackend:
    name = "legacy"
    meets = frozenset(Requirement)
    unmet: dict[Requirement, str] = {}

    def __init__(self, server: ServerProcess, store_dir: Path, tmp_path: Path) -> None:
        self.server = server
        self.store_dir = store_dir
        self.tmp_path = tmp_path

    def settings(self) -> Settings:
        return Settings(eventlog_transport="legacy", eventlog_node_ip="127.0.0.1",
                        eventlog_api_port=self.server.port, eventlog_api_timeout=10.0,
                        eventlog_spool_dir=self.tmp_path / "spool")

    def unreachable_settings(self) -> Settings:
        return self.settings().model_copy(update={"eventlog_api_port": free_port()})

    def _rows(self, event_uuids: Sequence[str]) -> dict[str, list[LegacyRow]]:
        wanted = set(event_uuids)
        grouped: dict[str, list[LegacyRow]] = defaultdict(list)
        for row in read_rows(self.store_dir):
            if row.correlation_id in wanted:
                grouped[row.correlation_id].append(row)
        return grouped

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        return [record_from_rows(rows) for rows in self._rows(event_uuids).values()]

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        # Each stored copy of an event has exactly one row at position 0.
        return sum(1 for rows in self._rows(event_uuids).values()
                   for r in rows if r.position == 0)

    def rejected_record(self) -> EventRecord:
        # The reference server applies the MariaDB column limits.
        return make_record(event_type="x" * 33)


@pytest.fixture
def legacy_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A reference sf-eventlog process storing under ``tmp_path/legacy``."""
    server = ServerProcess("legacy", ["--store", str(tmp_path / "legacy"), "--grace", "2"],
                           log_path=tmp_path / "legacy-server.log").start()
    try:
        yield server
    finally:
        server.terminate()


@pytest.fixture
def backend_legacy(legacy_server: ServerProcess, tmp_path: Path) -> LegacyBackend:
    return LegacyBackend(legacy_server, tmp_path / "legacy", tmp_path)
