"""Caller-side metrics, at module scope in prometheus_client's default registry.

Any process that imports sfeventlog exposes these on its existing metrics
endpoint; no registration step is needed.  Depth and age are sampled at
scrape time from whichever spool this process has open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

LOG = logging.getLogger(__name__)


class _Sampled(Protocol):
    def count(self) -> int: ...
    def oldest_created_at(self) -> float | None: ...
    def deadletter_count(self) -> int: ...


def _no_spool() -> _Sampled | None:
    return None


_spool_provider: Callable[[], _Sampled | None] = _no_spool


def set_spool_provider(provider: Callable[[], _Sampled | None]) -> None:
    """Tell the scrape-time gauges where this process's spool is."""
    global _spool_provider
    _spool_provider = provider


def _sample(read: Callable[[_Sampled], float | None]) -> float:
    # A scrape must never fail because the spool is busy or gone.
    try:
        spool = _spool_provider()
        if spool is None:
            return 0.0
        value = read(spool)
        return 0.0 if value is None else float(value)
    except Exception:  # noqa: BLE001 - see comment above
        return 0.0


def _oldest_age(spool: _Sampled) -> float | None:
    created = spool.oldest_created_at()
    return None if created is None else max(0.0, time.time() - created)


SPOOL_DROPPED = Counter(
    "eventlog_spool_dropped_total",
    "Events not spooled: the caller got False (reason: high_water_mark, disk_full, spool_error).",
    ["reason"],
)
SPOOL_DEPTH = Gauge(
    "eventlog_spool_depth", "Rows waiting in this process's eventlog spool."
)
SPOOL_DEPTH.set_function(lambda: _sample(lambda s: s.count()))
SPOOL_OLDEST_AGE = Gauge(
    "eventlog_spool_oldest_event_age_seconds",
    "Age of the oldest row waiting in this process's spool; 0 when empty.",
)
SPOOL_OLDEST_AGE.set_function(lambda: _sample(_oldest_age))
SPOOL_DEADLETTER = Counter(
    "eventlog_spool_deadletter_total",
    "Rows moved to the spool's dead-letter table (reason: rejected, unparseable).",
    ["reason"],
)
SPOOL_DEADLETTER_DEPTH = Gauge(
    "eventlog_spool_deadletter_depth", "Rows in this process's dead-letter table."
)
SPOOL_DEADLETTER_DEPTH.set_function(lambda: _sample(lambda s: s.deadletter_count()))
SPOOL_CORRUPT = Counter(
    "eventlog_spool_corrupt_total",
    "Spool files found unreadable and moved aside.",
)
SPOOL_SALVAGE_LOST = Counter(
    "eventlog_spool_salvage_lost_total",
    "Rows of damaged spool files that salvage could not read, estimated"
    " (reason: damaged_page, truncated).",
    ["reason"],
)

DRAIN_BATCHES = Counter(
    "eventlog_drain_batches_total",
    "Batches the drainer handed to its transport, by outcome.",
    ["transport", "outcome"],
)
DRAIN_EVENTS = Counter(
    "eventlog_drain_events_total",
    "Events the transport confirmed as owned by the store.",
    ["transport"],
)
DRAIN_SEND_SECONDS = Histogram(
    "eventlog_drain_send_seconds",
    "Time spent in Transport.record_event_batch per call.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DRAIN_BACKOFF = Gauge(
    "eventlog_drain_backoff_seconds",
    "The drainer's current backoff delay; 0 when deliveries succeed.",
)
DRAIN_ERRORS = Counter(
    "eventlog_drain_unexpected_errors_total",
    "Unexpected exceptions caught in the drainer (treated as retryable).",
    ["error"],
)
