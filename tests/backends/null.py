"""The ``null`` backend: discards, so only counts can be checked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog_transports.null import DISCARDED


class NullBackend:
    name = "null"

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._baseline = DISCARDED._value.get()

    def settings(self) -> Settings:
        return Settings(eventlog_transport="null", eventlog_spool_dir=self.tmp_path / "spool")

    def unreachable_settings(self) -> Settings | None:
        return None

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord] | None:
        return None

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        # The null store keeps no identities: this counts everything discarded
        # since the backend was made, which each test keeps to its own events.
        return int(DISCARDED._value.get() - self._baseline)

    def rejected_record(self) -> EventRecord | None:
        return None


@pytest.fixture
def backend_null(tmp_path: Path) -> NullBackend:
    return NullBackend(tmp_path)
