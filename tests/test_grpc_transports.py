"""The database and legacy transports against scripted gRPC servers.

Each fake server answers with one chosen outcome, so every row of the error
mapping in the issue is shown: status codes, ``success=false`` texts,
``ack=false``, a real deadline, host failover, and the lazily opened,
reused channel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from sfeventlog.config import Settings
from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.loader import load_transport
from sfeventlog.testing import make_record
from sfeventlog.transport import Transport
from sfeventlog.wire import database_pb2, event_pb2
from sfeventlog_transports.database import DatabaseTransport
from tests.servers.mariadb import free_port

Behaviour = Callable[[bytes, grpc.ServicerContext], bytes]


class ScriptedServer:
    """Serves RecordEventBatch and RecordMultiEventBatch with ``behaviour``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.calls = 0
        self.peers: set[str] = set()
        self._behaviour = behaviour
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
            self._handle)
        self.server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler("shakenfist.protos.DatabaseService",
                                                 {"RecordEventBatch": handler}),
            grpc.method_handlers_generic_handler("shakenfist.protos.EventService",
                                                 {"RecordMultiEventBatch": handler}),
        ))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _handle(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        self.calls += 1
        self.peers.add(context.peer())
        return self._behaviour(body, context)

    def stop(self) -> None:
        self.server.stop(0)


Scripted = Callable[[Behaviour], ScriptedServer]


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    servers: list[ScriptedServer] = []

    def make(behaviour: Behaviour) -> ScriptedServer:
        servers.append(ScriptedServer(behaviour))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def database(tmp_path: Path, hosts: str, **overrides: object) -> Transport:
    return load_transport(Settings(eventlog_transport="database", mariadb_gateway_hosts=hosts,
                                   eventlog_spool_dir=tmp_path, **overrides))  # type: ignore[arg-type]


def legacy(tmp_path: Path, port: int, **overrides: object) -> Transport:
    return load_transport(Settings(eventlog_transport="legacy", eventlog_node_ip="127.0.0.1",
                                   eventlog_api_port=port, eventlog_spool_dir=tmp_path,
                                   **overrides))  # type: ignore[arg-type]


def reply(success: bool, error: str = "") -> Behaviour:
    return lambda _body, _ctx: database_pb2.StatusReply(success=success, error=error).SerializeToString()


def abort_with(code: grpc.StatusCode) -> Behaviour:
    def behaviour(_body: bytes, ctx: grpc.ServicerContext) -> bytes:
        ctx.abort(code, f"scripted {code.name}")
    return behaviour


RETRYABLE = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED]


@pytest.mark.parametrize("code", RETRYABLE, ids=lambda c: c.name)
@pytest.mark.parametrize("kind", ["database", "legacy"])
def test_retryable_status_codes(kind: str, code: grpc.StatusCode, scripted: Scripted, tmp_path: Path) -> None:
    server = scripted(abort_with(code))
    t = (database(tmp_path, f"127.0.0.1:{server.port}") if kind == "database"
         else legacy(tmp_path, server.port))
    with t, pytest.raises(RetryableError, match=code.name):
        t.record_event_batch([make_record()])


@pytest.mark.parametrize("kind", ["database", "legacy"])
def test_invalid_argument_is_permanent(kind: str, scripted: Scripted, tmp_path: Path) -> None:
    server = scripted(abort_with(grpc.StatusCode.INVALID_ARGUMENT))
    t = (database(tmp_path, f"127.0.0.1:{server.port}") if kind == "database"
         else legacy(tmp_path, server.port))
    with t, pytest.raises(PermanentError, match="INVALID_ARGUMENT"):
        t.record_event_batch([make_record()])


@pytest.mark.parametrize("failure, error, expected", [
    (database_pb2.FAILURE_RECORDS, "invalid: events[0].event_type is 40 characters", PermanentError),
    (database_pb2.FAILURE_STORE, "store unavailable: database disk image is malformed", RetryableError),
    (database_pb2.FAILURE_UNSPECIFIED, "Invalid object_type in event u1", PermanentError),
    (database_pb2.FAILURE_UNSPECIFIED, "(sqlite3.DatabaseError) database disk image is malformed",
     RetryableError),
    (database_pb2.FAILURE_UNSPECIFIED, "", RetryableError),
])
def test_status_reply_false_classified(failure: int, error: str, expected: type,
                                       scripted: Scripted, tmp_path: Path) -> None:
    """The ``failure`` field first, then upstream's texts (table: tests/test_replies.py)."""
    server = scripted(lambda _b, _c: database_pb2.StatusReply(
        success=False, error=error, failure=failure).SerializeToString())  # type: ignore[arg-type]
    with database(tmp_path, f"127.0.0.1:{server.port}") as t, pytest.raises(expected):
        t.record_event_batch([make_record()])


def test_legacy_ack_false_is_retryable(scripted: Scripted, tmp_path: Path) -> None:
    server = scripted(lambda _b, _c: event_pb2.EventReply(ack=False).SerializeToString())
    with legacy(tmp_path, server.port) as t, pytest.raises(RetryableError, match="acknowledge"):
        t.record_event_batch([make_record()])


def test_per_call_deadline(scripted: Scripted, tmp_path: Path) -> None:
    release = threading.Event()

    def slow(_body: bytes, _ctx: grpc.ServicerContext) -> bytes:
        release.wait(10)
        return database_pb2.StatusReply(success=True).SerializeToString()

    server = scripted(slow)
    try:
        with database(tmp_path, f"127.0.0.1:{server.port}", mariadb_gateway_timeout=0.3) as t, \
                pytest.raises(RetryableError, match="DEADLINE_EXCEEDED"):
            t.record_event_batch([make_record()])
        with legacy(tmp_path, server.port, eventlog_api_timeout=0.3) as t, \
                pytest.raises(RetryableError, match="DEADLINE_EXCEEDED"):
            t.record_event_batch([make_record()])
    finally:
        release.set()


def test_fails_over_to_the_next_host(scripted: Scripted, tmp_path: Path) -> None:
    live = scripted(reply(True))
    dead = free_port()
    with database(tmp_path, f"127.0.0.1:{dead}, 127.0.0.1:{live.port}") as t:
        t.record_event_batch([make_record()])
        t.record_event_batch([make_record()])  # stays on the live host
    assert live.calls == 2


def test_all_hosts_down_is_retryable_and_names_them(tmp_path: Path) -> None:
    a, b = free_port(), free_port()
    with database(tmp_path, f"127.0.0.1:{a},127.0.0.1:{b}") as t, \
            pytest.raises(RetryableError) as info:
        t.record_event_batch([make_record()])
    assert f"127.0.0.1:{a}" in str(info.value) and f"127.0.0.1:{b}" in str(info.value)


def test_port_comes_from_config_when_hosts_have_none(scripted: Scripted, tmp_path: Path) -> None:
    server = scripted(reply(True))
    with database(tmp_path, "127.0.0.1", mariadb_gateway_port=server.port) as t:
        t.record_event_batch([make_record()])
    assert server.calls == 1


def test_one_channel_reused_and_opened_lazily(scripted: Scripted, tmp_path: Path) -> None:
    server = scripted(reply(True))
    t = database(tmp_path, f"127.0.0.1:{server.port}")
    assert isinstance(t, DatabaseTransport)
    assert t._channels == {}  # nothing opened by construction
    for _ in range(5):
        t.record_event_batch([make_record()])
    channels = dict(t._channels)
    t.record_event_batch([make_record()])
    assert t._channels == channels and len(channels) == 1
    # One connection: every call came from the same client address.
    assert server.calls == 6 and len(server.peers) == 1
    t.close()
    t.close()
