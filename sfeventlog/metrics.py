"""Caller-side metrics, at module scope in prometheus_client's default registry.

Any process that imports sfeventlog exposes these on its existing metrics
endpoint; no registration step is needed.  Depth and age are sampled at
scrape time from whichever spool this process has open.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

LOG = logging.getLogger(__name__)


class _Sampled(Protocol):
    def count(self) -> int: ...
    def oldest_created_at(self) -> float | None: ...
    def deadletter_count(self) -> int: ...


#: The one list of every labelled counter's known label values, by metric.
#: Each known combination is exported at 0 from import, so ``increase()``
#: sees the first increment.  A label mapped to None takes values known only
#: at run time (a transport's name, an exception class); those series appear
#: on first use (a drainer creates its transport's when it is built).
KNOWN_LABELS: dict[str, dict[str, tuple[str, ...] | None]] = {}


def labelled_counter(
    name: str, documentation: str, labels: Mapping[str, Sequence[str] | None]
) -> Counter:
    """A counter with a child at 0 for every combination of known label values.

    ``labels`` maps each label name, in order, to its known values, or to
    None when they are known only at run time (then no child is made now).
    """
    spec = {k: None if v is None else tuple(v) for k, v in labels.items()}
    counter = Counter(name, documentation, list(spec))
    KNOWN_LABELS[name] = spec
    known = list(spec.values())
    if all(values is not None for values in known):
        for combination in itertools.product(*(v for v in known if v is not None)):
            counter.labels(*combination)
    return counter


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


SPOOL_DROPPED = labelled_counter(
    "eventlog_spool_dropped_total",
    "Events not spooled: the caller got False (reason: high_water_mark, disk_full, spool_error).",
    {"reason": ("high_water_mark", "disk_full", "spool_error")},
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
SPOOL_DEADLETTER = labelled_counter(
    "eventlog_spool_deadletter_total",
    "Rows moved to the spool's dead-letter table (reason: rejected, unparseable).",
    {"reason": ("rejected", "unparseable")},
)
SPOOL_DEADLETTER_DEPTH = Gauge(
    "eventlog_spool_deadletter_depth", "Rows in this process's dead-letter table."
)
SPOOL_DEADLETTER_DEPTH.set_function(lambda: _sample(lambda s: s.deadletter_count()))
SPOOL_CORRUPT = Counter(
    "eventlog_spool_corrupt_total",
    "Spool files found unreadable and moved aside.",
)
SPOOL_NAME_TAKEN = labelled_counter(
    "eventlog_spool_name_taken_total",
    "Spool file names skipped when opening this process's spool, because another process"
    " owns the file (reason locked) or something else is there (reason not_a_spool).",
    {"reason": ("locked", "not_a_spool")},
)
SPOOL_SALVAGE_LOST = labelled_counter(
    "eventlog_spool_salvage_lost_total",
    "Rows of damaged spool files that salvage could not read, estimated"
    " (reason: damaged_page, truncated).",
    {"reason": ("damaged_page", "truncated")},
)

#: Outcomes of one ``record_event_batch`` call; a drainer creates each
#: outcome's series for its transport when it is built.
DRAIN_OUTCOMES = ("ok", "retryable", "permanent", "error")
DRAIN_BATCHES = labelled_counter(
    "eventlog_drain_batches_total",
    "Batches the drainer handed to its transport, by outcome.",
    {"transport": None, "outcome": DRAIN_OUTCOMES},
)
DRAIN_EVENTS = labelled_counter(
    "eventlog_drain_events_total",
    "Events the transport confirmed as owned by the store.",
    {"transport": None},
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
DRAIN_ERRORS = labelled_counter(
    "eventlog_drain_unexpected_errors_total",
    "Unexpected exceptions caught in the drainer (treated as retryable).",
    {"error": None},
)
