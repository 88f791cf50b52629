#!/usr/bin/env python3
"""Drain throughput through the gRPC transports (not a test).

In one run, interleaved round by round so drift hits every method alike,
the same number of events go to MariaDB (or the legacy store) four ways:

* raw      - PyMySQL ``executemany`` of pre-built tuples, one transaction per
             batch of 100: the practical MariaDB limit (as store_bench.py);
* mariadb  - spool -> drainer -> ``mariadb`` transport -> MariaDB;
* database - spool -> drainer -> ``database`` transport -> ``sfeventlog serve
             database`` (a separate process) -> MariaDB;
* legacy   - spool -> drainer -> ``legacy`` transport -> ``sfeventlog serve
             legacy`` (a separate process) -> its SQLite store;
* mariadb-send / database-send - the same transports' ``record_event_batch``
             called directly with pre-built records (no spool, no drainer):
             what the transport path costs without the core's drain work.

The drain methods start from a spool file already holding the events and
stop when it is empty: dequeue, parse, send, delete, all timed.  MariaDB is
a private server (``--no-defaults``) in a temp dir unless ``--use-settings``.

Run from the repository root::

    python benchmarks/grpc_bench.py                  # ~1-2 minutes
    python benchmarks/grpc_bench.py --rounds 3 --events 5000
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from store_bench import (  # noqa: E402 - after the path set-up above
    BATCH,
    Objects,
    Raw,
    batches,
    connect,
    fresh_database,
    private_server,
    server_version,
)

from sfeventlog.config import Settings  # noqa: E402
from sfeventlog.drainer import Drainer  # noqa: E402
from sfeventlog.loader import load_transport  # noqa: E402
from sfeventlog.payload import encode, payload_from_record  # noqa: E402
from sfeventlog.records import EventRecord  # noqa: E402
from sfeventlog.spool import Spool  # noqa: E402
from sfeventlog.transport import Transport  # noqa: E402
from tests.servers.reference import ServerProcess  # noqa: E402


def server_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SHAKENFIST_MARIADB_HOST": settings.mariadb_host,
        "SHAKENFIST_MARIADB_PORT": str(settings.mariadb_port),
        "SHAKENFIST_MARIADB_USER": settings.mariadb_user,
        "SHAKENFIST_MARIADB_PASSWORD": settings.mariadb_password.get_secret_value(),
        "SHAKENFIST_MARIADB_DATABASE": settings.mariadb_database,
    })
    return env


class RawWriter:
    """The limit: pre-built tuples straight into MariaDB (no spool)."""

    name = "raw"

    def __init__(self, settings: Settings) -> None:
        self.raw = Raw(settings)

    def run(self, records: list[EventRecord], _tmp: Path) -> float:
        prepared = [self.raw.prepare(records[i:i + BATCH]) for i in range(0, len(records), BATCH)]
        started = time.perf_counter()
        for p in prepared:
            self.raw.write(p)
        return len(records) / (time.perf_counter() - started)

    def close(self) -> None:
        self.raw.close()


class DrainWriter:
    """A full drain of a pre-filled spool through one transport."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.transport: Transport = load_transport(settings)

    def run(self, records: list[EventRecord], tmp: Path) -> float:
        path = tmp / f"{self.name}-{time.monotonic_ns()}.db"
        spool = Spool(path)
        now = time.time()
        spool.insert_raw((encode(payload_from_record(r)), now) for r in records)
        drainer = Drainer(spool, self.transport, self.name, batch_size=BATCH)
        started = time.perf_counter()
        while drainer.drain_once():
            pass
        elapsed = time.perf_counter() - started
        assert spool.count() == 0 and spool.deadletter_count() == 0, "drain incomplete"
        spool.close(remove_if_empty=True)
        return len(records) / elapsed

    def close(self) -> None:
        self.transport.close()


class SendWriter:
    """``record_event_batch`` with pre-built records: the transport alone."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = f"{name}-send"
        self.transport: Transport = load_transport(settings)

    def run(self, records: list[EventRecord], _tmp: Path) -> float:
        chunks = [records[i:i + BATCH] for i in range(0, len(records), BATCH)]
        started = time.perf_counter()
        for chunk in chunks:
            self.transport.record_event_batch(chunk)
        return len(records) / (time.perf_counter() - started)

    def close(self) -> None:
        self.transport.close()


def components(objects: Objects, database_port: int) -> None:
    """CPU cost per batch of 100 of each step on the database path (best of 7).

    CPU time, not wall time, so other load on the machine matters less.
    """
    from sfeventlog.payload import parse_row
    from sfeventlog.server.database import parse_request
    from sfeventlog.store.rows import event_row, object_rows
    from sfeventlog.wire.database_codec import encode_batch

    work = batches("v7", objects, 50)
    spooled = [[encode(payload_from_record(r)) for r in b] for b in work]
    wire = [encode_batch(b).SerializeToString() for b in work]
    decoded = [parse_request(w) for w in wire]
    steps = {
        "drainer: parse spool rows (core parse_row)": lambda: [[parse_row(x) for x in b] for b in spooled],
        "transport: encode RecordEventBatchRequest": lambda: [encode_batch(b).SerializeToString() for b in work],
        "server: parse + validate request": lambda: [parse_request(w) for w in wire],
        "store: build MariaDB rows": lambda: [([event_row(r) for r in b], [o for r in b for o in object_rows(r)]) for b in decoded],
    }
    print(f"\n{'step (CPU ms per batch of 100)':<46} {'ms':>6}")
    for label, step in steps.items():
        best = float("inf")
        for _ in range(7):
            started = time.process_time()
            step()
            best = min(best, time.process_time() - started)
        print(f"{label:<46} {best / len(work) * 1000:>6.2f}")
    import grpc

    from sfeventlog.wire import database_pb2_grpc
    from sfeventlog.wire.database_codec import encode_batch as enc

    empty = enc([])
    with grpc.insecure_channel(f"127.0.0.1:{database_port}") as channel:
        stub = database_pb2_grpc.DatabaseServiceStub(channel)
        stub.RecordEventBatch(empty, timeout=10)
        started = time.perf_counter()
        for _ in range(200):
            stub.RecordEventBatch(empty, timeout=10)
        rtt = (time.perf_counter() - started) / 200
    print(f"{'gRPC round trip, empty batch (wall ms)':<46} {rtt * 1000:>6.2f}")


def count_rows(settings: Settings) -> int:
    conn = connect(settings)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM events")
        (n,) = cur.fetchone()
    conn.close()
    return int(n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--events", type=int, default=10_000,
                        help="events per method per round (default 10000)")
    parser.add_argument("--objects", type=int, default=1000,
                        help="distinct object uuids events are about (default 1000)")
    parser.add_argument("--workers", type=int, default=16,
                        help="the database server's RPC threads (default 16)")
    parser.add_argument("--use-settings", action="store_true",
                        help="use the MariaDB in SHAKENFIST_MARIADB_* (creates bench_* databases)")
    parser.add_argument("--tmpdir", default=None, help="where temp dirs go")
    args = parser.parse_args()
    args.scale = args.scale_only = False
    print(f"# python {platform.python_version()}, {platform.platform()}, nproc {os.cpu_count()}")
    objects = Objects(args.objects)
    with private_server(args) as settings_for, \
            tempfile.TemporaryDirectory(prefix="sfe-grpc-bench-", dir=args.tmpdir) as tmp_name:
        tmp = Path(tmp_name)
        raw_db = fresh_database(settings_for, "bench_grpc_raw")
        mariadb_db = fresh_database(settings_for, "bench_grpc_mariadb")
        database_db = fresh_database(settings_for, "bench_grpc_database")
        print(f"# server: {server_version(raw_db)}")
        database_server = ServerProcess(
            "database", ["--workers", str(args.workers), "--grace", "2"],
            env=server_env(database_db), log_path=tmp / "database-server.log").start()
        legacy_server = ServerProcess(
            "legacy", ["--store", str(tmp / "legacy"), "--grace", "2"],
            log_path=tmp / "legacy-server.log").start()
        spool_dir = tmp / "spool"
        spool_dir.mkdir()
        mariadb_settings = mariadb_db.model_copy(update={"eventlog_transport": "mariadb"})
        database_settings = Settings(
            eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
            mariadb_gateway_port=database_server.port, eventlog_spool_dir=spool_dir)
        writers: list[Any] = [
            RawWriter(raw_db),
            DrainWriter("mariadb", mariadb_settings),
            DrainWriter("database", database_settings),
            DrainWriter("legacy", Settings(
                eventlog_transport="legacy", eventlog_node_ip="127.0.0.1",
                eventlog_api_port=legacy_server.port, eventlog_spool_dir=spool_dir)),
            SendWriter("mariadb", mariadb_settings),
            SendWriter("database", database_settings),
        ]
        try:
            for w in writers:  # warm-up: connections, schema checks, first pages
                w.run([r for b in batches("v7", objects, 5) for r in b], spool_dir)
            rates: dict[str, list[float]] = {w.name: [] for w in writers}
            for n in range(args.rounds):
                for w in writers:
                    records = [r for b in batches("v7", objects, args.events // BATCH) for r in b]
                    rates[w.name].append(w.run(records, spool_dir))
                print(f"# round {n + 1}: " + ", ".join(
                    f"{name} {values[-1]:,.0f}" for name, values in rates.items()), flush=True)
            components(objects, database_server.port)
        finally:
            for w in writers:
                w.close()
            database_server.terminate()
            legacy_server.terminate()
        # Drain and send runs share each database.
        expected = 2 * (args.rounds * (args.events // BATCH) + 5) * BATCH
        for name, db in (("mariadb", mariadb_db), ("database", database_db)):
            stored = count_rows(db)
            assert stored == expected, f"{name}: {stored} rows, expected {expected}"
    raw = statistics.median(rates["raw"])
    print(f"\n{'method':<14} {'events/s (median)':>18} {'min':>9} {'max':>9} {'vs raw':>8}")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"{name:<14} {med:>18,.0f} {min(values):>9,.0f} {max(values):>9,.0f}"
              f" {med / raw:>8.0%}")
    ratio = statistics.median(rates["database"]) / statistics.median(rates["mariadb"])
    print(f"\ndatabase drain / mariadb drain: {ratio:.0%}")
    print(f"\n# {args.rounds} rounds x {args.events:,} events per method, batches of {BATCH};"
          " drain methods start from a full spool; every MariaDB row count checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
