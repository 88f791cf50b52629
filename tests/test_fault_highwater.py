"""High-water mark while the store is down: bounded depth, exact drop count.

The database server is SIGSTOPped, so any call that waited on the network
would hang this test; every add_event returning proves none does.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import sfeventlog
from sfeventlog import api, metrics
from sfeventlog.config import Settings
from tests.faults import stored_messages
from tests.servers.mariadb import MariaDBServer
from tests.servers.reference import ServerProcess

MARK = 300


def test_high_water_mark_with_the_store_down(mariadb_server: MariaDBServer,
                                             mariadb_database: str,
                                             database_server: ServerProcess,
                                             tmp_path: Path) -> None:
    settings = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                        mariadb_gateway_port=database_server.port, mariadb_gateway_timeout=2.0,
                        eventlog_spool_dir=tmp_path / "spool",
                        eventlog_spool_high_water_mark=MARK)
    assert database_server.process is not None
    pid = database_server.process.pid
    dropped = metrics.SPOOL_DROPPED.labels(reason="high_water_mark")
    before = dropped._value.get()
    os.kill(pid, signal.SIGSTOP)
    try:
        sfeventlog.start("hwm", settings)
        spool = api.current_spool()
        assert spool is not None
        accepted: list[str] = []
        slowest = 0.0
        attempted = 1000
        for i in range(attempted):
            started = time.perf_counter()
            if sfeventlog.add_event("audit", "instance", "u", f"hwm-{i}"):
                accepted.append(f"hwm-{i}")
            slowest = max(slowest, time.perf_counter() - started)
            assert spool.count() <= MARK
        print(f"slowest add_event with the store down: {slowest * 1000:.2f} ms")
        assert len(accepted) == MARK
        assert dropped._value.get() - before == attempted - len(accepted)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert sfeventlog.stop(drain_timeout=60)
    stored = stored_messages(mariadb_server, mariadb_database)
    assert sorted(stored) == sorted(accepted)
    assert max(stored.values()) == 1
