"""MariaDB killed (SIGKILL) and restarted mid-drain, on both delivery paths.

Uses a MariaDB of its own so the suite's shared server is never disturbed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from tests.backends.database import start_database_server
from tests.faults import Emitter, settings_env, stored_messages
from tests.servers.mariadb import MariaDBServer


@pytest.mark.slow
@pytest.mark.parametrize("path", ["mariadb", "database"])
def test_mariadb_killed_and_restarted_mid_drain(path: str, own_mariadb: tuple[MariaDBServer, str],
                                                tmp_path: Path) -> None:
    server, database = own_mariadb
    gateway = None
    if path == "mariadb":
        settings = server.settings(database)
    else:
        gateway = start_database_server(server, database, tmp_path)
        settings = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                            mariadb_gateway_port=gateway.port, mariadb_gateway_timeout=5.0)
    try:
        emitter = Emitter(settings_env(settings, tmp_path / "spool"), "--name", "busy",
                          "--count", "1500", "--rate", "500")
        assert emitter.started.wait(60), emitter.lines
        time.sleep(0.8)
        server.kill()
        time.sleep(1.5)
        server.restart()
        assert emitter.wait(120) == 0, emitter.lines + [emitter.stderr]
    finally:
        if gateway is not None:
            gateway.terminate()
    (done,) = [line for line in emitter.lines if line.startswith("done")]
    assert "failed_batches=0" not in done, f"the outage was never seen: {done}"
    stored = stored_messages(server, database)
    assert len(emitter.accepted) == 1500
    assert all(stored[m] == 1 for m in emitter.accepted)
    assert sum(stored.values()) == 1500
