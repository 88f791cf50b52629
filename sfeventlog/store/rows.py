"""Records to rows and back, shared by the MariaDB and SQLite stores."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from sfeventlog.errors import PermanentError
from sfeventlog.records import EventRecord
from sfeventlog.store.base import clamp_limit

#: Column order of ``events`` rows as written and read.
EVENT_COLUMNS = (
    "event_uuid", "event_type", "timestamp", "fqdn", "duration", "message", "extra", "request_id",
)
#: Column order of ``event_objects`` rows as written.
OBJECT_COLUMNS = ("object_type", "object_uuid", "event_uuid", "ordinal")

# Built once: json.dumps with options builds a new encoder per call.
# ensure_ascii=False keeps 4-byte characters as themselves (utf8mb4 columns);
# allow_nan=False because NaN is not JSON and MariaDB's JSON check rejects it.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

EventRow = tuple[str, str, float, str, float | None, str, str | None, str | None]
ObjectRow = tuple[str, str, str, int]


def object_events_query(mark: str, object_type: str, object_uuid: str, limit: int,
                        event_type: str | None) -> tuple[str, list[Any]]:
    """The newest-first read of one object's events, for a driver whose
    placeholder is ``mark`` (``%s`` for PyMySQL, ``?`` for sqlite3)."""
    columns = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
    sql = (f"SELECT {columns} FROM event_objects o JOIN events e"
           " ON e.event_uuid = o.event_uuid"
           f" WHERE o.object_type = {mark} AND o.object_uuid = {mark}")
    args: list[Any] = [object_type, object_uuid]
    if event_type is not None:
        sql += f" AND e.event_type = {mark}"
        args.append(event_type)
    sql += f" ORDER BY e.timestamp DESC, e.event_uuid DESC LIMIT {mark}"
    args.append(clamp_limit(limit))
    return sql, args


def encode_extra(record: EventRecord) -> str | None:
    """``extra`` as JSON text; None stays NULL so None and {} stay distinct."""
    if record.extra is None:
        return None
    # pydantic-core's serialiser is several times faster than json's and
    # writes the same JSON values; json decides what it cannot write (lone
    # surrogates) and anything that may hold a non-finite number (refused).
    try:
        text: bytes | None = to_json(record.extra, inf_nan_mode="constants")
    except PydanticSerializationError:
        text = None
    if text is not None and b"NaN" not in text and b"Infinity" not in text:
        return text.decode()
    try:
        return _JSON.encode(record.extra)
    except (TypeError, ValueError) as exc:
        raise PermanentError(
            f"event {record.event_uuid}: extra is not representable as JSON: {exc}"
        ) from exc


def event_row(record: EventRecord) -> EventRow:
    return (record.event_uuid, record.event_type, record.timestamp, record.fqdn,
            record.duration, record.message, encode_extra(record), record.request_id)


def object_rows(record: EventRecord) -> Iterable[ObjectRow]:
    for ordinal, (object_type, object_uuid) in enumerate(record.objects):
        yield (object_type, object_uuid, record.event_uuid, ordinal)


def dedupe(records: Sequence[EventRecord]) -> tuple[list[EventRecord], int]:
    """First copy of each ``event_uuid`` in the batch, and how many copies were dropped."""
    seen: set[str] = set()
    unique = []
    for record in records:
        if record.event_uuid not in seen:
            seen.add(record.event_uuid)
            unique.append(record)
    return unique, len(records) - len(unique)


def group_by_type(records: Sequence[EventRecord]) -> dict[str, list[EventRecord]]:
    """Records per event type, each in batch order.

    The stores insert one statement per event type so the statement's
    affected-row count says exactly how many of that type were new.
    """
    groups: dict[str, list[EventRecord]] = {}
    for record in records:
        groups.setdefault(record.event_type, []).append(record)
    return groups


def records_from_rows(rows: Sequence[Sequence[Any]],
                      objects: dict[str, list[tuple[str, str]]]) -> list[EventRecord]:
    """``events`` rows with their objects (by ``event_uuid``), as records.

    An event with no objects left is being pruned (a prune deletes the
    references first, each step its own transaction): it is skipped, as the
    reads that join through ``event_objects`` skip it.
    """
    return [record_from_row(r, objects[str(r[0])]) for r in rows if objects[str(r[0])]]


def record_from_row(row: Sequence[Any], objects: list[tuple[str, str]]) -> EventRecord:
    """An ``events`` row (``EVENT_COLUMNS`` order) plus its objects, as a record."""
    extra = row[6]
    if isinstance(extra, bytes):
        extra = extra.decode("utf-8")
    return EventRecord(
        event_uuid=row[0], event_type=row[1], timestamp=float(row[2]), fqdn=row[3],
        duration=None if row[4] is None else float(row[4]), message=row[5],
        extra=None if extra is None else json.loads(extra), request_id=row[7],
        objects=objects,
    )
