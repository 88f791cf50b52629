"""``sfeventlog.reads`` straight into a store (transport sqlite), as a daemon calls it."""

from __future__ import annotations

import enum
import uuid
from pathlib import Path

import pytest

from sfeventlog import reads
from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record


class ObjectType(enum.StrEnum):  # upstream passes str-valued enums and uuid.UUID
    INSTANCE = "instance"


class UpstreamObjectType(str, enum.Enum):  # noqa: UP042 - upstream's own shape
    INSTANCE = "instance"


def test_reads_and_deletes_through_the_configured_sqlite_store(tmp_path: Path) -> None:
    settings = Settings(eventlog_transport="sqlite", eventlog_sqlite_path=tmp_path / "e.sqlite")
    instance = uuid.uuid4()
    records = [make_record(timestamp=100.0 + i, objects=[("instance", str(instance))],
                           event_type="audit" if i else "status") for i in range(3)]
    store = SqliteEventStore(settings.eventlog_sqlite_path)
    store.write_batch(records)
    store.close()

    got = reads.get_object_events(ObjectType.INSTANCE, instance, settings=settings)
    assert [r.event_uuid for r in got] == [r.event_uuid for r in reversed(records)]
    assert reads.get_object_events(UpstreamObjectType.INSTANCE, instance,
                                   settings=settings) == got
    assert len(reads.get_object_events("instance", instance, limit=1, settings=settings)) == 1
    assert [r.event_type for r in reads.get_object_events(
        "instance", instance, event_type="status", settings=settings)] == ["status"]
    assert reads.delete_object_events(ObjectType.INSTANCE, instance, settings=settings) == 3
    assert reads.get_object_events("instance", instance, settings=settings) == []
    with reads.open_reader(settings) as reader:
        assert reader.prune().events_pruned == 3


def test_a_transport_without_a_read_side_says_so() -> None:
    with pytest.raises(ConfigError, match="mariadb, sqlite, database"):
        reads.open_reader(Settings(eventlog_transport="null"))
