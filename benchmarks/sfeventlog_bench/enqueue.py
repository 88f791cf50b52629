"""Figures 1-2: add_event into the spool, against raw SQLite and persist-queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog.payload import build_payload, encode
from sfeventlog.spool import Durability
from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.figures import Figure, Target, unavailable
from sfeventlog_bench.rawsqlite import INSERT, RawInsert
from sfeventlog_bench.timing import interleaved, latencies_us, median, percentile
from sfeventlog_bench.workload import EVENT, FQDN, event_payload


def add_events(n: int) -> None:
    """``n`` add_event calls with the typical event, as a daemon makes them."""
    add = api.add_event
    args = (EVENT["event_type"], EVENT["object_type"], EVENT["object_uuid"], EVENT["message"])
    extra = EVENT["extra"]
    dropped = 0
    for _ in range(n):
        if not add(*args, extra=extra):
            dropped += 1
    if dropped:
        raise RuntimeError(f"{dropped} of {n} events dropped during the benchmark")


def use_spool(ctx: BenchContext, durability: Durability) -> None:
    """Point add_event at a fresh spool in the run's temp dir (no drainer)."""
    api.reset_for_tests(Settings(
        eventlog_transport="null", eventlog_spool_dir=ctx.tmp / f"spool-{durability}",
        eventlog_spool_durability=durability, eventlog_spool_high_water_mark=10**9,
        node_name=FQDN,
    ))


def _persist_queue(path: Path, payload: bytes) -> Callable[[int], None] | str:
    try:
        from persistqueue import SQLiteAckQueue
    except ImportError:
        return "persist-queue is not installed (pip install 'sfeventlog[bench]')"
    queue = SQLiteAckQueue(str(path), auto_commit=True)

    def put(n: int) -> None:
        for _ in range(n):
            queue.put(payload)
    return put


def _build() -> bytes:
    """The payload of ``EVENT``, validated and serialised as add_event does."""
    return encode(build_payload(event_type=EVENT["event_type"],
                         objects=[(EVENT["object_type"], EVENT["object_uuid"])],
                         message=EVENT["message"], fqdn=FQDN, extra=EVENT["extra"]))


def _raw_cpu_sample(ctx: BenchContext, payload: bytes) -> Callable[[], None]:
    return RawInsert(ctx.tmp / "raw-cpu.db", payload).one


def _cpu_us(call: Callable[[], object], n: int) -> float:
    """Median CPU microseconds per call over 5 runs of ``n // 5`` calls."""
    runs = []
    for _ in range(5):
        started = time.thread_time()
        for _ in range(max(1, n // 5)):
            call()
        runs.append((time.thread_time() - started) / max(1, n // 5) * 1e6)
    return median(runs)


def run(ctx: BenchContext) -> list[Figure]:
    payload = event_payload()
    figures: list[Figure] = []
    rounds = ctx.scaled(5, 11)

    # 1: normal durability, one thread.
    use_spool(ctx, "normal")
    raw = RawInsert(ctx.tmp / "raw-normal.db", payload)
    chunk = ctx.scaled(2000, 5000)
    methods: dict[str, tuple[Callable[[int], None], int]] = {
        "add_event": (add_events, chunk), "raw": (raw.run, chunk)}
    # The same raw insert, but of a payload built per row as add_event must:
    # what any Python enqueue that validates and serialises reaches.
    built = RawInsert(ctx.tmp / "raw-built.db", payload)

    def raw_built(n: int) -> None:
        execute, now = built.conn.execute, time.time
        for _ in range(n):
            execute(INSERT, (_build(), now()))
    methods["raw+build"] = (raw_built, chunk)
    peer = _persist_queue(ctx.tmp / "persist-queue", payload)
    if not isinstance(peer, str):
        methods["persist-queue"] = (peer, max(100, chunk // 4))
    rates = interleaved(methods, rounds)
    ours = rates["add_event"]
    figures.append(Figure.from_runs("1a", "enqueue, normal durability, 1 thread", ours,
                                    "events/s", rates["raw"], "raw WAL insert",
                                    Target("ratio>=", 0.70)))
    figures.append(Figure.from_runs("1f", "enqueue vs raw insert of a payload built per row",
                                    ours, "events/s", rates["raw+build"], "raw insert + build",
                                    note="shows what bounds figure 1a"))
    built.close()
    if isinstance(peer, str):
        figures.append(unavailable("1b", "enqueue vs persist-queue", peer))
    else:
        figures.append(Figure.from_runs("1b", "enqueue vs persist-queue", ours, "events/s",
                                        rates["persist-queue"], "SQLiteAckQueue.put",
                                        Target("ratio>=", 4.0)))

    # Per-call latency: a separate pass, so timing each call does not skew the rates.
    calls = ctx.scaled(3000, 20000)
    ours_lat = latencies_us(lambda: add_events(1), calls)
    raw_lat = latencies_us(raw.one, calls)
    raw.close()
    for key, pct in (("1c", 50), ("1d", 99)):
        figures.append(Figure(key, f"enqueue latency p{pct}", percentile(ours_lat, pct), "us",
                              percentile(raw_lat, pct), f"raw insert p{pct}", runs=calls,
                              note=f"{calls} calls each"))

    # What bounds 1a: the CPU add_event spends on the payload (validation,
    # uuid7, JSON), against the CPU of the insert itself.
    figures.append(Figure("1e", "payload build+encode, CPU per event", _cpu_us(_build, calls),
                          "us", _cpu_us(_raw_cpu_sample(ctx, payload), calls),
                          "raw insert CPU", runs=calls, note="bounds figure 1a"))

    # 2: full durability (an fsync per event) against raw WAL + synchronous=FULL.
    use_spool(ctx, "full")
    raw = RawInsert(ctx.tmp / "raw-full.db", payload, synchronous="FULL")
    # Short chunks, many rounds: fsync latency drifts with the disk's other users.
    chunk, full_rounds = ctx.scaled(150, 300), ctx.scaled(9, 21)
    rates = interleaved({"add_event": (add_events, chunk), "raw": (raw.run, chunk)},
                        full_rounds)
    raw.close()
    figures.append(Figure.from_runs("2", "enqueue, full durability", rates["add_event"],
                                    "events/s", rates["raw"], "raw WAL+FULL insert",
                                    Target("ratio>=", 0.80)))
    api.reset_for_tests(None)
    return sorted(figures, key=lambda f: f.key)
