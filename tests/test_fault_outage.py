"""The seed's outage drill, shortened: SIGSTOP the database server under load.

The depth is scraped over HTTP from the emitting process's own metrics
endpoint, as an operator would see it.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

from sfeventlog.config import Settings
from tests.faults import Emitter, settings_env, stored_messages
from tests.servers.mariadb import MariaDBServer, free_port
from tests.servers.reference import ServerProcess, sample

STOP_SECONDS = 4.0  # twice the transport deadline, so the backoff shows


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def test_outage_drill(mariadb_server: MariaDBServer, mariadb_database: str,
                      database_server: ServerProcess, tmp_path: Path) -> None:
    settings = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                        mariadb_gateway_port=database_server.port, mariadb_gateway_timeout=2.0)
    port = free_port()
    emitter = Emitter(settings_env(settings, tmp_path / "spool"), "--name", "drill",
                      "--count", "2400", "--rate", "300", "--metrics-port", str(port),
                      "--linger", "4")
    assert emitter.started.wait(60), emitter.lines
    time.sleep(1.5)
    assert database_server.process is not None
    pid = database_server.process.pid
    depths: list[float] = []
    backoffs: list[float] = []
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped_until = time.monotonic() + STOP_SECONDS
        while time.monotonic() < stopped_until:
            text = _scrape(port)
            depths.append(sample(text, "eventlog_spool_depth"))
            backoffs.append(sample(text, "eventlog_drain_backoff_seconds"))
            time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert depths[-1] > depths[0] and max(depths) >= 300, f"depth did not climb: {depths}"
    assert max(backoffs) > 0, f"the drainer never backed off: {backoffs}"
    # Wait for the emission to end, then for the spool to empty.
    deadline = time.monotonic() + 60
    while not any(line.startswith("emitted") for line in emitter.lines):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    while True:
        text = _scrape(port)
        if sample(text, "eventlog_spool_depth") == 0:
            break
        assert time.monotonic() < deadline, "spool did not drain after SIGCONT"
        time.sleep(0.1)
    assert sample(text, "eventlog_spool_dropped_total") == 0
    assert sample(text, "eventlog_drain_backoff_seconds") == 0
    assert sample(text, "eventlog_drain_batches_total", {"outcome": "retryable"}) >= 1, (
        "the outage must have been seen as retryable failures")
    assert emitter.wait(60) == 0, emitter.stderr
    stored = stored_messages(mariadb_server, mariadb_database)
    assert len(emitter.accepted) == 2400
    assert all(stored[m] == 1 for m in emitter.accepted)
    assert sum(stored.values()) == 2400
