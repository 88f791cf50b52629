"""The retention prune: upstream's three stages, in bounded batches.

* Stage A, per event type with a ``max_<type>_event_age`` key: delete the
  ``event_objects`` rows of events of that type older than the age.
* Stage B, the ``api-requests`` override: delete the ``event_objects`` rows
  of ``api-requests`` objects whose event is older than
  ``max_api_request_event_age``, whatever the event type.  (Upstream's plan
  writes ``'api-request'`` in its SQL, which matches no row; the stored
  object type is ``api-requests``.  Only the metric label is ``api-request``.)
* Stage C, the orphan sweep: delete ``events`` rows no ``event_objects`` row
  refers to any more.  So an event about N objects lives until all N
  references have gone.

Each statement deletes at most one batch (``PRUNE_BATCH`` selected rows) and
commits on its own (on MariaDB at READ COMMITTED, so it takes no gap locks;
a batch that loses a lock race anyway is retried), so writers and readers are never held up by one long
transaction; a stage loops until a batch comes back short.  Running it again
finds nothing more to do (idempotent), and a prune cut short is finished by
the next one.  Event types without a key are never pruned, and ``-1``
disables a type.

A batch is two statements: a plain read picks up to ``PRUNE_BATCH`` keys
after the previous batch's last key (keyset pagination, so a stage passes
each row once however many it keeps), then one ``DELETE`` by those keys.
(MariaDB allows no ``LIMIT`` in a multi-table ``DELETE`` nor in an ``IN``
subquery.)  The one-object delete picks its batch in a derived table
(``IN (SELECT .. FROM (SELECT .. LIMIT n) AS batch)``), which both MariaDB
and SQLite accept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sfeventlog.config import Settings
from sfeventlog.errors import RetryableError
from sfeventlog.store import metrics

if TYPE_CHECKING:
    from sfeventlog.store.base import EventStore

#: Rows one prune statement selects (upstream's batch size).
PRUNE_BATCH = 10_000
#: Event types with a ``max_<type>_event_age`` key, in the order stage A prunes them.
PRUNED_EVENT_TYPES = metrics.EVENT_TYPES
#: The stored object type of API requests, and stage B's metric label.
API_REQUESTS_OBJECT_TYPE = "api-requests"
API_REQUEST_LABEL = metrics.API_REQUEST_LABEL


@dataclass(frozen=True)
class RetentionPolicy:
    """Ages in seconds; -1 keeps forever.  Types missing from ``max_age`` are kept."""

    max_age: dict[str, int]
    api_request_max_age: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            max_age={t: int(getattr(settings, f"max_{t}_event_age")) for t in PRUNED_EVENT_TYPES},
            api_request_max_age=settings.max_api_request_event_age,
        )


@dataclass
class StageResult:
    """One stage (and, for A, one event type): rows deleted, or counted in a dry run."""

    stage: str  # "A", "B" or "C"
    label: str  # the event type, "api-request" or "orphans"
    cutoff: float | None  # delete what is older than this; None for C
    rows: int = 0
    disabled: bool = False


@dataclass
class PruneReport:
    """What one prune did (or, with ``dry_run``, would do)."""

    dry_run: bool
    now: float
    stages: list[StageResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_pruned(self) -> int:
        """Every row deleted, ``event_objects`` and ``events`` (upstream's ``rows_pruned``)."""
        return sum(s.rows for s in self.stages)

    @property
    def events_pruned(self) -> int:
        return sum(s.rows for s in self.stages if s.stage == "C")

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "now": self.now, "seconds": round(self.seconds, 3),
                "rows_pruned": self.rows_pruned, "events_pruned": self.events_pruned,
                "stages": [asdict(s) for s in self.stages]}


OnBatch = Callable[[StageResult], None]
T = TypeVar("T")


def _marks(m: str, n: int) -> str:
    return ", ".join([m] * n)


class _Stage:
    """One stage as keyset-paginated batches: pick up to ``n`` keys after the last
    batch's (a plain read, no locks), then delete by those keys.

    Paginating by key keeps a stage linear: rows the stage keeps (young
    api-requests references, events still referred to) or has already done
    (stripped events awaiting stage C) are passed once, not once per batch.
    """

    def __init__(self, pick: str, pick_args: list[Any], after: str,
                 delete: Callable[[int], tuple[str, list[Any]]], key_width: int) -> None:
        self.pick, self.pick_args, self.after = pick, pick_args, after
        self.delete, self.key_width = delete, key_width

    def run(self, store: EventStore, result: StageResult, batch_size: int,
            on_batch: OnBatch | None, count: Callable[[int], None]) -> None:
        m = store.placeholder
        last: tuple[Any, ...] | None = None
        while True:
            where = "" if last is None else f" AND {self.after}"
            sql = self.pick.format(after=where, limit=m)
            args = [*self.pick_args, *(self._after_args(last)), batch_size]
            keys = _retry(store._execute_select, sql, args)
            if keys:
                uuids = [str(k[-1]) for k in keys]
                statement, extra = self.delete(len(uuids))
                deleted = _retry(store._execute_delete, statement, [*extra, *uuids])
                if deleted:
                    result.rows += deleted
                    count(deleted)
                    if on_batch is not None:
                        on_batch(result)
                last = tuple(keys[-1])
            if len(keys) < batch_size:
                return

    def _after_args(self, last: tuple[Any, ...] | None) -> list[Any]:
        if last is None:
            return []
        if self.key_width == 2:  # (sort column, event_uuid)
            return [last[0], last[0], last[1]]
        return [last[0]]


def _stage_a(m: str, event_type: str, cutoff: float) -> _Stage:
    # idx_events_type_timestamp, in (timestamp, event_uuid) order.
    return _Stage(
        "SELECT e.timestamp, e.event_uuid FROM events e"
        f" WHERE e.event_type = {m} AND e.timestamp < {m}{{after}}"
        " ORDER BY e.timestamp, e.event_uuid LIMIT {limit}",
        [event_type, cutoff],
        f"(e.timestamp > {m} OR (e.timestamp = {m} AND e.event_uuid > {m}))",
        lambda n: (f"DELETE FROM event_objects WHERE event_uuid IN ({_marks(m, n)})", []),
        key_width=2)


def _stage_b(m: str, cutoff: float) -> _Stage:
    # The event_objects primary key prefix (object_type, object_uuid, event_uuid).
    return _Stage(
        "SELECT o.object_uuid, o.event_uuid FROM event_objects o JOIN events e"
        f" ON e.event_uuid = o.event_uuid WHERE o.object_type = {m} AND e.timestamp < {m}"
        "{after} ORDER BY o.object_uuid, o.event_uuid LIMIT {limit}",
        [API_REQUESTS_OBJECT_TYPE, cutoff],
        f"(o.object_uuid > {m} OR (o.object_uuid = {m} AND o.event_uuid > {m}))",
        lambda n: ((f"DELETE FROM event_objects WHERE object_type = {m}"
                   f" AND event_uuid IN ({_marks(m, n)})"), [API_REQUESTS_OBJECT_TYPE]),
        key_width=2)


def _stage_c(m: str) -> _Stage:
    # The events primary key.  The delete checks again that nothing refers to
    # the event, in case a replay re-added a reference since the pick.
    return _Stage(
        "SELECT e.event_uuid FROM events e LEFT JOIN event_objects o"
        " ON o.event_uuid = e.event_uuid WHERE o.event_uuid IS NULL{after}"
        " ORDER BY e.event_uuid LIMIT {limit}",
        [], f"e.event_uuid > {m}",
        lambda n: ((f"DELETE FROM events WHERE event_uuid IN ({_marks(m, n)}) AND NOT EXISTS"
                   " (SELECT 1 FROM event_objects o WHERE o.event_uuid = events.event_uuid)"),
                   []),
        key_width=1)


def delete_object_sql(m: str) -> str:
    """One batch of one object's ``event_objects`` rows (the hard-delete clean-up)."""
    return (f"DELETE FROM event_objects WHERE object_type = {m} AND object_uuid = {m}"
            " AND event_uuid IN (SELECT event_uuid FROM ("
            f" SELECT event_uuid FROM event_objects WHERE object_type = {m}"
            f" AND object_uuid = {m} LIMIT {m}) AS batch)")


#: A batch that loses a lock race (deadlock, lock wait timeout) is tried again.
_batch_retry = Retrying(retry=retry_if_exception_type(RetryableError),
                        stop=stop_after_attempt(5), wait=wait_exponential(0.1, max=2.0),
                        reraise=True)


def _retry(call: Callable[..., T], *args: Any) -> T:
    return _batch_retry(call, *args)


def _aged_predicate(m: str, cutoffs: dict[str, float]) -> tuple[str, list[Any]]:
    """``e`` matches some stage A cutoff; for dry-run counts."""
    if not cutoffs:
        return "0 = 1", []
    parts = [f"(e.event_type = {m} AND e.timestamp < {m})" for _ in cutoffs]
    args: list[Any] = [v for item in cutoffs.items() for v in item]
    return "(" + " OR ".join(parts) + ")", args


def _dry_run(store: EventStore, report: PruneReport, cutoffs: dict[str, float],
             api_cutoff: float | None) -> None:
    """Count exactly what a prune would delete, stage by stage, deleting nothing."""
    m = store.placeholder
    join = "FROM event_objects o JOIN events e ON e.event_uuid = o.event_uuid"
    for stage in report.stages:
        if stage.disabled:
            continue
        if stage.stage == "A":
            stage.rows = store._execute_count(
                f"SELECT COUNT(*) {join} WHERE e.event_type = {m} AND e.timestamp < {m}",
                [stage.label, stage.cutoff])
        elif stage.stage == "B":
            aged, args = _aged_predicate(m, cutoffs)
            stage.rows = store._execute_count(
                f"SELECT COUNT(*) {join} WHERE o.object_type = {m} AND e.timestamp < {m}"
                f" AND NOT {aged}", [API_REQUESTS_OBJECT_TYPE, stage.cutoff, *args])
        else:
            aged, args = _aged_predicate(m, cutoffs)
            survives = "1 = 1"
            extra: list[Any] = []
            if api_cutoff is not None:
                survives = f"NOT (o.object_type = {m} AND e.timestamp < {m})"
                extra = [API_REQUESTS_OBJECT_TYPE, api_cutoff]
            stage.rows = store._execute_count(
                f"SELECT COUNT(*) FROM events e WHERE {aged} OR NOT EXISTS ("
                " SELECT 1 FROM event_objects o WHERE o.event_uuid = e.event_uuid"
                f" AND {survives})", [*args, *extra])


def prune_exclusively(store: EventStore, policy: RetentionPolicy, *,
                      dry_run: bool = False, on_batch: OnBatch | None = None) -> PruneReport:
    """``store.prune`` under the store's prune-run lock, as the servers run it.

    A prune already running anywhere on the store (an RPC, a schedule,
    another CLI) raises ``RetryableError`` saying so, rather than a second
    prune deleting alongside it.  A dry run deletes nothing and takes no lock.
    """
    if dry_run:
        return store.prune(policy, dry_run=True, on_batch=on_batch)
    from sfeventlog.store.locks import PRUNE_RUN_LOCK

    lock = store.named_lock(PRUNE_RUN_LOCK)
    if not lock.try_acquire():
        raise RetryableError(f"{store.where}: a prune is already running; try again later")
    try:
        return store.prune(policy, on_batch=on_batch)
    finally:
        lock.release()


def prune_store(store: EventStore, policy: RetentionPolicy, *, now: float | None = None,
                dry_run: bool = False, on_batch: OnBatch | None = None,
                batch_size: int = PRUNE_BATCH) -> PruneReport:
    """Run the three stages against ``store``; see the module docstring.

    Counts each committed batch in ``database_events_pruned_total`` /
    ``database_orphan_events_pruned_total`` (not in a dry run).  Store
    errors propagate; what was committed before stays pruned.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    started = time.monotonic()
    now = time.time() if now is None else now
    report = PruneReport(dry_run=dry_run, now=now)
    cutoffs: dict[str, float] = {}
    for event_type, age in policy.max_age.items():
        disabled = age < 0
        cutoff = None if disabled else now - age
        if cutoff is not None:
            cutoffs[event_type] = cutoff
        report.stages.append(StageResult("A", event_type, cutoff, disabled=disabled))
    api_cutoff = None if policy.api_request_max_age < 0 else now - policy.api_request_max_age
    report.stages.append(StageResult("B", API_REQUEST_LABEL, api_cutoff,
                                     disabled=api_cutoff is None))
    report.stages.append(StageResult("C", "orphans", None))
    if dry_run:
        _dry_run(store, report, cutoffs, api_cutoff)
        report.seconds = time.monotonic() - started
        return report
    m = store.placeholder
    for stage in report.stages:
        if stage.disabled:
            continue
        if stage.stage == "A":
            assert stage.cutoff is not None
            counter = metrics.EVENTS_PRUNED.labels(stage.label)
            _stage_a(m, stage.label, stage.cutoff).run(store, stage, batch_size, on_batch,
                                                       counter.inc)
        elif stage.stage == "B":
            assert stage.cutoff is not None
            counter = metrics.EVENTS_PRUNED.labels(API_REQUEST_LABEL)
            _stage_b(m, stage.cutoff).run(store, stage, batch_size, on_batch, counter.inc)
        else:
            _stage_c(m).run(store, stage, batch_size, on_batch, metrics.ORPHAN_EVENTS_PRUNED.inc)
    report.seconds = time.monotonic() - started
    return report


def delete_object(store: EventStore, object_type: str, object_uuid: str,
                  batch_size: int = PRUNE_BATCH) -> int:
    """Delete one object's references in bounded batches; returns the rows deleted.

    The events themselves go in the next prune's stage C once nothing else
    refers to them (upstream's hard-delete semantics).
    """
    sql = delete_object_sql(store.placeholder)
    args = [object_type, object_uuid, object_type, object_uuid]
    total = 0
    while True:
        deleted = _retry(store._execute_delete, sql, [*args, batch_size])
        total += deleted
        if deleted < batch_size:
            return total
