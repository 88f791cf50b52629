"""Shaken Fist's layout: sf-database writes its own events straight to MariaDB
(transport ``mariadb``) while every other daemon goes through it over gRPC
(transport ``database``); all of them land in the same tables, once each.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends.database import mariadb_env, start_database_server
from tests.servers.mariadb import MariaDBServer
from tests.test_flips import DAEMON


@pytest.mark.slow
def test_mariadb_process_next_to_database_processes(tmp_path: Path,
                                                    mariadb_server: MariaDBServer,
                                                    mariadb_database: str) -> None:
    server = start_database_server(mariadb_server, mariadb_database, tmp_path)
    try:
        base = mariadb_env(mariadb_server, mariadb_database)
        base.update({"SHAKENFIST_MARIADB_GATEWAY_HOSTS": "127.0.0.1",
                     "SHAKENFIST_MARIADB_GATEWAY_PORT": str(server.port)})
        daemons = {"sfdb": "mariadb", "api": "database", "net": "database"}
        procs = []
        for phase, transport in daemons.items():
            env = {**base, "SHAKENFIST_EVENTLOG_TRANSPORT": transport,
                   "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path / f"spool-{phase}")}
            procs.append(subprocess.Popen([sys.executable, "-c", DAEMON, phase, "200", "0"],
                                          env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
        rows = mariadb_server.execute(
            "SELECT LEFT(object_uuid, LOCATE('-', object_uuid) - 1), COUNT(*),"
            " COUNT(DISTINCT object_uuid) FROM event_objects GROUP BY 1",
            database=mariadb_database)
        assert {p: (int(n), int(d)) for p, n, d in rows} == {p: (200, 200) for p in daemons}
        # Only the two gRPC daemons went through the server.
        assert server.metric("database_events_inserted_total") == 400
    finally:
        server.terminate()
