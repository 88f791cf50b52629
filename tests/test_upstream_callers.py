"""Upstream's call sites work unchanged, in the core API and in the drop-in.

The stand-ins below are built from upstream's facts (its ``ObjectType`` is a
``str`` enum whose ``str()`` is the value; its database objects carry
``object_type``, a ``uuid.UUID`` ``uuid`` and ``in_memory_only``; its event
types are plain strings), and each call is written out as upstream's code
base writes it (the file it comes from is named above each one).  Every
shape is run through both ``sfeventlog.api`` and ``sfeventlog.eventlog`` and
what reaches the spool is counted.
"""

from __future__ import annotations

import enum
import inspect
import json
import logging
import types
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from prometheus_client import REGISTRY

import sfeventlog.eventlog
from sfeventlog import api
from sfeventlog.config import Settings

EVENT_TYPE_AUDIT = "audit"
EVENT_TYPE_MUTATE = "mutate"
EVENT_TYPE_RESOURCES = "resources"
EVENT_TYPE_USAGE = "usage"


class ObjectType(str, enum.Enum):  # noqa: UP042 - upstream's own shape, not StrEnum
    """Upstream's shape: a str enum whose str() is its value."""

    INSTANCE = "instance"
    IPAM = "ipam"
    NAMESPACE = "namespace"
    NODE = "node"

    def __str__(self) -> str:
        return str(self.value)


class Relationship(enum.Enum):
    """A plain (not str-mixin) enum, as upstream keeps in some ``extra``s."""

    OWNS = "owns"


class DatabaseBackedObject:
    """Upstream's base object, as far as the event log sees it."""

    object_type: Any = "unknown"

    def __init__(self, object_uuid: uuid.UUID, in_memory_only: bool = False,
                 eventlog: Any = None) -> None:
        self.__uuid = object_uuid
        self.__in_memory_only = in_memory_only
        self.eventlog = eventlog

    @property
    def uuid(self) -> uuid.UUID:
        return self.__uuid

    @property
    def in_memory_only(self) -> bool:
        return self.__in_memory_only

    def add_event(self, eventtype: str, message: str, duration: float | None = None,
                  extra: dict[str, Any] | None = None, suppress_event_logging: bool = False,
                  log_as_error: bool = False) -> None:
        # baseobject.py, as upstream writes it.
        if not self.__in_memory_only:
            self.eventlog.add_event(
                eventtype, self.object_type, self.__uuid, message,
                duration=duration, extra=extra,
                suppress_event_logging=suppress_event_logging,
                log_as_error=log_as_error)


class Node(DatabaseBackedObject):
    object_type = ObjectType.NODE


class IPAM(DatabaseBackedObject):
    object_type = "ipam"


class Reservation(NamedTuple):
    user_type: ObjectType
    user_uuid: uuid.UUID


U1 = uuid.UUID("11111111-1111-4111-8111-111111111111")
U2 = uuid.UUID("22222222-2222-4222-8222-222222222222")
MODULES = {"core": api, "dropin": sfeventlog.eventlog}


@pytest.fixture(params=sorted(MODULES))
def eventlog(request: pytest.FixtureRequest, settings: Settings) -> types.ModuleType:
    api.reset_for_tests(settings)
    return MODULES[str(request.param)]


def _rows() -> list[dict[str, Any]]:
    """What this process spooled since the last call (read, then removed)."""
    spool = api.current_spool()
    if spool is None:
        return []
    batch = spool.dequeue_batch(1000)
    spool.delete_ids([row_id for row_id, _ in batch])
    return [json.loads(raw) for _, raw in batch]


def _objects(row: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t, u) for t, u in row["objects"]]


# -- every shape upstream writes, in both modules ---------------------------

def _sidechannel_monitor(eventlog: Any) -> None:
    instance_uuid = str(U1)
    # daemons/sidechannel/main.py
    eventlog.add_event(
        EVENT_TYPE_AUDIT, 'instance', instance_uuid,
        'sidechannel monitor crashed')


def _upload_db_create(eventlog: Any) -> None:
    object_type, object_uuid = "upload", str(U1)
    metadata = {"node": "sf-1", "created_at": 1748736000.5, "version": 3, "uuid": U1}
    # upload.py _db_create
    eventlog.add_event(EVENT_TYPE_AUDIT, object_type, object_uuid,
                       'db record created', extra=metadata)


def _namespace_object_created(eventlog: Any) -> None:
    metadata = {"namespace": "ns-1", "uuid": str(U1)}
    # baseobject.py _db_create
    eventlog.add_event(
        EVENT_TYPE_AUDIT, 'namespace', metadata['namespace'],
        'object created', extra=metadata, suppress_event_logging=True)


def _remove_references(eventlog: Any) -> None:
    source_type, relationship, count = ObjectType.INSTANCE, Relationship.OWNS, 3

    class request:  # upstream's gRPC request object
        source_uuid = str(U1)

    # daemons/database/main.py
    eventlog.add_event(
        EVENT_TYPE_MUTATE,
        source_type.value, request.source_uuid,
        'removed all references',
        extra={
            'relationship': relationship.value if relationship else 'all',
            'count': count
        })


def _object_method(eventlog: Any) -> None:
    node = Node(U1, eventlog=eventlog)
    retval = {"cpu_max": 16, "memory_max": 65536}
    # daemons/resources/main.py, through baseobject.add_event
    node.add_event(
        EVENT_TYPE_RESOURCES,
        'updated node resources and package versions',
        extra=retval,
        suppress_event_logging=True)


def _object_method_duration(eventlog: Any) -> None:
    node = Node(U2, eventlog=eventlog)
    # baseobject.add_event with a duration and log_as_error
    node.add_event(EVENT_TYPE_USAGE, 'usage', duration=1.25, extra={'bytes': 42},
                   log_as_error=True)


def _lookup_missing(eventlog: Any) -> None:
    cls, object_uuid = Node, str(U2)
    # baseobject.py from_db
    eventlog.add_event(
        EVENT_TYPE_AUDIT, cls.object_type, object_uuid,
        'attempt to lookup non-existent object',
        extra={'caller': 'cleaner.py:123'},
        log_as_error=True)


def _cleanup_leaked_address(eventlog: Any) -> None:
    class fn:  # upstream's network object holding its ipam
        ipam = IPAM(U2)

    reservation = Reservation(ObjectType.INSTANCE, U1)
    # daemons/cleaner/main.py
    eventlog.add_event_multi(
        EVENT_TYPE_AUDIT,
        [fn.ipam, (reservation.user_type, reservation.user_uuid)],
        'cleaned up an address which refers to a deleted object')


def _enqueue_cluster_operation(eventlog: Any) -> None:
    metadata = {"uuid": str(U2), "instance_uuid": U1, "network_uuid": None,
                "tasks": ["create", "start"]}
    targets = []
    for key in metadata:
        if key == 'uuid':
            continue
        if key.endswith('_uuid') and metadata[key] is not None:
            targets.append((key.replace('_uuid', ''), metadata[key]))
    extra = dict(metadata)
    extra['op_uuid'] = extra['uuid']
    del extra['uuid']
    extra['op_type'] = 'node_inst_op'
    msg = 'node_inst_op operation created with tasks create, start'
    # schema/operations/util.py
    eventlog.add_event_multi(
        EVENT_TYPE_AUDIT, targets, msg, extra=extra)


#: shape -> (objects, extra) of the one row it must spool.
SHAPES: dict[str, tuple[Callable[[Any], None], list[tuple[str, str]], dict[str, Any] | None]] = {
    "positional": (_sidechannel_monitor, [("instance", str(U1))], None),
    "extra_with_uuid": (_upload_db_create, [("upload", str(U1))],
                        {"node": "sf-1", "created_at": 1748736000.5, "version": 3,
                         "uuid": str(U1)}),
    "suppressed": (_namespace_object_created, [("namespace", "ns-1")],
                   {"namespace": "ns-1", "uuid": str(U1)}),
    "enum_value_and_extra": (_remove_references, [("instance", str(U1))],
                             {"relationship": "owns", "count": 3}),
    "object_method": (_object_method, [("node", str(U1))],
                      {"cpu_max": 16, "memory_max": 65536}),
    "object_method_duration": (_object_method_duration, [("node", str(U2))], {"bytes": 42}),
    "log_as_error": (_lookup_missing, [("node", str(U2))], {"caller": "cleaner.py:123"}),
    "multi_object_and_enum_tuple": (_cleanup_leaked_address,
                                    [("ipam", str(U2)), ("instance", str(U1))], None),
    "multi_targets": (_enqueue_cluster_operation, [("instance", str(U1))],
                      {"instance_uuid": str(U1), "network_uuid": None,
                       "tasks": ["create", "start"], "op_uuid": str(U2),
                       "op_type": "node_inst_op"}),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_upstream_call_shape_reaches_the_spool(settings: Settings, shape: str) -> None:
    call, objects, extra = SHAPES[shape]
    for name, eventlog in sorted(MODULES.items()):
        api.reset_for_tests(settings)
        call(eventlog)
        (row,) = _rows()
        assert _objects(row) == objects, name
        stored_extra = json.loads(row["extra"]) if row["extra"] is not None else None
        if eventlog is sfeventlog.eventlog:
            assert stored_extra == (extra or {}), "the drop-in stores upstream's {} for no extra"
        else:
            assert stored_extra == extra
        if shape == "object_method_duration":
            assert row["duration"] == 1.25


# -- the "Added event" line -------------------------------------------------

def _added(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "Added event"]


def test_added_event_is_logged_at_info_with_upstreams_fields(
        eventlog: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sfeventlog.events")
    _remove_references(eventlog)
    _upload_db_create(eventlog)  # a uuid.UUID in extra
    record, with_uuid = _added(caplog)
    json.dumps(with_uuid.sfeventlog_event)  # type: ignore[attr-defined]
    assert with_uuid.sfeventlog_event["extra"]["uuid"] == str(U1)  # type: ignore[attr-defined]
    assert record.levelno == logging.INFO and record.name == "sfeventlog.events"
    fields = record.sfeventlog_event  # type: ignore[attr-defined]
    assert fields["instance"] == str(U1)
    assert fields["event_type"] == "mutate"
    assert fields["message"] == "removed all references"
    assert fields["extra"] == {"relationship": "owns", "count": 3}
    assert fields["duration"] is None and fields["fqdn"]
    json.dumps(fields)  # a JSON log formatter can write it: no raw UUIDs


def test_log_as_error_logs_at_error(eventlog: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sfeventlog.events")
    _lookup_missing(eventlog)
    (record,) = _added(caplog)
    assert record.levelno == logging.ERROR
    assert record.sfeventlog_event["node"] == str(U2)  # type: ignore[attr-defined]


def test_suppressed_events_are_spooled_but_not_logged(
        eventlog: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sfeventlog.events")
    _namespace_object_created(eventlog)
    _object_method(eventlog)
    assert _added(caplog) == []
    assert len(_rows()) == 2


def test_log_events_to_loki_off_silences_the_line_not_the_event(
        eventlog: Any, settings: Settings, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAKENFIST_LOG_EVENTS_TO_LOKI", "false")
    quiet = Settings(eventlog_transport="null", eventlog_spool_dir=settings.eventlog_spool_dir)
    assert quiet.log_events_to_loki is False, "upstream's key, read from the environment"
    api.reset_for_tests(quiet)
    caplog.set_level(logging.INFO, logger="sfeventlog.events")
    _sidechannel_monitor(eventlog)
    _lookup_missing(eventlog)  # log_as_error too
    assert _added(caplog) == []
    assert len(_rows()) == 2


# -- the drop-in: upstream's signatures and quiet skips ---------------------

def _skipped(reason: str) -> float:
    value = REGISTRY.get_sample_value("eventlog_compat_skipped_total", {"reason": reason})
    assert value is not None, f"label {reason} is exported before the first skip"
    return value


def test_dropin_signatures_are_upstreams() -> None:
    want = {
        "add_event": [("event_type", inspect.Parameter.empty),
                      ("object_type", inspect.Parameter.empty),
                      ("object_uuid", inspect.Parameter.empty),
                      ("message", inspect.Parameter.empty), ("duration", None),
                      ("extra", None), ("suppress_event_logging", False),
                      ("log_as_error", False)],
        "add_event_multi": [("event_type", inspect.Parameter.empty),
                            ("objects", inspect.Parameter.empty),
                            ("message", inspect.Parameter.empty), ("duration", None),
                            ("extra", None), ("suppress_event_logging", False),
                            ("log_as_error", False)],
    }
    for name, params in want.items():
        sig = inspect.signature(getattr(sfeventlog.eventlog, name))
        assert [(p.name, p.default) for p in sig.parameters.values()] == params
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in sig.parameters.values())


def test_dropin_takes_upstreams_positional_order(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    api.reset_for_tests(settings)
    caplog.set_level(logging.INFO, logger="sfeventlog.events")
    assert sfeventlog.eventlog.add_event(
        EVENT_TYPE_AUDIT, "instance", U1, "m", 0.5, {"a": 1}, True, False) is None
    (row,) = _rows()
    assert row["duration"] == 0.5 and json.loads(row["extra"]) == {"a": 1}
    assert _added(caplog) == [], "the 7th positional is suppress_event_logging"


def test_dropin_force_event_dlq_is_accepted_per_thread(settings: Settings) -> None:
    api.reset_for_tests(settings)
    el = sfeventlog.eventlog
    assert el.get_force_event_dlq() is False
    # daemons/database/main.py record_start, as upstream writes it.
    el.set_force_event_dlq(True)
    try:
        assert el.get_force_event_dlq() is True
        Node(U1, eventlog=el).add_event(EVENT_TYPE_AUDIT, 'sf-database daemon starting')
    finally:
        el.set_force_event_dlq(False)
    assert el.get_force_event_dlq() is False
    assert len(_rows()) == 1, "the event is spooled, as any other"


def test_dropin_encodes_extra_as_upstream(settings: Settings) -> None:
    api.reset_for_tests(settings)

    class State:
        def obj_dict(self) -> dict[str, Any]:
            return {"value": "created", "update_time": 1.5}

    sfeventlog.eventlog.add_event(
        EVENT_TYPE_AUDIT, ObjectType.INSTANCE, U1, "m",
        extra={"state": State(), "rel": Relationship.OWNS, "kind": ObjectType.NODE,
               1: "int key", "owner": U2, "nested": {"ids": (U1,)}})
    sfeventlog.eventlog.add_event_multi(EVENT_TYPE_AUDIT, [("instance", U1)], "m", extra={})
    first, second = _rows()
    assert json.loads(first["extra"]) == {
        "state": {"value": "created", "update_time": 1.5}, "rel": "OWNS", "kind": "node",
        "1": "int key", "owner": str(U2), "nested": {"ids": [str(U1)]}}
    assert first["objects"] == [["instance", str(U1)]]
    assert second["extra"] == "{}"


@pytest.mark.parametrize("reason,call", [
    ("falsy_object", lambda el: el.add_event(EVENT_TYPE_AUDIT, "instance", None, "m")),
    ("falsy_object", lambda el: el.add_event(EVENT_TYPE_AUDIT, "instance", "", "m")),
    ("falsy_object", lambda el: el.add_event(EVENT_TYPE_AUDIT, None, U1, "m")),
    ("falsy_object", lambda el: el.add_event_multi(EVENT_TYPE_AUDIT, [("instance", None)], "m")),
    ("no_objects", lambda el: el.add_event_multi(EVENT_TYPE_AUDIT, [], "m")),
    ("no_objects", lambda el: el.add_event_multi(EVENT_TYPE_AUDIT, None, "m")),
    ("in_memory_only", lambda el: el.add_event_multi(
        EVENT_TYPE_AUDIT, [IPAM(U1, in_memory_only=True)], "m")),
    ("invalid", lambda el: el.add_event(EVENT_TYPE_AUDIT, "instance", U1, "m" * 70_000)),
    ("invalid", lambda el: el.add_event(EVENT_TYPE_AUDIT, "instance", U1, "m",
                                        extra={"x": {1, 2}})),
    ("invalid", lambda el: el.add_event_multi(EVENT_TYPE_AUDIT, [object()], "m")),
])
def test_dropin_skips_quietly_counts_and_logs_once_where_the_core_raises(
        settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        reason: str, call: Callable[[Any], object]) -> None:
    api.reset_for_tests(settings)
    with pytest.raises(ValueError):
        call(api)  # the strict core keeps its ValueErrors
    assert _rows() == []
    monkeypatch.setattr(sfeventlog.eventlog, "_logged", set())
    caplog.set_level(logging.WARNING, logger="sfeventlog.eventlog")
    before = {r: _skipped(r) for r in sfeventlog.eventlog.SKIP_REASONS}
    assert call(sfeventlog.eventlog) is None
    assert call(sfeventlog.eventlog) is None
    after = {r: _skipped(r) for r in sfeventlog.eventlog.SKIP_REASONS}
    assert {r: after[r] - before[r] for r in after if after[r] != before[r]} == {reason: 2}
    assert _rows() == [], "nothing spooled"
    warnings = [r for r in caplog.records if r.name == "sfeventlog.eventlog"]
    assert len(warnings) == 1, "logged once per reason"
    assert reason in warnings[0].getMessage()
    assert warnings[0].pathname == __file__, "the warning names the caller's line"


def test_dropin_leaves_out_only_the_skipped_objects(settings: Settings) -> None:
    api.reset_for_tests(settings)
    before = _skipped("in_memory_only"), _skipped("falsy_object")
    sfeventlog.eventlog.add_event_multi(
        EVENT_TYPE_AUDIT,
        [IPAM(U2, in_memory_only=True), (ObjectType.INSTANCE, U1), ("network", None),
         IPAM(U2)], "m")
    (row,) = _rows()
    assert _objects(row) == [("instance", str(U1)), ("ipam", str(U2))]
    assert (_skipped("in_memory_only"), _skipped("falsy_object")) == (before[0] + 1,
                                                                       before[1] + 1)


def test_every_skip_reason_is_exported_at_zero_on_import() -> None:
    for reason in sfeventlog.eventlog.SKIP_REASONS:
        _skipped(reason)
