"""Server-side RPC counters (the store's own counters are in sfeventlog.store.metrics).

Upstream's sf-database counts each operation in an unlabelled counter
``database_<operation>_total`` and every RPC in
``database_requests_total{operation, caller_daemon}`` (from the caller's
``caller-daemon`` metadata); dashboards built on upstream's names keep
working.  Outcomes are counted on top, in a counter of our own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from sfeventlog.metrics import labelled_counter
from sfeventlog.wire.caller import CALLER_DAEMON, UNKNOWN, metadata_value

#: How the database server answered a ``RecordEventBatch``.
RECORD_OUTCOMES = ("ok", "invalid", "store_rejected", "store_unavailable")
#: The legacy sf-eventlog ``EventService`` methods.
LEGACY_METHODS = ("RecordEvent", "RecordMultiEvent", "RecordMultiEventBatch")
#: The phase 3 and 4 RPCs (and our dry-run count), and how they end.
LIFECYCLE_METHODS = ("PruneEvents", "CountPrunableEvents", "GetObjectEvents",
                     "DeleteObjectEvents")
LIFECYCLE_OUTCOMES = ("ok", "invalid", "already_running", "store_unavailable")
#: sf-database's RPCs, and the same operations as upstream's counters name them.
RPC_NAMES = ("RecordEventBatch", *LIFECYCLE_METHODS)
OPERATION_NAMES = ("record_event_batch", "prune_events", "count_prunable_events",
                   "get_object_events", "delete_object_events")

#: Upstream's per-operation counters, ``database_<op>_total``, unlabelled.
OPERATIONS: dict[str, Counter] = {
    op: Counter(f"database_{op}", f"Number of {op} operations (upstream's name).")
    for op in OPERATION_NAMES
}
RECORD_EVENT_BATCH_OUTCOMES = labelled_counter(
    "database_record_event_batch_outcomes_total",
    "RecordEventBatch RPCs served by the database server, by outcome"
    " (ok, invalid, store_rejected, store_unavailable).",
    {"outcome": RECORD_OUTCOMES},
)
DATABASE_REQUESTS = labelled_counter(
    "database_requests_total",
    "sf-database gRPC requests, by operation and calling daemon (caller-daemon metadata).",
    {"operation": RPC_NAMES, "caller_daemon": None},
)
EVENTLOG_RPC_REQUESTS = labelled_counter(
    "eventlog_rpc_requests_total",
    "RPCs served by the legacy sf-eventlog reference server, by method.",
    {"method": LEGACY_METHODS},
)
LIFECYCLE_RPCS = labelled_counter(
    "database_lifecycle_rpcs_total",
    "PruneEvents, CountPrunableEvents, GetObjectEvents and DeleteObjectEvents RPCs served"
    " by the database server, by method and outcome (ok, invalid, already_running,"
    " store_unavailable).",
    {"method": LIFECYCLE_METHODS, "outcome": LIFECYCLE_OUTCOMES},
)
PRUNE_RUNS = labelled_counter(
    "database_prune_runs_total",
    "Prune attempts by trigger (rpc, schedule) and outcome (ok, failed, already_running,"
    " not_leader).",
    {"trigger": ("rpc", "schedule"),
     "outcome": ("ok", "failed", "already_running", "not_leader")},
)

#: Callers name themselves, so their label values are bounded: past this
#: many distinct names (or a name this long) a caller is counted as "other".
MAX_CALLERS = 100
MAX_CALLER_LENGTH = 64
_callers: set[str] = {UNKNOWN}
_callers_lock = threading.Lock()


def _caller_label(name: str) -> str:
    if name in _callers:
        return name
    if len(name) > MAX_CALLER_LENGTH:
        return "other"
    with _callers_lock:
        if len(_callers) >= MAX_CALLERS:
            return "other"
        _callers.add(name)
    return name


def count_request(operation: str, metadata: Sequence[tuple[str, Any]] | None) -> None:
    """Count one RPC as upstream does: by operation and calling daemon."""
    caller = _caller_label(metadata_value(metadata, CALLER_DAEMON))
    DATABASE_REQUESTS.labels(operation=operation, caller_daemon=caller).inc()
