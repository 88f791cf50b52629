"""A database server killed and restarted: the transport recovers on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.errors import RetryableError
from sfeventlog.loader import load_transport
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing import make_record
from tests.servers.mariadb import free_port
from tests.servers.reference import ServerProcess


def test_transport_recovers_after_server_restart(tmp_path: Path) -> None:
    port = free_port()
    args = ["--sqlite", str(tmp_path / "ev.sqlite"), "--listen", f"127.0.0.1:{port}"]
    server = ServerProcess("database", args, log_path=tmp_path / "db.log").start()
    transport = load_transport(Settings(
        eventlog_transport="database", mariadb_gateway_hosts=f"127.0.0.1:{port}",
        mariadb_gateway_timeout=10, eventlog_spool_dir=tmp_path / "spool"))
    first, second = [make_record() for _ in range(5)], [make_record() for _ in range(5)]
    try:
        transport.record_event_batch(first)
        server.kill()  # SIGKILL: no goodbye on the connection
        with pytest.raises(RetryableError):
            transport.record_event_batch(second)
        server = ServerProcess("database", args, log_path=tmp_path / "db.log").start()
        # The same channel object is not stuck in reconnect backoff.
        transport.record_event_batch(second)
        transport.record_event_batch(first)  # a replay after the restart
    finally:
        transport.close()
        server.terminate()
    store = SqliteEventStore(tmp_path / "ev.sqlite")
    try:
        stored = store.get_events([r.event_uuid for r in first + second])
    finally:
        store.close()
    assert sorted(r.event_uuid for r in stored) == sorted(r.event_uuid for r in first + second)
