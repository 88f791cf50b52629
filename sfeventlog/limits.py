"""The one table of field limits, and the checks derived from it.

Every bound an event must meet lives here, once.  ``add_event`` (through
``payload.py``) rejects at the call what any bundled store would reject.
For records from elsewhere (foreign spool rows, gRPC clients): both servers
(``server/limits.py``) apply ``record_problems`` up front; both DDLs
(``store/schema.py``) take their column sizes from ``LIMITS``; and both
stores' ``write_batch`` apply ``structure_problems``, the bounds SQLite's
schema cannot express (``extra`` nesting, the object count).  So a record one
store refuses, the other refuses too.

Why each number (MariaDB is the strictest bundled store):

* column lengths: upstream's MariaDB schema (``VARCHAR(n)``, ``CHAR(36)``);
  lengths are characters, ``message`` is bytes of UTF-8 (a ``TEXT`` column);
* ``extra_depth``: MariaDB's JSON type refuses a document nested 32 levels
  deep (each object or array is a level; ``extra`` itself is the first);
* ``objects_per_event``: ``event_objects.ordinal`` is ``SMALLINT UNSIGNED``;
* ``extra_bytes``: not a store bound but the caller's (an event log entry,
  not a blob store), so a batch of 100 stays within the store's packet and
  gRPC's 16 MiB message limit.  Only ``add_event`` applies it: events that
  other writers spooled are delivered whatever their size, as upstream does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sfeventlog.records import EventRecord


@dataclass(frozen=True)
class FieldLimits:
    """Upper bounds of one event's fields; see the module docstring for why."""

    event_uuid: int = 36
    event_type: int = 32
    fqdn: int = 255
    request_id: int = 64
    object_type: int = 32
    object_uuid: int = 36
    message_bytes: int = 65_535
    extra_depth: int = 31
    objects_per_event: int = 65_535
    extra_bytes: int = 64 * 1024


LIMITS = FieldLimits()

#: The per-column character limits ``record_problems`` checks, by field.
_TEXT_FIELDS = ("event_uuid", "event_type", "fqdn", "request_id")


#: Exact types that are never containers (a subclass gets the full check).
_LEAVES = frozenset({str, int, float, bool, type(None)})


def too_deep(value: object, limit: int | None = None) -> bool:
    """True if ``value`` nests objects/arrays more than ``limit`` levels
    (default ``LIMITS.extra_depth``).

    Iterative and stops at the first container past the limit, so it never
    recurses (no ``RecursionError`` at any depth, cycles included) and costs
    at most the containers within the limit.  A top-level object is level 1.
    """
    if limit is None:
        limit = LIMITS.extra_depth
    leaves = _LEAVES
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is dict or isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        # JSON's scalars are never containers: they need no turn on the stack.
        stack.extend((child, depth + 1) for child in children if type(child) not in leaves)
    return False


def depth_problem(where: str, value: object) -> str | None:
    """The message for ``value`` nested too deep, or None."""
    if too_deep(value):
        return (f"{where} is nested more than {LIMITS.extra_depth} levels deep;"
                f" the store allows {LIMITS.extra_depth}")
    return None


def objects_problem(count: int) -> str | None:
    """The message for an event about too many objects, or None."""
    if count > LIMITS.objects_per_event:
        return (f"objects names {count} objects; the store allows"
                f" {LIMITS.objects_per_event} per event")
    return None


def structure_problems(record: EventRecord) -> list[str]:
    """The bounds a store checks before its SQL: ``extra`` nesting, object count.

    Column lengths are left to each store's columns (from the same table),
    so an operator who widens a MariaDB column can replay what it refused.
    """
    problems: list[str] = []
    if record.extra is not None:
        problem = depth_problem("extra", record.extra)
        if problem:
            problems.append(problem)
    problem = objects_problem(len(record.objects))
    if problem:
        problems.append(problem)
    return problems


def record_problems(record: EventRecord) -> list[str]:
    """Why a store cannot keep ``record``, as messages; empty if it can.

    The store-side rule: column lengths, ``message`` bytes, ``extra``
    nesting and the object count.  Not ``extra_bytes`` (see module docstring).
    """
    lim = LIMITS
    if (len(record.event_uuid) <= lim.event_uuid and len(record.event_type) <= lim.event_type
            and len(record.fqdn) <= lim.fqdn
            and (record.request_id is None or len(record.request_id) <= lim.request_id)
            and len(record.message) <= lim.message_bytes // 4
            and len(record.objects) <= lim.objects_per_event
            and all(len(t) <= lim.object_type and len(u) <= lim.object_uuid
                    for t, u in record.objects)
            and (record.extra is None or not too_deep(record.extra))):
        return []  # the common case, without building messages
    problems: list[str] = []
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        limit = getattr(lim, name)
        if value is not None and len(value) > limit:
            problems.append(f"{name} is {len(value)} characters, the limit is {limit}")
    size = len(record.message.encode("utf-8", "surrogatepass"))
    if size > lim.message_bytes:
        problems.append(f"message is {size} bytes of UTF-8, the limit is {lim.message_bytes}")
    problems.extend(structure_problems(record))
    for i, (object_type, object_uuid) in enumerate(record.objects):
        if len(object_type) > lim.object_type:
            problems.append(f"objects[{i}].object_type is {len(object_type)} characters,"
                            f" the limit is {lim.object_type}")
        if len(object_uuid) > lim.object_uuid:
            problems.append(f"objects[{i}].object_uuid is {len(object_uuid)} characters,"
                            f" the limit is {lim.object_uuid}")
    return problems
