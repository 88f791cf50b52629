"""EventStore behaviour, the same for both stores: SQLite and a real MariaDB.

Counts and metrics are exact because every test gets a fresh store.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfeventlog.errors import PermanentError
from sfeventlog.store import metrics
from sfeventlog.store.base import READ_LIMIT_MAX, EventStore, SchemaError
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.store.schema import ADD_ORDINAL, STEPS
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record
from sfeventlog.testing.contract import HOSTILE
from tests.servers.mariadb import MariaDBServer

STORES = ["sqlite", "mariadb"]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_kind: str, tmp_path: Path,
          request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """A fresh, migrated store."""
    s: EventStore
    if store_kind == "sqlite":
        s = SqliteEventStore(tmp_path / "events.sqlite")
        s.migrate()
    else:
        server: MariaDBServer = request.getfixturevalue("mariadb_server")
        database = request.getfixturevalue("mariadb_database")
        s = MariaDBEventStore(server.settings(database))
    yield s
    s.close()


@pytest.fixture
def empty_store(store_kind: str, tmp_path: Path,
                request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """A store over an existing but empty database (no schema)."""
    s: EventStore
    if store_kind == "sqlite":
        path = tmp_path / "events.sqlite"
        import sqlite3

        sqlite3.connect(path).execute("CREATE TABLE unrelated (x)").connection.close()
        s = SqliteEventStore(path)
    else:
        server: MariaDBServer = request.getfixturevalue("mariadb_server")
        s = MariaDBEventStore(server.settings(server.create_database()))
    yield s
    s.close()


def _inserted(event_type: str) -> float:
    return metrics.EVENTS_INSERTED.labels(event_type)._value.get()


def _duplicates() -> float:
    return metrics.EVENTS_DUPLICATES._value.get()


def test_counts_inserted_and_duplicates_and_metrics(store: EventStore) -> None:
    audit0, usage0, dup0 = _inserted("audit"), _inserted("usage"), _duplicates()
    batch = [make_record() for _ in range(5)] + [make_record(event_type="usage")]
    result = store.write_batch(batch)
    assert (result.inserted, result.duplicates) == (6, 0)
    assert result.inserted_by_type == {"audit": 5, "usage": 1}
    assert _inserted("audit") - audit0 == 5 and _inserted("usage") - usage0 == 1

    replay = store.write_batch(batch[2:] + [make_record(event_type="usage")])
    assert (replay.inserted, replay.duplicates) == (1, 4)
    assert replay.inserted_by_type == {"audit": 0, "usage": 1}
    assert _inserted("audit") - audit0 == 5 and _inserted("usage") - usage0 == 2
    assert _duplicates() - dup0 == 4


def test_same_uuid_twice_in_one_batch_is_stored_once(store: EventStore) -> None:
    record = make_record()
    result = store.write_batch([record, record])
    assert (result.inserted, result.duplicates) == (1, 1)
    assert store.get_events([record.event_uuid]) == [record]


def test_failed_batch_counts_nothing_and_stores_nothing(store: EventStore) -> None:
    before = _inserted("audit")
    good = make_record()
    with pytest.raises(PermanentError):
        store.write_batch([good, make_record(fqdn="f" * 256)])
    assert store.get_events([good.event_uuid]) == []  # one transaction per batch
    assert _inserted("audit") == before


@pytest.mark.parametrize("field,value", [
    ("event_type", "t" * 33),
    ("fqdn", "f" * 256),
    ("request_id", "r" * 65),
    ("event_uuid", "u" * 37),
    ("objects", [("o" * 33, "x")]),
    ("objects", [("instance", "x" * 37)]),
    ("message", "\u00e9" * 40_000),  # 80,000 bytes: over TEXT's 65,535
])
def test_same_limits_rejected_by_both_stores(store: EventStore, field: str, value: object) -> None:
    with pytest.raises(PermanentError):
        store.write_batch([make_record(**{field: value})])


def test_limits_at_the_edge_are_accepted(store: EventStore) -> None:
    record = make_record(event_type="t" * 32, fqdn="f" * 255, request_id="\U0001F600" * 64,
                         objects=[("o" * 32, "\U0001F600" * 36)], message="m" * 65535)
    store.write_batch([record])
    assert store.get_events([record.event_uuid]) == [record]


def test_extra_that_is_not_json_is_permanent(store: EventStore) -> None:
    with pytest.raises(PermanentError, match="extra"):
        store.write_batch([make_record(extra={"x": math.nan})])


def test_extra_none_empty_and_dict_round_trip(store: EventStore) -> None:
    records = [make_record(extra=None), make_record(extra={}),
               make_record(extra={"a": [1, 2.5, None, True], "b": {"c": "d"}})]
    store.write_batch(records)
    back = {r.event_uuid: r.extra for r in store.get_events([r.event_uuid for r in records])}
    assert [back[r.event_uuid] for r in records] == [None, {}, records[2].extra]


def test_duration_zero_is_not_null(store: EventStore) -> None:
    zero, none = make_record(duration=0.0), make_record(duration=None)
    store.write_batch([zero, none])
    back = {r.event_uuid: r.duration for r in store.get_events([zero.event_uuid, none.event_uuid])}
    assert back[zero.event_uuid] == 0.0 and back[none.event_uuid] is None


def test_sql_metacharacters_in_every_text_field(store: EventStore) -> None:
    hostile = HOSTILE.replace("\x00", "")
    record = make_record(
        event_uuid="'; DROP TABLE events; --",  # 24 chars, fits CHAR(36)
        event_type="a'\"`%_;--",
        fqdn=hostile, message=hostile, request_id="r'\"%_\\--",
        extra={hostile: hostile},
        objects=[("o'\"%_\\", "u';--"), ("instance", hostile[:36])],
    )
    store.write_batch([record])
    assert store.get_events([record.event_uuid]) == [record]
    assert store.get_object_events("o'\"%_\\", "u';--") == [record]
    assert store.get_object_events("o'\"%_\\", "%") == []  # LIKE wildcards are literal
    assert store.approx_rows() >= 0  # the tables are still there


def test_object_events_newest_first_with_filter_and_limit(store: EventStore) -> None:
    obj = ("instance", "i-read")
    records = [make_record(timestamp=1000.0 + i, objects=[obj, ("node", f"n{i}")],
                           event_type="audit" if i % 2 else "status") for i in range(12)]
    other = make_record(objects=[("instance", "i-other")])
    store.write_batch(records[6:] + [other] + records[:6])

    got = store.get_object_events(*obj)
    assert got == sorted(records, key=lambda r: r.timestamp, reverse=True)
    assert [r.objects for r in got[:1]] == [[obj, ("node", "n11")]]  # order as written
    assert store.get_object_events(*obj, limit=3) == got[:3]
    assert store.get_object_events(*obj, limit=0) == got  # <= 0 means the default
    audit = store.get_object_events(*obj, event_type="audit")
    assert audit == [r for r in got if r.event_type == "audit"]
    assert store.get_object_events("node", "n3") == [records[3]]
    assert store.get_object_events("instance", "nothing") == []


def test_read_limit_is_capped(store: EventStore) -> None:
    obj = ("instance", "i-many")
    store.write_batch([make_record(objects=[obj]) for _ in range(READ_LIMIT_MAX + 5)])
    assert len(store.get_object_events(*obj, limit=5000)) == READ_LIMIT_MAX


def test_objects_keep_their_written_order(store: EventStore) -> None:
    objects = [("network", "z"), ("instance", "a"), ("blob", "m"), ("agentoperation", "b")]
    record = make_record(objects=objects)
    store.write_batch([record])
    assert store.get_events([record.event_uuid])[0].objects == objects


def test_approx_rows_is_a_plausible_estimate(store: EventStore) -> None:
    store.write_batch([make_record() for _ in range(50)])
    # MariaDB's information_schema estimate can be off; it must be sane, not exact.
    assert 0 <= store.approx_rows() <= 1000


def test_migrate_twice_is_a_no_op(store: EventStore) -> None:
    record = make_record()
    store.write_batch([record])
    assert not store.migrate()
    assert not store.migrate()
    assert store.get_events([record.event_uuid]) == [record]


def test_missing_schema_is_a_clear_error(store_kind: str, empty_store: EventStore) -> None:
    with pytest.raises(SchemaError, match="sfeventlog migrate"):
        empty_store.get_object_events("instance", "x")
    if store_kind == "mariadb":
        with pytest.raises(SchemaError, match="missing.*sfeventlog migrate"):
            empty_store.write_batch([make_record()])
    assert empty_store.migrate()
    assert not empty_store.migrate()
    empty_store.write_batch([make_record()])


def _alter(store_kind: str, store: EventStore, tmp_path: Path,
           request: pytest.FixtureRequest, *statements: str) -> EventStore:
    """Run ``statements`` on the store's database; a new store over it."""
    if store_kind == "sqlite":
        import sqlite3

        with sqlite3.connect(tmp_path / "events.sqlite") as conn:
            for sql in statements:
                conn.execute(sql)
        conn.close()
        return SqliteEventStore(tmp_path / "events.sqlite")
    assert isinstance(store, MariaDBEventStore)
    server: MariaDBServer = request.getfixturevalue("mariadb_server")
    for sql in statements:
        server.execute(sql, database=store.settings.mariadb_database)
    return MariaDBEventStore(store.settings)


def test_schema_is_judged_by_its_columns_not_its_version_rows(
        store_kind: str, store: EventStore, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    # Version rows that lie either way change nothing: without ordinal the
    # store writes upstream's three columns, and migrate puts the column back.
    objects = [("network", "z"), ("instance", "a")]
    fresh = _alter(store_kind, store, tmp_path, request,
                   "UPDATE schema_versions SET version = 7 WHERE table_name = 'sfeventlog'",
                   "ALTER TABLE event_objects DROP COLUMN ordinal")
    try:
        before = make_record(objects=objects)
        fresh.write_batch([before])
        assert sorted(fresh.get_events([before.event_uuid])[0].objects) == sorted(objects)
        migration = fresh.migrate()
        assert STEPS[ADD_ORDINAL] in migration.steps
        assert any("newer than the 1" in note for note in migration.notes)
        after = make_record(objects=objects)
        fresh.write_batch([after])
        assert fresh.get_events([after.event_uuid])[0].objects == objects
        assert sorted(fresh.get_events([before.event_uuid])[0].objects) == sorted(objects)
        assert not fresh.migrate()
    finally:
        fresh.close()


def test_tables_missing_a_column_are_refused_and_left_alone(
        store_kind: str, store: EventStore, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    kept = make_record()
    store.write_batch([kept])
    store.close()
    fresh = _alter(store_kind, store, tmp_path, request, "ALTER TABLE events DROP COLUMN fqdn")
    try:
        with pytest.raises(SchemaError, match="events has no column fqdn"):
            fresh.write_batch([make_record()])
        with pytest.raises(SchemaError, match="migrate` will not change them"):
            fresh.migrate(dry_run=True)
        with pytest.raises(SchemaError, match="migrate` will not change them"):
            fresh.migrate()
        with pytest.raises(SchemaError, match="events has no column fqdn"):
            fresh.get_object_events(*kept.objects[0])
    finally:
        fresh.close()


def test_sqlite_creates_its_schema_on_first_write(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "new" / "events.sqlite")
    try:
        record = make_record()
        store.write_batch([record])
        assert store.get_events([record.event_uuid]) == [record]
        assert not store.migrate()
    finally:
        store.close()


def test_close_twice_and_reuse(store: EventStore) -> None:
    store.close()
    store.close()
    record = make_record()
    store.write_batch([record])  # reopens lazily
    assert store.get_events([record.event_uuid]) == [record]
