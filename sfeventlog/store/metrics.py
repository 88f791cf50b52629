"""Store-side metrics, at module scope so every store user shares them.

The ``mariadb`` and ``sqlite`` transports and the sf-database gRPC server all
write through an ``EventStore``; the stores update these after each commit.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from sfeventlog.store.base import WriteResult

EVENTS_INSERTED = Counter(
    "database_events_inserted_total",
    "Events newly stored, counted after the commit, by event type.",
    ["event_type"],
)
EVENTS_DUPLICATES = Counter(
    "database_events_duplicates_total",
    "Events ignored because their event_uuid was already stored (replays).",
)
EVENTS_ROWS = Gauge(
    "database_events_rows",
    "Estimated rows in the events table (information_schema estimate, never COUNT(*)).",
)
STORE_UNEXPECTED_ERRORS = Counter(
    "database_store_unexpected_errors_total",
    "Store errors missing from the classification table (treated as retryable).",
    ["store", "error"],
)

#: Refresh the row estimate at most this often; it is an estimate anyway.
ROWS_REFRESH_SECONDS = 30.0


def publish_write(result: WriteResult) -> None:
    """Count one committed batch: one label lookup per event type, not per event."""
    for event_type, count in result.inserted_by_type.items():
        if count:
            EVENTS_INSERTED.labels(event_type).inc(count)
    if result.duplicates:
        EVENTS_DUPLICATES.inc(result.duplicates)

EVENTS_PRUNED = Counter(
    "database_events_pruned_total",
    "event_objects rows pruned, by event type; 'api-request' counts the api-requests"
    " object-type override (stage B).",
    ["event_type"],
)
ORPHAN_EVENTS_PRUNED = Counter(
    "database_orphan_events_pruned_total",
    "events rows pruned because no event_objects row referred to them any more (stage C).",
)


def init_prune_labels(event_types: list[str]) -> None:
    """Show every known label at 0 before the first prune (absent series break rate())."""
    for event_type in event_types:
        EVENTS_PRUNED.labels(event_type)
