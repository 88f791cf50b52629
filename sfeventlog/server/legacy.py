"""The reference sf-eventlog: ``EventService`` storing into a ``LegacyStore``.

RecordEvent, RecordMultiEvent and RecordMultiEventBatch are served.  A
request that cannot be parsed or names no object gets INVALID_ARGUMENT with
a message; a store failure answers ``ack=false`` for the whole request, as
upstream does, with the reason in ``EventReply.error``.  Each call counts in
``eventlog_rpc_requests_total{method}``.

As the database server does, it watches its store
(``sfeventlog.server.storewatch``): health is NOT_SERVING while the store
does not answer, and an empty batch (the probe) then answers ``ack=false``.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import grpc
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from sfeventlog.server.legacy_store import LegacyRow, LegacyStore
from sfeventlog.server.limits import (
    MAX_EVENT_TYPE,
    MAX_EVENTS_PER_REQUEST,
    MAX_OBJECT_TYPE,
    MAX_OBJECT_UUID,
)
from sfeventlog.server.metrics import EVENTLOG_RPC_REQUESTS, LEGACY_METHODS
from sfeventlog.server.runtime import RunningServer, ServerOptions, start_server
from sfeventlog.server.storewatch import StoreWatch, health_follows
from sfeventlog.wire import event_pb2
from sfeventlog.wire.legacy_codec import split_extra

LOG = logging.getLogger(__name__)

SERVICE = event_pb2.DESCRIPTOR.services_by_name["EventService"].full_name

M = TypeVar("M", bound=Message)


class InvalidEvent(ValueError):
    """A request field cannot be stored; the message names it."""


class _Multi(Protocol):
    """The fields RecordEvent and RecordMultiEvent requests share after normalising."""

    event_type: str
    fqdn: str
    message: str
    extra: str
    timestamp: float
    event_uuid: str


def _duration(request: Message, legacy_field: str, legacy_present: bool) -> float | None:
    if request.HasField("precise_duration"):
        return float(request.precise_duration)  # type: ignore[attr-defined]
    value = float(getattr(request, legacy_field))
    # Upstream's non-optional float: 0 means "not given".
    return value if legacy_present or value else None


def _rows(request: _Multi, objects: list[tuple[str, str]], duration: float | None,
          method: str, where: str) -> list[LegacyRow]:
    if not objects:
        raise InvalidEvent(f"{where}: names no object")
    if not request.event_type:
        raise InvalidEvent(f"{where}.event_type: missing")
    if len(request.event_type) > MAX_EVENT_TYPE:
        raise InvalidEvent(f"{where}.event_type: longer than {MAX_EVENT_TYPE} characters")
    for i, (object_type, object_uuid) in enumerate(objects):
        if not object_type or not object_uuid:
            raise InvalidEvent(f"{where}.objects[{i}]: object_type and object_uuid are required")
        if len(object_type) > MAX_OBJECT_TYPE or len(object_uuid) > MAX_OBJECT_UUID:
            raise InvalidEvent(f"{where}.objects[{i}]: longer than the"
                               f" {MAX_OBJECT_TYPE}/{MAX_OBJECT_UUID} character limit")
    try:
        split_extra(request.extra)
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidEvent(f"{where}.extra: {exc}") from None
    if duration is not None and not math.isfinite(duration):
        raise InvalidEvent(f"{where}.duration: must be finite")
    if not math.isfinite(request.timestamp):
        raise InvalidEvent(f"{where}.timestamp: must be finite")
    now = time.time()
    # Upstream derives its own correlation id; ours is the sender's uuid.
    correlation = request.event_uuid or str(uuid.uuid4())
    return [
        LegacyRow(
            correlation_id=correlation, position=i, object_type=t, object_uuid=u,
            event_type=request.event_type, timestamp=request.timestamp or now,
            fqdn=request.fqdn, duration=duration, message=request.message,
            extra=request.extra, method=method, received_at=now,
        )
        for i, (t, u) in enumerate(objects)
    ]


def rows_from_multi(request: event_pb2.EventMultiRequest, method: str,
                    where: str) -> list[LegacyRow]:
    objects = [(o.object_type, o.object_uuid) for o in request.objects]
    duration = _duration(request, "duration", request.HasField("duration"))
    return _rows(request, objects, duration, method, where)


def rows_from_single(request: event_pb2.EventRequest) -> list[LegacyRow]:
    duration = _duration(request, "duration", False)
    if not request.timestamp and request.HasField("obsolete_timestamp"):
        request.timestamp = request.obsolete_timestamp
    return _rows(request, [(request.object_type, request.object_uuid)], duration,
                 "RecordEvent", "request")


class EventService:
    """The three EventService methods over one ``LegacyStore``."""

    def __init__(self, store: LegacyStore) -> None:
        self.store = store
        self.watch = StoreWatch(store.ping, f"legacy store {store.path}")
        self._counters = {m: EVENTLOG_RPC_REQUESTS.labels(method=m)
                          for m in LEGACY_METHODS}

    def _handle(self, method: str, message_type: type[M],
                to_rows: Callable[[M], list[LegacyRow]]
                ) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def behaviour(data: bytes, context: grpc.ServicerContext) -> bytes:
            self._counters[method].inc()
            try:
                request = message_type.FromString(data)
                rows = to_rows(request)
            except ProtobufDecodeError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"not a {message_type.DESCRIPTOR.name}: {exc}")
            except InvalidEvent as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            if not rows:
                # The probe (an empty batch): it must reach the store.
                reason = self.watch.current()
                if reason is not None:
                    return event_pb2.EventReply(
                        ack=False, error=f"store unavailable: {reason}").SerializeToString()
                return event_pb2.EventReply(ack=True).SerializeToString()
            try:
                self.store.insert(rows)
            except Exception as exc:  # noqa: BLE001 - upstream answers ack=false
                LOG.warning("legacy store write failed: %s: %s", type(exc).__name__, exc)
                self.watch.note(exc)
                return event_pb2.EventReply(
                    ack=False, error=f"store unavailable: {self.watch.describe(exc)}"
                ).SerializeToString()
            self.watch.note(None)
            return event_pb2.EventReply(ack=True).SerializeToString()

        return behaviour

    def register(self, server: grpc.Server) -> None:
        """Add the handlers; requests arrive as bytes so we parse them ourselves."""

        def batch_rows(request: event_pb2.EventMultiBatchRequest) -> list[LegacyRow]:
            if len(request.events) > MAX_EVENTS_PER_REQUEST:
                raise InvalidEvent(f"{len(request.events)} events in one request;"
                                   f" the limit is {MAX_EVENTS_PER_REQUEST}")
            rows: list[LegacyRow] = []
            for i, event in enumerate(request.events):
                rows.extend(rows_from_multi(event, "RecordMultiEventBatch", f"events[{i}]"))
            return rows

        handlers = {
            "RecordEvent": self._handle("RecordEvent", event_pb2.EventRequest, rows_from_single),
            "RecordMultiEvent": self._handle(
                "RecordMultiEvent", event_pb2.EventMultiRequest,
                lambda r: rows_from_multi(r, "RecordMultiEvent", "request")),
            "RecordMultiEventBatch": self._handle(
                "RecordMultiEventBatch", event_pb2.EventMultiBatchRequest, batch_rows),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
            name: grpc.unary_unary_rpc_method_handler(behaviour)
            for name, behaviour in handlers.items()
        }),))

    def close(self) -> None:
        self.watch.stop()
        self.store.close()


def start_legacy_server(options: ServerOptions, directory: Path) -> RunningServer:
    """Serve EventService over a ``LegacyStore`` in ``directory``."""
    service = EventService(LegacyStore(directory))
    running = start_server(options, [SERVICE], service.register, on_stop=service.close,
                           ready=service.watch.not_ready)
    health_follows(service.watch, running.health, [SERVICE])
    return running
