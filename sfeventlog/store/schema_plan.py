"""Decide what an events store is from what it really has, and what migrate must do.

Both stores introspect (MariaDB: information_schema; SQLite: pragmas) into a
``Found``; ``plan`` turns it into a ``Plan``: the ``Layout`` to write with now
(None if the store cannot be used), why not, and the ``STEPS`` that
``migrate`` applies.  Version rows never decide anything here; they are only
what ``RECORD_VERSIONS`` writes.  See ``sfeventlog.store.schema`` for the
layout and identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sfeventlog.store.schema import (
    ADD_ORDINAL,
    ADDITIONS_KEY,
    INDEXES,
    MIGRATE_HINT,
    PRIMARY_KEYS,
    RECORD_VERSIONS,
    REQUIRED_COLUMNS,
    STEPS,
    TABLES,
    VERSION_ROWS,
)


@dataclass(frozen=True)
class Found:
    """What introspecting a store found.

    ``columns``: table -> its column names, for the tables that exist.
    ``keys``: table -> {index name -> its columns in order}; the primary key
    is named ``PRIMARY``.  ``versions``: the ``schema_versions`` rows.
    """

    columns: Mapping[str, frozenset[str]]
    keys: Mapping[str, Mapping[str, tuple[str, ...]]]
    versions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """How to write and read a usable store."""

    #: ``event_objects.ordinal`` exists: objects are written and read in their order.
    ordinal: bool


@dataclass(frozen=True)
class Plan:
    """What a store is, whether it can be used now, and what migrate would do."""

    #: How to write now; None if the store cannot be used as it is.
    layout: Layout | None
    #: Why it cannot be used now (None if it can); names the fix.
    problem: str | None
    #: Why ``migrate`` cannot fix it either (None if it can).
    blocker: str | None
    #: What ``migrate`` would do, as keys of ``STEPS``; empty when current.
    steps: tuple[str, ...]
    #: One line saying what was found, for operators.
    found: str
    #: Things worth a warning that change nothing (a newer version than known).
    notes: tuple[str, ...] = ()
    #: The ``schema_versions`` rows ``RECORD_VERSIONS`` writes: missing or lower ones only.
    versions: tuple[tuple[str, int], ...] = ()

    def describe(self) -> tuple[str, ...]:
        """The steps, one line each, for operators."""
        rows = ", ".join(f"{key} = {version}" for key, version in self.versions)
        return tuple(f"record schema_versions {rows}" if step == RECORD_VERSIONS else STEPS[step]
                     for step in self.steps)


@dataclass(frozen=True)
class Migration:
    """What ``EventStore.migrate`` found and did (or, in a dry run, would do).

    False when it changed nothing: the schema was current, or a dry run.
    """

    #: What was there before (``Plan.found``).
    found: str
    #: The steps, one line each (``Plan.describe``).
    steps: tuple[str, ...]
    notes: tuple[str, ...] = ()
    #: False for a dry run: ``steps`` were not applied.
    applied: bool = True

    def __bool__(self) -> bool:
        return self.applied and bool(self.steps)


def migration(found_plan: Plan, applied: bool) -> Migration:
    return Migration(found_plan.found, found_plan.describe(), found_plan.notes, applied)



def _has_index(keys: Mapping[str, tuple[str, ...]], columns: tuple[str, ...]) -> bool:
    """An index whose leading columns are ``columns`` serves, whatever its name."""
    return any(have[:len(columns)] == columns for name, have in keys.items() if name != "PRIMARY")


def _describe(found: Found) -> str:
    if not any(t in found.columns for t in TABLES):
        return "no events schema"
    parts = []
    for table in TABLES:
        if table not in found.columns:
            parts.append(f"no {table} table")
        else:
            version = found.versions.get(table)
            parts.append(f"{table} {'unversioned' if version is None else f'version {version}'}")
    ordinal = "ordinal" in found.columns.get("event_objects", frozenset())
    additions = found.versions.get(ADDITIONS_KEY)
    if additions is not None:
        parts.append(f"{ADDITIONS_KEY} additions {additions}")
    elif "event_objects" in found.columns:
        parts.append("sfeventlog's ordinal column but no sfeventlog version row" if ordinal
                     else "no sfeventlog additions, as upstream Shaken Fist creates it")
    return ", ".join(parts)


def plan(found: Found, where: str) -> Plan:
    """Decide from what is really there; version rows only say what to record."""
    described = _describe(found)
    blockers: list[str] = []
    for table in TABLES:
        if table not in found.columns:
            continue
        missing = [c for c in REQUIRED_COLUMNS[table] if c not in found.columns[table]]
        if missing:
            blockers.append(f"{table} has no column {', '.join(missing)}")
        primary = found.keys.get(table, {}).get("PRIMARY")
        if primary != PRIMARY_KEYS[table]:
            blockers.append(f"the primary key of {table} is {primary or 'missing'}, not"
                            f" ({', '.join(PRIMARY_KEYS[table])}), so replays would duplicate rows")
    notes = tuple(
        f"{key} is at version {found.versions[key]}, newer than the {known} this sfeventlog knows"
        for key, known in VERSION_ROWS if found.versions.get(key, 0) > known
    )
    if blockers:
        blocker = (f"{where}: the events tables are not a layout sfeventlog or Shaken Fist"
                   f" writes ({'; '.join(blockers)}); `sfeventlog migrate` will not change them:"
                   " fix or rename them by hand")
        return Plan(None, blocker, blocker, (), described, notes)

    steps: list[str] = []
    for table in TABLES:
        if table not in found.columns:
            steps.append(f"create {table}")
            continue
        keys = found.keys.get(table, {})
        steps += [f"add {name}" for name, columns in INDEXES[table].items()
                  if not _has_index(keys, columns)]
    has_ordinal = "ordinal" in found.columns.get("event_objects", frozenset())
    if "event_objects" in found.columns and not has_ordinal:
        steps.append(ADD_ORDINAL)
    versions = tuple((k, v) for k, v in VERSION_ROWS if found.versions.get(k, 0) < v)
    if versions:
        steps.append(RECORD_VERSIONS)

    missing_tables = [t for t in TABLES if t not in found.columns]
    if missing_tables:
        problem = (f"{where}: the events schema is missing (no {', '.join(missing_tables)});"
                   f" {MIGRATE_HINT}")
        return Plan(None, problem, None, tuple(steps), described, notes, versions)
    return Plan(Layout(ordinal=has_ordinal), None, None, tuple(steps), described, notes, versions)


def objects_order(layout: Layout) -> str:
    """The ORDER BY of an ``event_objects`` read: written order where it is known."""
    return ("event_uuid, ordinal, object_type, object_uuid" if layout.ordinal
            else "event_uuid, object_type, object_uuid")
