"""``/healthz`` and ``/readyz`` on a real server's metrics port follow its store.

* ``serve database`` over a MariaDB of the test's own: ``/readyz`` 200, 503
  naming the store within seconds of MariaDB's death while ``/healthz``
  stays 200, 200 again once MariaDB is back;
* ``serve legacy``: the same while its store file is away;
* ``/metrics`` is still the metrics page, other paths are 404.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfeventlog.server.legacy_store import LegacyStore
from sfeventlog.store.mariadb import MariaDBEventStore
from tests.backends.database import start_database_server
from tests.servers.mariadb import MariaDBServer, start_or_unavailable
from tests.servers.reference import ServerProcess, wait_until


def get(server: ServerProcess, path: str) -> tuple[int, str]:
    """Status and body of ``path`` on ``server``'s metrics port."""
    assert server.metrics_url is not None
    url = server.metrics_url.removesuffix("/metrics") + path
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def status(server: ServerProcess, path: str) -> int:
    return get(server, path)[0]


@pytest.fixture
def own_mariadb(tmp_path: Path) -> Iterator[tuple[MariaDBServer, str]]:
    """A MariaDB of this test's own, to kill: the shared one is never disturbed."""
    server = start_or_unavailable(tmp_path / "own-mariadb")
    name = server.create_database()
    store = MariaDBEventStore(server.settings(name))
    store.migrate()
    store.close()
    try:
        yield server, name
    finally:
        server.kill()


@pytest.mark.slow
def test_database_server_readyz_follows_mariadb(own_mariadb: tuple[MariaDBServer, str],
                                                tmp_path: Path) -> None:
    mariadb, database = own_mariadb
    server = start_database_server(mariadb, database, tmp_path)
    try:
        assert wait_until(lambda: status(server, "/readyz") == 200, 5), get(server, "/readyz")
        assert get(server, "/healthz") == (200, "ok\n")
        mariadb.kill()
        # The watch pings about once a second.
        assert wait_until(lambda: status(server, "/readyz") == 503, 5), get(server, "/readyz")
        code, body = get(server, "/readyz")
        assert code == 503 and f"/{database}" in body and "Can't connect" in body, body
        assert status(server, "/healthz") == 200  # alive, only not ready
        mariadb.restart()
        assert wait_until(lambda: status(server, "/readyz") == 200, 10), get(server, "/readyz")
        assert status(server, "/healthz") == 200
    finally:
        server.terminate()


def test_legacy_server_readyz_follows_its_store(legacy_server: ServerProcess,
                                                tmp_path: Path) -> None:
    store_file = tmp_path / "legacy" / LegacyStore.FILENAME
    assert wait_until(lambda: status(legacy_server, "/readyz") == 200, 5)
    store_file.rename(store_file.with_name("away.sqlite"))
    try:
        assert wait_until(lambda: status(legacy_server, "/readyz") == 503, 5)
        code, body = get(legacy_server, "/readyz")
        assert f"legacy store {tmp_path / 'legacy'}" in body and "is gone" in body, body
        assert status(legacy_server, "/healthz") == 200
    finally:
        store_file.with_name("away.sqlite").rename(store_file)
    assert wait_until(lambda: status(legacy_server, "/readyz") == 200, 5)


def test_metrics_stay_on_metrics_and_other_paths_are_404(legacy_server: ServerProcess) -> None:
    code, body = get(legacy_server, "/metrics")
    assert code == 200 and "eventlog_rpc_requests_total" in body
    for path in ("/", "/metric", "/healthz/x", "/readyz/"):
        code, body = get(legacy_server, path)
        assert code == 404, (path, code, body)
        assert "/healthz" in body and "/readyz" in body
    assert "eventlog_rpc_requests_total" not in get(legacy_server, "/")[1]
