"""The store *behind* a real ``sfeventlog serve database`` process fails.

* The store's error text holds "malformed" and "invalid": nothing may be
  dead-lettered, and every event is stored once after it recovers.
* MariaDB is dead for ~30 s: the server's health says NOT_SERVING and the
  go/no-go check fails naming the store; the node's RPCs follow its backoff
  schedule (probes do not cut backoffs short), and delivery resumes within
  5 s of MariaDB's return, every event stored once.
* The legacy server's store goes away and comes back: its health and
  go/no-go follow it, and nothing is written while it is away.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.errors import RetryableError
from sfeventlog.inspect import read_spool_file, spool_files
from sfeventlog.loader import load_transport
from sfeventlog.server.legacy_store import LegacyStore, read_rows
from sfeventlog.testing import make_record
from tests.backends.database import start_database_server
from tests.faults import Emitter, settings_env, stored_messages
from tests.servers.mariadb import TEST_USER, MariaDBServer, free_port
from tests.servers.reference import SFEVENTLOG, ServerProcess, sample, wait_until

#: What a corrupt store says (the text of the issue's outage), raised by
#: MariaDB itself for every insert while the trigger exists.
MALFORMED = "database disk image is malformed; invalid page number 7"


def gateway_settings(server: ServerProcess) -> Settings:
    return Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                    mariadb_gateway_port=server.port, mariadb_gateway_timeout=5.0)


def dead_letters(spool_dir: Path) -> int:
    return sum(read_spool_file(p).deadletter for p in spool_files(spool_dir))


@pytest.mark.slow
def test_store_failing_with_malformed_invalid_text_dead_letters_nothing(
        mariadb_server: MariaDBServer, mariadb_database: str, tmp_path: Path) -> None:
    gateway = start_database_server(mariadb_server, mariadb_database, tmp_path)
    spool = tmp_path / "spool"
    try:
        # Errno 1030 is "Got error from storage engine": a store failure.
        mariadb_server.execute(
            "CREATE TRIGGER corrupt BEFORE INSERT ON events FOR EACH ROW"
            f" SIGNAL SQLSTATE 'HY000' SET MESSAGE_TEXT = '{MALFORMED}', MYSQL_ERRNO = 1030",
            database=mariadb_database)
        emitter = Emitter(settings_env(gateway_settings(gateway), spool), "--name", "node",
                          "--count", "150", "--rate", "50")
        assert emitter.started.wait(60), emitter.lines
        time.sleep(4)  # the outage: every batch in it is refused with that text
        mariadb_server.execute("DROP TRIGGER corrupt", database=mariadb_database)
        assert emitter.wait(90) == 0, emitter.lines + [emitter.stderr]
    finally:
        gateway.terminate()
    (done,) = [line for line in emitter.lines if line.startswith("done")]
    assert "failed_batches=0" not in done, f"the outage was never seen: {done}"
    assert "malformed" in (tmp_path / "database-server.log").read_text()
    assert dead_letters(spool) == 0
    stored = stored_messages(mariadb_server, mariadb_database)
    assert len(emitter.accepted) == 150
    assert all(stored[m] == 1 for m in emitter.accepted)
    assert sum(stored.values()) == 150



def batches(emitter_metrics: int) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{emitter_metrics}/metrics",
                                timeout=10) as response:
        return sample(response.read().decode(), "eventlog_drain_batches_total")


def health(server: ServerProcess) -> str:
    """What the server's standard health service says for the whole server."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(server.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=5)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def go_no_go(server: ServerProcess) -> subprocess.CompletedProcess[str]:
    """The runbooks' go/no-go: ``sfeventlog transports --check`` against ``server``."""
    if server.kind == "legacy":
        env = {**os.environ, "SHAKENFIST_EVENTLOG_TRANSPORT": "legacy",
               "SHAKENFIST_EVENTLOG_NODE_IP": "127.0.0.1",
               "SHAKENFIST_EVENTLOG_API_PORT": str(server.port)}
    else:
        env = {**os.environ, "SHAKENFIST_EVENTLOG_TRANSPORT": "database",
               "SHAKENFIST_MARIADB_GATEWAY_HOSTS": "127.0.0.1",
               "SHAKENFIST_MARIADB_GATEWAY_PORT": str(server.port),
               "SHAKENFIST_MARIADB_GATEWAY_TIMEOUT": "5"}
    return subprocess.run([*SFEVENTLOG, "transports", "--check"], capture_output=True,
                          text=True, env=env, timeout=60)


OUTAGE = 30.0


@pytest.mark.slow
def test_backoff_holds_while_mariadb_is_down(own_mariadb: tuple[MariaDBServer, str],
                                             tmp_path: Path) -> None:
    mariadb, database = own_mariadb
    gateway = start_database_server(mariadb, database, tmp_path)
    metrics_port = free_port()
    count = 760  # 38 s at 20 events/s: the node emits through the whole outage
    try:
        emitter = Emitter(settings_env(gateway_settings(gateway), tmp_path / "spool"),
                          "--name", "node", "--count", str(count), "--rate", "20",
                          "--metrics-port", str(metrics_port))
        assert emitter.started.wait(60), emitter.lines
        time.sleep(2)
        assert len(stored_messages(mariadb, database)) > 0, "nothing delivered before"
        mariadb.kill()
        killed = time.monotonic()
        before = batches(metrics_port)
        # The server knows: health NOT_SERVING within about a second, and
        # the go/no-go check fails naming the store and the reason.
        assert wait_until(lambda: health(gateway) == "NOT_SERVING", 5), health(gateway)
        check = go_no_go(gateway)
        assert check.returncode == 1, check.stdout + check.stderr
        assert f"mariadb {TEST_USER}@{mariadb.host}:{mariadb.port}/{database}" in check.stderr
        assert "Can't connect" in check.stderr, check.stderr
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - killed)))
        in_outage = batches(metrics_port) - before
        mariadb.restart()
        back = time.monotonic()
        stored_before = sum(stored_messages(mariadb, database).values())
        while sum(stored_messages(mariadb, database).values()) == stored_before:
            assert time.monotonic() - back < 5.0, "delivery did not resume within 5 s"
            time.sleep(0.1)
        resumed_after = time.monotonic() - back
        assert health(gateway) == "SERVING"
        assert go_no_go(gateway).returncode == 0
        assert emitter.wait(60) == 0, emitter.lines + [emitter.stderr]
    finally:
        gateway.terminate()
    # 0.5 s doubling to 30 s with equal jitter: about 7 attempts in 30 s;
    # a probe that cut every backoff short would make about 30.
    assert 4 <= in_outage <= 11, f"{in_outage} RPCs in a {OUTAGE:.0f} s store outage"
    assert resumed_after < 5.0
    stored = stored_messages(mariadb, database)
    assert len(emitter.accepted) == count
    assert all(stored[m] == 1 for m in emitter.accepted)
    assert sum(stored.values()) == count
    print(f"RPCs during the {OUTAGE:.0f} s outage: {in_outage:.0f};"
          f" delivery resumed {resumed_after:.2f} s after MariaDB was back")


def test_legacy_server_follows_its_store(legacy_server: ServerProcess, tmp_path: Path) -> None:
    """The legacy store's file is moved away (rows written now would be lost), then back."""
    store_file = tmp_path / "legacy" / LegacyStore.FILENAME
    settings = Settings(eventlog_transport="legacy", eventlog_node_ip="127.0.0.1",
                        eventlog_api_port=legacy_server.port, eventlog_api_timeout=5.0)
    sent = [make_record(), make_record()]
    with load_transport(settings) as transport:
        transport.record_event_batch(sent[:1])
        store_file.rename(store_file.with_name("away.sqlite"))
        try:
            assert wait_until(lambda: health(legacy_server) == "NOT_SERVING", 5)
            check = go_no_go(legacy_server)
            assert check.returncode == 1, check.stdout + check.stderr
            assert f"legacy store {tmp_path / 'legacy'}" in check.stderr
            assert "is gone" in check.stderr
            with pytest.raises(RetryableError, match="did not acknowledge.*is gone"):
                transport.record_event_batch(sent[1:])
        finally:
            store_file.with_name("away.sqlite").rename(store_file)
        assert wait_until(lambda: health(legacy_server) == "SERVING", 5)
        assert go_no_go(legacy_server).returncode == 0
        transport.record_event_batch(sent[1:])
    rows = [r for r in read_rows(tmp_path / "legacy") if r.position == 0]
    assert sorted(r.correlation_id for r in rows) == sorted(r.event_uuid for r in sent)
