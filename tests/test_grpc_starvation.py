"""A server that cannot be starved, a port that is never shared (issue 12).

* idle streams (gRPC calls that never send their request) neither stop a
  real ``serve database`` process from storing batches nor from answering
  health, and they are timed out;
* with ``GATEWAY_HOSTS=h1,h2``, h1 stalled by idle streams and h2 healthy,
  every event reaches h2 within seconds, exactly once;
* a second server on a served port fails to start, naming the address, and
  out-of-range ports are refused;
* 12 concurrent ~15 MiB requests keep the server's peak RSS under 512 MiB.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog.server.runtime import ServerOptions
from sfeventlog.testing import make_record
from sfeventlog.wire import database_pb2
from sfeventlog.wire.database_codec import encode_batch
from tests import rawproto as raw
from tests.servers.inprocess import database_server
from tests.servers.reference import SFEVENTLOG, ServerProcess, wait_until

DB_PATH = "/shakenfist.protos.DatabaseService/RecordEventBatch"


class IdleStreams:
    """``count`` calls over ``connections`` connections that never send their request."""

    def __init__(self, target: str, count: int, connections: int = 2) -> None:
        self._release = threading.Event()
        self.channels = [grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
                         for _ in range(connections)]
        self.calls = [
            self.channels[i % connections].stream_unary(DB_PATH).future(self._never(), timeout=60)
            for i in range(count)
        ]

    def _never(self) -> Iterator[bytes]:
        self._release.wait(60)
        return
        yield b""  # a generator that sends nothing

    def close(self) -> None:
        self._release.set()
        for call in self.calls:
            call.cancel()
        for channel in self.channels:
            channel.close()


def store_one(target: str, timeout: float) -> bool:
    with grpc.insecure_channel(target) as channel:
        stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(DB_PATH)
        reply = stub(encode_batch([make_record()]).SerializeToString(), timeout=timeout)
        return bool(database_pb2.StatusReply.FromString(reply).success)


def health(target: str, timeout: float) -> int:
    with grpc.insecure_channel(target) as channel:
        return int(health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]
            health_pb2.HealthCheckRequest(), timeout=timeout).status)


def test_idle_streams_do_not_stall_the_server(tmp_path: Path) -> None:
    server = ServerProcess("database", ["--sqlite", str(tmp_path / "ev.sqlite"), "--workers", "4"],
                           log_path=tmp_path / "db.log").start()
    idle = IdleStreams(server.target, 64)
    try:
        time.sleep(0.5)  # the idle calls have reached the server
        started = time.monotonic()
        assert health(server.target, timeout=2) == health_pb2.HealthCheckResponse.SERVING
        assert store_one(server.target, timeout=5)
        assert time.monotonic() - started < 5
    finally:
        idle.close()
        server.terminate()


def test_idle_streams_are_timed_out(tmp_path: Path) -> None:
    with database_server(tmp_path / "ev.sqlite", read_timeout=1.0) as running:
        idle = IdleStreams(running.target, 6, connections=1)
        try:
            assert wait_until(lambda: all(call.done() for call in idle.calls), 10)
            codes = {call.exception().code() for call in idle.calls}  # type: ignore[union-attr]
            # Read in turn (2 per connection) and timed out, or never given a slot.
            assert codes <= {grpc.StatusCode.DEADLINE_EXCEEDED,
                             grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
            assert grpc.StatusCode.DEADLINE_EXCEEDED in codes
        finally:
            idle.close()


def test_idle_streams_get_the_documented_errors(tmp_path: Path) -> None:
    """Two read in turn and timed out, the others never given a slot: each its message."""
    with database_server(tmp_path / "ev.sqlite", read_timeout=1.0) as running:
        idle = IdleStreams(running.target, 6, connections=1)
        try:
            assert wait_until(lambda: all(call.done() for call in idle.calls), 10)
            expected = {
                grpc.StatusCode.DEADLINE_EXCEEDED: "request not received within 1 s",
                grpc.StatusCode.RESOURCE_EXHAUSTED: "server busy: no request slot within 1 s",
            }
            seen = set()
            for call in idle.calls:
                error = call.exception()
                assert isinstance(error, grpc.Call)
                assert error.details() == expected[error.code()], error
                seen.add(error.code())
            assert seen == set(expected)
            assert store_one(running.target, timeout=10)  # and the slots are free again
        finally:
            idle.close()


class StalledServicer:
    """An upstream-shaped sf-database with a small thread pool (a sync grpc server)."""

    def __init__(self, workers: int = 2) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
        handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
            lambda _body, _ctx: raw.uint(1, 1))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "shakenfist.protos.DatabaseService", {"RecordEventBatch": handler}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def stored_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


@pytest.mark.parametrize("h1_kind", ["upstream-shaped", "ours"])
def test_h1_stalled_by_idle_streams_h2_delivers_everything(h1_kind: str, tmp_path: Path) -> None:
    h2 = ServerProcess("database", ["--sqlite", str(tmp_path / "h2.sqlite")],
                       log_path=tmp_path / "h2.log").start()
    stalled = StalledServicer() if h1_kind == "upstream-shaped" else None
    ours = None if stalled else ServerProcess(
        "database", ["--sqlite", str(tmp_path / "h1.sqlite"), "--workers", "2"],
        log_path=tmp_path / "h1.log").start()
    h1 = stalled.target if stalled else ours.target  # type: ignore[union-attr]
    idle = IdleStreams(h1, 16)
    api.reset_for_tests()
    settings = Settings(eventlog_transport="database", eventlog_spool_dir=tmp_path / "spool",
                        mariadb_gateway_hosts=f"{h1},{h2.target}", mariadb_gateway_timeout=1.0)
    try:
        time.sleep(0.5)
        sfeventlog.start("sf-starved", settings)
        started = time.monotonic()
        for i in range(200):
            assert sfeventlog.add_event("audit", "instance", str(uuid.uuid4()), f"event {i}")
        spool = api.current_spool()
        assert spool is not None
        assert wait_until(lambda: spool.count() == 0, 15), spool.count()
        elapsed = time.monotonic() - started
        h1_rows = 0 if stalled else stored_rows(tmp_path / "h1.sqlite")
        # Nothing lost, nothing stored twice; through h2 alone if h1 is stalled.
        assert h1_rows + stored_rows(tmp_path / "h2.sqlite") == 200
        assert elapsed < 10, elapsed
    finally:
        sfeventlog.stop(drain_timeout=2)
        idle.close()
        h2.terminate()
        if ours is not None:
            ours.terminate()  # it was left running after every suite run
        if stalled:
            stalled.server.stop(0)


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SFEVENTLOG, "serve", "database", *args], capture_output=True,
                          text=True, timeout=60)


def test_a_served_port_is_never_shared(tmp_path: Path) -> None:
    first = ServerProcess("database", ["--sqlite", str(tmp_path / "a.sqlite")],
                          log_path=tmp_path / "a.log").start()
    try:
        proc = serve("--listen", first.target, "--metrics-port", "0",
                     "--sqlite", str(tmp_path / "b.sqlite"))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"cannot listen on {first.target}" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        first.terminate()


@pytest.mark.parametrize("args, needle", [
    (["--listen", "127.0.0.1:70000", "--metrics-port", "0"], "--listen: port must be 0-65535"),
    (["--listen", "127.0.0.1:x", "--metrics-port", "0"], "--listen: port must be a number"),
    (["--listen", "127.0.0.1:0", "--metrics-port", "99999"], "--metrics-port: port must be 0-65535"),
    (["--listen", "127.0.0.1:0", "--metrics-port", "-1"], "--metrics-port: port must be 0-65535"),
])
def test_port_numbers_are_validated(args: list[str], needle: str, tmp_path: Path) -> None:
    proc = serve(*args, "--sqlite", str(tmp_path / "ev.sqlite"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_settings_refuse_out_of_range_ports() -> None:
    with pytest.raises(ValueError, match="mariadb_gateway_port"):
        Settings(mariadb_gateway_port=70000)


#: The documented bound (docs/reliability.md) for the peak RSS under load.
RSS_LIMIT_MIB = 512


def big_request(events: int = 2000, message_bytes: int = 8000) -> bytes:
    """A ~15 MiB RecordEventBatchRequest, by upstream's field numbers."""
    message = "x" * message_bytes
    return b"".join(raw.message(1, raw.string(1, str(uuid.uuid4())) + raw.string(2, "audit")
                                + raw.double(3, 1748736000.5) + raw.string(4, "node")
                                + raw.string(6, message)
                                + raw.message(9, raw.uint(1, 5) + raw.string(2, "i-1")))
                    for _ in range(events))


def peak_rss_mib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1)) // 1024


def test_concurrent_large_requests_keep_memory_bounded(tmp_path: Path) -> None:
    server = ServerProcess("database", ["--sqlite", str(tmp_path / "ev.sqlite")],
                           log_path=tmp_path / "db.log").start()
    assert server.process is not None
    body = big_request()
    results: list[bool] = []

    def send() -> None:
        options = [("grpc.max_send_message_length", 64 << 20),
                   ("grpc.use_local_subchannel_pool", 1)]
        with grpc.insecure_channel(server.target, options=options) as channel:
            stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(DB_PATH)
            results.append(bool(raw.decode(stub(body, timeout=120))))

    try:
        senders = [threading.Thread(target=send) for _ in range(12)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(120)
        assert results == [True] * 12
        assert peak_rss_mib(server.process.pid) < RSS_LIMIT_MIB
    finally:
        server.terminate()


def test_health_answers_while_every_worker_is_busy(tmp_path: Path) -> None:
    release = threading.Event()
    entered = threading.Semaphore(0)

    class SlowStore:
        """Blocks every write until released, so every worker is busy."""

        def __init__(self) -> None:
            from sfeventlog.store.sqlite import SqliteEventStore

            self.inner = SqliteEventStore(tmp_path / "ev.sqlite")

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def write_batch(self, records: object, **kwargs: bool) -> object:
            entered.release()
            release.wait(30)
            return self.inner.write_batch(records, **kwargs)  # type: ignore[arg-type]

    from sfeventlog.server.database import start_database_server

    running = start_database_server(ServerOptions(listen="127.0.0.1:0", workers=2, grace=1.0),
                                    SlowStore)  # type: ignore[arg-type,return-value]
    pool = futures.ThreadPoolExecutor(4)
    try:
        busy = [pool.submit(store_one, running.target, 30) for _ in range(4)]
        assert entered.acquire(timeout=10) and entered.acquire(timeout=10)
        assert health(running.target, timeout=1) == health_pb2.HealthCheckResponse.SERVING
        release.set()
        assert all(f.result(30) for f in busy)
    finally:
        release.set()
        running.stop(0)
        pool.shutdown()
