"""Figure 10: enqueue and drain rates as the backlog grows, in one table."""

from __future__ import annotations

import time

from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.figures import Figure
from sfeventlog_bench.spoolwork import enqueuer, null_drain_rate, open_spool, trim
from sfeventlog_bench.workload import spool_rows


def _label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def run(ctx: BenchContext) -> list[Figure]:
    backlogs = [1_000, 10_000, 100_000] + ([] if ctx.quick else [1_000_000])
    rounds = ctx.scaled(3, 5)
    chunk = ctx.scaled(1000, 3000)
    enqueue: dict[int, list[float]] = {b: [] for b in backlogs}
    drain: dict[int, list[float]] = {b: [] for b in backlogs}
    spools = {b: open_spool(ctx.backlog_spool(b, f"growth-{b}.db")) for b in backlogs}
    for _ in range(rounds):
        # Interleaved over the backlogs; each spool is trimmed back after each step.
        for b, spool in spools.items():
            started = time.perf_counter()
            enqueuer(spool)(chunk)
            enqueue[b].append(chunk / (time.perf_counter() - started))
            trim(spool, b)
            drained = min(b, chunk)
            drain[b].append(null_drain_rate(spool, drained))
            spool.insert_raw(list(spool_rows(drained)))
    for spool in spools.values():
        spool.close()
    base = backlogs[0]
    figures = []
    note = "" if not ctx.quick else "quick mode: up to 100k (full mode: 1M)"
    for b in backlogs:
        figures.append(Figure.from_runs(f"10-{_label(b)}", f"enqueue at a {_label(b)} backlog",
                                        enqueue[b], "events/s", enqueue[base],
                                        f"at {_label(base)}", note=note))
        note = ""  # said once
    for b in backlogs:
        figures.append(Figure.from_runs(f"10-{_label(b)}d",
                                        f"drain (null transport) at {_label(b)}",
                                        drain[b], "events/s", drain[base], f"at {_label(base)}"))
    return figures

