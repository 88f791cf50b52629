"""Server-side RPC counters (the store's own counters are in sfeventlog.store.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

RECORD_EVENT_BATCH = Counter(
    "database_record_event_batch_total",
    "RecordEventBatch RPCs served by the database server, by outcome"
    " (ok, invalid, store_rejected, store_unavailable).",
    ["outcome"],
)
EVENTLOG_RPC_REQUESTS = Counter(
    "eventlog_rpc_requests_total",
    "RPCs served by the legacy sf-eventlog reference server, by method.",
    ["method"],
)
