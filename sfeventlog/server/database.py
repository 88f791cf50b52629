"""The reference sf-database: ``DatabaseService.RecordEventBatch`` over an EventStore.

The store counts inserts and duplicates and refreshes the row gauge
(``sfeventlog.store.metrics``); this module counts RPCs.

Requests are parsed here (not by grpc), so garbage bytes, unknown enum
values and missing fields get INVALID_ARGUMENT with a message saying what
is wrong.  Store outcomes map to ``StatusReply``:

* stored (including replays ignored by ``INSERT IGNORE``): ``success=true``;
* the store rejects the data (``PermanentError``): ``success=false`` with an
  error starting "invalid:" (clients treat it as permanent);
* the store is unavailable (``RetryableError`` or anything unexpected):
  ``success=false`` with an error starting "store unavailable:" (retryable).
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
from sfeventlog.server.metrics import RECORD_EVENT_BATCH
from sfeventlog.server.runtime import RunningServer, ServerOptions, start_server
from sfeventlog.server.stores import PerThread
from sfeventlog.store.base import EventStore
from sfeventlog.wire import database_pb2
from sfeventlog.wire.database_codec import DecodeError, decode_entry

LOG = logging.getLogger(__name__)

SERVICE = database_pb2.DESCRIPTOR.services_by_name["DatabaseService"].full_name

_OUTCOMES = {name: RECORD_EVENT_BATCH.labels(outcome=name)
             for name in ("ok", "invalid", "store_rejected", "store_unavailable")}


class InvalidRequest(ValueError):
    """The request cannot be stored as sent; the message says why."""


def parse_request(data: bytes) -> list[EventRecord]:
    """Decode and validate a serialized ``RecordEventBatchRequest``."""
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

    def record_event_batch(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            records = parse_request(data)
        except InvalidRequest as exc:
            _OUTCOMES["invalid"].inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        reply = self._store(records)
        return reply.SerializeToString()

    def _store(self, records: list[EventRecord]) -> database_pb2.StatusReply:
        if not records:
            _OUTCOMES["ok"].inc()
            return database_pb2.StatusReply(success=True)
        try:
            self._stores.get().write_batch(records)
        except PermanentError as exc:
            _OUTCOMES["store_rejected"].inc()
            return database_pb2.StatusReply(success=False, error=f"invalid: {exc}")
        except Exception as exc:  # noqa: BLE001 - a store failure must not kill the RPC
            _OUTCOMES["store_unavailable"].inc()
            LOG.warning("store write failed (retryable): %s: %s", type(exc).__name__, exc)
            return database_pb2.StatusReply(
                success=False, error=f"store unavailable: {type(exc).__name__}: {exc}")
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

    running = start_server(options, [SERVICE], register, on_stop=on_stop)
    if schedule is not None:
        schedule.start()
    return running
