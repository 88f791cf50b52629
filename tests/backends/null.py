"""The ``null`` backend: discards, so only counts can be checked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.testing.requirements import Requirement
from sfeventlog_transports.null import DISCARDED


class NullBackend:
    name = "null"
    meets: frozenset[Requirement] = frozenset()
    unmet = {
        Requirement.READ_BACK: "null discards records; only a count is kept",
        Requirement.DEDUPES: "null keeps no identities, so a replay cannot be told apart",
        Requirement.REJECTS_RECORDS: "null accepts every record",
        Requirement.UNREACHABLE: "null has no store to lose",
        Requirement.PROBE: "null has no store to probe",
    }

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._baseline = DISCARDED._value.get()

    def settings(self) -> Settings:
        return Settings(eventlog_transport="null", eventlog_spool_dir=self.tmp_path / "spool")

    def unreachable_settings(self) -> Settings:
        raise AssertionError("UNREACHABLE is unmet for null; the kit must not ask")

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        raise AssertionError("READ_BACK is unmet for null; the kit must not ask")

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        # The null store keeps no identities: this counts everything discarded
        # since the backend was made, which each test keeps to its own events.
        return int(DISCARDED._value.get() - self._baseline)

    def rejected_record(self) -> EventRecord:
        raise AssertionError("REJECTS_RECORDS is unmet for null; the kit must not ask")


@pytest.fixture
def backend_null(tmp_path: Path) -> NullBackend:
    return NullBackend(tmp_path)
