"""MariaDB side of the benchmarks: fresh databases, the raw limit, bulk prefill.

Absorbed from the store engineer's ``benchmarks/store_bench.py`` (which is
now a thin wrapper over ``sfeventlog bench``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pymysql

from sfeventlog.config import Settings
from sfeventlog.loader import load_transport
from sfeventlog.records import EventRecord
from sfeventlog.store.mariadb import INSERT_EVENTS, MariaDBEventStore
from sfeventlog.store.mariadb import INSERT_OBJECTS as _INSERT_OBJECTS_BY_LAYOUT
from sfeventlog.store.rows import event_row, object_rows
from sfeventlog.testing.mariadb import MariaDBServer
from sfeventlog.transport import Transport
from sfeventlog_bench.workload import BATCH, FQDN, Objects, uuid7_at

# The bench writes sfeventlog's own layout (with event_objects.ordinal).
INSERT_OBJECTS = _INSERT_OBJECTS_BY_LAYOUT[True]

EVENT_TYPES = ("audit", "mutate", "status", "usage")


def fresh_database(server: MariaDBServer, name: str) -> Settings:
    """Drop and recreate ``name``, migrate it; returns ``mariadb`` transport settings."""
    server.execute(f"DROP DATABASE IF EXISTS `{name}`")
    server.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    settings = server.settings(name)
    store = MariaDBEventStore(settings)
    try:
        store.migrate()
    finally:
        store.close()
    return settings


def connect(settings: Settings) -> Any:
    return pymysql.connect(
        host=settings.mariadb_host, port=settings.mariadb_port,
        user=settings.mariadb_user, password=settings.mariadb_password.get_secret_value(),
        database=settings.mariadb_database, charset="utf8mb4", autocommit=False,
    )


def server_version(settings: Settings) -> str:
    conn = connect(settings)
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit")
        version, pool, flush = cur.fetchone()
    conn.close()
    return (f"MariaDB {version}, innodb_buffer_pool_size={int(pool) // 2**20} MiB,"
            f" innodb_flush_log_at_trx_commit={flush}")


def count_rows(settings: Settings) -> int:
    conn = connect(settings)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM events")
        (n,) = cur.fetchone()
    conn.close()
    return int(n)


class RawWriter:
    """The practical limit: PyMySQL ``executemany`` of pre-built tuples, a
    transaction per batch of 100; building the tuples is not timed."""

    def __init__(self, settings: Settings) -> None:
        self.conn = connect(settings)

    def prepare(self, batch: list[EventRecord]) -> Any:
        return ([event_row(r) for r in batch], [o for r in batch for o in object_rows(r)])

    def write(self, prepared: Any) -> None:
        events, objects = prepared
        with self.conn.cursor() as cur:
            cur.executemany(INSERT_EVENTS, events)
            cur.executemany(INSERT_OBJECTS, objects)
        self.conn.commit()

    def rate(self, records: list[EventRecord]) -> float:
        """Events/s writing ``records`` in batches of ``BATCH``; only writes are timed.

        Each batch is prepared just before its write rather than all up
        front, so 100k events of tuples do not sit in memory for the
        garbage collector to walk during the timed writes.
        """
        elapsed = 0.0
        for i in range(0, len(records), BATCH):
            prepared = self.prepare(records[i:i + BATCH])
            started = time.perf_counter()
            self.write(prepared)
            elapsed += time.perf_counter() - started
        return len(records) / elapsed

    def close(self) -> None:
        self.conn.close()


class PerRowWriter(RawWriter):
    """The naive baseline: one INSERT statement per row, a transaction per batch."""

    def write(self, prepared: Any) -> None:
        events, objects = prepared
        with self.conn.cursor() as cur:
            for row in events:
                cur.execute(INSERT_EVENTS, row)
            for row in objects:
                cur.execute(INSERT_OBJECTS, row)
        self.conn.commit()


class TransportWriter:
    """``record_event_batch`` of pre-built records through a transport (no spool)."""

    def __init__(self, settings: Settings) -> None:
        self.transport: Transport = load_transport(settings)

    def rate(self, records: list[EventRecord]) -> float:
        batches = [records[i:i + BATCH] for i in range(0, len(records), BATCH)]
        started = time.perf_counter()
        for batch in batches:
            self.transport.record_event_batch(batch)
        return len(records) / (time.perf_counter() - started)

    def close(self) -> None:
        self.transport.close()


def prefill(settings: Settings, kind: str, rows: int, objects: Objects,
            log: Any = None) -> float:
    """Fill events/event_objects with ``rows`` old events; returns seconds taken.

    Rows go in primary-key order in large statements: a fast way to build the
    table a long-running system would have, keys spread over the key space.
    """
    start_ms = int((time.time() - 30 * 86400) * 1000)
    chunk = 2000
    conn = connect(settings)
    started = time.perf_counter()
    keys: list[str]
    if kind == "v7":
        keys = [uuid7_at(start_ms + i // 4) for i in range(rows)]
    else:
        keys = sorted(str(uuid.uuid4()) for _ in range(rows))
    with conn.cursor() as cur:
        for i in range(0, rows, chunk):
            records = [
                EventRecord(event_uuid=k, event_type=EVENT_TYPES[(i + j) % 4],
                            timestamp=start_ms / 1000 + (i + j) * 0.25, fqdn=FQDN,
                            message=f"Instance state changed {i + j}", duration=0.012,
                            extra={"state": "running", "n": i + j}, request_id=None,
                            objects=[objects.pick()])
                for j, k in enumerate(keys[i:i + chunk])
            ]
            cur.executemany(INSERT_EVENTS, [event_row(r) for r in records])
            cur.executemany(INSERT_OBJECTS, [o for r in records for o in object_rows(r)])
            conn.commit()
            if log is not None and i and i % 200_000 == 0:
                log(f"  {kind}: {i:,} rows, {time.perf_counter() - started:.0f}s")
    conn.close()
    return time.perf_counter() - started


def settle(settings: Settings, max_wait: float = 300.0) -> float:
    """Flush the dirty pages a bulk load left behind; returns seconds waited.

    A table that grew to 1M rows over weeks carries no such backlog, and
    measuring in its wake would charge the load's write-back (and the
    redo-log checkpoint it forces) to the measured inserts.  Flushing is
    forced by a temporary ``innodb_max_dirty_pages_pct = 0``.
    """
    conn = connect(settings)
    conn.autocommit(True)
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
        previous = cur.fetchone()[0]
        try:
            cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        except pymysql.MySQLError:
            conn.close()
            return 0.0
        try:
            while time.perf_counter() - started < max_wait:
                cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
                if int(cur.fetchone()[1]) <= 100:
                    break
                time.sleep(0.5)
        finally:
            cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = %s", (previous,))
    conn.close()
    return time.perf_counter() - started


def innodb_reads(settings: Settings) -> int:
    """Pages InnoDB had to read from disk so far (buffer-pool misses)."""
    conn = connect(settings)
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'")
        value = int(cur.fetchone()[1])
    conn.close()
    return value
