"""Figures 12a-12b: writes while a large retention prune runs, and the prune rate.

One MariaDB database is bulk-filled with ``rows`` events 30 days old (1M in
a full run, 20k with ``--quick``) and flushed (``settle``).  The reference
is the ``mariadb`` transport's insert rate with no prune running, batch by
batch with a pause between batches (``PAUSE``), as during the prune.  Then the
prune (every type aged out after a day, so all ``rows`` events go) runs in
a thread while the same writer keeps inserting new events:

* 12a: the insert rate of the batches that ran entirely during the prune;
* 12b: the prune rate, events deleted per second (each event is one
  reference and one events row), next to the same insert rate.

The prune deletes in 10,000-row statements, each its own transaction, so
inserts wait at most for one statement, never for the whole prune.
"""

from __future__ import annotations

import statistics
import threading
import time

from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.store.prune import PRUNED_EVENT_TYPES, PruneReport, RetentionPolicy
from sfeventlog_bench.context import BenchContext, MariaDBMissing
from sfeventlog_bench.figures import Figure, unavailable
from sfeventlog_bench.mariadb_store import TransportWriter, prefill, settle
from sfeventlog_bench.workload import BATCH, Objects, make_records

DAY = 86400
#: Everything older than a day goes: all of the 30-day-old prefill.
POLICY = RetentionPolicy(max_age={t: DAY for t in PRUNED_EVENT_TYPES}, api_request_max_age=DAY)


#: Inserts pause this long between batches (a drainer's pace, not a flood), so
#: they span the whole prune without growing the table it sweeps by millions.
PAUSE = 0.02
MAX_BATCHES = 10_000


def paced_batch(writer: TransportWriter, objects: Objects) -> float:
    """The insert rate of one batch of ``BATCH`` new events, then a pause."""
    rate = writer.rate(make_records(BATCH, "v7", objects))
    time.sleep(PAUSE)
    return rate


def run(ctx: BenchContext) -> list[Figure]:
    rows = ctx.scaled(20_000, 1_000_000)
    label = f"{rows // 1000}k" if rows < 1_000_000 else f"{rows // 1_000_000}M"
    names = {"12a": f"insert rate during a prune of {label} aged events",
             "12b": f"prune rate, {label} aged events"}
    try:
        settings = ctx.mariadb_settings("bench_prune")
    except MariaDBMissing as exc:
        return [unavailable(k, n, f"MariaDB: {exc}") for k, n in names.items()]
    objects = Objects()
    took = prefill(settings, "v7", rows, objects, log=ctx.log)
    settle(settings, max_wait=ctx.scaled(5.0, 300.0))
    ctx.log(f"prefilled {rows:,} aged events in {took:.0f}s")

    writer = TransportWriter(settings)
    try:
        writer.rate(make_records(5 * BATCH, "v7", objects))  # warm-up
        idle = [paced_batch(writer, objects) for _ in range(ctx.scaled(50, 300))]

        done = threading.Event()
        result: dict[str, PruneReport | BaseException] = {}

        def prune() -> None:
            store = MariaDBEventStore(settings)
            try:
                result["report"] = store.prune(POLICY)
            except BaseException as exc:  # noqa: BLE001 - reported below
                result["report"] = exc
            finally:
                store.close()
                done.set()

        during: list[float] = []
        thread = threading.Thread(target=prune, name="bench-prune")
        started = time.perf_counter()
        thread.start()
        while not done.is_set() and len(during) < MAX_BATCHES:
            rate = paced_batch(writer, objects)
            if not done.is_set():  # the whole batch ran while the prune did
                during.append(rate)
        thread.join()
        elapsed = time.perf_counter() - started
    finally:
        writer.close()
    report = result["report"]
    if isinstance(report, BaseException):
        return [unavailable(k, n, f"prune failed: {report}") for k, n in names.items()]
    reference = statistics.median(idle)
    pruned = report.events_pruned
    note = "" if not ctx.quick else "quick mode: 20k rows (full: 1M); "
    figures = [Figure.from_runs(
        "12b", names["12b"], [pruned / report.seconds], "events/s", idle,
        "insert, no prune", note=f"{note}{pruned:,} events, {report.rows_pruned:,} rows"
        f" in {report.seconds:.1f}s")]
    if during:
        figures.insert(0, Figure.from_runs(
            "12a", names["12a"], during, "events/s", idle, "insert, no prune",
            note=f"{note}medians of {len(during)} batches of {BATCH} during a {elapsed:.1f}s"
            f" prune and {len(idle)} before it"))
    else:
        figures.insert(0, Figure("12a", names["12a"], reference, "events/s", reference,
                                 "insert, no prune", note=f"{note}the prune ({elapsed:.2f}s)"
                                 " ended before one insert batch did"))
    return figures
