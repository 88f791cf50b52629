"""MariaDB fault tests on a private server this module may kill.

The server is killed (SIGKILL) while a process is emitting and draining:
the transport raises RetryableError while it is down, and once it is back
every event is stored exactly once.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.loader import load_transport
from sfeventlog.metrics import DRAIN_BATCHES
from sfeventlog.testing.backend import make_record
from tests.servers.mariadb import MariaDBServer, start_or_unavailable


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    server = start_or_unavailable(tmp_path_factory.mktemp("mariadb-faults"))
    yield server
    server.kill()
    shutil.rmtree(server.datadir, ignore_errors=True)


@pytest.fixture
def database(own_server: MariaDBServer) -> str:
    if not own_server.alive:
        own_server.restart()
    name = own_server.create_database()
    transport = load_transport(own_server.settings(name))
    transport.store.migrate()  # type: ignore[attr-defined]
    transport.close()
    return name


def _rows(server: MariaDBServer, database: str, table: str) -> int:
    return int(server.execute(f"SELECT COUNT(*) FROM {table}", database=database)[0][0])


def _retryable_batches() -> float:
    return DRAIN_BATCHES.labels(transport="mariadb", outcome="retryable")._value.get()


def test_killed_mid_run_then_recovers_with_nothing_lost_or_duplicated(
        own_server: MariaDBServer, database: str, tmp_path: Path) -> None:
    settings = own_server.settings(database, eventlog_spool_dir=tmp_path / "spool",
                                   mariadb_connect_timeout=2.0)
    probe = load_transport(settings)
    retryable_before = _retryable_batches()
    sfeventlog.start("faults", settings)
    emitted: list[str] = []
    refused: list[str] = []
    stop_emitting = threading.Event()

    def emit() -> None:
        i = 0
        while not stop_emitting.is_set():
            message = f"fault event {i}"
            if sfeventlog.add_event("audit", "instance", f"i-{i % 7}", message):
                emitted.append(message)
            else:
                refused.append(message)
            i += 1
            time.sleep(0.002)

    emitter = threading.Thread(target=emit)
    emitter.start()
    try:
        time.sleep(0.5)
        own_server.kill()
        down_at = len(emitted)
        with pytest.raises(RetryableError):
            probe.record_event_batch([make_record()])
        deadline = time.monotonic() + 30
        while _retryable_batches() == retryable_before and time.monotonic() < deadline:
            time.sleep(0.05)  # the drainer meets the outage too; callers keep spooling
        own_server.restart()
        time.sleep(0.5)
    finally:
        stop_emitting.set()
        emitter.join()
    assert len(emitted) > down_at > 0 and not refused
    assert _retryable_batches() > retryable_before
    assert sfeventlog.stop(60) is True
    probe.close()

    stored = {m for (m,) in own_server.execute("SELECT message FROM events", database=database)}
    assert _rows(own_server, database, "events") == len(emitted)
    assert stored == set(emitted)  # nothing lost
    assert _rows(own_server, database, "event_objects") == len(emitted)  # nothing duplicated


def test_transport_recovers_on_the_same_object_after_restart(
        own_server: MariaDBServer, database: str) -> None:
    transport = load_transport(own_server.settings(database))
    try:
        first = [make_record() for _ in range(10)]
        transport.record_event_batch(first)
        own_server.kill()
        second = [make_record() for _ in range(10)]
        with pytest.raises(RetryableError):
            transport.record_event_batch(second)
        own_server.restart()
        # The drainer resends the failed batch, and maybe the acked one too.
        transport.record_event_batch(second)
        transport.record_event_batch(first)
        assert _rows(own_server, database, "events") == 20
        assert _rows(own_server, database, "event_objects") == 20
    finally:
        transport.close()


def test_clean_stop_is_retryable_too(own_server: MariaDBServer, database: str) -> None:
    transport = load_transport(own_server.settings(database))
    try:
        transport.record_event_batch([make_record()])
        own_server.stop()
        with pytest.raises(RetryableError):
            transport.record_event_batch([make_record()])
        own_server.restart()
        transport.record_event_batch([make_record()])
        assert _rows(own_server, database, "events") == 2
    finally:
        transport.close()


def test_over_long_field_is_permanent(own_server: MariaDBServer, database: str) -> None:
    transport = load_transport(own_server.settings(database))
    try:
        with pytest.raises(PermanentError, match="1406"):
            transport.record_event_batch([make_record(), make_record(request_id="r" * 65)])
        assert _rows(own_server, database, "events") == 0  # the batch is all or nothing
    finally:
        transport.close()
