"""Figure 3: enqueue cost with 100k rows waiting, ours and upstream's COUNT(*) check."""

from __future__ import annotations

from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.figures import Figure, Target
from sfeventlog_bench.rawsqlite import CountingEnqueue
from sfeventlog_bench.spoolwork import enqueuer, open_spool, trim
from sfeventlog_bench.timing import interleaved
from sfeventlog_bench.workload import event_payload

BACKLOG = 100_000


def run(ctx: BenchContext) -> list[Figure]:
    rounds = ctx.scaled(7, 11)
    empty = open_spool(ctx.tmp / "backlog-empty.db")
    full = open_spool(ctx.backlog_spool(BACKLOG, "backlog-100k.db"))
    chunk = ctx.scaled(1000, 3000)

    def trim_both() -> None:
        trim(empty, 0)
        trim(full, BACKLOG)

    rates = interleaved(
        {"empty": (enqueuer(empty), chunk), "100k": (enqueuer(full), chunk)}, rounds,
        between=trim_both)
    empty.close()
    full.close()
    figures = [Figure.from_runs("3a", f"enqueue at a {BACKLOG // 1000}k-row backlog",
                                rates["100k"], "events/s", rates["empty"], "empty spool",
                                Target("ratio>=", 0.90))]

    # Upstream's enqueue counts the table first; its cost grows with the backlog.
    payload = event_payload()
    count_empty = CountingEnqueue(ctx.tmp / "count-empty.db", payload, 10**9)
    count_full = CountingEnqueue(ctx.backlog_spool(BACKLOG, "count-100k.db"), payload, 10**9)
    small = ctx.scaled(30, 200)

    def reset() -> None:
        count_empty.conn.execute("DELETE FROM events")
        count_full.conn.execute(
            "DELETE FROM events WHERE id > (SELECT MAX(id) - ? FROM events)", (small,))

    rates = interleaved({"empty": (count_empty.run, small), "100k": (count_full.run, small)},
                        rounds, between=reset)
    count_empty.close()
    count_full.close()
    figures.append(Figure.from_runs("3b", "upstream COUNT(*) check enqueue at 100k",
                                    rates["100k"], "events/s", rates["empty"],
                                    "its empty-spool rate",
                                    note="why the spool keeps its count in memory"))
    return figures
