"""EventRecord <-> ``EventBatchEntry`` (sf-database's RecordEventBatch).

Encoding follows upstream (empty string / 0 mean absent) plus the two
extensions documented in protos/database.proto: ``has_duration`` keeps a
real 0.0, and ``object_type_name`` carries object types outside the enum.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, from_json, to_json

from sfeventlog.records import EventRecord
from sfeventlog.wire import database_pb2
from sfeventlog.wire.objecttypes import NAME_BY_NUMBER, NUMBER_BY_NAME, UNSPECIFIED


class DecodeError(ValueError):
    """A request field cannot become an EventRecord; the message says which."""


class UnmappableObjectType(DecodeError):
    """An object's type is neither an ``ObjectType`` number we know nor named.

    Upstream's sf-database answers this case with a ``StatusReply``, not a
    gRPC error (see ``upstream_reply``), so it has its own class.
    """

    def __init__(self, message: str, event_uuid: str) -> None:
        super().__init__(message)
        self.event_uuid = event_uuid

    def upstream_reply(self) -> str:
        """Upstream's exact ``StatusReply.error`` for this event."""
        return f"Invalid object_type in event {self.event_uuid}"


# One encoder for every call: json.dumps with options builds a new one each time.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _extra_json(extra: dict[str, object]) -> str:
    """``extra`` as JSON text for the wire, the same value whoever parses it.

    pydantic-core's serialiser (several times faster than json's) writes
    NaN and infinities as json does; json writes what it refuses (lone
    surrogates).
    """
    try:
        return to_json(extra, inf_nan_mode="constants").decode()
    except PydanticSerializationError:
        return _dumps(extra)


def encode_record(record: EventRecord) -> database_pb2.EventBatchEntry:
    duration = record.duration
    entry = database_pb2.EventBatchEntry(
        event_uuid=record.event_uuid,
        event_type=record.event_type,
        timestamp=record.timestamp,
        fqdn=record.fqdn,
        message=record.message,
        extra_json="" if record.extra is None else _extra_json(record.extra),
        request_id=record.request_id or "",
        duration=0.0 if duration is None else duration,
        has_duration=duration is not None,
    )
    for object_type, object_uuid in record.objects:
        number = NUMBER_BY_NAME.get(object_type)
        if number is None:
            entry.objects.add(object_type=UNSPECIFIED, object_uuid=object_uuid,
                              object_type_name=object_type)
        else:
            entry.objects.add(object_type=number, object_uuid=object_uuid)  # type: ignore[arg-type]
    return entry


def encode_batch(records: Sequence[EventRecord]) -> database_pb2.RecordEventBatchRequest:
    return database_pb2.RecordEventBatchRequest(events=[encode_record(r) for r in records])


def _unknown_type(entry: database_pb2.EventBatchEntry, where: str) -> UnmappableObjectType:
    for i, obj in enumerate(entry.objects):
        if not obj.object_type_name and int(obj.object_type) not in NAME_BY_NUMBER:
            return UnmappableObjectType(
                f"{where}.objects[{i}].object_type: unknown ObjectType value"
                f" {int(obj.object_type)} (and no object_type_name)", entry.event_uuid)
    return UnmappableObjectType(f"{where}.objects: unknown object type", entry.event_uuid)


def _where(where: str | int) -> str:
    return f"events[{where}]" if isinstance(where, int) else where


def decode_entry(entry: database_pb2.EventBatchEntry, where: str | int) -> EventRecord:
    """Raise ``DecodeError`` naming the field (``UnmappableObjectType`` for a type).

    ``where`` prefixes messages; an int ``i`` means ``events[i]`` (formatted
    only on error: this is the server's hot path).
    """
    # Object types first, as upstream checks them before anything else.
    names = NAME_BY_NUMBER
    objects = [(obj.object_type_name or names.get(obj.object_type, ""), obj.object_uuid)
               for obj in entry.objects]
    for object_type, _ in objects:
        if not object_type:
            raise _unknown_type(entry, _where(where))
    if not entry.event_uuid:
        raise DecodeError(f"{_where(where)}.event_uuid: missing")
    extra = None
    if entry.extra_json:
        try:
            # pydantic-core's parser is several times faster than json's; what
            # it refuses (nesting past 200, lone surrogates) json decides,
            # so a request is accepted or refused as with json alone.
            try:
                extra = from_json(entry.extra_json)
            except ValueError:
                extra = json.loads(entry.extra_json)
        except (ValueError, RecursionError) as exc:  # too deeply nested: RecursionError
            raise DecodeError(f"{_where(where)}.extra_json: not valid JSON ({exc})") from None
        if not isinstance(extra, dict):
            raise DecodeError(f"{_where(where)}.extra_json: must be a JSON object")
    # Upstream peers never set has_duration: their 0 means "absent".
    duration = entry.duration if entry.has_duration else (entry.duration or None)
    try:
        # model_validate of a dict: the same validation as EventRecord(**fields),
        # without BaseModel.__init__'s keyword round.
        return EventRecord.model_validate({
            "event_uuid": entry.event_uuid, "event_type": entry.event_type,
            "timestamp": entry.timestamp, "fqdn": entry.fqdn, "message": entry.message,
            "duration": duration, "extra": extra, "request_id": entry.request_id or None,
            "objects": objects,
        })
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise DecodeError(f"{_where(where)}: {problems}") from None

