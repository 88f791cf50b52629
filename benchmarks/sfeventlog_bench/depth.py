"""Figure 4: what a metrics scrape costs with a large backlog, against COUNT(*)."""

from __future__ import annotations

import sqlite3
import time

from prometheus_client import REGISTRY, generate_latest

from sfeventlog import api, metrics
from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.figures import Figure, Target
from sfeventlog_bench.spoolwork import open_spool


def _ms(call: object, times: int) -> list[float]:
    out = []
    for _ in range(times):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


def run(ctx: BenchContext) -> list[Figure]:
    rows = ctx.scaled(200_000, 1_000_000)
    spool = open_spool(ctx.backlog_spool(rows, "depth.db"))
    metrics.set_spool_provider(lambda: spool)
    try:
        # A whole scrape of this process's registry: depth, oldest age and
        # dead-letter depth are sampled from the spool at scrape time.
        scrapes = _ms(lambda: generate_latest(REGISTRY), 21)
    finally:
        metrics.set_spool_provider(api.current_spool)
    counter = sqlite3.connect(str(spool.path))
    counts = _ms(lambda: counter.execute("SELECT COUNT(*) FROM events").fetchone(),
                 ctx.scaled(3, 7))
    counter.close()
    spool.close()
    size = f"{rows // 1000}k" if rows < 1_000_000 else f"{rows // 1_000_000}M"
    note = "" if rows >= 1_000_000 else "quick mode: 200k rows (full mode: 1M)"
    return [Figure.from_runs("4", f"metrics scrape at a {size}-row backlog", scrapes, "ms",
                             counts, "SELECT COUNT(*)", Target("value<", 5.0), note=note)]
