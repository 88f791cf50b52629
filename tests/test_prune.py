"""The retention prune, stage by stage, on SQLite and the real MariaDB.

Every test gets a fresh store, so row counts and counter deltas are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.store import metrics
from sfeventlog.store.base import EventStore
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.store.prune import PRUNED_EVENT_TYPES, RetentionPolicy, StageResult
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record
from tests.servers.mariadb import MariaDBServer

DAY = 86400.0
NOW = 1_800_000_000.0
POLICY = RetentionPolicy.from_settings(Settings())


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


def event(event_type: str, age_days: float, *objects: tuple[str, str]) -> EventRecord:
    return make_record(event_type=event_type, timestamp=NOW - age_days * DAY,
                       objects=list(objects) or [("instance", f"i-{event_type}-{age_days}")])


def pruned(label: str) -> float:
    return metrics.EVENTS_PRUNED.labels(label)._value.get()


def orphans() -> float:
    return metrics.ORPHAN_EVENTS_PRUNED._value.get()


def stored(store: EventStore, records: list[EventRecord]) -> set[str]:
    return {r.event_uuid for r in store.get_events([r.event_uuid for r in records])}


def by_stage(stages: list[StageResult]) -> dict[tuple[str, str], int]:
    return {(s.stage, s.label): s.rows for s in stages if not s.disabled}


def test_known_labels_are_exported_at_zero_before_any_prune() -> None:
    for label in [*PRUNED_EVENT_TYPES, "api-request"]:
        value = REGISTRY.get_sample_value("database_events_pruned_total", {"event_type": label})
        assert value is not None, label
    assert REGISTRY.get_sample_value("database_orphan_events_pruned_total") is not None


def test_upstream_defaults_and_minus_one() -> None:
    assert POLICY.max_age == {"audit": 90 * DAY, "mutate": 90 * DAY, "status": 7 * DAY,
                              "usage": 30 * DAY, "resources": 7 * DAY, "prune": 30 * DAY,
                              "historic": 90 * DAY, "health": 90 * DAY}
    assert POLICY.api_request_max_age == DAY
    with pytest.raises(ValueError, match="max_status_event_age"):
        Settings(max_status_event_age=-2)


def test_stage_a_prunes_each_type_at_its_own_age(store: EventStore) -> None:
    old_status, young_status = event("status", 8), event("status", 6)
    old_audit, young_audit = event("audit", 91), event("audit", 89)
    usage = event("usage", 29)
    records = [old_status, young_status, old_audit, young_audit, usage]
    store.write_batch(records)
    before = {t: pruned(t) for t in ("status", "audit", "usage")}
    before_orphans = orphans()

    report = store.prune(POLICY, now=NOW)

    assert stored(store, records) == {young_status.event_uuid, young_audit.event_uuid,
                                      usage.event_uuid}
    stages = by_stage(report.stages)
    assert stages[("A", "status")] == 1 and stages[("A", "audit")] == 1
    assert stages[("A", "usage")] == 0 and stages[("C", "orphans")] == 2
    assert report.rows_pruned == 4 and report.events_pruned == 2
    assert pruned("status") - before["status"] == 1
    assert pruned("audit") - before["audit"] == 1
    assert pruned("usage") == before["usage"]
    assert orphans() - before_orphans == 2


def test_stage_b_drops_only_the_api_request_reference(store: EventStore) -> None:
    # One audit event about an instance and a request, two days old: the
    # request's reference goes (1 day), the event stays for the instance.
    shared = event("audit", 2, ("instance", "i-1"), ("api-requests", "req-1"))
    # Only about a request: the event goes with its last reference.
    alone = event("audit", 2, ("api-requests", "req-2"))
    fresh = event("audit", 0.5, ("api-requests", "req-3"))
    store.write_batch([shared, alone, fresh])
    before, before_orphans = pruned("api-request"), orphans()

    report = store.prune(POLICY, now=NOW)

    assert by_stage(report.stages)[("B", "api-request")] == 2
    assert stored(store, [shared, alone, fresh]) == {shared.event_uuid, fresh.event_uuid}
    assert [r.event_uuid for r in store.get_object_events("instance", "i-1")] == \
        [shared.event_uuid]
    assert store.get_object_events("api-requests", "req-1") == []
    assert pruned("api-request") - before == 2
    assert orphans() - before_orphans == 1


def test_event_about_n_objects_lives_until_its_last_reference_goes(store: EventStore) -> None:
    multi = event("status", 3, ("instance", "i-9"), ("network", "n-9"), ("api-requests", "r-9"))
    store.write_batch([multi])
    store.prune(POLICY, now=NOW)  # 3 days: only the request reference is past its age
    assert store.get_object_events("network", "n-9")[0].event_uuid == multi.event_uuid
    store.delete_object_events("instance", "i-9")  # a hard delete of one object
    store.prune(POLICY, now=NOW)
    assert store.get_object_events("network", "n-9")[0].event_uuid == multi.event_uuid
    assert stored(store, [multi]) == {multi.event_uuid}
    report = store.prune(POLICY, now=NOW + 5 * DAY)  # now 8 days: past status's 7
    assert by_stage(report.stages)[("A", "status")] == 1
    assert by_stage(report.stages)[("C", "orphans")] == 1
    assert stored(store, [multi]) == set()


def test_disabled_type_and_types_without_a_key_are_kept(store: EventStore) -> None:
    audit = event("audit", 1000)
    custom = event("thirdparty", 1000)
    store.write_batch([audit, custom])
    policy = RetentionPolicy.from_settings(Settings(max_audit_event_age=-1))
    before = pruned("audit")
    report = store.prune(policy, now=NOW)
    assert stored(store, [audit, custom]) == {audit.event_uuid, custom.event_uuid}
    assert report.rows_pruned == 0
    assert [s.disabled for s in report.stages if s.label == "audit"] == [True]
    assert pruned("audit") == before


def test_batches_are_bounded_and_a_rerun_is_a_no_op(store: EventStore) -> None:
    records = [event("usage", 40, ("instance", f"i-{i}"), ("node", "n-1")) for i in range(25)]
    store.write_batch(records)
    batches: list[int] = []
    from sfeventlog.store.prune import prune_store

    report = prune_store(store, POLICY, now=NOW, batch_size=10,
                         on_batch=lambda s: batches.append(s.rows))
    assert stored(store, records) == set()
    assert by_stage(report.stages)[("A", "usage")] == 50
    assert by_stage(report.stages)[("C", "orphans")] == 25
    assert len(batches) >= 6  # 50 references and 25 events, at most ~10 rows a statement
    again = store.prune(POLICY, now=NOW)
    assert again.rows_pruned == 0


def test_dry_run_counts_exactly_what_a_prune_deletes(store: EventStore) -> None:
    records = [
        event("status", 8), event("status", 1),
        event("audit", 2, ("instance", "a"), ("api-requests", "r1")),
        event("audit", 100, ("instance", "b"), ("api-requests", "r2")),
        event("mutate", 3, ("api-requests", "r3")),
        event("thirdparty", 50, ("api-requests", "r4"), ("thing", "t")),
    ]
    store.write_batch(records)
    before = pruned("status")
    plan = store.prune(POLICY, now=NOW, dry_run=True)
    assert plan.dry_run and pruned("status") == before
    assert len(stored(store, records)) == len(records)  # nothing deleted
    done = store.prune(POLICY, now=NOW)
    assert by_stage(plan.stages) == by_stage(done.stages)
    assert done.events_pruned == 3  # old status, old audit, request-only mutate


def test_delete_object_events_removes_references_not_other_objects(store: EventStore) -> None:
    shared = event("audit", 0, ("instance", "x"), ("network", "y"))
    only_x = [event("audit", 0, ("instance", "x")) for _ in range(3)]
    store.write_batch([shared, *only_x])
    assert store.delete_object_events("instance", "x") == 4
    assert store.get_object_events("instance", "x") == []
    assert [r.event_uuid for r in store.get_object_events("network", "y")] == [shared.event_uuid]
    assert store.delete_object_events("instance", "x") == 0
    assert store.prune(POLICY, now=NOW).events_pruned == 3


def test_named_lock_is_exclusive_until_released(store: EventStore) -> None:
    first, second = store.named_lock("test-lock"), store.named_lock("test-lock")
    assert first.try_acquire()
    assert first.try_acquire()  # still held by its holder
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_inserts_keep_flowing_during_a_large_prune_on_mariadb(
        mariadb_server: MariaDBServer, mariadb_database: str) -> None:
    import threading
    import time

    settings = mariadb_server.settings(mariadb_database)
    writer, pruner = MariaDBEventStore(settings), MariaDBEventStore(settings)
    now = time.time()
    try:
        aged = [make_record(event_type=("audit", "status", "usage")[i % 3],
                            timestamp=now - 100 * DAY + i, objects=[("instance", f"i-{i % 500}")])
                for i in range(30_000)]
        for start in range(0, len(aged), 2000):
            writer.write_batch(aged[start:start + 2000])
        report: list[object] = []
        thread = threading.Thread(target=lambda: report.append(pruner.prune(POLICY, now=now)))
        thread.start()
        fresh: list[EventRecord] = []
        while thread.is_alive() or len(fresh) < 500:
            batch = [make_record(event_type="audit", objects=[("instance", f"i-{len(fresh) % 500}")])
                     for _ in range(100)]
            writer.write_batch(batch)  # a deadlock or lock timeout would raise here
            fresh += batch
        thread.join()
        assert report and report[0].events_pruned == 30_000  # type: ignore[attr-defined]
        assert len(writer.get_events([r.event_uuid for r in fresh])) == len(fresh)
        assert writer.get_events([r.event_uuid for r in aged[:1000]]) == []
    finally:
        writer.close()
        pruner.close()


def test_mariadb_lock_names_never_collide_for_a_long_database_name() -> None:
    # MariaDB lock names stop at 64 characters; truncating "<db>.<lock>" made
    # the run and schedule locks one lock for a database name of 46+.
    from sfeventlog.config import Settings
    from sfeventlog.store.locks import PRUNE_RUN_LOCK, PRUNE_SCHEDULE_LOCK
    from sfeventlog.store.mariadb import MariaDBEventStore

    store = MariaDBEventStore(Settings(eventlog_transport="mariadb", mariadb_host="db",
                                       mariadb_database="d" * 64))
    run, schedule = store.named_lock(PRUNE_RUN_LOCK), store.named_lock(PRUNE_SCHEDULE_LOCK)
    assert run.name != schedule.name
    assert max(len(run.name), len(schedule.name)) <= 64
    other = MariaDBEventStore(Settings(eventlog_transport="mariadb", mariadb_host="db",
                                       mariadb_database="d" * 63))
    assert other.named_lock(PRUNE_RUN_LOCK).name != run.name, "scoped per database"


@pytest.mark.parametrize("kind", ["sqlite", "mariadb"])
def test_reads_skip_an_event_whose_references_a_prune_already_took(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Between a prune's reference step and its events step (each committed on
    its own) an event has no objects; a read in that gap must not fail on it."""
    keep, going = make_record(), make_record()
    delete = "DELETE FROM event_objects WHERE event_uuid = "
    s: EventStore
    if kind == "sqlite":
        import sqlite3

        s = SqliteEventStore(tmp_path / "events.sqlite")
        s.write_batch([keep, going])
        with sqlite3.connect(tmp_path / "events.sqlite") as conn:
            conn.execute(delete + "?", (going.event_uuid,))
    else:
        server: MariaDBServer = request.getfixturevalue("mariadb_server")
        database = request.getfixturevalue("mariadb_database")
        s = MariaDBEventStore(server.settings(database))
        s.write_batch([keep, going])
        server.execute(f"{delete}'{going.event_uuid}'", database=database)
    try:
        assert s.get_events([keep.event_uuid, going.event_uuid]) == [keep]
    finally:
        s.close()
