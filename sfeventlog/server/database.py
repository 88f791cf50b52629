"""The reference sf-database: ``DatabaseService.RecordEventBatch`` over an EventStore.

The store counts inserts and duplicates and refreshes the row gauge
(``sfeventlog.store.metrics``); this module counts RPCs, under upstream's
names (``database_record_event_batch_total``, ``database_requests_total``)
and by outcome.

Requests are parsed here (not by grpc), so garbage bytes, unknown enum
values and missing fields get INVALID_ARGUMENT with a message saying what
is wrong.  An object type that maps to no name is answered as upstream
does: ``success=false``, ``error="Invalid object_type in event <uuid>"``.
Store outcomes map to ``StatusReply``:

* stored (replays included: the store ignores an ``event_uuid`` it already
  has, without ``INSERT IGNORE``, see ``sfeventlog.store.mariadb``):
  ``success=true``;
* the store rejects the data (``PermanentError``): ``success=false``,
  ``failure=FAILURE_RECORDS`` and an error starting "invalid:" (clients
  dead-letter those records);
* the store is unavailable (``RetryableError`` or anything unexpected):
  ``success=false``, ``failure=FAILURE_STORE`` and an error starting "store
  unavailable:" (clients keep the batch and back off).

The server watches its store (``sfeventlog.server.storewatch``): gRPC health
is NOT_SERVING while the store does not answer, and an empty batch (the
clients' probe and ``transports --check``) then fails with
``FAILURE_STORE`` naming the store and the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc
from google.protobuf.message import DecodeError as ProtobufDecodeError

from sfeventlog.errors import PermanentError
from sfeventlog.records import EventRecord
from sfeventlog.server.lifecycle import LifecycleOptions, LifecycleService, PruneSchedule
from sfeventlog.server.limits import MAX_EVENTS_PER_REQUEST, limit_problems
from sfeventlog.server.metrics import (
    OPERATIONS,
    RECORD_EVENT_BATCH_OUTCOMES,
    RECORD_OUTCOMES,
    count_request,
)
from sfeventlog.server.runtime import RunningServer, ServerOptions, start_server
from sfeventlog.server.stores import PerThread
from sfeventlog.server.storewatch import StoreWatch, health_follows
from sfeventlog.store.base import EventStore
from sfeventlog.wire import database_pb2
from sfeventlog.wire.database_codec import DecodeError, UnmappableObjectType, decode_entry

LOG = logging.getLogger(__name__)

SERVICE = database_pb2.DESCRIPTOR.services_by_name["DatabaseService"].full_name

_OUTCOMES = {name: RECORD_EVENT_BATCH_OUTCOMES.labels(outcome=name)
             for name in RECORD_OUTCOMES}


class InvalidRequest(ValueError):
    """The request cannot be stored as sent; the message says why."""


def parse_request(data: bytes) -> list[EventRecord]:
    """Decode and validate a serialized ``RecordEventBatchRequest``.

    Raises ``InvalidRequest``, or ``UnmappableObjectType`` (answered with a
    ``StatusReply``, as upstream does).
    """
    try:
        request = database_pb2.RecordEventBatchRequest.FromString(data)
    except ProtobufDecodeError as exc:
        raise InvalidRequest(f"not a RecordEventBatchRequest: {exc}") from None
    if len(request.events) > MAX_EVENTS_PER_REQUEST:
        raise InvalidRequest(f"{len(request.events)} events in one request;"
                             f" the limit is {MAX_EVENTS_PER_REQUEST}")
    records: list[EventRecord] = []
    for i, entry in enumerate(request.events):
        try:
            record = decode_entry(entry, i)
        except UnmappableObjectType:
            raise
        except DecodeError as exc:
            raise InvalidRequest(str(exc)) from None
        problems = limit_problems(record)
        if problems:
            raise InvalidRequest(f"events[{i}]: " + "; ".join(problems))
        records.append(record)
    return records


class DatabaseService:
    """RecordEventBatch over per-thread stores made by ``store_factory``."""

    def __init__(self, store_factory: Callable[[], EventStore]) -> None:
        self._stores: PerThread[EventStore] = PerThread(store_factory, lambda s: s.close())
        # The watch pings over a store of its own, so it never waits on a worker's.
        self._watch_store = store_factory()
        self.watch = StoreWatch(self._watch_store.ping, self._watch_store.where)

    def record_event_batch(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        OPERATIONS["record_event_batch"].inc()
        count_request("RecordEventBatch", context.invocation_metadata())
        try:
            records = parse_request(data)
        except UnmappableObjectType as exc:
            _OUTCOMES["invalid"].inc()
            return database_pb2.StatusReply(success=False,
                                            error=exc.upstream_reply()).SerializeToString()
        except InvalidRequest as exc:
            _OUTCOMES["invalid"].inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        reply = self._store(records)
        return reply.SerializeToString()

    def _store(self, records: list[EventRecord]) -> database_pb2.StatusReply:
        if not records:
            # The probe: it must reach the store, so an outage fails it.
            reason = self.watch.current()
            if reason is not None:
                _OUTCOMES["store_unavailable"].inc()
                return database_pb2.StatusReply(success=False, error=f"store unavailable: {reason}",
                                                failure=database_pb2.FAILURE_STORE)
            _OUTCOMES["ok"].inc()
            return database_pb2.StatusReply(success=True)
        try:
            # parse_request applied record_problems: the store need not again.
            self._stores.get().write_batch(records, limits_checked=True)
        except PermanentError as exc:
            _OUTCOMES["store_rejected"].inc()
            return database_pb2.StatusReply(success=False, error=f"invalid: {exc}",
                                            failure=database_pb2.FAILURE_RECORDS)
        except Exception as exc:  # noqa: BLE001 - a store failure must not kill the RPC
            _OUTCOMES["store_unavailable"].inc()
            LOG.warning("store write failed (retryable): %s: %s", type(exc).__name__, exc)
            self.watch.note(exc)
            return database_pb2.StatusReply(
                success=False, error=f"store unavailable: {self.watch.describe(exc)}",
                failure=database_pb2.FAILURE_STORE)
        self.watch.note(None)
        _OUTCOMES["ok"].inc()
        return database_pb2.StatusReply(success=True)

    def register(self, server: grpc.Server) -> None:
        """Add the handler; requests arrive as bytes so we parse them ourselves."""
        handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
            self.record_event_batch,
            request_deserializer=None,
            response_serializer=None,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"RecordEventBatch": handler}),)
        )

    def close(self) -> None:
        self.watch.stop()
        self._watch_store.close()
        self._stores.close_all()


def start_database_server(options: ServerOptions,
                          store_factory: Callable[[], EventStore],
                          lifecycle: LifecycleOptions | None = None) -> RunningServer:
    """Migrate the store (idempotent), then serve RecordEventBatch and the
    phase 3/4 methods (``sfeventlog.server.lifecycle``) over it."""
    store = store_factory()
    try:
        store.migrate()
    finally:
        store.close()
    service = DatabaseService(store_factory)
    phases = LifecycleService(store_factory, lifecycle or LifecycleOptions())
    schedule = None
    if phases.options.prune_every is not None:
        schedule = PruneSchedule(phases, phases.options.prune_every)

    def register(server: grpc.Server) -> None:
        service.register(server)
        phases.register(server, SERVICE)

    def on_stop() -> None:
        if schedule is not None:
            schedule.stop()
        phases.close()
        service.close()

    running = start_server(options, [SERVICE], register, on_stop=on_stop,
                           ready=service.watch.not_ready)
    health_follows(service.watch, running.health, [SERVICE])
    if schedule is not None:
        schedule.start()
    return running
