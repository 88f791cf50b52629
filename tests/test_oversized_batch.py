"""A batch over the server's message-size limit is split, not retried forever."""

from __future__ import annotations

from pathlib import Path

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from tests.backends.database import start_database_server
from tests.faults import stored_messages
from tests.servers.mariadb import MariaDBServer


def test_oversized_batch_is_bisected_and_delivered(mariadb_server: MariaDBServer,
                                                   mariadb_database: str, tmp_path: Path) -> None:
    server = start_database_server(mariadb_server, mariadb_database, tmp_path,
                                   "--max-message-bytes", str(64 * 1024))
    try:
        settings = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                            mariadb_gateway_port=server.port,
                            eventlog_spool_dir=tmp_path / "spool")
        api.reset_for_tests(settings)
        big = "x" * 3000  # 100 of these make a ~300 KiB request
        for i in range(100):
            assert sfeventlog.add_event("audit", "instance", "i-1", f"big-{i} {big}")
        sfeventlog.start("oversized", settings)
        assert sfeventlog.stop(drain_timeout=60)
        # A spool file is kept only while it holds rows or dead letters.
        assert not list((tmp_path / "spool").glob("*.db")), "nothing was dead-lettered"
    finally:
        server.terminate()
    stored = stored_messages(mariadb_server, mariadb_database)
    assert sorted(m.split()[0] for m in stored) == sorted(f"big-{i}" for i in range(100))
    assert max(stored.values()) == 1
