"""EventRecord <-> legacy sf-eventlog ``EventMultiRequest``.

The legacy format has no request id or event uuid fields.  As upstream's
sf-eventlog expects, the request id travels inside the ``extra`` JSON string
under ``request-id``; the event uuid travels in the ``event_uuid`` extension
field (see protos/event.proto), which upstream ignores.  A round trip cannot
tell ``extra={}`` plus a request id from ``extra=None`` plus a request id:
both read back as ``extra=None``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sfeventlog.payload import LEGACY_REQUEST_ID_KEY
from sfeventlog.records import EventRecord
from sfeventlog.wire import event_pb2


def encode_extra(extra: dict[str, Any] | None, request_id: str | None) -> str:
    """The legacy ``extra`` string: the extra dict plus ``request-id``; "" if neither."""
    merged = dict(extra or {})
    if request_id:
        merged[LEGACY_REQUEST_ID_KEY] = request_id
    return json.dumps(merged, separators=(",", ":")) if merged else ""


def split_extra(extra: str) -> tuple[dict[str, Any] | None, str | None]:
    """Inverse of ``encode_extra``; raises ValueError if it is not a JSON object."""
    if not extra:
        return None, None
    value = json.loads(extra)
    if not isinstance(value, dict):
        raise ValueError("extra must be a JSON object")
    request_id = value.pop(LEGACY_REQUEST_ID_KEY, None)
    if request_id is not None and not isinstance(request_id, str):
        raise ValueError(f"extra[{LEGACY_REQUEST_ID_KEY!r}] must be a string")
    return (value or None), (request_id or None)


def encode_record(record: EventRecord) -> event_pb2.EventMultiRequest:
    request = event_pb2.EventMultiRequest(
        objects=[event_pb2.EventObject(object_type=t, object_uuid=u) for t, u in record.objects],
        event_type=record.event_type,
        fqdn=record.fqdn,
        message=record.message,
        extra=encode_extra(record.extra, record.request_id),
        timestamp=record.timestamp,
        event_uuid=record.event_uuid,
    )
    if record.duration is not None:
        request.duration = record.duration
        request.precise_duration = record.duration
    return request


def encode_batch(records: Sequence[EventRecord]) -> event_pb2.EventMultiBatchRequest:
    return event_pb2.EventMultiBatchRequest(events=[encode_record(r) for r in records])
