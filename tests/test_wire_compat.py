"""Wire compatibility with upstream Shaken Fist, from field numbers alone.

Forward: requests hand-encoded from upstream's field numbers (no generated
classes) are decoded and stored by our servers.  Reverse: what our
transports send decodes under descriptors built here with upstream's fields
only, as an upstream sf-database / sf-eventlog would see it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from prometheus_client import REGISTRY

from sfeventlog.config import Settings
from sfeventlog.loader import load_transport
from sfeventlog.server.legacy_store import read_rows
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing import make_record
from tests import rawproto as raw
from tests.servers.inprocess import database_server, legacy_server

DB_PATH = "/shakenfist.protos.DatabaseService/RecordEventBatch"
EVENT_PATHS = {m: f"/shakenfist.protos.EventService/{m}"
               for m in ("RecordEvent", "RecordMultiEvent", "RecordMultiEventBatch")}


def call_raw(target: str, path: str, body: bytes) -> bytes:
    with grpc.insecure_channel(target) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)
        return call(body, timeout=10)


# -- forward: upstream bytes into our servers ---------------------------------


def upstream_batch_entry(event_uuid: str, *, duration: float, extra_json: str,
                         request_id: str, objects: list[tuple[int, str]]) -> bytes:
    body = (raw.string(1, event_uuid) + raw.string(2, "audit") + raw.double(3, 1748736000.5)
            + raw.string(4, "node-01.example.com") + raw.string(6, "Created instance"))
    if duration:
        body += raw.double(5, duration)
    if extra_json:
        body += raw.string(7, extra_json)
    if request_id:
        body += raw.string(8, request_id)
    for number, uuid in objects:
        body += raw.message(9, raw.uint(1, number) + raw.string(2, uuid))
    return body


def test_database_server_decodes_upstream_field_numbers(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    request = (
        raw.message(1, upstream_batch_entry(
            "0190a000-0000-7000-8000-000000000001", duration=0.5, extra_json='{"a":1}',
            request_id="req-1", objects=[(5, "i-1"), (26, "r-1"), (28, "x-1")]))
        + raw.message(1, upstream_batch_entry(
            "0190a000-0000-7000-8000-000000000002", duration=0.0, extra_json="",
            request_id="", objects=[(9, "n-1")]))
    )
    with database_server(path) as server:
        reply = call_raw(server.target, DB_PATH, request)
        assert raw.decode(reply) == [(1, raw.VARINT, 1)]  # success = true
        call_raw(server.target, DB_PATH, request)  # an upstream drainer's replay
    store = SqliteEventStore(path)
    try:
        stored = {r.event_uuid: r for r in store.get_events(
            ["0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002"])}
    finally:
        store.close()
    first = stored["0190a000-0000-7000-8000-000000000001"]
    assert first.objects == [("instance", "i-1"), ("api-requests", "r-1"),
                             ("unknown_managed_executable", "x-1")]
    assert (first.duration, first.extra, first.request_id) == (0.5, {"a": 1}, "req-1")
    assert (first.timestamp, first.fqdn, first.message) == (
        1748736000.5, "node-01.example.com", "Created instance")
    second = stored["0190a000-0000-7000-8000-000000000002"]
    # Upstream's conventions: 0 / "" mean absent.
    assert (second.duration, second.extra, second.request_id) == (None, None, None)
    assert second.objects == [("network", "n-1")]
    assert len(stored) == 2


def upstream_multi(*, objects: list[tuple[str, str]], extra: str, duration: float | None) -> bytes:
    body = b"".join(raw.message(1, raw.string(1, t) + raw.string(2, u)) for t, u in objects)
    body += raw.string(2, "status") + raw.string(3, "node-02") + raw.string(5, "it moved")
    if duration is not None:
        body += raw.float32(4, duration)
    body += raw.string(6, extra) + raw.double(7, 1748736001.25)
    return body


def test_legacy_server_decodes_upstream_field_numbers(tmp_path: Path) -> None:
    store_dir = tmp_path / "legacy"
    before = {m: REGISTRY.get_sample_value("eventlog_rpc_requests_total", {"method": m}) or 0.0
              for m in EVENT_PATHS}
    single = (raw.string(1, "instance") + raw.string(2, "i-9") + raw.string(3, "audit")
              + raw.string(5, "node-03") + raw.float32(6, 0.5) + raw.string(7, "single")
              + raw.string(8, '{"request-id": "req-7"}') + raw.double(9, 1748736002.0))
    multi = upstream_multi(objects=[("instance", "i-1"), ("network", "n-1")],
                           extra='{"k": "v", "request-id": "req-8"}', duration=0.25)
    batch = raw.message(1, upstream_multi(objects=[("blob", "b-1")], extra="{}", duration=None))
    with legacy_server(store_dir) as server:
        for method, body in (("RecordEvent", single), ("RecordMultiEvent", multi),
                             ("RecordMultiEventBatch", batch)):
            reply = call_raw(server.target, EVENT_PATHS[method], body)
            assert raw.decode(reply) == [(1, raw.VARINT, 1)], method  # ack = true
    rows = read_rows(store_dir)
    by_object = {(r.object_type, r.object_uuid): r for r in rows}
    assert set(by_object) == {("instance", "i-9"), ("instance", "i-1"), ("network", "n-1"),
                              ("blob", "b-1")}
    assert by_object[("instance", "i-9")].duration == 0.5
    assert json.loads(by_object[("instance", "i-9")].extra) == {"request-id": "req-7"}
    assert by_object[("instance", "i-1")].duration == 0.25
    assert by_object[("instance", "i-1")].timestamp == 1748736001.25
    # Both objects of one event share its correlation id.
    assert by_object[("instance", "i-1")].correlation_id == by_object[("network", "n-1")].correlation_id
    assert by_object[("blob", "b-1")].duration is None
    for method in EVENT_PATHS:
        after = REGISTRY.get_sample_value("eventlog_rpc_requests_total", {"method": method})
        assert after == before[method] + 1, method


# -- reverse: our transports' bytes under upstream's schema -------------------


def _field(name: str, number: int, ftype: int, *, repeated: bool = False,
           type_name: str = "") -> descriptor_pb2.FieldDescriptorProto:
    label = (descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED if repeated
             else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    field = descriptor_pb2.FieldDescriptorProto(name=name, number=number, type=ftype,  # type: ignore[arg-type]
                                                label=label)
    if type_name:
        field.type_name = type_name
    return field


F = descriptor_pb2.FieldDescriptorProto
STRING, DOUBLE, FLOAT, BOOL, ENUM, MESSAGE = (F.TYPE_STRING, F.TYPE_DOUBLE, F.TYPE_FLOAT,
                                              F.TYPE_BOOL, F.TYPE_ENUM, F.TYPE_MESSAGE)


def upstream_classes() -> dict[str, Any]:
    """Upstream's messages (no sfeventlog extensions) in a private pool."""
    fdp = descriptor_pb2.FileDescriptorProto(name="upstream_test.proto", package="upstream",
                                             syntax="proto3")
    enum = fdp.enum_type.add(name="ObjectType")
    enum.value.add(name="OBJECT_TYPE_UNSPECIFIED", number=0)
    enum.value.add(name="OBJECT_TYPE_INSTANCE", number=5)
    enum.value.add(name="OBJECT_TYPE_NETWORK", number=9)
    messages: dict[str, list[descriptor_pb2.FieldDescriptorProto]] = {
        "EventBatchObject": [_field("object_type", 1, ENUM, type_name=".upstream.ObjectType"),
                             _field("object_uuid", 2, STRING)],
        "EventBatchEntry": [
            _field("event_uuid", 1, STRING), _field("event_type", 2, STRING),
            _field("timestamp", 3, DOUBLE), _field("fqdn", 4, STRING),
            _field("duration", 5, DOUBLE), _field("message", 6, STRING),
            _field("extra_json", 7, STRING), _field("request_id", 8, STRING),
            _field("objects", 9, MESSAGE, repeated=True, type_name=".upstream.EventBatchObject")],
        "RecordEventBatchRequest": [
            _field("events", 1, MESSAGE, repeated=True, type_name=".upstream.EventBatchEntry")],
        "EventObject": [_field("object_type", 1, STRING), _field("object_uuid", 2, STRING)],
        "EventMultiRequest": [
            _field("objects", 1, MESSAGE, repeated=True, type_name=".upstream.EventObject"),
            _field("event_type", 2, STRING), _field("fqdn", 3, STRING),
            _field("duration", 4, FLOAT), _field("message", 5, STRING),
            _field("extra", 6, STRING), _field("timestamp", 7, DOUBLE)],
        "EventMultiBatchRequest": [
            _field("events", 1, MESSAGE, repeated=True, type_name=".upstream.EventMultiRequest")],
    }
    for name, fields in messages.items():
        fdp.message_type.add(name=name, field=fields)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"upstream.{name}"))
            for name in messages}


class CaptureServer:
    """Records raw request bytes per method and answers success/ack = true."""

    def __init__(self) -> None:
        self.requests: dict[str, list[bytes]] = {}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))

        def handler(method: str) -> grpc.RpcMethodHandler[bytes, bytes]:
            def behaviour(body: bytes, _context: grpc.ServicerContext) -> bytes:
                self.requests.setdefault(method, []).append(body)
                return raw.uint(1, 1)
            return grpc.unary_unary_rpc_method_handler(behaviour)

        self.server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler(
                "shakenfist.protos.DatabaseService",
                {"RecordEventBatch": handler("RecordEventBatch")}),
            grpc.method_handlers_generic_handler(
                "shakenfist.protos.EventService",
                {"RecordMultiEventBatch": handler("RecordMultiEventBatch")}),
        ))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.server.stop(0)


def test_database_transport_bytes_decode_under_upstream_schema(capture: CaptureServer,
                                                               tmp_path: Path) -> None:
    records = [
        make_record(objects=[("instance", "i-1"), ("network", "n-1")], duration=1.5,
                    extra={"foo": 1}, request_id="req-1"),
        make_record(duration=0.0, extra=None, request_id=None),
        make_record(objects=[("acme-widget", "w-1")]),
    ]
    transport = load_transport(Settings(eventlog_transport="database",
                                        mariadb_gateway_hosts="127.0.0.1",
                                        mariadb_gateway_port=capture.port,
                                        eventlog_spool_dir=tmp_path))
    try:
        transport.record_event_batch(records)
    finally:
        transport.close()
    [body] = capture.requests["RecordEventBatch"]
    decoded = upstream_classes()["RecordEventBatchRequest"].FromString(body)
    first, zero, third_party = decoded.events
    assert first.event_uuid == records[0].event_uuid
    assert (first.event_type, first.timestamp, first.fqdn, first.message) == (
        "audit", records[0].timestamp, records[0].fqdn, records[0].message)
    assert (first.duration, json.loads(first.extra_json), first.request_id) == (
        1.5, {"foo": 1}, "req-1")
    assert [(o.object_type, o.object_uuid) for o in first.objects] == [(5, "i-1"), (9, "n-1")]
    # Upstream reads these as absent; our has_duration extension keeps the 0.0.
    assert (zero.duration, zero.extra_json, zero.request_id) == (0.0, "", "")
    # A third-party type is UNSPECIFIED to upstream (which refuses it, as it should).
    assert [(o.object_type, o.object_uuid) for o in third_party.objects] == [(0, "w-1")]


def test_legacy_transport_bytes_decode_under_upstream_schema(capture: CaptureServer,
                                                             tmp_path: Path) -> None:
    records = [
        make_record(objects=[("instance", "i-1"), ("network", "n-1")], duration=0.25,
                    extra={"foo": 1}, request_id="req-1"),
        make_record(extra=None, request_id=None, duration=None),
    ]
    transport = load_transport(Settings(eventlog_transport="legacy",
                                        eventlog_node_ip="127.0.0.1",
                                        eventlog_api_port=capture.port,
                                        eventlog_spool_dir=tmp_path))
    try:
        transport.record_event_batch(records)
    finally:
        transport.close()
    [body] = capture.requests["RecordMultiEventBatch"]
    decoded = upstream_classes()["EventMultiBatchRequest"].FromString(body)
    first, second = decoded.events
    assert [(o.object_type, o.object_uuid) for o in first.objects] == [
        ("instance", "i-1"), ("network", "n-1")]
    assert (first.event_type, first.fqdn, first.message, first.timestamp) == (
        "audit", records[0].fqdn, records[0].message, records[0].timestamp)
    assert first.duration == 0.25
    # The request id is where upstream's sf-eventlog looks for it.
    assert json.loads(first.extra) == {"foo": 1, "request-id": "req-1"}
    assert (second.extra, second.duration) == ("", 0.0)
    # The event uuid travels in an extension field upstream skips.
    assert records[0].event_uuid.encode() in body
    assert time.time() - first.timestamp < 3600
