"""The suite's private MariaDB fixtures, over ``sfeventlog.testing.mariadb``.

``MariaDBServer`` (own data dir, own port, own socket; never the system
MariaDB) lives in the package so that ``sfeventlog bench`` can use it too;
its names are re-exported here for the tests.

Fixtures:

* ``mariadb_server`` (session): one shared server; tests use
  ``create_database()`` so each gets an empty database and exact counts.
* ``mariadb_database``: a fresh, migrated database on the shared server.

Set ``MARIADBD`` to use another ``mariadbd`` binary.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfeventlog.testing.mariadb import (
    HOW_TO_ENABLE,
    TEST_PASSWORD,
    TEST_USER,
    MariaDBServer,
    MariaDBUnavailable,
    find_mariadbd,
    free_port,
)
from tests.backends import unavailable

__all__ = [
    "HOW_TO_ENABLE", "TEST_PASSWORD", "TEST_USER", "MariaDBServer", "MariaDBUnavailable",
    "find_mariadbd", "free_port", "mariadb_database", "mariadb_server", "start_or_unavailable",
]


def start_or_unavailable(base_dir: Path, backend: str = "mariadb") -> MariaDBServer:
    """Start a server, or fail (CI) / skip loudly (elsewhere) saying why."""
    server = MariaDBServer(base_dir)
    try:
        server.start()
    except (MariaDBUnavailable, OSError, subprocess.SubprocessError) as exc:
        server.kill()
        unavailable(backend, str(exc), HOW_TO_ENABLE)
    return server


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """The suite's shared MariaDB; do not stop or kill it (start your own for that)."""
    server = start_or_unavailable(tmp_path_factory.mktemp("mariadb"))
    yield server
    server.stop()
    shutil.rmtree(server.datadir, ignore_errors=True)  # ~120 MB; pytest keeps 3 runs


@pytest.fixture
def mariadb_database(mariadb_server: MariaDBServer) -> str:
    """A fresh migrated database on the shared server."""
    from sfeventlog.store.mariadb import MariaDBEventStore

    name = mariadb_server.create_database()
    store = MariaDBEventStore(mariadb_server.settings(name))
    try:
        store.migrate()
    finally:
        store.close()
    return name


@pytest.fixture
def own_mariadb(tmp_path: Path) -> Iterator[tuple[MariaDBServer, str]]:
    """A MariaDB of the test's own with one migrated database, for tests that
    kill it: the shared one is never disturbed."""
    from sfeventlog.store.mariadb import MariaDBEventStore

    server = start_or_unavailable(tmp_path / "own-mariadb")
    name = server.create_database()
    store = MariaDBEventStore(server.settings(name))
    store.migrate()
    store.close()
    try:
        yield server, name
    finally:
        server.kill()
