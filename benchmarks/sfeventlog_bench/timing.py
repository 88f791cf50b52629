"""Measuring: interleaved rounds, medians, per-call latency percentiles."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence


def rate(work: Callable[[int], None], n: int) -> float:
    """Calls per second of ``work(n)``, which performs ``n`` operations."""
    started = time.perf_counter()
    work(n)
    return n / (time.perf_counter() - started)


def interleaved(methods: Mapping[str, tuple[Callable[[int], None], int]], rounds: int,
                warmup: bool = True,
                between: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Run every method once per round, in turn; returns each one's rates.

    ``methods`` maps a name to ``(work, n)``; ``between`` runs untimed after
    each round (to trim a spool back, say).  Alternating round by round
    means a neighbour's burst of load or a slow checkpoint hits all methods
    alike, so ratios between medians stay meaningful on a busy machine.
    """
    if warmup:
        for work, n in methods.values():
            work(max(1, n // 10))
    rates: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, (work, n) in methods.items():
            rates[name].append(rate(work, n))
        if between is not None:
            between()
    return rates


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile of already sorted values (nearest rank)."""
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def latencies_us(call: Callable[[], object], n: int) -> list[float]:
    """Sorted per-call latencies in microseconds."""
    clock = time.perf_counter_ns
    out = []
    for _ in range(n):
        started = clock()
        call()
        out.append((clock() - started) / 1000)
    out.sort()
    return out
