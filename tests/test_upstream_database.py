"""A MariaDB database created by upstream Shaken Fist just works.

Every test starts from tables built with upstream's exact DDL and version
rows, holding rows written with upstream's own statement shapes
(``tests/upstream_mariadb.py``), in a database whose default collation is
upstream's usual ``utf8mb4_unicode_ci`` (not utf8mb4's compiled-in
default).  Then: sfeventlog's ``mariadb`` transport (through the drainer),
``sfeventlog serve database`` (a real server process), ``sfeventlog events``
and ``sfeventlog migrate`` against it; and upstream's statements against a
database sfeventlog created or migrated.  Counts events in against rows out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pymysql
import pytest

import sfeventlog
from sfeventlog.cli.main import main as cli_main
from sfeventlog.records import EventRecord
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.testing.backend import make_record
from tests import rawproto as raw
from tests.servers.mariadb import TEST_PASSWORD, TEST_USER, MariaDBServer
from tests.servers.reference import ServerProcess
from tests.upstream_mariadb import Upstream

COLLATION = "utf8mb4_unicode_ci"
DB_PATH = "/shakenfist.protos.DatabaseService/RecordEventBatch"


def upstream_entry(event_uuid: str, i: int) -> bytes:
    """An EventBatchEntry as upstream's client builds it (field numbers from
    upstream's database.proto): 0 / "" for absent, objects as ObjectType numbers."""
    body = (raw.string(1, event_uuid) + raw.string(2, "audit") + raw.double(3, 1748736000.0 + i)
            + raw.string(4, "node-01.example.com") + raw.string(6, f"via sf-database {i}"))
    if i % 2:
        body += raw.double(5, 0.5) + raw.string(8, f"req-{i}")
    if i % 3:
        body += raw.string(7, json.dumps({"n": i}))
    for number, uuid in ((5, f"i-{i % 4}"), (9, "n-1")):  # instance, network
        body += raw.message(9, raw.uint(1, number) + raw.string(2, uuid))
    return body


def call_raw(target: str, body: bytes) -> bytes:
    with grpc.insecure_channel(target) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(DB_PATH)
        return call(body, timeout=10)


def _records(n: int, tag: str) -> list[EventRecord]:
    """Events as upstream's callers make them: some multi-object, some without extra."""
    out = []
    for i in range(n):
        objects = [("instance", f"i-{i % 3}")]
        if i % 4 == 0:
            objects.append(("network", f"n-{tag}"))
        out.append(make_record(
            event_type="audit" if i % 2 else "status", timestamp=1748736000.0 + i,
            message=f"{tag} {i}", objects=objects, duration=0.25 if i % 3 else None,
            extra={"i": i, "tag": tag} if i % 2 else None,
            request_id=f"req-{tag}-{i}" if i % 5 else None))
    return out


class UpstreamDatabase:
    """One database as upstream's sf-database left it, and ways to look into it."""

    def __init__(self, server: MariaDBServer, collation: str = COLLATION,
                 tables: tuple[str, ...] = ("events", "event_objects")) -> None:
        self.server = server
        self.name = server.create_database("upstream")
        server.execute(f"ALTER DATABASE `{self.name}` CHARACTER SET utf8mb4 COLLATE {collation}")
        self.upstream = Upstream(self.connect)
        self.upstream.create_schema(tables)
        self.seeded: list[EventRecord] = []

    def connect(self) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(host=self.server.host, port=self.server.port, user=TEST_USER,
                               password=TEST_PASSWORD, database=self.name, charset="utf8mb4")

    def query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.server.execute(sql, args, database=self.name)]

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of both tables, upstream's columns only, in key order."""
        return {
            "events": self.query("SELECT event_uuid, event_type, timestamp, fqdn, duration,"
                                 " message, extra, request_id FROM events ORDER BY event_uuid"),
            "event_objects": self.query("SELECT object_type, object_uuid, event_uuid FROM"
                                        " event_objects ORDER BY object_type, object_uuid,"
                                        " event_uuid"),
        }

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.query(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
            " AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (self.name, table))]

    def versions(self) -> dict[str, tuple[int, float]]:
        return {name: (version, at) for name, version, at in
                self.query("SELECT table_name, version, updated_at FROM schema_versions")}

    def env(self) -> dict[str, str]:
        return {"SHAKENFIST_MARIADB_HOST": self.server.host,
                "SHAKENFIST_MARIADB_PORT": str(self.server.port),
                "SHAKENFIST_MARIADB_USER": TEST_USER,
                "SHAKENFIST_MARIADB_PASSWORD": TEST_PASSWORD,
                "SHAKENFIST_MARIADB_DATABASE": self.name}


@pytest.fixture
def updb(mariadb_server: MariaDBServer) -> UpstreamDatabase:
    db = UpstreamDatabase(mariadb_server)
    db.seeded = _records(12, "upstream")
    db.upstream.write(db.seeded)
    return db


@pytest.fixture
def env(updb: UpstreamDatabase, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in updb.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_TRANSPORT", "mariadb")
    yield


def _as_record(row: tuple[Any, ...], objects: list[tuple[str, str]]) -> EventRecord:
    extra = None if row[6] is None else json.loads(row[6])
    return EventRecord(event_uuid=row[0], event_type=row[1], timestamp=row[2], fqdn=row[3],
                       duration=row[4], message=row[5], extra=extra, request_id=row[7],
                       objects=objects)


def _both_sides_read(updb: UpstreamDatabase, records: list[EventRecord]) -> None:
    """Each record reads back whole through sfeventlog's store and through upstream's read."""
    store = MariaDBEventStore(updb.server.settings(updb.name))
    try:
        stored = {r.event_uuid: r for r in store.get_events([r.event_uuid for r in records])}
        for obj in {o for r in records for o in r.objects}:
            mine = {r.event_uuid for r in records if obj in r.objects}
            ours = store.get_object_events(*obj, limit=1000)
            theirs = updb.upstream.read(*obj, limit=1000)
            assert mine <= {r.event_uuid for r in ours}
            assert mine <= {row[0] for row in theirs}
    finally:
        store.close()
    assert len(stored) == len(records)
    for r in records:
        got = stored[r.event_uuid]
        assert sorted(got.objects) == sorted(r.objects)
        assert got.model_copy(update={"objects": r.objects}) == r


# -- before migrating: writes and reads work against upstream's layout --------


def test_mariadb_transport_drains_into_an_upstream_database(
        updb: UpstreamDatabase, env: None, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    before = updb.rows()
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_SPOOL_DIR", str(tmp_path / "spool"))
    sfeventlog.start("sf-test")
    records = _records(40, "ours")
    for r in records:
        assert sfeventlog.add_event_multi(r.event_type, r.objects, r.message,
                                          duration=r.duration, extra=r.extra,
                                          request_id=r.request_id)
    assert sfeventlog.stop(30) is True  # drained: nothing left retrying in the spool

    after = updb.rows()
    assert len(after["events"]) == len(before["events"]) + 40  # in == out
    assert len(after["event_objects"]) == len(before["event_objects"]) + sum(
        len(r.objects) for r in records)
    assert set(before["events"]) <= set(after["events"])  # upstream's rows untouched
    assert updb.columns("event_objects") == ["object_type", "object_uuid", "event_uuid"]
    messages = sorted(row[5] for row in after["events"] if row[5].startswith("ours"))
    assert messages == sorted(r.message for r in records)
    assert any("sfeventlog migrate" in m and "upstream Shaken Fist's events schema" in m
               for m in caplog.messages)


def test_events_cli_reads_an_upstream_database(updb: UpstreamDatabase, env: None,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    expected = [r for r in updb.seeded if ("instance", "i-0") in r.objects]
    capsys.readouterr()
    assert cli_main(["events", "instance", "i-0", "--json", "--limit", "1000"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["message"] for e in shown] == [r.message for r in reversed(expected)]
    by_message = {e["message"]: e for e in shown}
    for r in expected:
        e = by_message[r.message]
        assert (e["duration"], e["extra"], e["request_id"]) == (r.duration, r.extra, r.request_id)
        assert sorted(tuple(o) for o in e["objects"]) == sorted(r.objects)


# -- migrate ------------------------------------------------------------------


def test_migrate_upgrades_an_upstream_database_in_place(
        updb: UpstreamDatabase, env: None, capsys: pytest.CaptureFixture[str]) -> None:
    before, versions = updb.rows(), updb.versions()
    capsys.readouterr()
    assert cli_main(["migrate", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "to do: add column event_objects.ordinal" in dry
    assert "to do: record schema_versions sfeventlog = 1\n" in dry
    assert "dry run, nothing changed" in dry
    assert updb.columns("event_objects") == ["object_type", "object_uuid", "event_uuid"]
    assert updb.versions() == versions

    assert cli_main(["migrate"]) == 0
    first = capsys.readouterr().out
    assert "done: record schema_versions sfeventlog = 1\n" in first  # not upstream's rows
    assert "found events version 1, event_objects version 1, no sfeventlog additions" in first
    assert "done: add column event_objects.ordinal (instant: no row is rewritten" in first
    assert "schema migrated to upstream layout 1 + sfeventlog additions 1" in first
    assert cli_main(["migrate", "--mariadb"]) == 0
    second = capsys.readouterr().out
    assert "sfeventlog additions 1" in second and second.strip().endswith("nothing to do")
    assert "done:" not in second

    assert updb.rows() == before  # nothing lost, nothing rewritten
    assert updb.query("SELECT DISTINCT ordinal FROM event_objects") == [(0,)]
    assert updb.columns("event_objects") == ["object_type", "object_uuid", "event_uuid",
                                             "ordinal"]
    now = updb.versions()
    assert now["events"] == versions["events"] and now["event_objects"] == versions[
        "event_objects"]  # upstream's rows are upstream's: not even touched
    assert now["sfeventlog"][0] == 1

    # Writes from both sides, then both sides read everything.
    ours, theirs = _records(20, "ours"), _records(20, "theirs")
    store = MariaDBEventStore(updb.server.settings(updb.name))
    try:
        assert store.write_batch(ours).inserted == 20
        assert store.write_batch(ours).inserted == 0  # a replay is still a no-op
    finally:
        store.close()
    updb.upstream.write(theirs)
    updb.upstream.write(theirs)
    assert len(updb.rows()["events"]) == len(before["events"]) + 40
    _both_sides_read(updb, ours + theirs + updb.seeded)
    multi = next(r for r in ours if len(r.objects) > 1)
    store = MariaDBEventStore(updb.server.settings(updb.name))
    try:
        assert store.get_events([multi.event_uuid])[0].objects == multi.objects  # order kept
    finally:
        store.close()


def test_migrate_adds_a_missing_index_in_place(updb: UpstreamDatabase, env: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    updb.query("DROP INDEX idx_events_request_id ON events")
    before = updb.rows()
    capsys.readouterr()
    assert cli_main(["migrate"]) == 0
    assert "done: add index idx_events_request_id on events (request_id), in place" in (
        capsys.readouterr().out)
    assert updb.query("SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA"
                      " = %s AND INDEX_NAME = 'idx_events_request_id'", (updb.name,)) == [
        ("request_id",)]
    assert updb.rows() == before


def test_migrate_waits_for_a_busy_table_only_briefly(updb: UpstreamDatabase,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A long transaction holds event_objects' metadata lock: migrate gives up
    # after MIGRATE_LOCK_WAIT (writes would queue behind it meanwhile), and
    # works once the transaction ends.
    import time

    from sfeventlog.errors import RetryableError
    from sfeventlog.store import mariadb as store_module

    monkeypatch.setattr(store_module, "MIGRATE_LOCK_WAIT", 1)
    holder = updb.connect()
    store = MariaDBEventStore(updb.server.settings(updb.name))
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM event_objects")
        started = time.monotonic()
        with pytest.raises(RetryableError, match="1205"):
            store.migrate()
        assert time.monotonic() - started < 5
        assert "ordinal" not in updb.columns("event_objects")
        holder.commit()
        assert store.migrate()
        assert store.write_batch([make_record()]).inserted == 1
    finally:
        holder.close()
        store.close()


def test_a_running_writer_picks_up_a_migration_made_elsewhere(updb: UpstreamDatabase) -> None:
    writer = MariaDBEventStore(updb.server.settings(updb.name))
    other = MariaDBEventStore(updb.server.settings(updb.name))
    try:
        objects = [("network", "z"), ("instance", "a"), ("blob", "m")]
        early, late = make_record(objects=objects), make_record(objects=objects)
        writer.write_batch([early])  # upstream's layout: three columns
        assert other.migrate()
        writer._recheck_at = 0.0  # as if UPSTREAM_LAYOUT_RECHECK seconds had passed
        writer.write_batch([late])
        assert writer.get_events([late.event_uuid])[0].objects == objects  # order kept now
        assert sorted(writer.get_events([early.event_uuid])[0].objects) == sorted(objects)
        assert not other.migrate()
    finally:
        writer.close()
        other.close()


def test_serve_database_writes_into_an_upstream_database(updb: UpstreamDatabase,
                                                         tmp_path: Any) -> None:
    import os

    before = updb.rows()
    server = ServerProcess("database", ["--grace", "1"], env={**os.environ, **updb.env()},
                           log_path=tmp_path / "db.log").start()
    try:
        uuids = [f"0190a000-0000-7000-8000-0000000000{i:02d}" for i in range(30)]
        request = b"".join(raw.message(1, upstream_entry(u, i)) for i, u in enumerate(uuids))
        assert raw.decode(call_raw(server.target, request)) == [(1, raw.VARINT, 1)]
        assert raw.decode(call_raw(server.target, request)) == [(1, raw.VARINT, 1)]
    finally:
        server.terminate()
    after = updb.rows()
    assert set(before["events"]) <= set(after["events"])
    assert len(after["events"]) == len(before["events"]) + 30  # in == out, replay ignored
    assert len(after["event_objects"]) == len(before["event_objects"]) + 60
    assert sorted(row[0] for row in updb.upstream.read("network", "n-1")) == sorted(uuids)
    stored = {row[0]: row for row in updb.upstream.read("network", "n-1")}
    assert stored[uuids[3]][4:] == (0.5, "via sf-database 3", None, "req-3")  # absent extra
    assert json.loads(stored[uuids[2]][6]) == {"n": 2} and stored[uuids[2]][7] is None
    # The server migrates at start, as `sfeventlog migrate` would.
    assert updb.versions()["sfeventlog"][0] == 1


# -- upstream's code against what sfeventlog created ---------------------------


@pytest.mark.parametrize("collation", ["utf8mb4_unicode_ci", "utf8mb4_unicode_520_ci"])
def test_tables_take_the_database_collation_so_joins_never_mix(
        mariadb_server: MariaDBServer, collation: str) -> None:
    theirs = UpstreamDatabase(mariadb_server, collation)
    ours = UpstreamDatabase(mariadb_server, collation, tables=())
    store = MariaDBEventStore(mariadb_server.settings(ours.name))
    try:
        assert store.migrate()
    finally:
        store.close()

    def collations(db: UpstreamDatabase) -> dict[tuple[str, str], str]:
        return {(t, c): coll for t, c, coll in db.query(
            "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND COLLATION_NAME IS NOT NULL", (db.name,))}

    # A join between a table upstream created and one sfeventlog created, on every text column.
    records = _records(8, "x")
    theirs.upstream.write(records)
    ours.upstream.write(records)  # upstream's own statements into sfeventlog's tables
    mine, upstream = collations(ours), collations(theirs)
    for table, column in sorted(upstream):
        for a, b in ((ours, theirs), (theirs, ours)):
            joined = mariadb_server.execute(
                f"SELECT COUNT(*) FROM `{a.name}`.`{table}` x JOIN `{b.name}`.`{table}` y"
                f" ON x.`{column}` = y.`{column}`")
            assert joined[0][0] > 0, (table, column)
    for a, b in ((ours, theirs), (theirs, ours)):
        joined = mariadb_server.execute(
            f"SELECT COUNT(*) FROM `{a.name}`.event_objects o JOIN `{b.name}`.events e"
            " ON o.event_uuid = e.event_uuid")
        assert joined[0][0] == sum(len(r.objects) for r in records)
    assert mine == upstream  # column for column, the collation upstream's DDL gives
    # Upstream's read, hard-delete and prune on sfeventlog's tables.
    assert len(ours.upstream.read("instance", "i-0")) == 3
    ours.upstream.delete_object_events("instance", "i-0")
    assert ours.upstream.read("instance", "i-0") == []
    ours.upstream.prune("status", 1748736000.0 + 100)
    assert {row[1] for row in ours.rows()["events"]} == {"audit"}
    assert {(k, v) for k, (v, _) in ours.versions().items()} == {
        ("events", 1), ("event_objects", 1), ("sfeventlog", 1)}


def test_migrate_finishes_an_interrupted_upstream_schema(mariadb_server: MariaDBServer,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Upstream's ensure_schema creates events, then event_objects: a crash in
    # between leaves only events (version 1).  migrate creates the other, and
    # the read joins the table upstream made with the one sfeventlog made.
    db = UpstreamDatabase(mariadb_server, tables=("events",))
    for key, value in db.env().items():
        monkeypatch.setenv(key, value)
    assert cli_main(["migrate", "--mariadb"]) == 0
    out = capsys.readouterr().out
    assert "found events version 1, no event_objects table" in out
    assert "done: create table event_objects" in out and "table events" not in out
    records = _records(6, "mixed")
    db.upstream.write(records[:3])
    store = MariaDBEventStore(mariadb_server.settings(db.name))
    try:
        store.write_batch(records[3:])
    finally:
        store.close()
    _both_sides_read(db, records)


# -- a schema writes cannot use: a loud stall, never a silent one ---------------


def test_unusable_tables_stall_loudly_and_lose_nothing(
        updb: UpstreamDatabase, env: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Tables that neither sfeventlog nor upstream writes (a column dropped by
    # hand): the rows wait in the spool, the drainer backs off (metric and
    # alert EventlogDrainerBackingOff), each warning says what is wrong and
    # that migrate will not fix it; nothing is dead-lettered; once the table
    # is fixed, every event is delivered once.
    import time

    from prometheus_client import REGISTRY

    updb.query("ALTER TABLE events DROP COLUMN request_id")
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_SPOOL_DIR", str(tmp_path / "spool"))

    def retryable() -> float:
        return REGISTRY.get_sample_value(
            "eventlog_drain_batches_total", {"transport": "mariadb", "outcome": "retryable"}) or 0

    before = retryable()
    sfeventlog.start("sf-test")
    for i in range(25):
        assert sfeventlog.add_event("audit", "instance", "i-stall", f"stalled {i}")
    deadline = time.monotonic() + 20
    while retryable() < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert retryable() >= before + 2
    assert (REGISTRY.get_sample_value("eventlog_drain_backoff_seconds") or 0) > 0
    assert REGISTRY.get_sample_value("eventlog_spool_depth") == 25
    assert (REGISTRY.get_sample_value("eventlog_spool_deadletter_depth") or 0) == 0
    assert any("events has no column request_id" in m and "will not change them" in m
               for m in caplog.messages)
    updb.query("ALTER TABLE events ADD COLUMN request_id VARCHAR(64) NULL")
    assert sfeventlog.stop(30) is True
    stalled = [r for r in updb.rows()["events"] if r[5].startswith("stalled")]
    assert len(stalled) == 25 and len({r[0] for r in stalled}) == 25
