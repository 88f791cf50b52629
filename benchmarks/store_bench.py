#!/usr/bin/env python3
"""Event-store write benchmark against a private MariaDB (not a test).

Compare mode (default): batches of 100 events into MariaDB three ways, in
one run, interleaved round by round so drift hits all three alike:

* raw       - PyMySQL ``executemany`` of pre-built tuples into the bare
              schema, one transaction per batch: the practical limit;
* transport - ``sfeventlog_transports.mariadb`` ``record_event_batch`` of
              pre-built ``EventRecord``s (row building, JSON, checks, metrics
              included);
* per-row   - one INSERT statement per row, one transaction per batch.

Scale mode (``--scale``): the transport's insert rate into an empty events
table, then into one pre-filled with ``--prefill`` rows (default 1,000,000),
for time-ordered (v7) and random (v4) ``event_uuid``s.

The server is started by this script (``--no-defaults``: default 128 MiB
buffer pool, ``innodb_flush_log_at_trx_commit=1``) in a temp dir, unless
``--use-settings`` points it at the server in ``SHAKENFIST_MARIADB_*``.

Run from the repository root::

    python benchmarks/store_bench.py                 # compare, ~1 minute
    python benchmarks/store_bench.py --scale         # + 1M-row scale run, minutes
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymysql

from sfeventlog.config import Settings
from sfeventlog.loader import load_transport
from sfeventlog.records import EventRecord
from sfeventlog.store.mariadb import INSERT_EVENTS, INSERT_OBJECTS, MariaDBEventStore
from sfeventlog.store.rows import event_row, object_rows
from sfeventlog.transport import Transport

BATCH = 100
EVENT_TYPES = ("audit", "mutate", "status", "usage")


# -- ids and records ---------------------------------------------------------

_v7_state = {"ms": 0, "seq": 0}


def uuid7_at(ms: int) -> str:
    """A v7 uuid for ``ms`` (monotonic within this process)."""
    if ms <= _v7_state["ms"]:
        ms = _v7_state["ms"]
        _v7_state["seq"] += 1
        if _v7_state["seq"] > 0xFFF:
            ms += 1
            _v7_state["seq"] = 0
    else:
        _v7_state["seq"] = 0
    _v7_state["ms"] = ms
    rand = random.getrandbits(62)
    value = (ms << 80) | (0x7 << 76) | (_v7_state["seq"] << 64) | (0b10 << 62) | rand
    return str(uuid.UUID(int=value))


def new_uuid(kind: str) -> str:
    return uuid7_at(time.time_ns() // 1_000_000) if kind == "v7" else str(uuid.uuid4())


class Objects:
    """A fixed pool of object uuids, like a cloud's instances and networks."""

    def __init__(self, count: int) -> None:
        self.uuids = [str(uuid.uuid4()) for _ in range(count)]

    def pick(self) -> tuple[str, str]:
        return ("instance", random.choice(self.uuids))


def make_records(n: int, kind: str, objects: Objects) -> list[EventRecord]:
    now = time.time()
    return [
        EventRecord(
            event_uuid=new_uuid(kind), event_type=EVENT_TYPES[0], timestamp=now + i * 1e-3,
            fqdn="node-07.cloud.example.com", message=f"Instance state changed {i}",
            duration=0.012, extra={"state": "running", "n": i}, request_id=None,
            objects=[objects.pick()],
        )
        for i in range(n)
    ]


def batches(kind: str, objects: Objects, count: int) -> list[list[EventRecord]]:
    return [make_records(BATCH, kind, objects) for _ in range(count)]


# -- the server ----------------------------------------------------------------

@contextmanager
def private_server(args: argparse.Namespace) -> Iterator[Callable[[str], Settings]]:
    if args.use_settings:
        base = Settings()

        def settings_for_db(db: str) -> Settings:
            return base.model_copy(update={"mariadb_database": db})

        yield settings_for_db
        return
    from tests.servers.mariadb import MariaDBServer

    with tempfile.TemporaryDirectory(prefix="sfe-bench-", dir=args.tmpdir) as tmp:
        server = MariaDBServer(Path(tmp))
        server.start()
        print(f"# private MariaDB on port {server.port}, datadir {server.datadir}")
        try:
            yield server.settings
        finally:
            server.stop()


def fresh_database(settings_for: Callable[[str], Settings], name: str) -> Settings:
    settings = settings_for(name)
    conn = connect(settings, database=None)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    store = MariaDBEventStore(settings)
    store.migrate()
    store.close()
    return settings


def connect(settings: Settings, database: str | None = "") -> Any:
    return pymysql.connect(
        host=settings.mariadb_host, port=settings.mariadb_port,
        user=settings.mariadb_user, password=settings.mariadb_password.get_secret_value(),
        database=settings.mariadb_database if database == "" else database,
        charset="utf8mb4", autocommit=False,
    )


def server_version(settings: Settings) -> str:
    conn = connect(settings)
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit")
        version, pool, flush = cur.fetchone()
    conn.close()
    return f"{version}, innodb_buffer_pool_size={int(pool) // 2**20} MiB, flush_log_at_trx_commit={flush}"


# -- the three writers -----------------------------------------------------------

class Raw:
    """Bare PyMySQL: pre-built tuples, executemany, one transaction per batch."""

    name = "raw"

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

    def close(self) -> None:
        self.conn.close()


class PerRow(Raw):
    """One INSERT per row; one transaction per batch."""

    name = "per-row"

    def write(self, prepared: Any) -> None:
        events, objects = prepared
        with self.conn.cursor() as cur:
            for row in events:
                cur.execute(INSERT_EVENTS, row)
            for row in objects:
                cur.execute(INSERT_OBJECTS, row)
        self.conn.commit()


class ViaTransport:
    """The ``mariadb`` transport, as the drainer calls it."""

    name = "transport"

    def __init__(self, settings: Settings) -> None:
        self.transport: Transport = load_transport(settings.model_copy(
            update={"eventlog_transport": "mariadb"}))

    def prepare(self, batch: list[EventRecord]) -> Any:
        return batch

    def write(self, prepared: Any) -> None:
        self.transport.record_event_batch(prepared)

    def close(self) -> None:
        self.transport.close()


def timed(writer: Any, work: list[list[EventRecord]]) -> float:
    """Events per second for writing ``work`` (preparation not timed)."""
    prepared = [writer.prepare(b) for b in work]
    started = time.perf_counter()
    for p in prepared:
        writer.write(p)
    return sum(len(b) for b in work) / (time.perf_counter() - started)


# -- modes ------------------------------------------------------------------------

def compare(settings_for: Callable[[str], Settings], args: argparse.Namespace) -> None:
    objects = Objects(args.objects)
    writers = []
    for cls in (Raw, ViaTransport, PerRow):
        writers.append(cls(fresh_database(settings_for, f"bench_{cls.__name__.lower()}")))
    print(f"# server: {server_version(settings_for('bench_raw'))}")
    for w in writers:  # warm-up: connections, schema checks, first pages
        timed(w, batches("v7", objects, 5))
    rates: dict[str, list[float]] = {w.name: [] for w in writers}
    for _ in range(args.rounds):
        for w in writers:
            n = args.batches if w.name != "per-row" else max(1, args.batches // 4)
            rates[w.name].append(timed(w, batches("v7", objects, n)))
    for w in writers:
        w.close()
    raw = statistics.median(rates["raw"])
    print(f"\n{'method':<10} {'events/s (median)':>18} {'min':>9} {'max':>9} {'vs raw':>8}")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"{name:<10} {med:>18,.0f} {min(values):>9,.0f} {max(values):>9,.0f}"
              f" {med / raw:>8.0%}")
    print(f"\n# {args.rounds} rounds x {args.batches} batches of {BATCH}"
          f" (per-row: {max(1, args.batches // 4)} batches), median per method")


def prefill(settings: Settings, kind: str, rows: int, objects: Objects) -> float:
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
                            timestamp=start_ms / 1000 + (i + j) * 0.25, fqdn="node-07.cloud.example.com",
                            message=f"Instance state changed {i + j}", duration=0.012,
                            extra={"state": "running", "n": i + j}, request_id=None,
                            objects=[objects.pick()])
                for j, k in enumerate(keys[i:i + chunk])
            ]
            cur.executemany(INSERT_EVENTS, [event_row(r) for r in records])
            cur.executemany(INSERT_OBJECTS, [o for r in records for o in object_rows(r)])
            conn.commit()
            if i and i % 200_000 == 0:
                print(f"#   {kind}: {i:,} rows, {time.perf_counter() - started:.0f}s", flush=True)
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
        except pymysql.MySQLError as exc:
            print(f"# cannot force a flush ({exc}); measuring without settling")
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


def scale(settings_for: Callable[[str], Settings], args: argparse.Namespace) -> None:
    objects = Objects(args.objects)
    results = {}
    for kind in ("v7", "v4"):
        empty_db = fresh_database(settings_for, f"bench_empty_{kind}")
        settle(empty_db)
        writer = ViaTransport(empty_db)
        timed(writer, batches(kind, objects, 5))
        empty = timed(writer, batches(kind, objects, args.scale_batches))
        writer.close()

        full_db = fresh_database(settings_for, f"bench_full_{kind}")
        took = prefill(full_db, kind, args.prefill, objects)
        waited = settle(full_db)
        print(f"# prefilled {args.prefill:,} {kind} rows in {took:.0f}s;"
              f" waited {waited:.0f}s for InnoDB to flush them")
        writer = ViaTransport(full_db)
        timed(writer, batches(kind, objects, 20))  # warm-up
        reads = innodb_reads(full_db)
        full = timed(writer, batches(kind, objects, args.scale_batches))
        reads = innodb_reads(full_db) - reads
        writer.close()
        results[kind] = (empty, full)
        print(f"# {kind}: empty {empty:,.0f} events/s, at {args.prefill:,} rows {full:,.0f}"
              f" events/s ({full / empty:.0%}); {reads / (args.scale_batches * BATCH):.2f}"
              " pages read from disk per event at that size", flush=True)
    print(f"\n{'event_uuid':<12} {'empty table':>12} {'at ' + format(args.prefill, ','):>14}"
          f" {'ratio':>7}")
    for kind, (empty, full) in results.items():
        label = "uuid7 (time)" if kind == "v7" else "uuid4"
        print(f"{label:<12} {empty:>12,.0f} {full:>14,.0f} {full / empty:>7.0%}")
    print(f"\n# transport, batches of {BATCH}, {args.scale_batches} batches measured after"
          f" 20 warm-up batches; {args.objects} distinct objects")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="compare: rounds (default 5)")
    parser.add_argument("--batches", type=int, default=100,
                        help="compare: batches per method per round (default 100)")
    parser.add_argument("--objects", type=int, default=1000,
                        help="distinct object uuids events are about (default 1000)")
    parser.add_argument("--scale", action="store_true", help="also run the scale mode")
    parser.add_argument("--scale-only", action="store_true", help="only the scale mode")
    parser.add_argument("--prefill", type=int, default=1_000_000,
                        help="scale: rows already in events (default 1,000,000)")
    parser.add_argument("--scale-batches", type=int, default=500,
                        help="scale: batches measured per state (default 200)")
    parser.add_argument("--use-settings", action="store_true",
                        help="use the MariaDB in SHAKENFIST_MARIADB_* (creates bench_* databases)")
    parser.add_argument("--tmpdir", default=None, help="where the private server's datadir goes")
    args = parser.parse_args()
    print(f"# python {platform.python_version()}, {platform.platform()}, nproc {os.cpu_count()}")
    with private_server(args) as settings_for:
        if not args.scale_only:
            compare(settings_for, args)
        if args.scale or args.scale_only:
            scale(settings_for, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
