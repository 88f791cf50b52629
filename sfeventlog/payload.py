"""The spool payload: built from caller arguments, parsed back by the drainer.

The format is upstream's "phase 2" payload: ``event_uuid`` and
``request_id`` are top-level keys and ``extra`` is a JSON *string* without
``request-id``.  The parser also reads the older shapes (no ``event_uuid``,
request id inside ``extra``, objects as dicts).
"""

from __future__ import annotations

import enum
import json
import json.encoder
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Required

from pydantic import Json, TypeAdapter

# typing.TypedDict is not readable by pydantic before Python 3.12.
from typing_extensions import TypedDict

from sfeventlog.ids import uuid7
from sfeventlog.limits import LIMITS, objects_problem
from sfeventlog.records import EventRecord

LEGACY_REQUEST_ID_KEY = "request-id"



def _json_default(value: object) -> object:
    """What upstream's encoder writes for the non-JSON values its callers put
    in ``extra``: a ``uuid.UUID`` as its text, an enum member by name (a str-
    or int-valued one never gets here: JSON writes its value)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.name
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Reused: json.dumps() with non-default options builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_json_default)

# The C encoder behind _ENCODER, built once (JSONEncoder.encode builds one
# per call).  Without markers a cycle would raise RecursionError, but
# _check_json_keys has already refused anything nested deeper than the store
# keeps, cycles included.  None where the C speedups are absent.
_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER = None if _make_c_encoder is None else _make_c_encoder(
    None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",",
    False, False, False)
_STR = json.encoder.encode_basestring_ascii  # what _ENCODER writes for a str
_PHASE2_KEYS = ("event_uuid", "event_type", "fqdn", "duration", "message", "extra",
                "request_id", "timestamp", "objects")

# Looked up once: the hot path runs per event.
_EVENT_TYPE_LIMIT = LIMITS.event_type
_OBJECT_TYPE_LIMIT = LIMITS.object_type
_OBJECT_UUID_LIMIT = LIMITS.object_uuid
_REQUEST_ID_LIMIT = LIMITS.request_id
_MESSAGE_LIMIT = LIMITS.message_bytes
_EXTRA_DEPTH_LIMIT = LIMITS.extra_depth
_EXTRA_BYTES_LIMIT = LIMITS.extra_bytes
# JSON scalars whose encoding needs no check beyond the encoder's own.
_PLAIN_SCALARS = (int, float, bool, type(None))


def _check_text(name: str, value: str) -> None:
    # Lone surrogates cannot be stored as UTF-8 anywhere downstream.
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{name} is not valid Unicode (lone surrogate)") from None


def identifier_text(value: object) -> str:
    """An object type or uuid as the text the stores key on (``_as_str``),
    for readers that must find what ``add_event`` wrote."""
    return str(_as_str(value))


def _as_str(value: object) -> object:
    """Upstream's identifier types as the str they stand for; others unchanged.

    A ``uuid.UUID`` is its canonical text; a str-valued enum member (upstream's
    ``ObjectType``, any ``StrEnum``) is its value, whatever its ``__str__``;
    a str subclass is its plain text.
    """
    if isinstance(value, enum.Enum):
        inner = value.value
        return str.__str__(inner) if isinstance(inner, str) else value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        return str.__str__(value)
    return value


def _check_str(name: str, value: object, *, allow_empty: bool = False,
               limit: int | None = None) -> str:
    value = _as_str(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {type(value).__name__}")
    if not allow_empty and not value:
        raise ValueError(f"{name} must be a non-empty string")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{name} is {len(value)} characters; the store allows {limit}")
    _check_text(name, value)
    return value


def _check_message(value: object) -> str:
    message = _check_str("message", value, allow_empty=True)
    limit = _MESSAGE_LIMIT
    # A str of at most limit // 4 characters cannot exceed limit bytes.
    if len(message) > limit // 4 and len(message.encode("utf-8")) > limit:
        raise ValueError(f"message is over {limit} bytes of UTF-8; the store allows {limit}")
    return message


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _check_objects(objects: object) -> list[list[str]]:
    # isinstance() against the collections ABCs costs more than the whole
    # fast path below, so plain lists and tuples skip it.
    if type(objects) is not list and type(objects) is not tuple and (
            isinstance(objects, (str, bytes)) or not isinstance(objects, Iterable)):
        raise ValueError("objects must be an iterable of (object_type, object_uuid) pairs")
    out: list[list[str]] = []
    for index, pair in enumerate(objects):
        if type(pair) is tuple or type(pair) is list:
            if len(pair) == 2:
                object_type, object_uuid = pair
                # Fast path: ASCII str within the limits (the usual case).
                if (type(object_type) is str and type(object_uuid) is str
                        and 0 < len(object_type) <= _OBJECT_TYPE_LIMIT
                        and 0 < len(object_uuid) <= _OBJECT_UUID_LIMIT
                        and object_type.isascii() and object_uuid.isascii()):
                    out.append([object_type, object_uuid])
                    continue
        out.append(_check_pair(index, pair))
    if not out:
        raise ValueError("objects must name at least one (object_type, object_uuid) pair")
    if len(out) > 1:
        # The store keys objects per event, so a repeat would vanish there;
        # drop it here so what is spooled is what is stored.
        unique = list({(t, u): [t, u] for t, u in out}.values())
        if len(unique) != len(out):
            out = unique
        problem = objects_problem(len(out))
        if problem:
            raise ValueError(problem)
    return out


def _check_pair(index: int, pair: object) -> list[str]:
    if not isinstance(pair, (str, bytes, tuple, list)) and hasattr(pair, "object_type") \
            and hasattr(pair, "uuid"):
        # Upstream passes its database objects too: their type and uuid.
        if getattr(pair, "in_memory_only", False):
            raise ValueError(f"objects[{index}] is an in-memory-only object; it has no events")
        obj: Any = pair
        pair = (obj.object_type, obj.uuid)
    if isinstance(pair, (str, bytes)) or not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(
            f"objects[{index}] must be an (object_type, object_uuid) pair, got {pair!r}"
        )
    object_type, object_uuid = _as_str(pair[0]), _as_str(pair[1])
    if not isinstance(object_type, str) or not object_type:
        raise ValueError(f"objects[{index}] object_type must be a non-empty str")
    if not isinstance(object_uuid, str) or not object_uuid:
        raise ValueError(f"objects[{index}] object_uuid must be a non-empty str")
    _check_str(f"objects[{index}] object_type", object_type, limit=_OBJECT_TYPE_LIMIT)
    _check_str(f"objects[{index}] object_uuid", object_uuid, limit=_OBJECT_UUID_LIMIT)
    return [object_type, object_uuid]


def _check_json_keys(value: object, where: str, depth: int = 1) -> None:
    """JSON would silently turn non-str keys into strings; refuse them instead.

    Also refuses nesting deeper than the store keeps, before recursing
    further, so no input (cycles included) reaches ``RecursionError``.
    """
    if depth > _EXTRA_DEPTH_LIMIT and isinstance(value, (Mapping, list, tuple)):
        raise ValueError(f"extra is nested more than {_EXTRA_DEPTH_LIMIT} levels deep"
                         f" (at {where[:200]}); the store allows {_EXTRA_DEPTH_LIMIT}")
    if type(value) is dict and _flat_ascii(value):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} keys must be str, got {key!r}")
            _check_text(f"{where} key {key[:40]!r}", key)
            _check_json_keys(item, f"{where}[{key!r}]", depth + 1)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_keys(item, f"{where}[{index}]", depth + 1)
    elif isinstance(value, str):
        _check_text(where, value)


def _flat_ascii(value: dict[Any, Any]) -> bool:
    """True for the common ``extra``: ASCII str keys, scalar or ASCII str values."""
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            return False
        if type(item) is str:
            if not item.isascii():
                return False
        elif type(item) not in _PLAIN_SCALARS:
            return False
    return True


def _encode_extra(extra: object) -> str | None:
    if extra is None:
        return None
    if type(extra) is not dict and not isinstance(extra, Mapping):
        raise ValueError(f"extra must be a mapping or None, got {type(extra).__name__}")
    _check_json_keys(extra, "extra")
    try:
        if _C_ENCODER is not None and type(extra) is dict:
            encoded = "".join(_C_ENCODER(extra, 0))
        else:
            encoded = _ENCODER.encode(dict(extra))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"extra must be JSON-serialisable: {exc}") from None
    if len(encoded) > _EXTRA_BYTES_LIMIT:  # ASCII-escaped JSON: characters == bytes
        raise ValueError(f"extra is {len(encoded)} bytes as JSON;"
                         f" the limit is {_EXTRA_BYTES_LIMIT}")
    return encoded


def build_payload(
    *,
    event_type: object,
    objects: object,
    message: object,
    fqdn: str,
    duration: object = None,
    extra: object = None,
    request_id: object = None,
    timestamp: object = None,
) -> dict[str, Any]:
    """Validate caller arguments and return the phase 2 spool payload.

    Raises ``ValueError`` naming the bad argument; nothing is written then.
    """
    # Each check has an inline fast path for plain ASCII str, the usual case.
    if not (type(event_type) is str and 0 < len(event_type) <= _EVENT_TYPE_LIMIT
            and event_type.isascii()):
        event_type = _check_str("event_type", event_type, limit=_EVENT_TYPE_LIMIT)
    if not (type(message) is str and len(message) <= _MESSAGE_LIMIT and message.isascii()):
        message = _check_message(message)
    payload: dict[str, Any] = {
        "event_uuid": uuid7(),
        "event_type": event_type,
        "fqdn": fqdn,
        "duration": None if duration is None else _check_number("duration", duration),
        "message": message,
        "extra": None,
        "request_id": None,
        "timestamp": time.time() if timestamp is None else _check_number("timestamp", timestamp),
        "objects": _check_objects(objects),
    }
    if extra is not None and (type(extra) is dict or isinstance(extra, Mapping)) \
            and LEGACY_REQUEST_ID_KEY in extra:
        # The request id belongs at top level now; lift a stray one out.
        extra = dict(extra)
        lifted = extra.pop(LEGACY_REQUEST_ID_KEY)
        if request_id is None and isinstance(lifted, str) and lifted:
            request_id = lifted
    payload["extra"] = _encode_extra(extra)
    if request_id is not None:
        payload["request_id"] = _check_str("request_id", request_id,
                                           limit=_REQUEST_ID_LIMIT) or None
    return payload


def payload_from_record(record: EventRecord) -> dict[str, Any]:
    """The phase 2 payload of a record (used to upgrade old-format rows)."""
    return {
        "event_uuid": record.event_uuid,
        "event_type": record.event_type,
        "fqdn": record.fqdn,
        "duration": record.duration,
        "message": record.message,
        "extra": None if record.extra is None else json.dumps(record.extra, separators=(",", ":")),
        "request_id": record.request_id,
        "timestamp": record.timestamp,
        "objects": [list(pair) for pair in record.objects],
    }


def encode(payload: Mapping[str, Any]) -> bytes:
    """Serialise a payload for the spool's ``payload`` column.

    The output is exactly ``_ENCODER``'s (compact, ASCII-only JSON); a
    phase 2 payload of plain types is written by hand, several times faster.
    """
    if type(payload) is dict and tuple(payload) == _PHASE2_KEYS:
        fast = _encode_phase2(payload)
        if fast is not None:
            return fast
    return _ENCODER.encode(payload).encode()


def _json_opt_str(value: object) -> str | None:
    if value is None:
        return "null"
    return _STR(value) if type(value) is str else None


def _json_opt_float(value: object) -> str | None:
    if value is None:
        return "null"
    # value - value is 0.0 only for finite floats; others take the slow path.
    return float.__repr__(value) if type(value) is float and value - value == 0.0 else None


def _encode_phase2(p: dict[str, Any]) -> bytes | None:
    """``p`` as _ENCODER would write it, or None if a field is not a plain type."""
    uuid, event_type, fqdn, message = p["event_uuid"], p["event_type"], p["fqdn"], p["message"]
    if not (type(uuid) is str and type(event_type) is str and type(fqdn) is str
            and type(message) is str and type(p["objects"]) is list):
        return None
    duration = _json_opt_float(p["duration"])
    timestamp = _json_opt_float(p["timestamp"])
    extra = _json_opt_str(p["extra"])
    request_id = _json_opt_str(p["request_id"])
    if duration is None or timestamp is None or extra is None or request_id is None \
            or timestamp == "null":
        return None
    pairs = []
    for pair in p["objects"]:
        if type(pair) is not list or len(pair) != 2:
            return None
        object_type, object_uuid = pair
        if type(object_type) is not str or type(object_uuid) is not str:
            return None
        pairs.append(f"[{_STR(object_type)},{_STR(object_uuid)}]")
    return (
        f'{{"event_uuid":{_STR(uuid)},"event_type":{_STR(event_type)},"fqdn":{_STR(fqdn)},'
        f'"duration":{duration},"message":{_STR(message)},"extra":{extra},'
        f'"request_id":{request_id},"timestamp":{timestamp},"objects":[{",".join(pairs)}]}}'
    ).encode()


class UnparseableRow(ValueError):
    """A spool row that cannot become an EventRecord."""


class _ObjectEntry(TypedDict):
    """An object as old upstream rows wrote it (other keys are ignored)."""

    object_type: str
    object_uuid: str


class _SpoolRow(TypedDict, total=False):
    """Every generation of spool payload, as JSON; keys not named are ignored.

    Only the shape is checked here; the content rules are ``EventRecord``'s,
    applied once when the record is built.  ``extra`` is a JSON string (phase
    2) or an object (older rows); ``objects`` are pairs or dicts.
    """

    event_uuid: Any
    event_type: Required[Any]
    timestamp: Required[Any]
    fqdn: Required[Any]
    message: Required[Any]
    duration: Any
    extra: Json[dict[str, Any] | None] | dict[str, Any] | None
    request_id: Any
    objects: Required[list[tuple[Any, Any] | _ObjectEntry]]


# pydantic-core parses and shape-checks a row in one compiled pass.
_ROW = TypeAdapter(_SpoolRow)


def parse_row(raw: bytes | str) -> tuple[EventRecord, bool]:
    """Turn a spool row (any upstream payload generation) into an EventRecord.

    Returns the record and whether its ``event_uuid`` was generated here (an
    old-format row); the caller should persist such a uuid before sending so
    that retries stay idempotent.  Raises ``UnparseableRow`` with the reason
    when the row cannot be read.
    """
    try:
        row = _ROW.validate_json(raw)
        extra = row.get("extra")
        request_id = row.get("request_id")
        if not request_id and extra and LEGACY_REQUEST_ID_KEY in extra:
            extra = dict(extra)
            request_id = extra.pop(LEGACY_REQUEST_ID_KEY)
        event_uuid = row.get("event_uuid")
        record = EventRecord(
            event_uuid=event_uuid or uuid7(),
            event_type=row["event_type"],
            timestamp=row["timestamp"],
            fqdn=row["fqdn"],
            duration=row.get("duration"),
            message=row["message"],
            extra=extra,
            request_id=request_id or None,
            objects=[(o["object_type"], o["object_uuid"]) if isinstance(o, dict) else o
                     for o in row["objects"]],
        )
        return record, not event_uuid
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise UnparseableRow(f"{type(exc).__name__}: {exc}") from exc
