"""Figures 5-6: draining a full spool to MariaDB, directly and through gRPC.

Absorbed from the gRPC engineer's ``benchmarks/grpc_bench.py``.  In one run,
interleaved round by round, the same number of fresh events goes:

* raw      - PyMySQL ``executemany`` of pre-built tuples, a transaction per
             batch of 100: the practical MariaDB limit;
* mariadb  - spool -> drainer -> ``mariadb`` transport -> MariaDB;
* database - spool -> drainer -> ``database`` transport -> ``sfeventlog serve
             database`` (its own process) -> MariaDB;
* legacy   - spool -> drainer -> ``legacy`` transport -> ``sfeventlog serve
             legacy`` (its own process) -> its SQLite store;
* sqlite   - spool -> drainer -> ``sqlite`` transport -> an SQLite file;
* mariadb-send, database-send - the transport alone, pre-built records and
             no spool: the most a drain through it could reach;
* per-row  - one INSERT per row, a transaction per batch: the naive baseline.

Drains start from a spool already holding the events and stop when it is
empty: dequeue, parse, send, delete, all timed.  Every MariaDB row count is
checked at the end.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from sfeventlog.config import Settings
from sfeventlog.drainer import Drainer
from sfeventlog.loader import load_transport
from sfeventlog.payload import encode, payload_from_record
from sfeventlog.records import EventRecord
from sfeventlog.spool import Spool
from sfeventlog.transport import Transport
from sfeventlog_bench.context import BenchContext, MariaDBMissing
from sfeventlog_bench.figures import Figure, Target, unavailable
from sfeventlog_bench.mariadb_store import (
    PerRowWriter,
    RawWriter,
    TransportWriter,
    count_rows,
    server_version,
)
from sfeventlog_bench.servers import ServeProcess, mariadb_env
from sfeventlog_bench.workload import BATCH, Objects, make_records


class DrainWriter:
    """A full drain of a pre-filled spool through one transport."""

    def __init__(self, name: str, settings: Settings, workdir: Path) -> None:
        self.name = name
        self.transport: Transport = load_transport(settings)
        self.workdir = workdir

    def rate(self, records: list[EventRecord]) -> float:
        path = self.workdir / f"drain-{self.name}-{time.monotonic_ns()}.db"
        spool = Spool(path, high_water_mark=len(records) + 1, lock=False)
        now = time.time()
        spool.insert_raw((encode(payload_from_record(r)), now) for r in records)
        drainer = Drainer(spool, self.transport, self.name, batch_size=BATCH)
        started = time.perf_counter()
        # As the drainer thread does: with the transport's batches in flight.
        while drainer.drain_available():
            pass
        elapsed = time.perf_counter() - started
        if spool.count() or spool.deadletter_count():
            raise RuntimeError(f"{self.name}: drain incomplete")
        spool.close(remove_if_empty=True)
        return len(records) / elapsed

    def close(self) -> None:
        self.transport.close()


def run(ctx: BenchContext) -> list[Figure]:
    names = ("5", "6a", "6b", "6c", "6d", "6e", "6f")
    try:
        raw_db = ctx.mariadb_settings("bench_drain_raw")
        mariadb_db = ctx.mariadb_settings("bench_drain_mariadb")
        database_db = ctx.mariadb_settings("bench_drain_database")
        per_row_db = ctx.mariadb_settings("bench_drain_per_row")
    except MariaDBMissing as exc:
        return [unavailable(key, f"drain figure {key}", f"MariaDB: {exc}") for key in names]
    ctx.log(server_version(raw_db))
    events = ctx.scaled(5_000, 100_000)
    rounds = 3
    objects = Objects()
    workdir = ctx.tmp / "drain"
    workdir.mkdir()
    with ExitStack() as stack:
        database = stack.enter_context(ServeProcess(
            "database", ["--workers", "16", "--grace", "2"], env=mariadb_env(database_db),
            log_path=workdir / "database-server.log"))
        legacy = stack.enter_context(ServeProcess(
            "legacy", ["--store", str(workdir / "legacy-store"), "--grace", "2"],
            log_path=workdir / "legacy-server.log"))
        database_settings = Settings(
            eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
            mariadb_gateway_port=database.port)
        writers: dict[str, RawWriter | DrainWriter | TransportWriter] = {
            "raw": RawWriter(raw_db),
            "mariadb": DrainWriter("mariadb", mariadb_db, workdir),
            "database": DrainWriter("database", database_settings, workdir),
            # The transports alone (pre-built records, no spool, one call at a time).
            "mariadb-send": TransportWriter(mariadb_db),
            "database-send": TransportWriter(database_settings),
            "per-row": PerRowWriter(per_row_db),
            "legacy": DrainWriter("legacy", Settings(
                eventlog_transport="legacy", eventlog_node_ip="127.0.0.1",
                eventlog_api_port=legacy.port), workdir),
            "sqlite": DrainWriter("sqlite", Settings(
                eventlog_transport="sqlite", eventlog_sqlite_path=workdir / "events.sqlite"),
                workdir),
        }
        for writer in writers.values():
            stack.callback(writer.close)
        warmup = 5 * BATCH
        for writer in writers.values():  # connections, schema checks, first pages
            writer.rate(make_records(warmup, "v7", objects))
        rates: dict[str, list[float]] = {name: [] for name in writers}
        for n in range(rounds):
            for name, writer in writers.items():
                count = events if name != "per-row" else events // 4  # it is slow
                rates[name].append(writer.rate(make_records(count, "v7", objects)))
            ctx.log(f"drain round {n + 1}: " + ", ".join(
                f"{name} {values[-1]:,.0f}/s" for name, values in rates.items()))
    expected = 2 * (rounds * events + warmup)  # the drain and the transport alone
    for name, db in (("mariadb", mariadb_db), ("database", database_db)):
        stored = count_rows(db)
        if stored != expected:
            raise RuntimeError(f"{name}: {stored} rows in MariaDB, expected {expected}")
    size = f"{events // 1000}k-row spool" + (" (quick mode; full: 100k)" if ctx.quick else "")
    ref = "raw PyMySQL executemany"

    def figure(key: str, name: str, method: str, target: Target | None = None,
               note: str = "") -> Figure:
        return Figure.from_runs(key, name, rates[method], "events/s", rates["raw"], ref,
                                target, note)

    return [
        figure("5", f"drain via mariadb, {size}", "mariadb", Target("ratio>=", 0.75)),
        figure("6a", "drain via database (gRPC server -> MariaDB)", "database",
               Target("ratio>=", 0.60)),
        figure("6b", "drain via legacy (gRPC server -> SQLite)", "legacy"),
        figure("6c", "drain via sqlite (embedded store)", "sqlite"),
        figure("6d", "mariadb transport alone (no spool)", "mariadb-send",
               note="one call at a time, no spool: the transport's own cost (cf. figure 5)"),
        figure("6e", "database transport alone (no spool)", "database-send",
               note="one call at a time, no spool: the transport's own cost (cf. figure 6a)"),
        figure("6f", "per-row INSERT baseline", "per-row", note="one statement per row"),
    ]
