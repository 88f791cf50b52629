"""One table of field limits: add_event, both stores and the server apply it alike.

The numbers are checked against the real stores: the suite's MariaDB (its
column sizes, and its own refusal of deep JSON with our check bypassed) and
SQLite files.  Deep nesting is a ``ValueError`` / ``PermanentError`` at any
depth, never ``RecursionError``.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import sfeventlog
from sfeventlog import api, limits
from sfeventlog.config import Settings
from sfeventlog.errors import PermanentError
from sfeventlog.limits import LIMITS, FieldLimits, too_deep
from sfeventlog.server.database import InvalidRequest, parse_request
from sfeventlog.store import base, schema
from sfeventlog.store.base import EventStore
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record
from sfeventlog.wire import database_pb2
from tests.servers.mariadb import MariaDBServer

DEPTH = LIMITS.extra_depth
MAX_OBJECTS = LIMITS.objects_per_event


def nested(levels: int, innermost: Any = 1) -> dict[str, Any]:
    """An ``extra`` of exactly ``levels`` nested containers (objects and arrays),
    an empty ``innermost`` container counting as one."""
    value = innermost
    for i in range(levels - 1 - isinstance(innermost, dict | list)):
        value = {"k": value} if i % 2 else [value]
    return {"top": value}


def objects(n: int) -> list[tuple[str, str]]:
    return [("instance", f"{i:036d}") for i in range(n)]


def _spooled() -> int:
    spool = api.current_spool()
    return 0 if spool is None else spool.count()


@pytest.fixture
def spool(settings: Settings) -> None:
    api.reset_for_tests(settings)
    assert sfeventlog.add_event("audit", "instance", "u", "first")  # the spool is open


@pytest.fixture(params=["sqlite", "mariadb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    s: EventStore
    if request.param == "sqlite":
        s = SqliteEventStore(tmp_path / "events.sqlite")
        s.migrate()
    else:
        server: MariaDBServer = request.getfixturevalue("mariadb_server")
        s = MariaDBEventStore(server.settings(request.getfixturevalue("mariadb_database")))
    yield s
    s.close()


# -- add_event rejects at the call ------------------------------------------

@pytest.mark.parametrize("innermost", [1, {}, [], "s"])
def test_add_event_draws_the_line_where_the_store_does(spool: None, innermost: Any) -> None:
    assert sfeventlog.add_event("audit", "instance", "u", "m", extra=nested(DEPTH, innermost))
    with pytest.raises(ValueError, match=f"nested more than {DEPTH} levels"):
        sfeventlog.add_event("audit", "instance", "u", "m", extra=nested(DEPTH + 1, innermost))
    assert _spooled() == 2


@pytest.mark.parametrize("levels", [1000, 100_000])
def test_deep_nesting_is_a_value_error_not_recursion(spool: None, levels: int) -> None:
    with pytest.raises(ValueError, match="nested more than"):
        sfeventlog.add_event("audit", "instance", "u", "m", extra=nested(levels))
    assert _spooled() == 1


def test_a_cycle_in_extra_is_a_value_error(spool: None) -> None:
    extra: dict[str, Any] = {"a": 1}
    extra["self"] = extra
    with pytest.raises(ValueError, match="nested more than"):
        sfeventlog.add_event("audit", "instance", "u", "m", extra=extra)
    assert _spooled() == 1


def test_add_event_rejects_more_objects_than_a_store_keeps(spool: None) -> None:
    with pytest.raises(ValueError, match=f"{MAX_OBJECTS + 1} objects; the store allows"):
        sfeventlog.add_event_multi("audit", objects(MAX_OBJECTS + 1), "m")
    assert _spooled() == 1
    assert sfeventlog.add_event_multi("audit", objects(MAX_OBJECTS), "m")
    # Repeats are dropped before counting: what is spooled is what is stored.
    assert sfeventlog.add_event_multi("audit", [("instance", "same")] * (MAX_OBJECTS + 10), "m")
    assert _spooled() == 3


# -- both stores: the same rule, the same message ----------------------------

@pytest.mark.parametrize("innermost", [1, {}, []])
def test_stores_draw_the_line_at_the_tables_depth(store: EventStore, innermost: Any) -> None:
    record = make_record(extra=nested(DEPTH, innermost))
    store.write_batch([record])
    assert store.get_events([record.event_uuid]) == [record]
    deeper = make_record(extra=nested(DEPTH + 1, innermost))
    with pytest.raises(PermanentError, match=f"extra is nested more than {DEPTH} levels"):
        store.write_batch([deeper])
    assert store.get_events([deeper.event_uuid]) == []


@pytest.mark.parametrize("levels", [1000, 100_000])
def test_stores_refuse_deeper_extra_alike(store: EventStore, levels: int) -> None:
    good, deep = make_record(), make_record(extra=nested(levels))
    with pytest.raises(PermanentError) as err:
        store.write_batch([good, deep])
    assert f"event {deep.event_uuid}: extra is nested more than {DEPTH} levels" in str(err.value)
    assert store.get_events([good.event_uuid]) == [], "nothing of the batch written"


def test_stores_refuse_too_many_objects_alike(store: EventStore) -> None:
    over = make_record(objects=objects(MAX_OBJECTS + 1))
    with pytest.raises(PermanentError, match=f"names {MAX_OBJECTS + 1} objects"):
        store.write_batch([over])
    at = make_record(objects=objects(MAX_OBJECTS))
    store.write_batch([at])
    (back,) = store.get_events([at.event_uuid])
    assert len(back.objects) == MAX_OBJECTS


@pytest.mark.parametrize("innermost", [1, {}, []])
def test_mariadb_itself_draws_the_tables_lines(
        mariadb_server: MariaDBServer, mariadb_database: str,
        monkeypatch: pytest.MonkeyPatch, innermost: Any) -> None:
    """With our check bypassed, MariaDB's JSON column refuses at the same depth,
    and its columns are the table's sizes."""
    monkeypatch.setattr(base, "structure_problems", lambda record: [])
    store = MariaDBEventStore(mariadb_server.settings(mariadb_database))
    try:
        store.write_batch([make_record(extra=nested(DEPTH, innermost))])
        with pytest.raises(PermanentError, match="4025"):
            store.write_batch([make_record(extra=nested(DEPTH + 1, innermost))])
    finally:
        store.close()
    rows = mariadb_server.execute(
        "SELECT table_name, column_name, character_maximum_length, character_octet_length,"
        " column_type FROM information_schema.columns WHERE table_schema = %s",
        [mariadb_database])
    cols = {(t.lower(), c.lower()): (chars, octets, ctype) for t, c, chars, octets, ctype in rows}
    for table, column, field in [("events", "event_uuid", "event_uuid"),
                                 ("events", "event_type", "event_type"),
                                 ("events", "fqdn", "fqdn"),
                                 ("events", "request_id", "request_id"),
                                 ("event_objects", "object_type", "object_type"),
                                 ("event_objects", "object_uuid", "object_uuid"),
                                 ("event_objects", "event_uuid", "event_uuid")]:
        assert cols[(table, column)][0] == getattr(LIMITS, field), (table, column)
    assert cols[("events", "message")][1] == LIMITS.message_bytes  # TEXT: bytes


# -- the server --------------------------------------------------------------

def _request(**fields: Any) -> bytes:
    entry = database_pb2.EventBatchEntry(
        event_uuid="0190a0a0-0000-7000-8000-000000000001", event_type="audit",
        timestamp=1.5, fqdn="n", message="m", **fields)
    if not entry.objects:
        entry.objects.add(object_type=database_pb2.OBJECT_TYPE_INSTANCE, object_uuid="u")
    return database_pb2.RecordEventBatchRequest(events=[entry]).SerializeToString()


def test_server_refuses_what_the_stores_refuse() -> None:
    assert parse_request(_request(extra_json=json.dumps(nested(DEPTH))))
    for levels in (DEPTH + 1, 500):
        with pytest.raises(InvalidRequest, match=f"nested more than {DEPTH}"):
            parse_request(_request(extra_json=json.dumps(nested(levels))))
    with pytest.raises(InvalidRequest):  # too deep for the JSON parser itself
        parse_request(_request(extra_json='{"k":' * 100_000 + "1" + "}" * 100_000))
    many = [database_pb2.EventBatchObject(object_type=database_pb2.OBJECT_TYPE_INSTANCE,
                                          object_uuid=u) for _, u in objects(MAX_OBJECTS + 1)]
    with pytest.raises(InvalidRequest, match=f"names {MAX_OBJECTS + 1} objects"):
        parse_request(_request(objects=many))


# -- one table: everything is derived from it --------------------------------

def test_ddls_server_and_stores_follow_the_table(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """Change the table, and the DDLs and the store/server checks change with it."""
    monkeypatch.setattr(limits, "LIMITS", FieldLimits(event_type=40, object_uuid=50,
                                                      extra_depth=3))
    try:
        changed = importlib.reload(schema)
        mariadb_ddl = " ".join(" ".join(v) for v in changed.MARIADB_STEPS.values())
        sqlite_ddl = " ".join(" ".join(v) for v in changed.SQLITE_STEPS.values())
        assert "event_type VARCHAR(40)" in mariadb_ddl
        assert "object_uuid VARCHAR(50)" in mariadb_ddl
        assert "length(event_type) <= 40" in sqlite_ddl
        assert "length(object_uuid) <= 50" in sqlite_ddl
    finally:
        monkeypatch.undo()
        importlib.reload(schema)
    monkeypatch.setattr(limits, "LIMITS", FieldLimits(extra_depth=3))
    with pytest.raises(InvalidRequest, match="nested more than 3"):
        parse_request(_request(extra_json=json.dumps(nested(4))))
    store = SqliteEventStore(tmp_path / "e.sqlite")
    with pytest.raises(PermanentError, match="nested more than 3"):
        store.write_batch([make_record(extra=nested(4))])
    store.close()


# -- end to end: rows other writers spooled ----------------------------------

def _upstream_row(event_uuid: str, extra: dict[str, Any], n_objects: int = 1) -> bytes:
    # As upstream's add_event_multi writes it: dict objects, extra pretty-printed.
    return json.dumps({
        "event_uuid": event_uuid, "event_type": "audit", "fqdn": "node-01",
        "duration": None, "message": "m",
        "extra": json.dumps(extra, indent=4, sort_keys=True), "request_id": None,
        "timestamp": 1748736000.5,
        "objects": [{"object_type": t, "object_uuid": u} for t, u in objects(n_objects)],
    }, default=str).encode()


@pytest.mark.parametrize("transport", ["sqlite", "mariadb"])
def test_foreign_rows_past_the_limits_are_dead_lettered_alike(
        transport: str, settings: Settings, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    """100 upstream-written rows, 2 past the limits: 98 stored once, 2 dead-lettered.

    One of the 98 has an ``extra`` over ``add_event``'s size bound: that bound
    is the caller's, so other writers' rows are delivered whatever their size.
    """
    if transport == "sqlite":
        run = settings.model_copy(update={"eventlog_transport": "sqlite",
                                          "eventlog_sqlite_path": tmp_path / "events.sqlite"})
        store: EventStore = SqliteEventStore(tmp_path / "events.sqlite")
    else:
        server: MariaDBServer = request.getfixturevalue("mariadb_server")
        run = server.settings(request.getfixturevalue("mariadb_database"),
                              eventlog_spool_dir=settings.eventlog_spool_dir)
        store = MariaDBEventStore(run)
    api.reset_for_tests(run)
    uuids = [f"0190a0a0-0000-7000-8000-{i:012d}" for i in range(100)]
    spool = api._spool_for_caller()
    for i, event_uuid in enumerate(uuids):
        extra = (nested(DEPTH + 1) if i == 40
                 else {"blob": "x" * LIMITS.extra_bytes} if i == 50 else {"n": i})
        assert spool.enqueue(_upstream_row(event_uuid, extra,
                                           MAX_OBJECTS + 1 if i == 70 else 1)) is None
    sfeventlog.start("rescuer", run)
    try:
        spool = api.current_spool()
        assert spool is not None
        for _ in range(300):
            if spool.count() == 0:
                break
            time.sleep(0.05)
        assert spool.count() == 0
        dead = spool.deadletters()
        assert len(dead) == 2
        assert all(d.error_class == "PermanentError" for d in dead)
    finally:
        sfeventlog.stop(drain_timeout=10)
    good = [u for i, u in enumerate(uuids) if i not in (40, 70)]
    assert sorted(r.event_uuid for r in store.get_events(uuids)) == good
    store.close()


def _too_deep_reference(value: object, limit: int) -> bool:
    """too_deep as first written (isinstance only), to compare the fast paths with."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class _Str(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


_scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)
            | st.builds(_Str, st.text(max_size=3)))
_values = st.recursive(
    _scalars,
    lambda inner: (st.lists(inner, max_size=3) | st.tuples(inner, inner)
                   | st.dictionaries(st.text(max_size=2), inner, max_size=3)
                   | st.builds(_Dict, st.dictionaries(st.text(max_size=2), inner, max_size=2))),
    max_leaves=30)


@hypothesis_settings(max_examples=300, deadline=None)
@given(_values, st.integers(0, 6))
def test_too_deep_agrees_with_its_first_version(value: object, limit: int) -> None:
    assert too_deep(value, limit) == _too_deep_reference(value, limit)
