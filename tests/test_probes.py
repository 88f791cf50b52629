"""``/healthz`` and ``/readyz`` on a real server's metrics port follow its store.

* ``serve database`` over a MariaDB of the test's own: ``/readyz`` 200, 503
  naming the store within seconds of MariaDB's death while ``/healthz``
  stays 200, 200 again once MariaDB is back;
* ``serve legacy``: the same while its store file is away;
* ``/metrics`` is still the metrics page, other paths are 404.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sfeventlog.server.legacy_store import LegacyStore
from tests.backends.database import start_database_server
from tests.servers.mariadb import MariaDBServer
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


def test_readyz_is_503_while_a_stopping_server_finishes_its_calls(tmp_path: Path) -> None:
    """From SIGTERM (``stop``) on, /readyz says "stopping"; /healthz stays 200 until exit."""
    import sqlite3
    import threading

    from sfeventlog.config import Settings
    from sfeventlog.loader import load_transport
    from sfeventlog.testing import make_record
    from tests.servers.inprocess import database_server

    store = tmp_path / "events.sqlite"
    with database_server(store, metrics_port=0) as running:
        base = f"http://127.0.0.1:{running.metrics_port}"

        def fetch(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        settings = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                            mariadb_gateway_port=running.port, mariadb_gateway_timeout=20.0)
        with load_transport(settings) as transport:
            transport.record_event_batch([make_record()])  # the schema exists now
            assert wait_until(lambda: fetch("/readyz")[0] == 200, 5)
            # A write lock held elsewhere keeps the next batch in flight.
            blocker = sqlite3.connect(str(store), isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            sent = threading.Thread(target=transport.record_event_batch, args=([make_record()],))
            sent.start()
            stopper = threading.Thread(target=running.stop, args=(15.0,))
            try:
                time.sleep(0.5)  # the batch is waiting on the lock
                stopper.start()
                assert wait_until(lambda: fetch("/readyz")[0] == 503, 5), fetch("/readyz")
                assert "stopping" in fetch("/readyz")[1]
                assert fetch("/healthz")[0] == 200
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
                sent.join(20)
                stopper.join(20)
            assert not sent.is_alive() and not stopper.is_alive()
