"""Phase 3 and 4 over gRPC: a real ``sfeventlog serve database`` process over the
suite's MariaDB, called by an upstream-shaped client built from the .proto's
field numbers (``tests/rawproto.py``), then by ``sfeventlog.reads`` and the CLI
the way a daemon node without MariaDB credentials uses them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from sfeventlog.config import Settings
from sfeventlog.reads import DatabaseReader
from sfeventlog.records import EventRecord
from sfeventlog.store.locks import PRUNE_RUN_LOCK
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.testing.backend import make_record
from tests import rawproto as pb
from tests.backends.database import mariadb_env
from tests.servers.mariadb import MariaDBServer, free_port
from tests.servers.reference import SFEVENTLOG, ServerProcess

SERVICE = "/shakenfist.protos.DatabaseService/"
INSTANCE, NETWORK, API_REQUESTS, UNSPECIFIED = 5, 9, 26, 0
DAY = 86400.0


@pytest.fixture
def store(mariadb_server: MariaDBServer, mariadb_database: str) -> Iterator[MariaDBEventStore]:
    s = MariaDBEventStore(mariadb_server.settings(mariadb_database))
    yield s
    s.close()


@pytest.fixture
def server(mariadb_server: MariaDBServer, mariadb_database: str,
           tmp_path: Path) -> Iterator[ServerProcess]:
    env = {**mariadb_env(mariadb_server, mariadb_database), "SHAKENFIST_MAX_USAGE_EVENT_AGE": "-1"}
    process = ServerProcess("database", ["--grace", "1"], env=env,
                            log_path=tmp_path / "server.log").start()
    yield process
    process.terminate()


def call(target: str, method: str, body: bytes, timeout: float = 30) -> bytes:
    with grpc.insecure_channel(target) as channel:
        rpc = channel.unary_unary(SERVICE + method)
        reply: bytes = rpc(body, timeout=timeout)
        return reply


def get_request(object_type: int, object_uuid: str, limit: int = 0, event_type: str = "",
                name: str = "") -> bytes:
    body = pb.uint(1, object_type) + pb.string(2, object_uuid)
    if limit:
        body += pb.uint(3, limit)
    if event_type:
        body += pb.string(4, event_type)
    if name:
        body += pb.string(5, name)
    return body


def rows(reply: bytes) -> list[dict[int, object]]:
    """GetObjectEventsReply.events (1) as {field number: value} per row."""
    out = []
    for number, _, value in pb.decode(reply):
        assert number == 1
        assert isinstance(value, bytes)
        out.append({n: v for n, _, v in pb.decode(value) if n <= 8})
    return out


def fields(reply: bytes) -> dict[int, object]:
    return {n: v for n, _, v in pb.decode(reply)}


def test_get_object_events_upstream_shape(server: ServerProcess, store: MariaDBEventStore) -> None:
    now = time.time()
    records = [make_record(event_type="audit" if i % 2 else "status", timestamp=now - i,
                           duration=0.5 if i == 0 else None, request_id="req-1" if i == 0 else None,
                           extra={"n": i}, objects=[("instance", "i-1")]) for i in range(6)]
    other = make_record(objects=[("instance", "i-2")])
    store.write_batch([*records, other])

    got = rows(call(server.target, "GetObjectEvents", get_request(INSTANCE, "i-1")))
    assert [r[1] for r in got] == [r.event_uuid.encode() for r in records]  # newest first
    first = got[0]
    assert first[2] == b"status" and first[3] == pytest.approx(records[0].timestamp)
    assert first[4] == b"node-01.example.com" and first[5] == 0.5
    assert first[7] == b'{"n":0}' and first[8] == b"req-1"
    assert 5 not in got[1] and 8 not in got[1]  # absent duration / request id: not sent

    limited = rows(call(server.target, "GetObjectEvents", get_request(INSTANCE, "i-1", limit=2)))
    assert len(limited) == 2
    audit = rows(call(server.target, "GetObjectEvents",
                      get_request(INSTANCE, "i-1", event_type="audit")))
    assert [r[2] for r in audit] == [b"audit"] * 3


def test_limit_rules_default_100_cap_1000(server: ServerProcess, store: MariaDBEventStore) -> None:
    now = time.time()
    store.write_batch([make_record(timestamp=now - i, objects=[("node", "busy")])
                       for i in range(1005)])
    assert len(rows(call(server.target, "GetObjectEvents", get_request(10, "busy")))) == 100
    negative = pb.uint(1, 10) + pb.string(2, "busy") + pb.uint(3, -5)
    assert len(rows(call(server.target, "GetObjectEvents", negative))) == 100
    assert len(rows(call(server.target, "GetObjectEvents",
                         get_request(10, "busy", limit=5000)))) == 1000


def test_third_party_object_type_through_the_name_extension(
        server: ServerProcess, store: MariaDBEventStore) -> None:
    record = make_record(objects=[("widget", "w-1")])
    store.write_batch([record])
    got = rows(call(server.target, "GetObjectEvents",
                    get_request(UNSPECIFIED, "w-1", name="widget")))
    assert [r[1] for r in got] == [record.event_uuid.encode()]
    with pytest.raises(grpc.RpcError) as info:
        call(server.target, "GetObjectEvents", get_request(99, "w-1"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown ObjectType value 99" in (info.value.details() or "")
    deleted = fields(call(server.target, "DeleteObjectEvents",
                          pb.uint(1, 0) + pb.string(2, "w-1") + pb.string(3, "widget")))
    assert deleted[1] == 1
    assert store.get_object_events("widget", "w-1") == []


def test_delete_object_events_then_prune_removes_the_orphans(
        server: ServerProcess, store: MariaDBEventStore) -> None:
    shared = make_record(objects=[("instance", "gone"), ("network", "stays")])
    alone = [make_record(objects=[("instance", "gone")]) for _ in range(3)]
    store.write_batch([shared, *alone])
    orphans_before = server.metric("database_orphan_events_pruned_total")

    reply = fields(call(server.target, "DeleteObjectEvents",
                        pb.uint(1, INSTANCE) + pb.string(2, "gone")))
    assert reply.get(1) == 1 and 2 not in reply  # StatusReply(success=true, error="")
    assert rows(call(server.target, "GetObjectEvents", get_request(INSTANCE, "gone"))) == []
    assert len(rows(call(server.target, "GetObjectEvents", get_request(NETWORK, "stays")))) == 1

    pruned = fields(call(server.target, "PruneEvents", b""))
    assert pruned[1] == 1 and pruned[3] == 3  # success, rows_pruned: the three orphans
    assert server.metric("database_orphan_events_pruned_total") - orphans_before == 3
    assert {e.event_uuid for e in store.get_events([r.event_uuid for r in alone])} == set()


def test_prune_rpc_counts_and_uses_the_servers_ages(
        server: ServerProcess, store: MariaDBEventStore) -> None:
    now = time.time()
    old_status = [make_record(event_type="status", timestamp=now - 8 * DAY) for _ in range(4)]
    old_usage = make_record(event_type="usage", timestamp=now - 400 * DAY)  # disabled by env
    store.write_batch([*old_status, old_usage, make_record(event_type="status")])
    before = server.metric("database_events_pruned_total", {"event_type": "status"})
    assert server.metric("database_events_pruned_total", {"event_type": "health"}) == 0

    counted = fields(call(server.target, "CountPrunableEvents", b""))
    assert counted[1] == 1 and counted[3] == 8
    reply = fields(call(server.target, "PruneEvents", b""))
    assert reply[1] == 1 and reply[3] == 8  # 4 references + 4 events
    assert server.metric("database_events_pruned_total", {"event_type": "status"}) - before == 4
    assert len(store.get_events([old_usage.event_uuid])) == 1
    assert fields(call(server.target, "PruneEvents", b"")).get(3, 0) == 0  # idempotent


def test_a_prune_already_running_is_not_started_again(
        server: ServerProcess, mariadb_server: MariaDBServer, mariadb_database: str) -> None:
    holder = MariaDBEventStore(mariadb_server.settings(mariadb_database))
    lock = holder.named_lock(PRUNE_RUN_LOCK)  # another prune, somewhere else, holds it
    try:
        assert lock.try_acquire()
        reply = fields(call(server.target, "PruneEvents", b""))
        assert reply.get(1, 0) == 0 and b"already running" in reply[2]  # type: ignore[operator]
        assert server.metric("database_prune_runs_total",
                             {"trigger": "rpc", "outcome": "already_running"}) == 1
    finally:
        lock.release()
        holder.close()
    assert fields(call(server.target, "PruneEvents", b""))[1] == 1


# -- the daemon-node read path ---------------------------------------------------

def node_settings(server: ServerProcess, spare: int) -> Settings:
    # The first host is down: reads fail over to the live one, like writes.
    return Settings(eventlog_transport="database",
                    mariadb_gateway_hosts=f"127.0.0.1:{spare},127.0.0.1:{server.port}",
                    mariadb_host="no-such-host.invalid", mariadb_password="wrong")


def test_reads_api_through_sf_database_with_failover(
        server: ServerProcess, store: MariaDBEventStore) -> None:
    record = make_record(duration=0.0, extra={"a": 1},
                         objects=[("instance", "i-7"), ("widget", "w-7")])
    store.write_batch([record])
    reader = DatabaseReader(node_settings(server, free_port()))
    try:
        got = reader.get_object_events("instance", "i-7")
        assert got == [EventRecord(**{**record.model_dump(), "timestamp": got[0].timestamp})]
        assert got[0].timestamp == pytest.approx(record.timestamp)
        assert reader.get_object_events("widget", "w-7")[0].duration == 0.0
        # Upstream's limit rules on this side too: past int32 is capped, not an error.
        assert reader.get_object_events("instance", "i-7", limit=2**31) == got
        assert reader.delete_object_events("instance", "i-7") is None
        assert reader.get_object_events("instance", "i-7") == []
        assert reader.prune().events_pruned == 0  # still referenced by the widget
    finally:
        reader.close()


def run_cli(args: list[str], settings: Settings, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    env.update({"SHAKENFIST_EVENTLOG_TRANSPORT": "database",
                "SHAKENFIST_MARIADB_GATEWAY_HOSTS": settings.mariadb_gateway_hosts,
                "SHAKENFIST_MARIADB_HOST": "no-such-host.invalid"})
    return subprocess.run([*SFEVENTLOG, *args], env=env, capture_output=True, text=True,
                          timeout=60, **kw)  # type: ignore[call-overload, no-any-return]


def test_cli_events_and_delete_on_a_daemon_node(
        server: ServerProcess, store: MariaDBEventStore) -> None:
    records = [make_record(message=f"node event {i}", objects=[("instance", "i-cli")])
               for i in range(3)]
    store.write_batch(records)
    settings = node_settings(server, free_port())

    shown = run_cli(["events", "instance", "i-cli"], settings)
    assert shown.returncode == 0, shown.stderr
    assert all(f"node event {i}" in shown.stdout for i in range(3))

    refused = run_cli(["events", "--delete", "instance", "i-cli"], settings,
                      stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert len(store.get_object_events("instance", "i-cli")) == 3

    deleted = run_cli(["events", "--delete", "--yes", "instance", "i-cli"], settings)
    assert deleted.returncode == 0, deleted.stderr
    assert store.get_object_events("instance", "i-cli") == []

    pruned = run_cli(["prune", "--json"], settings)
    assert pruned.returncode == 0, pruned.stderr
    assert '"events_pruned": 3' in pruned.stdout


# -- the schedule: one runner among servers sharing a MariaDB ---------------------

def test_prune_every_runs_on_exactly_one_of_two_servers(
        mariadb_server: MariaDBServer, mariadb_database: str, tmp_path: Path,
        store: MariaDBEventStore) -> None:
    env = mariadb_env(mariadb_server, mariadb_database)
    servers = [ServerProcess("database", ["--grace", "1", "--prune-every", "0.2"], env=env,
                             log_path=tmp_path / f"server{i}.log").start() for i in range(2)]

    def runs(s: ServerProcess, outcome: str) -> float:
        return s.metric("database_prune_runs_total", {"trigger": "schedule", "outcome": outcome})

    try:
        aged = [make_record(event_type="status", timestamp=time.time() - 8 * DAY)
                for _ in range(5)]
        store.write_batch(aged)
        from tests.servers.reference import wait_until

        assert wait_until(lambda: not store.get_events([r.event_uuid for r in aged]), 30)
        assert wait_until(lambda: all(runs(s, "ok") + runs(s, "not_leader") >= 5
                                      for s in servers), 30)
        leaders = [s for s in servers if runs(s, "ok") > 0]
        assert len(leaders) == 1, [(runs(s, "ok"), runs(s, "not_leader")) for s in servers]
        follower = next(s for s in servers if s is not leaders[0])
        assert runs(follower, "ok") == 0 and runs(leaders[0], "not_leader") == 0

        leaders[0].terminate()  # its lock goes with its connection: the other takes over
        assert wait_until(lambda: runs(follower, "ok") > 0, 30)
        later = make_record(event_type="status", timestamp=time.time() - 8 * DAY)
        store.write_batch([later])
        assert wait_until(lambda: not store.get_events([later.event_uuid]), 30)
    finally:
        for s in servers:
            s.terminate()
