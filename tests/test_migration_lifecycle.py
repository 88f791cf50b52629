"""The whole migration on one throwaway deployment, every count exact.

1. a daemon emits through ``legacy`` (some events still spooled at the switch);
2. it is flipped to ``database``;
3. sf-eventlog's history is imported (its chunk files, via the reference
   legacy server's export);
4. every event, old and new, is read back through ``GetObjectEvents``;
5. the retention prune runs (``PruneEvents``);
6. the ``legacy`` entry point is removed, and reads, prunes and writes go on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.reads import DatabaseReader
from tests.backends.database import mariadb_env
from tests.servers.mariadb import MariaDBServer
from tests.servers.reference import SFEVENTLOG, ServerProcess
from tests.test_flips import legacy_counts, spooled_rows, without_legacy

__all__ = ["without_legacy"]  # a fixture, used below

OLD, LATE, NEW = 120, 30, 200
SHARED_NETWORK = "net-shared"

# Status events in phase A (the history), audit events in phase B; every
# tenth event is also about a shared network.  LATE events stay spooled.
DAEMON = textwrap.dedent("""
    import sys
    import sfeventlog
    phase, event_type, count, late = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

    def emit(name):
        objects = [("instance", name)]
        if int(name.rsplit("-", 1)[1]) % 10 == 0:
            objects.append(("network", "net-shared"))
        assert sfeventlog.add_event_multi(event_type, objects, f"event {name}")

    sfeventlog.start("migrating-daemon")
    for i in range(count):
        emit(f"{phase}-{i:05d}")
    assert sfeventlog.stop(drain_timeout=60), "spool not drained"
    for i in range(late):
        emit(f"{phase}late-{i:05d}")
""")


def run_daemon(env: dict[str, str], phase: str, event_type: str, count: int,
               late: int = 0) -> None:
    proc = subprocess.run([sys.executable, "-c", DAEMON, phase, event_type, str(count),
                           str(late)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*SFEVENTLOG, *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def networked(n: int) -> int:
    return len(range(0, n, 10))


@pytest.mark.slow
def test_whole_migration(tmp_path: Path, mariadb_server: MariaDBServer, mariadb_database: str,
                         without_legacy: dict[str, str]) -> None:
    legacy = ServerProcess("legacy", ["--store", str(tmp_path / "legacy"), "--grace", "1"],
                           log_path=tmp_path / "legacy.log").start()
    db_env = {**mariadb_env(mariadb_server, mariadb_database),
              "SHAKENFIST_MAX_STATUS_EVENT_AGE": "0"}  # the prune at step 5 drops all status
    database = ServerProcess("database", ["--grace", "1"], env=db_env,
                             log_path=tmp_path / "database.log").start()
    try:
        spool = tmp_path / "spool"
        env = {**mariadb_env(mariadb_server, mariadb_database),
               "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(spool), "SHAKENFIST_NODE_NAME": "node-1",
               "SHAKENFIST_EVENTLOG_NODE_IP": "127.0.0.1",
               "SHAKENFIST_EVENTLOG_API_PORT": str(legacy.port),
               "SHAKENFIST_MARIADB_GATEWAY_HOSTS": "127.0.0.1",
               "SHAKENFIST_MARIADB_GATEWAY_PORT": str(database.port)}

        # 1. Emit through legacy; LATE events are still spooled at the switch.
        run_daemon({**env, "SHAKENFIST_EVENTLOG_TRANSPORT": "legacy"}, "A", "status", OLD, LATE)
        counts = legacy_counts(tmp_path / "legacy")
        assert counts["events"] == OLD and counts["rows"] == OLD + networked(OLD)
        assert spooled_rows(spool) == LATE

        # 2. Flip to database: the spooled LATE events and NEW ones go to sf-database.
        run_daemon({**env, "SHAKENFIST_EVENTLOG_TRANSPORT": "database"}, "B", "audit", NEW)
        assert spooled_rows(spool) == 0
        assert legacy_counts(tmp_path / "legacy")["events"] == OLD
        assert database.metric("database_events_inserted_total") == LATE + NEW

        # 3. Import the legacy history (sf-eventlog stopped: its files as they are).
        legacy.terminate()
        chunks = tmp_path / "sf-eventlog"
        cli(env, "legacy-events", "--store", str(tmp_path / "legacy"),
            "--export-chunks", str(chunks))
        imported = json.loads(cli(env, "import-legacy", str(chunks), "--mariadb",
                                  "--json").stdout)
        assert (imported["events"], imported["inserted"]) == (OLD, OLD)
        assert imported["rows"] == OLD + networked(OLD) and imported["skipped_files"] == []
        again = json.loads(cli(env, "import-legacy", str(chunks), "--mariadb", "--json").stdout)
        assert (again["inserted"], again["already_present"]) == (0, OLD)

        # 4. Every event, old and new, through GetObjectEvents, exactly once each.
        node = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                        mariadb_gateway_port=database.port)
        reader = DatabaseReader(node)
        try:
            names = ([f"A-{i:05d}" for i in range(OLD)] + [f"Alate-{i:05d}" for i in range(LATE)]
                     + [f"B-{i:05d}" for i in range(NEW)])
            seen: dict[str, str] = {}
            for name in names:
                [record] = reader.get_object_events("instance", name)
                assert record.message == f"event {name}"
                seen[name] = record.event_uuid
            assert len(set(seen.values())) == OLD + LATE + NEW
            shared = reader.get_object_events("network", SHARED_NETWORK, limit=1000)
            assert len(shared) == networked(OLD) + networked(LATE) + networked(NEW)
            assert all(len(r.objects) == 2 for r in shared)

            # 5. Prune: every status event (A and Alate) goes; audit stays.
            status = OLD + LATE
            references = status + networked(OLD) + networked(LATE)
            report = reader.prune()
            assert report.rows_pruned == references + status
            assert {(s.stage, s.label): s.rows for s in report.stages}[("C", "orphans")] == status
            assert all(reader.get_object_events("instance", n) == [] for n in names[:status])
            assert len(reader.get_object_events("network", SHARED_NETWORK, limit=1000)) == \
                networked(NEW)
            assert reader.prune().rows_pruned == 0
        finally:
            reader.close()
        total = mariadb_server.execute("SELECT COUNT(*) FROM events", database=mariadb_database)
        assert int(total[0][0]) == NEW

        # 6. The legacy entry point removed: writes, reads and prunes go on.
        gone = {**without_legacy, **{k: v for k, v in env.items()
                                     if k != "SHAKENFIST_EVENTLOG_SPOOL_DIR"},
                "SHAKENFIST_EVENTLOG_TRANSPORT": "database"}
        listing = cli(gone, "transports")
        assert "legacy" not in {line.split()[0] for line in listing.stdout.splitlines()[1:]
                                if line.strip()}
        run_daemon(gone, "C", "audit", 10)
        shown = json.loads(cli(gone, "events", "instance", "C-00003", "--json").stdout)
        assert [e["message"] for e in shown] == ["event C-00003"]
        assert json.loads(cli(gone, "prune", "--json").stdout)["rows_pruned"] == 0
        total = mariadb_server.execute("SELECT COUNT(*) FROM events", database=mariadb_database)
        assert int(total[0][0]) == NEW + 10
    finally:
        legacy.terminate()
        database.terminate()
