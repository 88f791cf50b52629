"""The ``database`` backend: a reference sf-database process over the suite's MariaDB.

Reads go straight to MariaDB (through the ``mariadb`` backend's helpers), so
what the contract kit checks is what the server really stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sfeventlog_bench.servers import mariadb_env as bench_mariadb_env

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.testing.backend import make_record
from sfeventlog.testing.requirements import Requirement
from tests.backends.mariadb import MariaDBBackend
from tests.servers.mariadb import MariaDBServer, free_port
from tests.servers.reference import ServerProcess


def mariadb_env(server: MariaDBServer, database: str) -> dict[str, str]:
    """The environment that points ``sfeventlog serve database`` at ``database``."""
    return bench_mariadb_env(server.settings(database))


def start_database_server(mariadb: MariaDBServer, database: str, tmp_path: Path,
                          *extra_args: str) -> ServerProcess:
    return ServerProcess("database", ["--grace", "2", *extra_args],
                         env=mariadb_env(mariadb, database),
                         log_path=tmp_path / "database-server.log").start()


class DatabaseBackend:
    name = "database"
    meets = frozenset(Requirement)
    unmet: dict[Requirement, str] = {}

    def __init__(self, server: ServerProcess, store: MariaDBBackend, tmp_path: Path) -> None:
        self.server = server
        self.store = store
        self.tmp_path = tmp_path

    def settings(self) -> Settings:
        return Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                        mariadb_gateway_port=self.server.port, mariadb_gateway_timeout=30.0,
                        eventlog_spool_dir=self.tmp_path / "spool")

    def unreachable_settings(self) -> Settings:
        return self.settings().model_copy(update={"mariadb_gateway_port": free_port()})

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        return self.store.read_back(event_uuids)

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        return self.store.count_stored(event_uuids)

    def rejected_record(self) -> EventRecord:
        # Longer than the events.event_type column: INVALID_ARGUMENT.
        return make_record(event_type="x" * 33)


@pytest.fixture
def database_server(mariadb_server: MariaDBServer, mariadb_database: str,
                    tmp_path: Path) -> Iterator[ServerProcess]:
    """A reference sf-database process writing to this test's MariaDB database."""
    server = start_database_server(mariadb_server, mariadb_database, tmp_path)
    try:
        yield server
    finally:
        server.terminate()


@pytest.fixture
def backend_database(database_server: ServerProcess, mariadb_server: MariaDBServer,
                     mariadb_database: str, tmp_path: Path) -> DatabaseBackend:
    return DatabaseBackend(database_server,
                           MariaDBBackend(mariadb_server, mariadb_database, tmp_path), tmp_path)
