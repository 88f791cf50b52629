"""The migration's phases as configuration changes, shown end to end.

Phase 2 (write cut-over) is a config flip ``legacy`` -> ``database`` of a
real emitting process, with rows still in its spool at the switch.  Phase 5
(retiring sf-eventlog) is removing the ``legacy`` entry point: everything
else still loads and passes, and selecting ``legacy`` says what is wrong.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from sfeventlog.spool import SPOOL_SUFFIX
from tests.backends.database import mariadb_env, start_database_server
from tests.servers.mariadb import MariaDBServer
from tests.servers.reference import SFEVENTLOG, ServerProcess

ROOT = Path(__file__).resolve().parent.parent

# One daemon life: start with the configured transport, emit, drain fully;
# then emit LATE more events after the drainer stopped (as during a shutdown
# that outlived its drain timeout).  Those stay in the spool file.
DAEMON = textwrap.dedent("""
    import sys
    import sfeventlog
    phase, count, late = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sfeventlog.start("flip-daemon")
    for i in range(count):
        assert sfeventlog.add_event("audit", "instance", f"{phase}-{i:05d}", f"{phase} {i}")
    assert sfeventlog.stop(drain_timeout=60), "spool not drained"
    for i in range(late):
        assert sfeventlog.add_event("audit", "instance", f"{phase}late-{i:05d}", f"{phase} late {i}")
""")


def run_daemon(env: dict[str, str], phase: str, count: int, late: int = 0) -> None:
    proc = subprocess.run([sys.executable, "-c", DAEMON, phase, str(count), str(late)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def spooled_rows(spool_dir: Path) -> int:
    total = 0
    for path in spool_dir.glob(f"*{SPOOL_SUFFIX}"):
        db = sqlite3.connect(path)
        try:
            total += int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        finally:
            db.close()
    return total


def legacy_counts(store: Path) -> dict[str, object]:
    proc = subprocess.run([*SFEVENTLOG, "legacy-events", "--store", str(store), "--count",
                           "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess("legacy", ["--store", str(tmp_path / "legacy"), "--grace", "1"],
                           log_path=tmp_path / "legacy.log").start()
    yield server
    server.terminate()


@pytest.mark.slow
def test_phase2_flip_legacy_to_database(tmp_path: Path, legacy: ServerProcess,
                                        mariadb_server: MariaDBServer,
                                        mariadb_database: str) -> None:
    database = start_database_server(mariadb_server, mariadb_database, tmp_path)
    try:
        spool = tmp_path / "spool"
        env = mariadb_env(mariadb_server, mariadb_database)
        env.update({
            "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(spool),
            "SHAKENFIST_NODE_NAME": "flip-node",
            "SHAKENFIST_EVENTLOG_NODE_IP": "127.0.0.1",
            "SHAKENFIST_EVENTLOG_API_PORT": str(legacy.port),
            "SHAKENFIST_MARIADB_GATEWAY_HOSTS": "127.0.0.1",
            "SHAKENFIST_MARIADB_GATEWAY_PORT": str(database.port),
        })
        batch_rpcs = {"method": "RecordMultiEventBatch"}

        # 1. The daemon runs on legacy; 150 events spooled after its drainer stopped.
        run_daemon({**env, "SHAKENFIST_EVENTLOG_TRANSPORT": "legacy"}, "A", 250, late=150)
        assert legacy_counts(tmp_path / "legacy")["events"] == 250
        rpcs_at_switch = legacy.metric("eventlog_rpc_requests_total", batch_rpcs)
        assert rpcs_at_switch >= 3  # 250 events in batches of 100
        inserted_at_switch = database.metric("database_events_inserted_total")
        assert spooled_rows(spool) == 150, "rows must still be spooled at the switch"

        # 2. Restarted with database: the spooled rows and new events go there.
        run_daemon({**env, "SHAKENFIST_EVENTLOG_TRANSPORT": "database"}, "B", 300)
        assert spooled_rows(spool) == 0

        # 3. Legacy stops receiving batches; the database server's counter rises.
        assert legacy.metric("eventlog_rpc_requests_total", batch_rpcs) == rpcs_at_switch
        assert database.metric("database_events_inserted_total") == inserted_at_switch + 450
        assert legacy_counts(tmp_path / "legacy")["events"] == 250

        # 4. Every event after the switch, and every spooled one, is in MariaDB once.
        rows = mariadb_server.execute(
            "SELECT o.object_uuid, COUNT(*) FROM event_objects o JOIN events e"
            " ON e.event_uuid = o.event_uuid GROUP BY o.object_uuid",
            database=mariadb_database)
        counts = {uuid: int(n) for uuid, n in rows}
        expected = {f"Alate-{i:05d}" for i in range(150)} | {f"B-{i:05d}" for i in range(300)}
        assert set(counts) == expected
        assert set(counts.values()) == {1}
        total = mariadb_server.execute("SELECT COUNT(*) FROM events", database=mariadb_database)
        assert int(total[0][0]) == 450
    finally:
        database.terminate()


# -- phase 5 ----------------------------------------------------------------

# Puts a copy of this package's installed metadata, minus the ``legacy``
# entry point, ahead of every other metadata source: what an install looks
# like once the plugin's registration has been deleted.
SITECUSTOMIZE = textwrap.dedent("""
    import importlib.metadata as md
    import sys
    from pathlib import Path

    SHADOW = Path(__file__).resolve().parent / "shadow" / "sfeventlog.dist-info"

    class WithoutLegacy(md.DistributionFinder):
        def find_spec(self, *args, **kwargs):
            return None

        def find_distributions(self, context=md.DistributionFinder.Context()):
            if context.name is None or context.name.replace("-", "_").lower() == "sfeventlog":
                yield md.PathDistribution(SHADOW)

    sys.meta_path.insert(0, WithoutLegacy())
""")


PROBE = textwrap.dedent("""
    from sfeventlog.loader import installed_transports, load_transport_class
    names = [t.name for t in installed_transports()]
    for name in names:
        load_transport_class(name)
    print(" ".join(names))
""")


@pytest.fixture
def without_legacy(tmp_path: Path) -> dict[str, str]:
    """An environment in which the ``legacy`` entry point is not registered."""
    dist = metadata.distribution("sfeventlog")
    entry_points = dist.read_text("entry_points.txt") or ""
    kept = [line for line in entry_points.splitlines() if not line.strip().startswith("legacy")]
    assert len(kept) == len(entry_points.splitlines()) - 1
    site = tmp_path / "site"
    shadow = site / "shadow" / "sfeventlog.dist-info"
    shadow.mkdir(parents=True)
    (shadow / "METADATA").write_text(dist.read_text("METADATA") or "")
    (shadow / "entry_points.txt").write_text("\n".join(kept) + "\n")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # stevedore's entry-point cache
    env["SHAKENFIST_EVENTLOG_SPOOL_DIR"] = str(tmp_path / "spool")
    return env


@pytest.mark.slow
def test_phase5_legacy_plugin_removed(without_legacy: dict[str, str], tmp_path: Path) -> None:
    env = without_legacy
    listing = subprocess.run([*SFEVENTLOG, "transports"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    names = {line.split()[0] for line in listing.stdout.splitlines()[1:] if line.strip()}
    assert "legacy" not in names
    assert {"null", "sqlite", "mariadb", "database"} <= names

    # Selecting legacy now: the helpful unknown-transport error, exit 1.
    chosen = subprocess.run([*SFEVENTLOG, "emit", "--count", "1", "--drain"],
                            env={**env, "SHAKENFIST_EVENTLOG_TRANSPORT": "legacy"},
                            capture_output=True, text=True, timeout=60)
    assert chosen.returncode == 1, chosen.stdout + chosen.stderr
    assert "unknown transport 'legacy'" in chosen.stderr
    assert "SHAKENFIST_EVENTLOG_TRANSPORT" in chosen.stderr
    assert "Installed transports:" in chosen.stderr and "database" in chosen.stderr

    # Everything else still loads (from the repo root, as pytest runs below)...
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert "legacy" not in probe.stdout.split() and "database" in probe.stdout.split()

    # ... and passes its contract suite.
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_contract.py", "--backend", "null", "--backend", "sqlite",
         "--backend", "database"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    assert " passed" in suite.stdout and "failed" not in suite.stdout
