"""Phase 4 messages (GetObjectEvents, DeleteObjectEvents) <-> Python values.

Object types travel as in the write path (``database_codec``): the enum
number for upstream's types, ``OBJECT_TYPE_UNSPECIFIED`` plus
``object_type_name`` for any other.  Rows follow the write side's "absent"
rules (0 duration, empty extra_json / request_id), plus the
``has_duration`` and ``objects`` extensions (protos/database.proto).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import ValidationError

from sfeventlog.errors import PermanentError
from sfeventlog.records import EventRecord
from sfeventlog.wire import database_pb2
from sfeventlog.wire.database_codec import DecodeError
from sfeventlog.wire.objecttypes import NAME_BY_NUMBER, NUMBER_BY_NAME, UNSPECIFIED

_dumps = json.JSONEncoder(separators=(",", ":")).encode


class _ObjectRef(Protocol):
    object_type: Any
    object_uuid: str
    object_type_name: str


def object_type_fields(object_type: str) -> dict[str, Any]:
    """The ``object_type`` / ``object_type_name`` fields naming ``object_type``."""
    number = NUMBER_BY_NAME.get(object_type)
    if number is None:
        return {"object_type": UNSPECIFIED, "object_type_name": object_type}
    return {"object_type": number}


def requested_object(request: _ObjectRef) -> tuple[str, str]:
    """(object_type, object_uuid) a read or delete request names; ``DecodeError`` if none."""
    name = request.object_type_name or NAME_BY_NUMBER.get(int(request.object_type), "")
    if not name:
        raise DecodeError(f"object_type: unknown ObjectType value {int(request.object_type)}"
                          " (and no object_type_name)")
    if not request.object_uuid:
        raise DecodeError("object_uuid: missing")
    return name, request.object_uuid


def encode_row(record: EventRecord) -> database_pb2.EventReadRowProto:
    row = database_pb2.EventReadRowProto(
        event_uuid=record.event_uuid, event_type=record.event_type,
        timestamp=record.timestamp, fqdn=record.fqdn, message=record.message,
        duration=record.duration or 0.0, has_duration=record.duration is not None,
        extra_json="" if record.extra is None else _dumps(record.extra),
        request_id=record.request_id or "",
    )
    for object_type, object_uuid in record.objects:
        row.objects.add(object_uuid=object_uuid, **object_type_fields(object_type))
    return row


def decode_row(row: database_pb2.EventReadRowProto, asked: tuple[str, str]) -> EventRecord:
    """A reply row as a record; an upstream server's row (no objects) is about ``asked``."""
    objects = [(o.object_type_name or NAME_BY_NUMBER.get(int(o.object_type), ""), o.object_uuid)
               for o in row.objects]
    if not objects or not all(t for t, _ in objects):
        objects = [asked]
    duration = row.duration if row.has_duration else (row.duration or None)
    try:
        extra = json.loads(row.extra_json) if row.extra_json else None
        return EventRecord(
            event_uuid=row.event_uuid, event_type=row.event_type, timestamp=row.timestamp,
            fqdn=row.fqdn, message=row.message, duration=duration,
            extra=extra if isinstance(extra, dict) or extra is None else {"extra": extra},
            request_id=row.request_id or None, objects=objects,
        )
    except (ValueError, ValidationError) as exc:  # a server sent what no store holds
        raise PermanentError(f"GetObjectEvents row {row.event_uuid!r} is unreadable: {exc}") from None
