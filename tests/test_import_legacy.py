"""``sfeventlog import-legacy``: sf-eventlog's chunk files into a store.

Fixtures are chunk files in upstream's exact layout and schema, built here
from upstream's facts (``shakenfist/eventlog.py``: the DDL of each chunk
version 1-8 and the rows its upgrades insert), not by our exporter.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.legacy_import import Importer, correlated_uuid
from sfeventlog.loader import load_transport
from sfeventlog.records import EventRecord
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record
from tests.servers.reference import SFEVENTLOG, ServerProcess

T0 = 1_700_000_000.0  # November 2023

# The events table as each chunk version has it (upstream's DDL and upgrades).
V1 = ("CREATE TABLE events(timestamp real PRIMARY KEY, fqdn text, operation text,"
      " phase text, duration float, message text)")
V2 = V1[:-1] + ", extra text)"  # v2 adds extra; v3 and v4 only delete rows
V5 = V2[:-1] + ", type text)"  # existing rows set to 'historic'
V6 = ("CREATE TABLE events(timestamp real PRIMARY KEY, fqdn text, duration float,"
      " message text, extra text, type text)")  # operation and phase dropped
V7 = ("CREATE TABLE events(type text, timestamp real, fqdn text, duration float,"
      " message text, extra text)")  # timestamp no longer the primary key
V8 = V7[:-1] + ", correlation_id text)"
SCHEMAS = {1: V1, 2: V2, 3: V2, 4: V2, 5: V5, 6: V6, 7: V7, 8: V8}


def chunk(root: Path, object_type: str, object_uuid: str, version: int,
          rows: list[dict[str, object]], month: str = "202311") -> Path:
    path = root / "events" / object_type / object_uuid[:2] / f"{object_uuid}.{month}"
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / f"{object_uuid}.lock").touch()
    db = sqlite3.connect(path)
    db.execute(SCHEMAS[version])
    db.execute("CREATE TABLE version(version int primary key)")
    db.execute("INSERT INTO version VALUES (?)", (version,))
    for row in rows:
        db.execute(f"INSERT INTO events ({', '.join(row)}) VALUES"
                   f" ({', '.join('?' * len(row))})", list(row.values()))
    db.commit()
    db.close()
    return path


def every_version(root: Path) -> None:
    """One chunk per schema version, each with an event and an upgrade marker row."""
    for v in range(1, 9):
        row: dict[str, object] = {"timestamp": T0 + v, "fqdn": "sf-1", "duration": 0.25 * v,
                                  "message": f"event of a v{v} chunk"}
        if v <= 5:
            row.update(operation="op", phase="ph")
        if v >= 2:
            row["extra"] = json.dumps({"v": v, "request-id": f"req-{v}"})
        if v >= 5:
            row["type"] = "audit"
        marker: dict[str, object] = {"timestamp": T0 + 100 + v,
                                     "message": f"Upgraded database to version {v}"}
        chunk(root, "instance", f"ab{v:06d}-0000-4000-8000-000000000000", v, [row, marker])


def imported(root: Path, store: SqliteEventStore) -> Importer:
    importer = Importer(root, lambda b: (lambda r: (r.inserted, r.duplicates))(store.write_batch(b)),
                        lambda uuids: len(store.get_events(uuids)))
    importer.run()
    return importer


def all_events(store: SqliteEventStore) -> list[EventRecord]:
    db = sqlite3.connect(store.path)
    uuids = [r[0] for r in db.execute("SELECT event_uuid FROM events")]
    db.close()
    return sorted(store.get_events(uuids), key=lambda r: r.timestamp)


def test_every_chunk_schema_version_is_read(tmp_path: Path) -> None:
    every_version(tmp_path / "sf")
    store = SqliteEventStore(tmp_path / "events.sqlite")
    summary = imported(tmp_path / "sf", store).summary
    assert summary.files == 8 and summary.rows == 16 and summary.events == 16
    assert summary.versions == {str(v): 1 for v in range(1, 9)}
    assert summary.skipped_files == [] and summary.skipped_rows == []
    records = all_events(store)
    assert len(records) == 16
    first = records[0]  # the v1 chunk: no extra, no type
    assert (first.event_type, first.extra, first.request_id, first.duration) == \
        ("historic", None, None, 0.25)
    v8 = next(r for r in records if r.message == "event of a v8 chunk")
    assert (v8.event_type, v8.extra, v8.request_id) == ("audit", {"v": 8}, "req-8")
    assert v8.objects == [("instance", "ab000008-0000-4000-8000-000000000000")]
    markers = [r for r in records if r.message.startswith("Upgraded")]
    assert len(markers) == 8 and {r.event_type for r in markers} == {"historic"}
    assert {r.fqdn for r in markers} == {""}
    store.close()


def test_multi_object_rows_are_stitched_back_by_correlation_id(tmp_path: Path) -> None:
    # What upstream's RecordMultiEvent writes for an event about an instance
    # and a network with a request id: one row per object, each extra naming
    # the other object, and a piggy-backed row for the api-requests object.
    root = tmp_path / "sf"
    base = {"type": "mutate", "timestamp": T0, "fqdn": "sf-2", "duration": 1.5,
            "message": "attached", "correlation_id": "f" * 16}
    extra = {"flavour": "small", "request-id": "req-77"}
    chunk(root, "instance", "i-0001", 8,
          [{**base, "extra": json.dumps({**extra, "network": "n-0001"})}])
    chunk(root, "network", "n-0001", 8,
          [{**base, "extra": json.dumps({**extra, "instance": "i-0001"})}])
    chunk(root, "api-requests", "req-77", 8,
          [{**base, "extra": json.dumps({**extra, "instance": "i-0001", "network": "n-0001"})}])
    store = SqliteEventStore(tmp_path / "events.sqlite")
    summary = imported(root, store).summary
    assert (summary.rows, summary.events, summary.inserted) == (3, 1, 1)
    [record] = all_events(store)
    assert record.event_uuid == correlated_uuid("f" * 16, T0, "mutate")
    assert record.objects == [("instance", "i-0001"), ("network", "n-0001"),
                              ("api-requests", "req-77")]
    assert record.extra == {"flavour": "small"} and record.request_id == "req-77"
    assert store.get_object_events("api-requests", "req-77")[0].event_uuid == record.event_uuid
    store.close()


def test_a_rerun_adds_nothing(tmp_path: Path) -> None:
    every_version(tmp_path / "sf")
    store = SqliteEventStore(tmp_path / "events.sqlite")
    first = imported(tmp_path / "sf", store).summary
    again = imported(tmp_path / "sf", store).summary
    assert first.inserted == 16 and first.already_present == 0
    assert again.inserted == 0 and again.already_present == 16 and again.events == 16
    assert len(all_events(store)) == 16
    store.close()


def test_damaged_chunks_are_reported_and_skipped(tmp_path: Path) -> None:
    root = tmp_path / "sf"
    every_version(root)
    garbage = root / "events" / "network" / "zz" / "zz000000.202301"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"this is not a database" * 100)
    no_table = chunk(root, "node", "nd-1", 8, [])
    db = sqlite3.connect(no_table)
    db.execute("DROP TABLE events")
    db.commit()
    db.close()
    (root / "events" / "node" / "nd" / "nd-1.202210.corrupt").write_bytes(b"x")
    bad_row = chunk(root, "blob", "bl-1", 8, [{"type": "audit", "timestamp": "yesterday",
                                               "message": "bad"},
                                              {"type": "audit", "timestamp": T0, "message": "ok"}])
    store = SqliteEventStore(tmp_path / "events.sqlite")
    summary = imported(root, store).summary
    reasons = {item["file"]: item["reason"] for item in summary.skipped_files}
    assert set(reasons) == {"network/zz/zz000000.202301", "node/nd/nd-1.202311",
                            "node/nd/nd-1.202210.corrupt"}
    assert "not a database" in reasons["network/zz/zz000000.202301"]
    assert reasons["node/nd/nd-1.202311"] == "no events table"
    assert summary.skipped_rows == [{"where": f"{bad_row.relative_to(root / 'events')} row 0",
                                     "reason": "timestamp is 'yesterday', not a number"}]
    assert summary.events == 17 and len(all_events(store)) == 17
    store.close()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SFEVENTLOG, *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_cli_dry_run_writes_nothing_then_imports(tmp_path: Path) -> None:
    every_version(tmp_path / "sf")
    target = tmp_path / "events.sqlite"
    dry = run_cli("import-legacy", str(tmp_path / "sf"), "--sqlite", str(target), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would import 16 new" in dry.stdout and "chunk files read: 8" in dry.stdout
    assert not target.exists() or SqliteEventStore(target).approx_rows() == 0
    done = run_cli("import-legacy", str(tmp_path / "sf"), "--sqlite", str(target), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["inserted"], result["files"], result["rows"]) == (16, 8, 16)
    missing = run_cli("import-legacy", str(tmp_path / "nowhere"), "--sqlite", str(target))
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
    assert "Traceback" not in missing.stderr


# -- round trip through the reference legacy server ------------------------------

@pytest.fixture
def legacy(tmp_path: Path) -> ServerProcess:
    server = ServerProcess("legacy", ["--store", str(tmp_path / "legacy"), "--grace", "1"],
                           log_path=tmp_path / "legacy.log").start()
    yield server  # type: ignore[misc]
    server.terminate()


def test_round_trip_legacy_server_export_then_import(tmp_path: Path,
                                                     legacy: ServerProcess) -> None:
    sent = [
        make_record(objects=[("instance", "i-1")], extra={"k": 1}, duration=2.0),
        make_record(objects=[("instance", "i-1"), ("network", "n-1")], event_type="mutate"),
        make_record(objects=[("node", "nd-1")], request_id="req-9"),
        *[make_record(objects=[("blob", f"b-{i}")]) for i in range(20)],
    ]
    settings = Settings(eventlog_transport="legacy", eventlog_node_ip="127.0.0.1",
                        eventlog_api_port=legacy.port)
    transport = load_transport(settings)
    try:
        transport.record_event_batch(sent)
    finally:
        transport.close()
    out = tmp_path / "chunks"
    export = run_cli("legacy-events", "--store", str(tmp_path / "legacy"),
                     "--export-chunks", str(out))
    assert export.returncode == 0, export.stderr
    # 23 events, 25 rows (the network copy, the api-requests copy); i-1 has one chunk
    assert "wrote 25 rows in 24 chunk files" in export.stdout
    store = SqliteEventStore(tmp_path / "events.sqlite")
    summary = imported(out, store).summary
    assert (summary.files, summary.rows, summary.events, summary.inserted) == (24, 25, 23, 23)
    got = {(r.message): r for r in all_events(store)}
    assert len(got) == 23
    for record in sent:
        back = got[record.message]
        objects = list(record.objects)
        if record.request_id:
            objects.append(("api-requests", record.request_id))
        assert back.objects == objects
        assert (back.event_type, back.timestamp, back.fqdn, back.duration, back.extra,
                back.request_id) == (record.event_type, record.timestamp, record.fqdn,
                                     record.duration, record.extra, record.request_id)
        if len(record.objects) > 1 or record.request_id:  # correlated: the sender's uuid
            assert back.event_uuid == record.event_uuid
    assert imported(out, store).summary.inserted == 0
    store.close()
