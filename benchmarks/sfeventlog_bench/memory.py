"""Figure 9: peak RSS of a drainer working through a large backlog.

A child process opens a spool holding ``rows`` events, drains it with the
``null`` transport (so only sfeventlog's own memory is measured, not a
store client's) and reports its RSS before, during and after.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.figures import Figure, Target, unavailable


def _rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(path: str) -> None:
    """In the child: drain ``path`` and print RSS figures as JSON."""
    from sfeventlog.config import Settings
    from sfeventlog.drainer import Drainer
    from sfeventlog.loader import load_transport
    from sfeventlog.spool import Spool

    spool = Spool(Path(path), high_water_mark=10**9, lock=False)
    transport = load_transport(Settings(eventlog_transport="null"))
    drainer = Drainer(spool, transport, "null")
    before = _rss_mb()
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            samples.append(_rss_mb())
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    total = spool.count()
    while drainer.drain_once():
        pass
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    print(json.dumps({"rows": total, "before": before, "peak": _rss_mb("VmHWM"),
                      "after": _rss_mb(), "samples": samples, "seconds": elapsed}))


def run(ctx: BenchContext) -> list[Figure]:
    rows = ctx.scaled(100_000, 1_000_000)
    path = ctx.backlog_spool(rows, "memory.db")
    proc = subprocess.run([sys.executable, "-m", "sfeventlog_bench.memory", str(path)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return [unavailable("9", "drainer peak RSS", proc.stderr[-300:])]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    samples = result["samples"] or [result["after"]]
    tenth = max(1, len(samples) // 10)
    early, late = max(samples[:tenth]), max(samples[-tenth:])
    size = f"{rows // 1000}k" if rows < 1_000_000 else f"{rows // 1_000_000}M"
    note = (f"RSS {result['before']:.0f} MB before, {early:.0f} MB in the first tenth,"
            f" {late:.0f} MB in the last tenth of {result['seconds']:.0f} s"
            f" ({result['rows'] / result['seconds']:,.0f} events/s, null transport)")
    if ctx.quick:
        note += "; quick mode: 100k rows (full: 1M)"
    return [Figure("9", f"drainer peak RSS, {size}-row backlog", result["peak"], "MB",
                   result["before"], "RSS before draining", Target("value<", 100.0), runs=1,
                   note=note)]


if __name__ == "__main__":
    child(sys.argv[1])
