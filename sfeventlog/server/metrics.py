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
LIFECYCLE_RPCS = Counter(
    "database_lifecycle_rpcs_total",
    "PruneEvents, CountPrunableEvents, GetObjectEvents and DeleteObjectEvents RPCs served"
    " by the database server, by method and outcome (ok, invalid, already_running,"
    " store_unavailable).",
    ["method", "outcome"],
)
PRUNE_RUNS = Counter(
    "database_prune_runs_total",
    "Prune attempts by trigger (rpc, schedule) and outcome (ok, failed, already_running,"
    " not_leader).",
    ["trigger", "outcome"],
)
for _method in ("PruneEvents", "CountPrunableEvents", "GetObjectEvents", "DeleteObjectEvents"):
    LIFECYCLE_RPCS.labels(_method, "ok")
for _trigger in ("rpc", "schedule"):
    PRUNE_RUNS.labels(_trigger, "ok")
