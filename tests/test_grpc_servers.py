"""The reference servers as separate processes: bad input, health, metrics, SIGTERM.

Every bad request must get a proper status with a message, and the same
process must go on serving good requests afterwards.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sfeventlog.records import EventRecord
from sfeventlog.server.runtime import ServerOptions
from sfeventlog.store.base import EventStore, WriteResult
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing import make_record
from sfeventlog.wire import database_pb2, event_pb2
from sfeventlog.wire.database_codec import encode_batch
from sfeventlog.wire.legacy_codec import encode_batch as encode_legacy_batch
from tests import rawproto as raw
from tests.servers.reference import ServerProcess, wait_until

DB = "/shakenfist.protos.DatabaseService/RecordEventBatch"
EV = "/shakenfist.protos.EventService/"
MAX_BYTES = 64 * 1024


def call(target: str, path: str, body: bytes) -> bytes:
    with grpc.insecure_channel(target) as channel:
        stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)
        return stub(body, timeout=10)


def status_of(target: str, path: str, body: bytes) -> tuple[grpc.StatusCode, str]:
    try:
        call(target, path, body)
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def health_status(target: str, service: str = "") -> int:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]
            health_pb2.HealthCheckRequest(service=service), timeout=10)
        return int(reply.status)


@pytest.fixture
def db_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess("database", ["--sqlite", str(tmp_path / "ev.sqlite"), "--grace", "2",
                                        "--max-message-bytes", str(MAX_BYTES)],
                           log_path=tmp_path / "db.log").start()
    yield server
    server.terminate()


@pytest.fixture
def legacy_proc(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess("legacy", ["--store", str(tmp_path / "legacy"), "--grace", "2",
                                      "--max-message-bytes", str(MAX_BYTES)],
                           log_path=tmp_path / "legacy.log").start()
    yield server
    server.terminate()


def entry(**fields: bytes) -> bytes:
    """An EventBatchEntry from raw fields, defaulting every required one."""
    parts = {
        "event_uuid": raw.string(1, "0190a000-0000-7000-8000-00000000000a"),
        "event_type": raw.string(2, "audit"),
        "timestamp": raw.double(3, 1748736000.0),
        "fqdn": raw.string(4, "node"),
        "message": raw.string(6, "m"),
        "objects": raw.message(9, raw.uint(1, 5) + raw.string(2, "i-1")),
    }
    parts.update(fields)
    return raw.message(1, b"".join(parts.values()))


BAD_DATABASE_REQUESTS = {
    "garbage bytes": (b"\xff\xff\xff\xff", "not a RecordEventBatchRequest"),
    "truncated": (b"\x0a\x05ab", "not a RecordEventBatchRequest"),
    "missing event_uuid": (entry(event_uuid=b""), "events[0].event_uuid: missing"),
    "missing objects": (entry(objects=b""), "objects"),
    "missing event_type": (entry(event_type=b""), "event_type"),
    "extra not JSON": (entry(extra=raw.string(7, "{nope")), "extra_json"),
    "extra not an object": (entry(extra=raw.string(7, "[1]")), "extra_json"),
    "extra nested too deeply": (entry(extra=raw.string(7, "[" * 20000 + "]" * 20000)),
                                "extra_json"),
    "NaN timestamp": (entry(timestamp=raw.double(3, float("nan"))), "timestamp"),
    "over-long object uuid": (entry(objects=raw.message(9, raw.uint(1, 5) + raw.string(2, "u" * 37))),
                              "object_uuid"),
}


def test_database_server_refuses_bad_input_and_keeps_serving(db_server: ServerProcess) -> None:
    invalid_before = db_server.metric("database_record_event_batch_outcomes_total",
                                      {"outcome": "invalid"})
    for name, (body, needle) in BAD_DATABASE_REQUESTS.items():
        code, details = status_of(db_server.target, DB, body)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, name
        assert needle in details, (name, details)
    code, details = status_of(db_server.target, DB, b"\x0a" + raw.varint(MAX_BYTES) + b"x" * MAX_BYTES)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert db_server.alive
    # Still serving: a good request is stored and counted.
    good = make_record()
    reply = database_pb2.StatusReply.FromString(
        call(db_server.target, DB, encode_batch([good]).SerializeToString()))
    assert reply.success, reply.error
    assert db_server.metric("database_record_event_batch_outcomes_total",
                            {"outcome": "invalid"}) == invalid_before + len(BAD_DATABASE_REQUESTS)
    assert db_server.metric("database_record_event_batch_outcomes_total", {"outcome": "ok"}) >= 1
    assert db_server.metric("database_events_inserted_total", {"event_type": "audit"}) >= 1
    assert health_status(db_server.target) == health_pb2.HealthCheckResponse.SERVING
    assert health_status(db_server.target, "shakenfist.protos.DatabaseService") == (
        health_pb2.HealthCheckResponse.SERVING)


def multi(**fields: bytes) -> bytes:
    parts = {
        "objects": raw.message(1, raw.string(1, "instance") + raw.string(2, "i-1")),
        "event_type": raw.string(2, "audit"),
        "extra": b"",
    }
    parts.update(fields)
    return b"".join(parts.values())


BAD_LEGACY_REQUESTS = {
    "RecordEvent garbage": ("RecordEvent", b"\xff\xff\xff\xff", "not a EventRequest"),
    "RecordMultiEvent garbage": ("RecordMultiEvent", b"\x0a\x05ab", "not a EventMultiRequest"),
    "batch garbage": ("RecordMultiEventBatch", b"\xff\xff", "not a EventMultiBatchRequest"),
    "no objects": ("RecordMultiEvent", multi(objects=b""), "names no object"),
    "RecordEvent no object": ("RecordEvent", raw.string(3, "audit"), "object_type"),
    "missing event_type": ("RecordMultiEventBatch", raw.message(1, multi(event_type=b"")),
                           "events[0].event_type: missing"),
    "extra not JSON": ("RecordMultiEvent", multi(extra=raw.string(6, "{nope")), "extra"),
    "extra nested too deeply": ("RecordMultiEvent",
                                multi(extra=raw.string(6, "[" * 20000 + "]" * 20000)), "extra"),
}


def test_legacy_server_refuses_bad_input_and_keeps_serving(legacy_proc: ServerProcess) -> None:
    for name, (method, body, needle) in BAD_LEGACY_REQUESTS.items():
        code, details = status_of(legacy_proc.target, EV + method, body)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, name
        assert needle in details, (name, details)
    code, _ = status_of(legacy_proc.target, EV + "RecordMultiEventBatch",
                        b"\x0a" + raw.varint(MAX_BYTES) + b"x" * MAX_BYTES)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert legacy_proc.alive
    body = encode_legacy_batch([make_record()]).SerializeToString()
    assert event_pb2.EventReply.FromString(
        call(legacy_proc.target, EV + "RecordMultiEventBatch", body)).ack
    assert legacy_proc.metric("eventlog_rpc_requests_total",
                              {"method": "RecordMultiEventBatch"}) >= 3
    assert health_status(legacy_proc.target, "shakenfist.protos.EventService") == (
        health_pb2.HealthCheckResponse.SERVING)


def test_sigterm_turns_health_not_serving_then_exits(db_server: ServerProcess) -> None:
    with grpc.insecure_channel(db_server.target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(  # type: ignore[attr-defined]
            health_pb2.HealthCheckRequest(service="shakenfist.protos.DatabaseService"))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        assert db_server.process is not None
        db_server.process.send_signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
    assert db_server.terminate() == 0
    assert "stopped" in db_server.output


class BlockingStore(EventStore):
    """A SQLite store whose writes wait for ``release`` (an in-flight call)."""

    def __init__(self, path: Path, entered: threading.Event, release: threading.Event) -> None:
        self.inner = SqliteEventStore(path)
        self.entered, self.release = entered, release

    def _write_batch(self, records: Sequence[EventRecord]) -> WriteResult:
        self.entered.set()
        self.release.wait(30)
        return self.inner._write_batch(records)

    def get_object_events(self, object_type: str, object_uuid: str, limit: int = 100,
                          event_type: str | None = None) -> list[EventRecord]:
        return self.inner.get_object_events(object_type, object_uuid, limit, event_type)

    def get_events(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        return self.inner.get_events(event_uuids)

    def migrate(self) -> bool:
        return self.inner.migrate()

    def approx_rows(self) -> int:
        return self.inner.approx_rows()

    def close(self) -> None:
        self.inner.close()


def test_in_flight_call_finishes_within_grace(tmp_path: Path) -> None:
    from sfeventlog.server.database import start_database_server

    entered, release = threading.Event(), threading.Event()
    running = start_database_server(
        ServerOptions(listen="127.0.0.1:0", grace=20.0),
        lambda: BlockingStore(tmp_path / "ev.sqlite", entered, release))
    record = make_record()
    result: list[object] = []

    def send() -> None:
        result.append(database_pb2.StatusReply.FromString(
            call(running.target, DB, encode_batch([record]).SerializeToString())).success)

    sender = threading.Thread(target=send)
    sender.start()
    assert entered.wait(10)
    stopper = threading.Thread(target=running.stop)
    stopper.start()

    def refused() -> bool:
        try:
            health_status(running.target)
        except grpc.RpcError:
            return True
        return False

    # Shutdown has begun: new calls are refused while the old one still runs.
    assert wait_until(refused, 10)
    assert sender.is_alive()
    release.set()
    sender.join(20)
    stopper.join(30)
    assert result == [True]
    store = SqliteEventStore(tmp_path / "ev.sqlite")
    try:
        assert [r.event_uuid for r in store.get_events([record.event_uuid])] == [record.event_uuid]
    finally:
        store.close()
