"""Figure 7: MariaDB insert rate with 1M events stored, time-ordered vs random uuids.

Absorbed from the store engineer's ``benchmarks/store_bench.py --scale``.
Per uuid kind: one empty events table and one bulk-filled to ``rows`` (then
flushed, see ``settle``), both written through the ``mariadb`` transport,
interleaved round by round, with the server's default 128 MiB buffer pool.
"""

from __future__ import annotations

from sfeventlog_bench.context import BenchContext, MariaDBMissing
from sfeventlog_bench.figures import Figure, Target, unavailable
from sfeventlog_bench.mariadb_store import TransportWriter, innodb_reads, prefill, settle
from sfeventlog_bench.workload import BATCH, Objects, make_records


def run(ctx: BenchContext) -> list[Figure]:
    rows = ctx.scaled(20_000, 1_000_000)
    label = f"{rows // 1000}k" if rows < 1_000_000 else f"{rows // 1_000_000}M"
    note = "" if not ctx.quick else "quick mode: 20k rows, far below the buffer pool (full: 1M)"
    rounds = ctx.scaled(3, 5)
    batches = ctx.scaled(10, 100)
    objects = Objects()
    figures = []
    for key, kind, target in (("7a", "v7", Target("ratio>=", 0.50)), ("7b", "v4", None)):
        name = (f"store insert at {label} rows, "
                + ("time-ordered uuid7" if kind == "v7" else "uuid4"))
        try:
            empty_db = ctx.mariadb_settings(f"bench_scale_empty_{kind}")
            full_db = ctx.mariadb_settings(f"bench_scale_full_{kind}")
        except MariaDBMissing as exc:
            figures.append(unavailable(key, name, f"MariaDB: {exc}"))
            continue
        took = prefill(full_db, kind, rows, objects, log=ctx.log)
        waited = settle(full_db, max_wait=ctx.scaled(5.0, 300.0))
        ctx.log(f"prefilled {rows:,} {kind} rows in {took:.0f}s; flushed in {waited:.0f}s")
        writers = {"empty": TransportWriter(empty_db), "full": TransportWriter(full_db)}
        for writer in writers.values():
            writer.rate(make_records(5 * BATCH, kind, objects))  # warm-up
        reads_before = innodb_reads(full_db)
        rates: dict[str, list[float]] = {"empty": [], "full": []}
        for _ in range(rounds):
            for state, writer in writers.items():
                rates[state].append(writer.rate(make_records(batches * BATCH, kind, objects)))
        reads = innodb_reads(full_db) - reads_before
        for writer in writers.values():
            writer.close()
        per_event = reads / (2 * rounds * batches * BATCH)
        figures.append(Figure.from_runs(
            key, name, rates["full"], "events/s", rates["empty"], "empty table", target,
            note=(note + "; " if note else "") + f"{per_event:.2f} pages read from disk per event"))
    return figures
