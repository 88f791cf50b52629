"""Batches in flight: a transport's ``max_in_flight`` lets the drainer read ahead.

The drainer's pipelining is shown with ``MockTransport`` (the core alone),
then through a real ``sfeventlog serve database`` process whose MariaDB is
killed and restarted while two batches are in flight.  Every test counts
events in against records out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.drainer import Drainer
from sfeventlog.errors import ConfigError, PermanentError, RetryableError
from sfeventlog.loader import load_transport
from sfeventlog.payload import build_payload, encode
from sfeventlog.records import EventRecord
from sfeventlog.spool import Spool
from sfeventlog.testing.mock import MockTransport
from sfeventlog.transport import MAX_IN_FLIGHT, in_flight_depth
from tests.backends.database import start_database_server
from tests.faults import stored_messages
from tests.servers.mariadb import MariaDBServer

BATCH = 100


def _spool(tmp_path: Path, n: int, tag: str = "e") -> Spool:
    spool = Spool(tmp_path / "spool.db", high_water_mark=10 * n + 10, lock=False)
    spool.insert_raw(
        (encode(build_payload(event_type="audit", objects=[("instance", f"i-{i % 7}")],
                              message=f"{tag}-{i}", fqdn="node1")), time.time())
        for i in range(n))
    return spool


class Concurrency:
    """Counts the handler calls running at once; optionally holds each a while."""

    def __init__(self, hold: float = 0.0) -> None:
        self.hold = hold
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, records: Sequence[EventRecord]) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.hold)
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.parametrize("depth", [2, 3])
def test_up_to_max_in_flight_batches_overlap_and_all_arrive_once(tmp_path: Path,
                                                                 depth: int) -> None:
    spool = _spool(tmp_path, 20 * BATCH)
    seen = Concurrency(hold=0.02)
    transport = MockTransport(seen, max_in_flight=depth)
    drainer = Drainer(spool, transport, "mock", batch_size=BATCH)
    assert drainer.drain_available() == 20 * BATCH
    assert seen.peak == depth  # overlapped, and never more than declared
    assert spool.count() == 0
    assert len(transport.stored) == transport.accepted == 20 * BATCH


def test_default_transport_gets_one_call_at_a_time_on_the_drainer_thread(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 5 * BATCH)
    threads: set[str] = set()
    seen = Concurrency(hold=0.005)

    def handler(records: Sequence[EventRecord]) -> None:
        threads.add(threading.current_thread().name)
        seen(records)

    transport = MockTransport(handler)
    drainer = Drainer(spool, transport, "mock", batch_size=BATCH)
    assert drainer.drain_available() == 5 * BATCH
    assert seen.peak == 1
    assert threads == {threading.current_thread().name}
    assert len(transport.stored) == 5 * BATCH


def test_depth_one_reads_the_next_batch_while_a_call_is_in_flight(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 4 * BATCH)
    reads = []
    real_dequeue = spool.dequeue_batch

    def dequeue(*args: object, **kwargs: object) -> list[tuple[int, bytes]]:
        rows = real_dequeue(*args, **kwargs)  # type: ignore[arg-type]
        reads.append(len(rows))
        return rows

    spool.dequeue_batch = dequeue  # type: ignore[method-assign]
    overlapped = []

    def handler(records: Sequence[EventRecord]) -> None:
        # Call i (from 1) must see read i + 1 (the next batch, or the empty
        # read at the end) happen while it is still in flight.
        i = len(overlapped) + 1
        deadline = time.monotonic() + 5
        while len(reads) <= i and time.monotonic() < deadline:
            time.sleep(0.001)
        overlapped.append(len(reads) > i)

    transport = MockTransport(handler, max_in_flight=1)
    drainer = Drainer(spool, transport, "mock", batch_size=BATCH)
    assert drainer.drain_available() == 4 * BATCH
    assert overlapped == [True] * 4
    assert len(transport.stored) == 4 * BATCH and spool.count() == 0


def test_a_failed_batch_keeps_its_rows_and_every_batch_behind_it(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 6 * BATCH)
    first_uuid: list[str] = []
    failed = threading.Event()

    def handler(records: Sequence[EventRecord]) -> None:
        if not first_uuid:
            first_uuid.append(records[0].event_uuid)
        if records[0].event_uuid == first_uuid[0] and not failed.is_set():
            time.sleep(0.05)  # the second batch is delivered meanwhile
            failed.set()
            raise RetryableError("store restarting")

    transport = MockTransport(handler, max_in_flight=2)
    drainer = Drainer(spool, transport, "mock", batch_size=BATCH)
    with pytest.raises(RetryableError):
        drainer.drain_available()
    # The second batch reached the store, but it is behind a failed one:
    # deletes go strictly in order, so its rows stay to be sent again.
    assert transport.calls[:2] == [BATCH, BATCH]
    assert len(transport.stored) == BATCH
    assert spool.count() == 6 * BATCH
    assert drainer.drain_available() == 6 * BATCH
    assert spool.count() == 0
    assert len(transport.stored) == 6 * BATCH  # the copy sent twice is stored once
    assert transport.accepted == 7 * BATCH


def test_a_rejected_record_is_bisected_with_nothing_else_in_flight(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 5 * BATCH)
    calls: list[tuple[int, int]] = []  # (batch size, calls running as it began)
    running = [0]
    lock = threading.Lock()

    def handler(records: Sequence[EventRecord]) -> None:
        with lock:
            running[0] += 1
            calls.append((len(records), running[0]))
        try:
            time.sleep(0.005)
            if any(r.message == "e-250" for r in records):
                raise PermanentError("no e-250")
        finally:
            with lock:
                running[0] -= 1

    transport = MockTransport(handler, max_in_flight=2)
    drainer = Drainer(spool, transport, "mock", batch_size=BATCH)
    assert drainer.drain_available() == 5 * BATCH
    assert spool.count() == 0
    assert spool.deadletter_count() == 1
    assert len(transport.stored) == 5 * BATCH - 1
    assert "e-250" not in {r.message for r in transport.stored.values()}
    assert max(n for _, n in calls) == 2  # batches did overlap
    halves = [n for size, n in calls if size < BATCH]
    assert halves and all(n == 1 for n in halves)  # bisection ran alone


def test_quiesce_waits_until_nothing_is_in_flight(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 40 * BATCH)
    seen = Concurrency(hold=0.01)
    transport = MockTransport(seen, max_in_flight=2)
    drainer = Drainer(spool, transport, "mock", batch_size=BATCH)
    drainer.start()
    try:
        deadline = time.monotonic() + 10
        while seen.peak < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert seen.peak == 2
        assert drainer.quiesce(10)
        try:
            held_at = transport.accepted
            assert seen.now == 0  # no call in flight while held
            time.sleep(0.1)
            assert transport.accepted == held_at  # and none started
            assert spool.count() == 40 * BATCH - held_at  # every delivered batch deleted
        finally:
            drainer.resume()
    finally:
        assert drainer.stop(30)
    assert spool.count() == 0
    assert len(transport.stored) == 40 * BATCH


@pytest.mark.parametrize("bad", [-1, MAX_IN_FLIGHT + 1, "2", 1.5, True])
def test_a_bad_max_in_flight_is_a_config_error_naming_it(bad: object) -> None:
    transport = MockTransport()
    transport.max_in_flight = bad  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="max_in_flight"):
        in_flight_depth(transport)


def test_shipped_transports_declare_what_they_allow() -> None:
    from sfeventlog_transports.database import DatabaseTransport
    from sfeventlog_transports.mariadb import MariaDBTransport
    from sfeventlog_transports.null import NullTransport

    assert in_flight_depth(DatabaseTransport) == 2
    assert in_flight_depth(MariaDBTransport) == 1
    assert in_flight_depth(NullTransport) == 0


@pytest.mark.slow
def test_store_behind_the_server_killed_with_two_batches_in_flight(
        own_mariadb: tuple[MariaDBServer, str], tmp_path: Path) -> None:
    """MariaDB dies (SIGKILL) behind a real sf-database while the drainer has
    two batches in flight to it; after the restart every event is stored once."""
    server, database = own_mariadb
    gateway = start_database_server(server, database, tmp_path)
    n = 60 * BATCH
    try:
        settings = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                            mariadb_gateway_port=gateway.port, mariadb_gateway_timeout=5.0)
        transport = load_transport(settings)
        spool = _spool(tmp_path, n, tag="k")
        drainer = Drainer(spool, transport, "database", batch_size=BATCH)
        drainer.start()
        deadline = time.monotonic() + 60
        while spool.count() > n - 10 * BATCH and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
        left = spool.count()
        assert 0 < left < n, "the kill must land mid-drain"
        time.sleep(1.0)
        server.restart()
        deadline = time.monotonic() + 120
        while spool.count() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert drainer.stop(30)
        transport.close()
    finally:
        gateway.terminate()
    assert spool.count() == 0 and spool.deadletter_count() == 0
    stored = stored_messages(server, database)
    assert sum(stored.values()) == n
    assert set(stored) == {f"k-{i}" for i in range(n)}
    assert all(count == 1 for count in stored.values())


def test_an_empty_pipelined_read_is_not_progress(tmp_path: Path) -> None:
    """As drain_once: only rows that went through clear the backoff state
    (a probe that misled the drainer stays untrusted until then)."""
    spool = _spool(tmp_path, 0)
    drainer = Drainer(spool, MockTransport(max_in_flight=2), "mock", batch_size=BATCH)
    drainer._probe_trusted = False
    assert drainer.drain_available() == 0
    assert drainer._probe_trusted is False
    spool.insert_raw([(encode(build_payload(event_type="audit", objects=[("instance", "i")],
                                            message="m", fqdn="n")), time.time())])
    assert drainer.drain_available() == 1
    assert drainer._probe_trusted is True
