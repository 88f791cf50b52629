"""``sfeventlog demo`` works with no services and no configuration."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.backends.database import mariadb_env
from tests.servers.mariadb import MariaDBServer
from tests.servers.reference import SFEVENTLOG


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SHAKENFIST_")}
    env["TMPDIR"] = str(tmp_path)
    return env


def test_demo_on_a_fresh_machine(tmp_path: Path) -> None:
    proc = subprocess.run([*SFEVENTLOG, "demo", "--count", "500"], env=clean_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "emitted 500/500 events" in proc.stdout
    assert "delivered 500 to the store" in proc.stdout
    assert 'database_events_inserted_total{event_type="audit"} 500' in proc.stdout
    assert "demo event 490" in proc.stdout  # the sample read back with `sfeventlog events`
    assert "OK: every event was stored exactly once" in proc.stdout
    # The temporary spool and store are gone afterwards.
    assert list(tmp_path.iterdir()) == []


def test_demo_against_mariadb(tmp_path: Path, mariadb_server: MariaDBServer) -> None:
    database = mariadb_server.create_database()
    env = {**clean_env(tmp_path), **{k: v for k, v in mariadb_env(mariadb_server, database).items()
                                     if k.startswith("SHAKENFIST_")}}
    proc = subprocess.run([*SFEVENTLOG, "demo", "--count", "300", "--mariadb"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "storing in MariaDB" in proc.stdout
    rows = mariadb_server.execute("SELECT COUNT(*) FROM events", database=database)
    assert int(rows[0][0]) == 300
