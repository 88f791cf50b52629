"""Figures 11: add_event from 1, 4 and 16 threads at once (the spool's group commit).

Every rate is set against one raw single-connection insert loop (the limit
of one thread committing each row alone) in the same durability, measured
in the same rounds; the latencies at 16 threads against that raw loop's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sfeventlog import api
from sfeventlog.spool import Durability
from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.enqueue import add_events, use_spool
from sfeventlog_bench.figures import Figure, Target
from sfeventlog_bench.rawsqlite import RawInsert
from sfeventlog_bench.timing import interleaved, latencies_us, percentile
from sfeventlog_bench.workload import event_payload

THREADS = (1, 4, 16)
#: What the issue asks of 16 threads, per durability: a multiple of the raw rate.
RATE_TARGETS: dict[Durability, float] = {"normal": 1.5, "full": 3.0}
RAW_NAME: dict[Durability, str] = {"normal": "raw WAL insert", "full": "raw WAL+FULL insert"}


def in_threads(threads: int, work: Callable[[int], None]) -> Callable[[int], None]:
    """``work`` split over ``threads`` threads started at once; ``n`` calls in all.

    The threads are created before the clock starts; the call returns when
    the last one is done, so the rate is calls over the wall time of the burst.
    """
    def run(n: int) -> None:
        each = max(1, n // threads)
        ready = threading.Barrier(threads + 1)
        errors: list[BaseException] = []

        def body() -> None:
            ready.wait()
            try:
                work(each)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the timing thread
                errors.append(exc)
        pool = [threading.Thread(target=body) for _ in range(threads)]
        for t in pool:
            t.start()
        ready.wait()
        for t in pool:
            t.join()
        if errors:
            raise errors[0]
    return run


def threaded_latencies_us(threads: int, calls_each: int) -> list[float]:
    """Sorted per-call add_event latencies of ``threads`` threads calling at once."""
    ready = threading.Barrier(threads)
    per_thread: list[list[float]] = []

    def body() -> None:
        ready.wait()
        per_thread.append(latencies_us(lambda: add_events(1), calls_each))
    pool = [threading.Thread(target=body) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sorted(x for lat in per_thread for x in lat)


def _group_note() -> str:
    spool = api.current_spool()
    if spool is None or not spool.group_commits:
        return "no group commits"
    return (f"{spool.grouped_rows / spool.group_commits:.1f} rows per group commit"
            f" ({spool.group_commits} groups)")


def _cpu_per_call_us(work: Callable[[int], None], n: int) -> float:
    """Process CPU (every thread, SQLite's included) per call of ``work(n)``."""
    started = time.process_time()
    work(n)
    return (time.process_time() - started) / n * 1e6


def _bounds(ctx: BenchContext) -> list[Figure]:
    """What bounds 11c: the spool alone from 16 threads, and the CPU per event."""
    use_spool(ctx, "normal")
    payload = event_payload()
    raw = RawInsert(ctx.tmp / "raw-threads-bounds.db", payload)
    spool = api._spool_for_caller()

    def enqueue_ready(n: int) -> None:
        enqueue = spool.enqueue
        for _ in range(n):
            if enqueue(payload) is not None:
                raise RuntimeError("a ready payload was dropped")
    n = ctx.scaled(1600, 8000)
    rates = interleaved({"raw": (raw.run, n), "spool": (in_threads(16, enqueue_ready), n)},
                        ctx.scaled(3, 7))
    cpu_ours = _cpu_per_call_us(in_threads(16, add_events), n)
    cpu_raw = _cpu_per_call_us(raw.run, n)
    raw.close()
    return [
        Figure.from_runs("11k", "spool.enqueue of ready payloads, normal, 16 threads",
                         rates["spool"], "events/s", rates["raw"], "raw WAL insert (1 thread)",
                         note="no payload building: shows what bounds 11c"),
        Figure("11l", "CPU per add_event, normal, 16 threads", cpu_ours, "us", cpu_raw,
               "raw insert CPU (1 thread)", runs=n,
               note="process CPU, all threads; the GIL runs one at a time"),
    ]


def _durability(ctx: BenchContext, durability: Durability, index: int) -> list[Figure]:
    use_spool(ctx, durability)
    synchronous = "FULL" if durability == "full" else "NORMAL"
    raw = RawInsert(ctx.tmp / f"raw-threads-{durability}.db", event_payload(), synchronous)
    # Enough calls per round for 16 threads to reach their steady state.
    n = ctx.scaled(400, 1600) if durability == "full" else ctx.scaled(1600, 8000)
    methods: dict[str, tuple[Callable[[int], None], int]] = {"raw": (raw.run, n)}
    for threads in THREADS:
        methods[f"{threads}"] = (in_threads(threads, add_events), n)
    rates = interleaved(methods, ctx.scaled(3, 7))
    figures = []
    for k, threads in enumerate(THREADS):
        target = Target("ratio>=", RATE_TARGETS[durability]) if threads == 16 else None
        note = _group_note() if threads == 16 else ""
        figures.append(Figure.from_runs(
            f"11{'abcdef'[3 * index + k]}", f"enqueue, {durability}, {threads} thread"
            + ("s" if threads > 1 else ""), rates[str(threads)], "events/s", rates["raw"],
            f"{RAW_NAME[durability]} (1 thread)", target, note=note))
    # Latency: separate passes, so timing each call does not skew the rates.
    calls = ctx.scaled(150, 600)
    ours = threaded_latencies_us(16, calls)
    theirs = latencies_us(raw.one, ctx.scaled(1000, 5000))
    raw.close()
    for j, pct in enumerate((50, 99)):
        target = Target("ratio<", 2.0) if durability == "full" and pct == 99 else None
        figures.append(Figure(
            f"11{'ghij'[2 * index + j]}", f"enqueue latency p{pct}, {durability}, 16 threads",
            percentile(ours, pct), "us", percentile(theirs, pct),
            f"{RAW_NAME[durability]} p{pct} (1 thread)", target, runs=len(ours),
            note=f"{len(ours)} calls at 16 threads, {len(theirs)} raw" if j == 0 else ""))
    return figures


def run(ctx: BenchContext) -> list[Figure]:
    started = time.monotonic()
    figures = _durability(ctx, "normal", 0) + _durability(ctx, "full", 1) + _bounds(ctx)
    api.reset_for_tests(None)
    ctx.log(f"threads: {time.monotonic() - started:.1f}s")
    return sorted(figures, key=lambda f: f.key)
