"""``schema_plan.plan``: decisions from what a store has (unit tests; the real
MariaDB cases are in ``test_upstream_database.py`` and ``test_store.py``)."""

from __future__ import annotations

from sfeventlog.store.schema import ADD_ORDINAL, RECORD_VERSIONS
from sfeventlog.store.schema_plan import Found, Layout, plan

EVENTS = frozenset({"event_uuid", "event_type", "timestamp", "fqdn", "duration", "message",
                    "extra", "request_id"})
OBJECTS = frozenset({"object_type", "object_uuid", "event_uuid"})
KEYS = {
    "events": {"PRIMARY": ("event_uuid",), "idx_events_type_timestamp": ("event_type", "timestamp"),
               "idx_events_request_id": ("request_id",)},
    "event_objects": {"PRIMARY": ("object_type", "object_uuid", "event_uuid"),
                      "idx_event_objects_event": ("event_uuid",)},
}
UPSTREAM = Found({"events": EVENTS, "event_objects": OBJECTS}, KEYS,
                 {"events": 1, "event_objects": 1})


def test_upstream_layout_is_usable_as_it_is_and_migrate_adds_only_ours() -> None:
    p = plan(UPSTREAM, "db")
    assert p.layout == Layout(ordinal=False) and p.problem is None and p.blocker is None
    assert p.steps == (ADD_ORDINAL, RECORD_VERSIONS)
    assert p.versions == (("sfeventlog", 1),)  # upstream's rows are not rewritten
    assert p.describe()[-1] == "record schema_versions sfeventlog = 1"


def test_current_schema_has_nothing_to_do_whatever_the_rows_say() -> None:
    current = Found({"events": EVENTS, "event_objects": OBJECTS | {"ordinal"}}, KEYS,
                    {"events": 1, "event_objects": 1, "sfeventlog": 1})
    assert plan(current, "db").steps == ()
    lying = Found(current.columns, KEYS, {"events": 1, "event_objects": 1, "sfeventlog": 9})
    p = plan(lying, "db")
    assert p.layout == Layout(ordinal=True) and p.steps == ()
    assert p.notes == ("sfeventlog is at version 9, newer than the 1 this sfeventlog knows",)
    assert plan(Found(UPSTREAM.columns, KEYS, {"sfeventlog": 1}), "db").layout == Layout(False)


def test_an_index_under_another_name_serves_and_a_missing_one_is_added() -> None:
    keys = {**KEYS, "events": {"PRIMARY": ("event_uuid",), "by_type": ("event_type", "timestamp")}}
    p = plan(Found(UPSTREAM.columns, keys, UPSTREAM.versions), "db")
    assert p.steps == ("add idx_events_request_id", ADD_ORDINAL, RECORD_VERSIONS)


def test_missing_tables_are_created_and_broken_ones_refused() -> None:
    empty = plan(Found({}, {}), "db")
    assert empty.layout is None and "missing" in (empty.problem or "") and empty.blocker is None
    assert empty.steps == ("create events", "create event_objects", RECORD_VERSIONS)
    no_key = {**KEYS, "events": {"idx": ("event_uuid",)}}
    broken = plan(Found({"events": EVENTS - {"fqdn"}, "event_objects": OBJECTS}, no_key), "db")
    assert broken.layout is None and broken.steps == ()
    assert "events has no column fqdn" in (broken.blocker or "")
    assert "primary key of events is missing" in (broken.blocker or "")
