"""A poison row against the real MariaDB store: isolated, kept, replayed after a fix."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import sfeventlog
from sfeventlog import metrics
from sfeventlog.ids import uuid7
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path
from tests.faults import settings_env, stored_messages
from tests.servers.mariadb import MariaDBServer

SCRIPT = str(Path(sys.executable).with_name("sfeventlog"))


def _upstream_row(message: str, event_type: str = "audit") -> bytes:
    # Written by an older daemon that did not validate lengths.
    return json.dumps({"event_uuid": uuid7(), "event_type": event_type, "fqdn": "node-01",
                       "duration": None, "message": message, "extra": None,
                       "request_id": None, "timestamp": 1748736000.5,
                       "objects": [["instance", "i-1"]]}).encode()


def test_poison_row_is_isolated_then_replayed_after_a_schema_fix(
        mariadb_server: MariaDBServer, mariadb_database: str, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    prepare_spool_dir(spool_dir)
    dead = Spool(spool_path(spool_dir, "old-daemon", 4_000_000))
    for i in range(100):
        event_type = "x" * 40 if i == 61 else "audit"
        dead.enqueue(_upstream_row(f"row-{i}", event_type))
    dead.close()

    settings = mariadb_server.settings(mariadb_database, eventlog_spool_dir=spool_dir)
    batches = metrics.DRAIN_BATCHES
    before = sum(batches.labels(transport="mariadb", outcome=o)._value.get()
                 for o in ("ok", "permanent", "retryable", "error"))
    sfeventlog.start("rescuer", settings)
    sfeventlog.stop(drain_timeout=30)
    calls = sum(batches.labels(transport="mariadb", outcome=o)._value.get()
                for o in ("ok", "permanent", "retryable", "error")) - before
    assert calls <= 1 + 2 * math.ceil(math.log2(100)), f"{calls} round trips for one poison"

    stored = stored_messages(mariadb_server, mariadb_database)
    assert sorted(stored) == sorted(f"row-{i}" for i in range(100) if i != 61)
    env = settings_env(settings, spool_dir)
    listing = json.loads(subprocess.run([SCRIPT, "deadletter", "list", "--json"], env=env,
                                        capture_output=True, text=True, check=True).stdout)
    assert len(listing) == 1
    assert listing[0]["reason"] == "rejected"
    assert listing[0]["error_class"] == "PermanentError"
    assert "row-61" in listing[0]["payload"]

    # The operator widens the column, then replays the dead letter.
    mariadb_server.execute("ALTER TABLE events MODIFY event_type VARCHAR(64) NOT NULL",
                           database=mariadb_database)
    subprocess.run([SCRIPT, "deadletter", "replay", "--all"], env=env, check=True,
                   capture_output=True)
    proc = subprocess.run([SCRIPT, "drain", "--once"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stored = stored_messages(mariadb_server, mariadb_database)
    assert sorted(stored) == sorted(f"row-{i}" for i in range(100))
    assert max(stored.values()) == 1
    assert not [p for p in os.listdir(spool_dir) if p.endswith(".db")]
