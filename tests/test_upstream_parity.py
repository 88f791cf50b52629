"""sf-database server and client parity with upstream Shaken Fist (issue 10, section 4).

Both sides are built here from upstream's .proto field numbers only
(``tests.rawproto``), never from our generated classes:

* an upstream-shaped *client* (raw bytes plus upstream's ``caller-daemon`` /
  ``caller-node`` metadata) against ``sfeventlog serve database`` run with
  no address flags, as a separate process;
* upstream-shaped *servicers* (raw handlers that decode requests and answer
  ``StatusReply`` by field number) behind our ``database`` transport.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog.errors import TransportLoadError
from sfeventlog.loader import load_transport
from sfeventlog.testing import make_record
from tests import rawproto as raw
from tests.servers.mariadb import free_port
from tests.servers.reference import SFEVENTLOG, ServerProcess

DB_PATH = "/shakenfist.protos.DatabaseService/RecordEventBatch"
SERVICE, METHOD = DB_PATH.strip("/").split("/")
OBJECT_TYPE_INSTANCE = 5


def entry(event_uuid: str, object_type: int = OBJECT_TYPE_INSTANCE) -> bytes:
    """An upstream ``EventBatchEntry`` (fields 1-9) as ``RecordEventBatchRequest.events``."""
    body = (raw.string(1, event_uuid) + raw.string(2, "audit") + raw.double(3, 1748736000.5)
            + raw.string(4, "node-01.example.com") + raw.string(6, "Created instance")
            + raw.message(9, raw.uint(1, object_type) + raw.string(2, "i-1")))
    return raw.message(1, body)


def status_reply(data: bytes) -> tuple[bool, str]:
    """``StatusReply{bool success = 1; string error = 2}`` decoded by number."""
    fields = {number: value for number, _, value in raw.decode(data)}
    error = fields.get(2, b"")
    assert isinstance(error, bytes)
    return bool(fields.get(1, 0)), error.decode()


def event_uuids(request: bytes) -> list[str]:
    """The ``event_uuid`` (field 1) of every entry (field 1) of a request."""
    uuids = []
    for number, _, body in raw.decode(request):
        assert number == 1 and isinstance(body, bytes)
        value = next(v for n, _, v in raw.decode(body) if n == 1)
        assert isinstance(value, bytes)
        uuids.append(value.decode())
    return uuids


# -- an upstream-shaped client against our server -----------------------------


def upstream_call(target: str, body: bytes, daemon: str = "sf-api") -> tuple[bool, str]:
    """One RecordEventBatch as upstream's client sends it, caller metadata included."""
    with grpc.insecure_channel(target) as channel:
        stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(DB_PATH)
        return status_reply(stub(body, timeout=10, metadata=[("caller-daemon", daemon),
                                                            ("caller-node", "node-07")]))


def serve_env(**keys: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    env.update({f"SHAKENFIST_{k}": v for k, v in keys.items()})
    return env


def test_serve_database_with_no_flags_runs_like_upstream(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    server = ServerProcess(
        "database", ["--sqlite", str(tmp_path / "ev.sqlite"), "--grace", "1"], free_ports=False,
        env=serve_env(NODE_MESH_IP="127.0.0.1", MARIADB_GATEWAY_PORT=str(port),
                      MARIADB_GATEWAY_METRICS_PORT=str(metrics_port)),
        log_path=tmp_path / "db.log").start()
    try:
        # Upstream's address and metrics port, from the same config.
        assert server.target == f"127.0.0.1:{port}"
        assert server.metrics_url == f"http://127.0.0.1:{metrics_port}/metrics"
        assert upstream_call(server.target, entry("0190a000-0000-7000-8000-0000000000a1")) == (
            True, "")
        # An object type upstream cannot map: upstream's reply, word for word.
        bad = "0190a000-0000-7000-8000-0000000000a2"
        for object_type in (99, 0):
            assert upstream_call(server.target, entry(bad, object_type), daemon="sf-net") == (
                False, f"Invalid object_type in event {bad}")
        # Upstream's unlabelled per-operation counter, its per-caller counter,
        # and ours by outcome.
        assert server.metric("database_record_event_batch_total") == 3
        assert server.metric("database_requests_total", {
            "operation": "RecordEventBatch", "caller_daemon": "sf-api"}) == 1
        assert server.metric("database_requests_total", {
            "operation": "RecordEventBatch", "caller_daemon": "sf-net"}) == 2
        assert server.metric("database_record_event_batch_outcomes_total", {"outcome": "ok"}) == 1
        assert server.metric("database_record_event_batch_outcomes_total",
                             {"outcome": "invalid"}) == 2
    finally:
        server.terminate()


def run_serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SFEVENTLOG, "serve", "database", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_serve_database_names_the_unset_address_setting(tmp_path: Path) -> None:
    proc = run_serve(serve_env(), "--sqlite", str(tmp_path / "ev.sqlite"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "SHAKENFIST_NODE_MESH_IP is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_database_names_the_unset_mariadb_host() -> None:
    proc = run_serve(serve_env(), "--listen", "127.0.0.1:0", "--metrics-port", "0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "SHAKENFIST_MARIADB_HOST is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("transport, key", [
    ("database", "SHAKENFIST_MARIADB_GATEWAY_HOSTS"),
    ("legacy", "SHAKENFIST_EVENTLOG_NODE_IP"),
    ("mariadb", "SHAKENFIST_MARIADB_HOST"),
])
def test_transports_refuse_an_unset_host(transport: str, key: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SHAKENFIST_"):
            monkeypatch.delenv(name)
    with pytest.raises(TransportLoadError, match=f"{key} is not set"):
        load_transport(Settings(eventlog_transport=transport, eventlog_spool_dir=tmp_path))


# -- upstream-shaped servicers behind our transport ---------------------------


class UpstreamServicer:
    """RecordEventBatch decoded by field number; remembers what each call carried."""

    def __init__(self, stall: threading.Event | None = None) -> None:
        self.requests: list[tuple[dict[str, str], list[str]]] = []
        self._stall = stall
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
            self._handle)
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _handle(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = {k: str(v) for k, v in context.invocation_metadata()}
        with self._lock:
            self.requests.append((metadata, event_uuids(body)))
        if self._stall is not None:
            self._stall.wait(30)
        return raw.uint(1, 1)  # StatusReply(success=true)

    @property
    def stored(self) -> list[str]:
        with self._lock:
            return [u for _, uuids in self.requests for u in uuids]


@pytest.fixture
def servicers() -> Iterator[Callable[..., UpstreamServicer]]:
    made: list[UpstreamServicer] = []

    def make(stall: threading.Event | None = None) -> UpstreamServicer:
        made.append(UpstreamServicer(stall))
        return made[-1]

    yield make
    for servicer in made:
        servicer.server.stop(0)


@pytest.fixture
def daemon_name() -> Iterator[str]:
    from sfeventlog.wire import caller

    before = caller.caller_daemon()
    caller.set_caller_daemon("sf-parity")
    yield "sf-parity"
    caller.set_caller_daemon(before)


def test_calls_are_spread_round_robin_with_caller_metadata(
        servicers: Callable[..., UpstreamServicer], daemon_name: str, tmp_path: Path) -> None:
    hosts = [servicers() for _ in range(3)]
    settings = Settings(eventlog_transport="database", eventlog_spool_dir=tmp_path,
                        node_name="node-07.example.com",
                        mariadb_gateway_hosts=",".join(f"127.0.0.1:{h.port}" for h in hosts))
    sent = []
    with load_transport(settings) as transport:
        for _ in range(9):
            batch = [make_record() for _ in range(3)]
            transport.record_event_batch(batch)
            sent += [r.event_uuid for r in batch]
    # No pile-up on the first host: each got a third of the calls.
    assert [len(h.requests) for h in hosts] == [3, 3, 3]
    assert sorted(u for h in hosts for u in h.stored) == sorted(sent)
    for host in hosts:
        for metadata, _ in host.requests:
            assert metadata["caller-daemon"] == daemon_name
            assert metadata["caller-node"] == "node-07.example.com"


def test_a_stalled_host_fails_over_on_deadline_exceeded(
        servicers: Callable[..., UpstreamServicer], tmp_path: Path) -> None:
    release = threading.Event()
    stalled, healthy = servicers(stall=release), servicers()
    settings = Settings(eventlog_transport="database", eventlog_spool_dir=tmp_path,
                        mariadb_gateway_timeout=0.5,
                        mariadb_gateway_hosts=f"127.0.0.1:{stalled.port},127.0.0.1:{healthy.port}")
    sent = []
    started = time.monotonic()
    try:
        with load_transport(settings) as transport:
            for _ in range(10):
                batch = [make_record() for _ in range(10)]
                transport.record_event_batch(batch)  # never raises: h2 takes over
                sent += [r.event_uuid for r in batch]
    finally:
        release.set()
    elapsed = time.monotonic() - started
    # Every batch reached the healthy host once; the stalled one was tried
    # once, then left at the back of the rotation.
    assert sorted(healthy.stored) == sorted(sent)
    assert len(stalled.requests) == 1
    assert elapsed < 3.0, elapsed


def test_start_names_the_caller_daemon(tmp_path: Path, daemon_name: str) -> None:
    api.reset_for_tests()
    sfeventlog.start("sf-named-daemon", Settings(eventlog_transport="null",
                                                 eventlog_spool_dir=tmp_path / "spool"))
    try:
        from sfeventlog.wire import caller

        assert caller.caller_daemon() == "sf-named-daemon"
    finally:
        sfeventlog.stop(drain_timeout=1)
