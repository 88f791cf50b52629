"""Server-side RPC counters (the store's own counters are in sfeventlog.store.metrics)."""

from __future__ import annotations

from sfeventlog.metrics import labelled_counter

#: How the database server answered a ``RecordEventBatch``.
RECORD_OUTCOMES = ("ok", "invalid", "store_rejected", "store_unavailable")
#: The legacy sf-eventlog ``EventService`` methods.
LEGACY_METHODS = ("RecordEvent", "RecordMultiEvent", "RecordMultiEventBatch")

RECORD_EVENT_BATCH = labelled_counter(
    "database_record_event_batch_total",
    "RecordEventBatch RPCs served by the database server, by outcome"
    " (ok, invalid, store_rejected, store_unavailable).",
    {"outcome": RECORD_OUTCOMES},
)
EVENTLOG_RPC_REQUESTS = labelled_counter(
    "eventlog_rpc_requests_total",
    "RPCs served by the legacy sf-eventlog reference server, by method.",
    {"method": LEGACY_METHODS},
)
