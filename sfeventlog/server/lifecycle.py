"""The reference sf-database's phase 3 and 4 methods, and the prune schedule.

``PruneEvents``, ``CountPrunableEvents``, ``GetObjectEvents`` and
``DeleteObjectEvents`` on ``DatabaseService``, registered beside
``RecordEventBatch`` (``sfeventlog.server.database``).

* A prune holds the store's ``PRUNE_RUN_LOCK``: a second ``PruneEvents``
  while one runs, on this server or on another sharing the store, answers
  ``success=false`` with "a prune is already running" instead of starting
  again.
* ``--prune-every`` (``PruneSchedule``): every server with it tries the
  store's ``PRUNE_SCHEDULE_LOCK`` on each tick and keeps it while alive;
  only its holder prunes, so exactly one of the servers sharing a MariaDB
  runs the schedule, and another takes over when it dies.
* Reads and deletes: a request naming no object gets INVALID_ARGUMENT; a
  store that cannot answer a read gets UNAVAILABLE (clients retry or fail
  over), a failed delete ``success=false`` with "store unavailable: ...".
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from sfeventlog.config import Settings
from sfeventlog.server.metrics import LIFECYCLE_RPCS, OPERATIONS, PRUNE_RUNS, count_request
from sfeventlog.server.stores import PerThread
from sfeventlog.store.base import EventStore
from sfeventlog.store.locks import PRUNE_RUN_LOCK, PRUNE_SCHEDULE_LOCK, NamedLock
from sfeventlog.store.prune import PruneReport, RetentionPolicy
from sfeventlog.wire import database_pb2
from sfeventlog.wire.database_codec import DecodeError
from sfeventlog.wire.read_codec import encode_row, requested_object

LOG = logging.getLogger(__name__)

ALREADY_RUNNING = "a prune is already running"


@dataclass(frozen=True)
class LifecycleOptions:
    """Retention ages (default: from the environment) and the optional schedule."""

    policy: RetentionPolicy = field(
        default_factory=lambda: RetentionPolicy.from_settings(Settings()))
    prune_every: float | None = None


def _reply(report: PruneReport) -> database_pb2.PruneEventsReply:
    reply = database_pb2.PruneEventsReply(success=True, rows_pruned=report.rows_pruned)
    for s in report.stages:
        reply.stages.add(stage=s.stage, label=s.label, rows=s.rows, disabled=s.disabled)
    return reply


class LifecycleService:
    """The phase 3/4 handlers over stores made by ``store_factory``."""

    def __init__(self, store_factory: Callable[[], EventStore], options: LifecycleOptions) -> None:
        self._factory = store_factory
        self.options = options
        self._stores: PerThread[EventStore] = PerThread(store_factory, lambda s: s.close())
        self._local_run = threading.Lock()

    # -- prune -------------------------------------------------------------

    def run_prune(self, trigger: str) -> PruneReport | None:
        """One prune under the run lock; None if one is already running anywhere."""
        if not self._local_run.acquire(blocking=False):
            PRUNE_RUNS.labels(trigger, "already_running").inc()
            return None
        store = self._factory()
        lock: NamedLock | None = None
        try:
            lock = store.named_lock(PRUNE_RUN_LOCK)
            if not lock.try_acquire():
                PRUNE_RUNS.labels(trigger, "already_running").inc()
                return None
            report = store.prune(self.options.policy)
            LOG.info("prune (%s): %d rows pruned, %d events, in %.1fs", trigger,
                     report.rows_pruned, report.events_pruned, report.seconds)
            PRUNE_RUNS.labels(trigger, "ok").inc()
            return report
        except Exception:
            PRUNE_RUNS.labels(trigger, "failed").inc()
            raise
        finally:
            if lock is not None:
                lock.release()
            store.close()
            self._local_run.release()

    def prune_events(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        self._parse(database_pb2.PruneEventsRequest, data, context, "PruneEvents")
        try:
            report = self.run_prune("rpc")
        except Exception as exc:  # noqa: BLE001 - the reply says what failed
            LIFECYCLE_RPCS.labels("PruneEvents", "store_unavailable").inc()
            return database_pb2.PruneEventsReply(
                success=False, error=f"store unavailable: {type(exc).__name__}: {exc}",
            ).SerializeToString()
        if report is None:
            LIFECYCLE_RPCS.labels("PruneEvents", "already_running").inc()
            return database_pb2.PruneEventsReply(
                success=False, error=ALREADY_RUNNING).SerializeToString()
        LIFECYCLE_RPCS.labels("PruneEvents", "ok").inc()
        return _reply(report).SerializeToString()

    def count_prunable(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        self._parse(database_pb2.PruneEventsRequest, data, context, "CountPrunableEvents")
        try:
            report = self._stores.get().prune(self.options.policy, dry_run=True)
        except Exception as exc:  # noqa: BLE001
            LIFECYCLE_RPCS.labels("CountPrunableEvents", "store_unavailable").inc()
            return database_pb2.PruneEventsReply(
                success=False, error=f"store unavailable: {type(exc).__name__}: {exc}",
            ).SerializeToString()
        LIFECYCLE_RPCS.labels("CountPrunableEvents", "ok").inc()
        return _reply(report).SerializeToString()

    # -- reads and deletes -------------------------------------------------

    def _parse(self, message_type: type[Message], data: bytes, context: grpc.ServicerContext,
               method: str) -> Message:
        try:
            return message_type.FromString(data)
        except ProtobufDecodeError as exc:
            LIFECYCLE_RPCS.labels(method, "invalid").inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"not a {message_type.DESCRIPTOR.name}: {exc}")
        raise AssertionError("unreachable")  # abort raises

    def _object(self, request: Message, context: grpc.ServicerContext,
                method: str) -> tuple[str, str]:
        try:
            return requested_object(request)  # type: ignore[arg-type]
        except DecodeError as exc:
            LIFECYCLE_RPCS.labels(method, "invalid").inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise AssertionError("unreachable")

    def get_object_events(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        method = "GetObjectEvents"
        request = self._parse(database_pb2.GetObjectEventsRequest, data, context, method)
        assert isinstance(request, database_pb2.GetObjectEventsRequest)
        object_type, object_uuid = self._object(request, context, method)
        try:
            records = self._stores.get().get_object_events(
                object_type, object_uuid, limit=request.limit,
                event_type=request.event_type_filter or None)
        except Exception as exc:  # noqa: BLE001 - the client retries elsewhere
            LIFECYCLE_RPCS.labels(method, "store_unavailable").inc()
            LOG.warning("GetObjectEvents failed: %s: %s", type(exc).__name__, exc)
            context.abort(grpc.StatusCode.UNAVAILABLE,
                          f"store unavailable: {type(exc).__name__}: {exc}")
        LIFECYCLE_RPCS.labels(method, "ok").inc()
        reply = database_pb2.GetObjectEventsReply(events=[encode_row(r) for r in records])
        return reply.SerializeToString()

    def delete_object_events(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        method = "DeleteObjectEvents"
        request = self._parse(database_pb2.DeleteObjectEventsRequest, data, context, method)
        object_type, object_uuid = self._object(request, context, method)
        try:
            deleted = self._stores.get().delete_object_events(object_type, object_uuid)
        except Exception as exc:  # noqa: BLE001 - the reply says what failed
            LIFECYCLE_RPCS.labels(method, "store_unavailable").inc()
            return database_pb2.StatusReply(
                success=False, error=f"store unavailable: {type(exc).__name__}: {exc}",
            ).SerializeToString()
        LOG.info("deleted %d references of %s %s", deleted, object_type, object_uuid)
        LIFECYCLE_RPCS.labels(method, "ok").inc()
        return database_pb2.StatusReply(success=True).SerializeToString()

    def register(self, server: grpc.Server, service_name: str) -> None:
        """Add the handlers beside RecordEventBatch (same service, own generic handler)."""
        methods = {
            "PruneEvents": self.prune_events,
            "CountPrunableEvents": self.count_prunable,
            "GetObjectEvents": self.get_object_events,
            "DeleteObjectEvents": self.delete_object_events,
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service_name, {
            name: grpc.unary_unary_rpc_method_handler(_counted(name, behaviour))
            for name, behaviour in methods.items()
        }),))

    def close(self) -> None:
        self._stores.close_all()


def _counted(method: str, behaviour: Callable[[bytes, grpc.ServicerContext], bytes],
             ) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    """Count each call as upstream does: its unlabelled per-operation counter
    and ``database_requests_total{operation, caller_daemon}``."""
    operation = OPERATIONS[_snake(method)]

    def handler(data: bytes, context: grpc.ServicerContext) -> bytes:
        operation.inc()
        count_request(method, context.invocation_metadata())
        return behaviour(data, context)

    return handler


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


#: The longest --prune-every (a year); longer would overflow the timed wait.
MAX_PRUNE_INTERVAL = 365 * 86_400.0


def valid_interval(seconds: float) -> bool:
    """A usable --prune-every: finite, above 0, at most ``MAX_PRUNE_INTERVAL``
    (nan would spin the schedule, inf would kill its thread)."""
    return math.isfinite(seconds) and 0 < seconds <= MAX_PRUNE_INTERVAL


class PruneSchedule:
    """Runs ``service.run_prune`` every ``interval`` seconds while this server leads."""

    def __init__(self, service: LifecycleService, interval: float) -> None:
        if not valid_interval(interval):
            raise ValueError(f"--prune-every must be a number of seconds between 0 and"
                             f" {MAX_PRUNE_INTERVAL:.0f}, got {interval}")
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sfeventlog-prune", daemon=True)
        self._store: EventStore | None = None
        self._lead: NamedLock | None = None

    def start(self) -> None:
        self._thread.start()

    def _leading(self) -> bool:
        try:
            if self._lead is None:
                self._store = self.service._factory()
                self._lead = self._store.named_lock(PRUNE_SCHEDULE_LOCK)
            return self._lead.try_acquire()
        except Exception as exc:  # noqa: BLE001 - try again next tick
            LOG.warning("prune schedule: cannot check the schedule lock: %s", exc)
            return False

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self._leading():
                PRUNE_RUNS.labels("schedule", "not_leader").inc()
                continue
            try:
                self.service.run_prune("schedule")
            except Exception as exc:  # noqa: BLE001 - the schedule survives a failed prune
                LOG.warning("scheduled prune failed: %s: %s", type(exc).__name__, exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self._lead is not None:
            self._lead.release()
        if self._store is not None:
            self._store.close()
