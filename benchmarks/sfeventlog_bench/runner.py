"""Runs the figure groups in order and reports: the table, or JSON."""

from __future__ import annotations

import importlib
import os
import platform
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.figures import Figure, render_json, render_table


@dataclass(frozen=True)
class Group:
    """A module of figures: ``sfeventlog_bench.<module>.run(ctx)``."""

    name: str
    figures: str
    needs_mariadb: bool = False

    def run(self, ctx: BenchContext) -> list[Figure]:
        module = importlib.import_module(f"sfeventlog_bench.{self.name}")
        run: Callable[[BenchContext], list[Figure]] = module.run
        return run(ctx)


#: Every group, in table order; ``--only`` takes these names.
GROUPS = [
    Group("enqueue", "1-2: add_event vs raw SQLite and persist-queue; latency"),
    Group("backlog", "3: enqueue at a 100k backlog, ours and upstream's COUNT(*)"),
    Group("depth", "4: metrics scrape at a 1M backlog vs COUNT(*)"),
    Group("drain", "5-6: drain to MariaDB direct and via gRPC; legacy, sqlite", True),
    Group("steps", "S1-S5: CPU per batch of each step on the database path"),
    Group("scale", "7: MariaDB insert rate at 1M rows, uuid7 vs uuid4", True),
    Group("recovery", "8: resume -> empty spool after a store outage"),
    Group("memory", "9: drainer peak RSS through a 1M backlog"),
    Group("growth", "10: enqueue and drain rates at 1k-1M backlogs"),
    Group("threads", "11: enqueue from 1, 4 and 16 threads (group commit); latency at 16"),
    Group("prune", "12: inserts during a prune of aged events; the prune rate", True),
]
GROUP_NAMES = [g.name for g in GROUPS]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
        "loadavg": os.getloadavg(),
    }


def run(*, quick: bool, only: Sequence[str] | None, tmpdir: str | None,
        log: Callable[[str], None] | None = None) -> tuple[list[Figure], dict[str, Any]]:
    """Run the selected groups; returns the figures and run metadata."""
    groups = [g for g in GROUPS if not only or g.name in only]
    meta: dict[str, Any] = {"mode": "quick" if quick else "full", "machine": machine(),
                            "groups": [g.name for g in groups]}
    figures: list[Figure] = []
    started = time.monotonic()
    with BenchContext(quick=quick, tmpdir=tmpdir, log=log) as ctx:
        for group in groups:
            ctx.log(f"{group.name}: figures {group.figures}")
            group_started = time.monotonic()
            figures.extend(group.run(ctx))
            ctx.log(f"{group.name}: {time.monotonic() - group_started:.0f}s")
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["loadavg_after"] = os.getloadavg()
    return figures, meta


def report(figures: Sequence[Figure], meta: dict[str, Any], *, as_json: bool) -> str:
    if as_json:
        return render_json(figures, meta)
    m = meta["machine"]
    lines = [
        (f"sfeventlog bench ({meta['mode']} mode, {meta['seconds']:.0f}s): {m['nproc']} CPUs"
         f" {m['cpu']}, Python {m['python']}, SQLite {m['sqlite']},"
         f" load average {m['loadavg'][0]:.1f} before / {meta['loadavg_after'][0]:.1f} after"),
        "",
        render_table(figures),
    ]
    notes = [f"  {f.key}: {f.note}" for f in figures if f.note and not f.unavailable]
    if notes:
        lines += ["", "notes:", *notes]
    counts = {s: sum(1 for f in figures if f.status == s) for s in ("PASS", "MISS", "UNAVAILABLE")}
    lines += ["", "targets: " + ", ".join(f"{n} {s}" for s, n in counts.items())
              + "; values and references are medians (--json lists the runs)"]
    return "\n".join(lines)
