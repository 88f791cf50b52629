"""Figure 8: time from the end of a store outage to an empty spool.

Runs the outage drill (``sfeventlog_bench.outage``, also ``tools/outage-drill``)
in a child process: 1,000 events/s into a spool draining through the
``database`` transport while the server is SIGSTOPped, then SIGCONT.
"""

from __future__ import annotations

import re
import subprocess
import sys

from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.figures import Figure, Target, unavailable
from sfeventlog_bench.outage import RESUME_TO_EMPTY, RESUME_TO_FIRST
from sfeventlog_bench.timing import median

RATE = 1000


def _seconds(output: str, label: str) -> float | None:
    match = re.search(re.escape(label) + r" ([0-9.]+) s", output)
    return None if match is None else float(match.group(1))


def run(ctx: BenchContext) -> list[Figure]:
    outage = ctx.scaled(5, 30)
    runs = ctx.scaled(1, 3)
    totals: list[float] = []
    firsts: list[float] = []
    for n in range(runs):
        proc = subprocess.run(
            [sys.executable, "-m", "sfeventlog_bench.outage", "--outage", str(outage),
             "--rate", str(RATE), "--lead", str(ctx.scaled(2, 5))],
            capture_output=True, text=True, timeout=outage + 300,
        )
        total = _seconds(proc.stdout, RESUME_TO_EMPTY)
        if proc.returncode != 0 or total is None:
            tail = (proc.stdout + proc.stderr)[-400:].replace("\n", " ")
            return [unavailable("8", "recovery after an outage", f"drill failed: {tail}")]
        first = _seconds(proc.stdout, RESUME_TO_FIRST)
        totals.append(total)
        firsts.append(first if first is not None else 0.0)
        ctx.log(f"outage drill {n + 1}: resume -> first delivery {firsts[-1]:.2f} s,"
                f" -> depth 0 {total:.2f} s")
    drain_only = [t - f for t, f in zip(totals, firsts, strict=True)]
    note = f"{outage} s outage at {RATE}/s"
    if ctx.quick:
        note += " (quick mode; full: 30 s)"
    note += f"; resume -> first delivery (backoff wait) {median(firsts):.2f} s"
    return [Figure.from_runs("8", f"recovery: resume -> depth 0 after {outage} s outage",
                             totals, "s", drain_only, "drain alone", Target("value<", 5.0),
                             note=note)]
