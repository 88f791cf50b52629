"""Drop-in for upstream's ``shakenfist.eventlog``: switch with one import line.

    from sfeventlog import eventlog      # was: from shakenfist import eventlog

The functions have upstream's signatures and return behaviour (``None``,
never raising for what upstream accepted), over the strict core API
(``sfeventlog.api``):

* ``add_event`` / ``add_event_multi`` take upstream's positional order and
  keywords (``suppress_event_logging``, ``log_as_error``), objects as
  ``(object_type, object_uuid)`` tuples or upstream database objects
  (``object_type``, ``uuid``, ``in_memory_only``), identifiers of any type
  turned into text as upstream does (``str()``; a str-valued enum by value),
  and ``extra`` as upstream encodes it (``None`` or empty is ``{}``; uuids as
  text, other enums by name, objects with ``obj_dict()`` as that dict,
  non-str keys as JSON writes them).
* Upstream's quiet skips stay quiet for the caller, but none is silent: each
  is counted in ``eventlog_compat_skipped_total{reason}`` and the first of
  each reason is logged at WARNING, pointing at the call site.  Reasons:
  ``no_objects`` (the call named no objects), ``falsy_object`` (an object
  whose type or uuid is falsy was left out), ``in_memory_only`` (an
  in-memory-only object was left out), ``invalid`` (the event broke a rule
  of the core, e.g. a field limit, and was not recorded).  An event whose
  every object was left out is not recorded.
* ``set_force_event_dlq`` / ``get_force_event_dlq`` (upstream's daemon start
  path) are kept: the flag is remembered per thread but changes nothing,
  since the spool is already durable and never needs upstream's DLQ.

A spool drop (high-water mark, full disk) is counted by the core as always
(``eventlog_spool_dropped_total``).
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from sfeventlog import api
from sfeventlog.limits import LIMITS
from sfeventlog.metrics import labelled_counter

LOG = logging.getLogger(__name__)

SKIP_REASONS = ("no_objects", "falsy_object", "in_memory_only", "invalid")

SKIPPED = labelled_counter(
    "eventlog_compat_skipped_total",
    "Objects or events the drop-in sfeventlog.eventlog left out quietly, as upstream"
    " (reason: no_objects, falsy_object, in_memory_only, invalid).",
    {"reason": SKIP_REASONS},
)

_logged: set[str] = set()
_local = threading.local()


class _Skip(ValueError):
    """An extra value upstream's encoder would have refused too."""


def _skip(reason: str, detail: str) -> None:
    SKIPPED.labels(reason=reason).inc()
    if reason not in _logged:
        _logged.add(reason)
        LOG.warning("eventlog: %s (reason %s; counted in eventlog_compat_skipped_total,"
                    " logged once per reason)", detail, reason, stacklevel=_caller_level())


def _caller_level() -> int:
    """The ``stacklevel`` that names the first frame outside this module."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level


def _ident(value: object) -> object:
    """An object type or uuid as upstream turns it into text (``str()``).

    A str-valued enum is left to the core, which takes its value whatever
    its ``__str__``; so is a ``uuid.UUID``.
    """
    if isinstance(value, str | uuid.UUID):
        return value
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        return value
    return str(value)


_JSON_KEY_TEXT = {True: "true", False: "false", None: "null"}


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return _JSON_KEY_TEXT[key]
    if isinstance(key, int | float):
        return repr(key) if isinstance(key, float) else str(int(key))
    raise _Skip(f"extra has a key of type {type(key).__name__}")


def _extra_value(value: object, depth: int) -> object:
    """``value`` as upstream's JSON encoder would see it, for the core."""
    if isinstance(value, Mapping | list | tuple) and depth > LIMITS.extra_depth:
        raise _Skip(f"extra is nested more than {LIMITS.extra_depth} levels deep")
    if isinstance(value, Mapping):
        return {_json_key(k): _extra_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_extra_value(v, depth + 1) for v in value]
    obj_dict = getattr(value, "obj_dict", None)
    if callable(obj_dict) and not isinstance(value, type):
        result = obj_dict()  # upstream's State objects
        return _extra_value(result, depth) if isinstance(result, Mapping) else result
    return value


def _plain(extra: Mapping[str, Any]) -> bool:
    """The common case: str keys and scalar values, nothing to convert."""
    return all(type(k) is str and type(v) in (str, int, float, bool, type(None))
               for k, v in extra.items())


def _objects(objects: Any) -> list[tuple[object, object]]:
    pairs: list[tuple[object, object]] = []
    for obj in objects:
        if isinstance(obj, tuple | list):
            if len(obj) != 2:
                _skip("invalid", f"object {obj!r} is not an (object_type, object_uuid) pair")
                continue
            object_type, object_uuid = obj
        else:
            if getattr(obj, "in_memory_only", False):
                _skip("in_memory_only", f"in-memory-only object {obj!r} left out of an event")
                continue
            try:
                object_type, object_uuid = obj.object_type, obj.uuid
            except AttributeError:
                _skip("invalid", f"object {obj!r} has no object_type and uuid")
                continue
        if not object_type or not object_uuid:
            _skip("falsy_object", f"object ({object_type!r}, {object_uuid!r}) left out of"
                  " an event: its type or uuid is empty")
            continue
        pairs.append((_ident(object_type), _ident(object_uuid)))
    return pairs


def add_event(
        event_type: str, object_type: Any, object_uuid: Any, message: str,
        duration: float | None = None, extra: Mapping[str, Any] | None = None,
        suppress_event_logging: bool = False, log_as_error: bool = False) -> None:
    """Upstream's ``eventlog.add_event``: nothing happens for a falsy type or uuid."""
    if not object_type or not object_uuid:
        _skip("falsy_object", f"event {message!r} about ({object_type!r}, {object_uuid!r})"
              " not recorded: its object type or uuid is empty")
        return
    add_event_multi(
        event_type, [(object_type, object_uuid)], message, duration=duration,
        extra=extra, suppress_event_logging=suppress_event_logging,
        log_as_error=log_as_error)


def add_event_multi(
        event_type: str, objects: Any, message: str,
        duration: float | None = None, extra: Mapping[str, Any] | None = None,
        suppress_event_logging: bool = False, log_as_error: bool = False) -> None:
    """Upstream's ``eventlog.add_event_multi``: one event about several objects.

    Returns None, as upstream; what was left out is counted (module docstring).
    """
    if not objects:
        _skip("no_objects", f"event {message!r} names no objects; not recorded")
        return
    pairs = _objects(objects)
    if not pairs:
        return
    try:
        if not extra:
            converted: Mapping[str, Any] = {}
        elif isinstance(extra, Mapping) and _plain(extra):
            converted = extra
        else:
            value = _extra_value(extra, 1)
            if not isinstance(value, dict):
                raise _Skip(f"extra is a {type(extra).__name__}, not a mapping")
            converted = value
        api.add_event_multi(
            event_type, pairs, message, duration=duration, extra=converted,
            suppress_event_logging=suppress_event_logging, log_as_error=log_as_error)
    except ValueError as exc:  # _Skip included
        _skip("invalid", f"event {str(message)[:80]!r} not recorded: {exc}")


def set_force_event_dlq(value: bool) -> None:
    """Upstream's start-up switch; remembered per thread, with no effect (see module)."""
    _local.force_event_dlq = bool(value)


def get_force_event_dlq() -> bool:
    """What ``set_force_event_dlq`` last set in this thread (False by default)."""
    return bool(getattr(_local, "force_event_dlq", False))
