"""kill -9 of emitting daemons, and of a drainer between commit and delete.

Pass = every event whose add_event returned True is in MariaDB exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.drainer import DRAIN_BATCH_SIZE
from sfeventlog_transports.database import DatabaseTransport
from tests.faults import Emitter, settings_env, stored_messages
from tests.servers.mariadb import MariaDBServer
from tests.servers.reference import ServerProcess


@pytest.fixture(params=["mariadb", "database"])
def delivery(request: pytest.FixtureRequest, mariadb_server: MariaDBServer,
             mariadb_database: str) -> Settings:
    """Settings for one delivery path into this test's MariaDB database."""
    if request.param == "mariadb":
        return mariadb_server.settings(mariadb_database)
    server: ServerProcess = request.getfixturevalue("database_server")
    return Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                    mariadb_gateway_port=server.port)


def _restart_and_drain(env: dict[str, str]) -> None:
    survivor = Emitter(env, "--name", "restarted", "--count", "0")
    assert survivor.wait() == 0, survivor.lines + [survivor.stderr]


@pytest.mark.slow
def test_kill_9_of_emitters_mid_burst_loses_and_duplicates_nothing(
        delivery: Settings, mariadb_server: MariaDBServer, mariadb_database: str,
        tmp_path: Path) -> None:
    env = settings_env(delivery, tmp_path / "spool")
    emitters = [Emitter(env, "--name", f"daemon{k}", "--prefix", f"d{k}", "--count", "20000")
                for k in range(3)]
    deadline = time.monotonic() + 120
    while min(len(e.accepted) for e in emitters) < 400:
        assert time.monotonic() < deadline, [e.lines for e in emitters]
        time.sleep(0.02)
    for e in emitters:
        e.kill()
    accepted = [m for e in emitters for m in e.accepted]
    assert len(set(accepted)) == len(accepted)
    _restart_and_drain(env)
    stored = stored_messages(mariadb_server, mariadb_database)
    missing = [m for m in accepted if stored[m] != 1]
    assert not missing, f"{len(missing)} accepted events not stored exactly once"
    assert max(stored.values()) == 1, "no event stored twice"
    assert not list((tmp_path / "spool").glob("*.db"))


def test_kill_9_between_store_commit_and_spool_delete(
        mariadb_server: MariaDBServer, mariadb_database: str,
        database_server: ServerProcess, tmp_path: Path) -> None:
    settings = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                        mariadb_gateway_port=database_server.port)
    env = settings_env(settings, tmp_path / "spool")
    victim = Emitter(env, "--name", "victim", "--count", "600", "--rate", "2000",
                     "--kill-after-commit", "3")
    victim.wait()
    killed = [line for line in victim.lines if line.startswith("killed-after-commit")]
    assert killed, victim.lines
    replayed = int(killed[0].split()[1])
    assert replayed > 0
    inserted_before = database_server.metric("database_events_inserted_total")
    _restart_and_drain(env)
    stored = stored_messages(mariadb_server, mariadb_database)
    wrong = {m: stored[m] for m in victim.accepted if stored[m] != 1}
    assert not wrong, f"{len(wrong)} accepted events not stored exactly once"
    assert max(stored.values()) == 1
    # The kill can land between an add_event returning and its report line.
    assert 0 <= sum(stored.values()) - len(victim.accepted) <= 1
    inserted = database_server.metric("database_events_inserted_total")
    assert inserted == sum(stored.values()), "each event counted as inserted once"
    assert inserted > inserted_before
    # What is replayed: the batch killed before its delete, and the batches in
    # flight behind it (the database transport keeps two; stored once all the same).
    duplicates = database_server.metric("database_events_duplicates_total")
    behind = DatabaseTransport.max_in_flight * DRAIN_BATCH_SIZE
    assert replayed <= duplicates <= replayed + behind
