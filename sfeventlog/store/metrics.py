"""Store-side metrics, at module scope so every store user shares them.

The ``mariadb`` and ``sqlite`` transports and the sf-database gRPC server all
write through an ``EventStore``; the stores update these after each commit.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge

from sfeventlog.metrics import labelled_counter

#: The event types Shaken Fist emits; others are counted too, from first use.
EVENT_TYPES = ("audit", "mutate", "status", "usage", "resources", "prune", "health", "historic")
#: The bundled stores, as named in ``database_store_unexpected_errors_total``.
STORES = ("mariadb", "sqlite")

EVENTS_INSERTED = labelled_counter(
    "database_events_inserted_total",
    "Events newly stored, counted after the commit, by event type.",
    {"event_type": EVENT_TYPES},
)
EVENTS_DUPLICATES = Counter(
    "database_events_duplicates_total",
    "Events ignored because their event_uuid was already stored (replays).",
)
EVENTS_ROWS = Gauge(
    "database_events_rows",
    "Estimated rows in the events table (information_schema estimate, never COUNT(*)).",
)
STORE_UNEXPECTED_ERRORS = labelled_counter(
    "database_store_unexpected_errors_total",
    "Store errors missing from the classification table (treated as retryable).",
    {"store": STORES, "error": None},
)

#: Refresh the row estimate at most this often; it is an estimate anyway.
ROWS_REFRESH_SECONDS = 30.0


def publish_write(inserted_by_type: Mapping[str, int], duplicates: int) -> None:
    """Count one committed batch: one label lookup per event type, not per event."""
    for event_type, count in inserted_by_type.items():
        if count:
            EVENTS_INSERTED.labels(event_type).inc(count)
    if duplicates:
        EVENTS_DUPLICATES.inc(duplicates)

#: The metric label of the prune's stage B (the ``api-requests`` object type).
API_REQUEST_LABEL = "api-request"

EVENTS_PRUNED = labelled_counter(
    "database_events_pruned_total",
    "event_objects rows pruned, by event type; 'api-request' counts the api-requests"
    " object-type override (stage B).",
    {"event_type": (*EVENT_TYPES, API_REQUEST_LABEL)},
)
ORPHAN_EVENTS_PRUNED = Counter(
    "database_orphan_events_pruned_total",
    "events rows pruned because no event_objects row referred to them any more (stage C).",
)
