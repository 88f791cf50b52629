"""The events schema, for MariaDB and SQLite: its identity, what a store has, what migrate does.

The layout is upstream Shaken Fist's (``docs``: upstream-facts, "MariaDB
schema"), plus sfeventlog's additions:

* ``events``: one row per event, keyed by ``event_uuid``;
* ``event_objects``: one row per (object, event), keyed by
  ``(object_type, object_uuid, event_uuid)``; sfeventlog adds ``ordinal``,
  the object's position in the record's ``objects`` list, so a read returns
  the list in the order it was written.  It has a default, so upstream's
  inserts, which name three columns, still work (their rows read as 0);
* ``schema_versions``: one row per versioned thing.

Identity (``schema_versions`` rows).  ``events`` and ``event_objects`` belong
to upstream: they hold upstream's layout version (``UPSTREAM_VERSION``),
which sfeventlog writes when it creates the tables and never raises or
lowers.  sfeventlog's additions have their own row, ``ADDITIONS_KEY``, so no
number of ours can ever be mistaken for one of upstream's (today's or a
future one).  A version row is only a record, though: what a store can do is
decided by what ``introspect`` finds (tables, columns, keys, indexes), so a
database upstream created (no ``ordinal``, no ``sfeventlog`` row) is written
to as it is until ``sfeventlog migrate`` adds the column.

Collation: no table or column names one.  Every table takes the database's
default collation, as upstream's do, so a join between a table upstream
created and one sfeventlog created always compares like with like (MariaDB
refuses ``=`` between, say, ``utf8mb4_general_ci`` and
``utf8mb4_unicode_ci`` columns).  The cost, shared with upstream: key
comparisons follow that collation (with the usual ``_ci`` default,
``'ABC' = 'abc'``); uuids are written lower-case, so this only matters for
hand-made keys.  Note that ``DEFAULT CHARSET=utf8mb4`` alone would pick
utf8mb4's compiled-in default collation, not the database's: the DDL below
names no charset either (the server check requires the database to be
utf8mb4).

No foreign key between the two tables, on purpose (as upstream).

Both stores enforce the same column limits (``LIMITS``): SQLite through CHECK
constraints, so a record one store rejects the other rejects too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sfeventlog.store.rows import EVENT_COLUMNS

#: Upstream's layout version of ``events`` and ``event_objects`` (its
#: EVENTS_VERSION and EVENT_OBJECTS_VERSION): the layout sfeventlog builds on.
UPSTREAM_VERSION = 1
#: The tables upstream versions, in creation order.
TABLES = ("events", "event_objects")
#: The ``schema_versions`` row that records sfeventlog's additions.
ADDITIONS_KEY = "sfeventlog"
#: Version of sfeventlog's additions; 1 = ``event_objects.ordinal``.
ADDITIONS_VERSION = 1

#: Columns a table must have for the stores to read and write it.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": EVENT_COLUMNS,
    "event_objects": ("object_type", "object_uuid", "event_uuid"),
}
#: The key that makes a replayed insert a no-op; without it replays would duplicate rows.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "events": ("event_uuid",),
    "event_objects": ("object_type", "object_uuid", "event_uuid"),
}
#: Secondary indexes (reads and prune need them; writes do not).
INDEXES: dict[str, dict[str, tuple[str, ...]]] = {
    "events": {"idx_events_type_timestamp": ("event_type", "timestamp"),
               "idx_events_request_id": ("request_id",)},
    "event_objects": {"idx_event_objects_event": ("event_uuid",)},
}

#: Column length limits (characters; ``message`` in bytes, as MariaDB TEXT).
LIMITS = {
    "event_uuid": 36,
    "event_type": 32,
    "fqdn": 255,
    "request_id": 64,
    "object_type": 32,
    "object_uuid": 36,
    "message_bytes": 65535,
}

MIGRATE_HINT = "run `sfeventlog migrate` (see `sfeventlog migrate --help`)"

# -- what a store has --------------------------------------------------------


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


RECORD_VERSIONS = "record versions"
#: The ``schema_versions`` rows of a current schema; a missing or lower one is (re)written,
#: a higher one kept.
VERSION_ROWS = (*((t, UPSTREAM_VERSION) for t in TABLES), (ADDITIONS_KEY, ADDITIONS_VERSION))
ADD_ORDINAL = "add event_objects.ordinal"

#: What each step does, for ``sfeventlog migrate``'s report (``Plan.describe``).
STEPS: dict[str, str] = {
    "create events": "create table events",
    "create event_objects": "create table event_objects (with sfeventlog's ordinal column)",
    ADD_ORDINAL: "add column event_objects.ordinal (instant: no row is rewritten;"
                 " rows written before it read as ordinal 0)",
    **{f"add {name}": f"add index {name} on {table} ({', '.join(columns)}), in place"
       for table, indexes in INDEXES.items() for name, columns in indexes.items()},
}

CURRENT = (f"upstream layout {UPSTREAM_VERSION} + sfeventlog additions {ADDITIONS_VERSION}"
           " (event_objects.ordinal)")


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
            blockers.append(f"{table}'s primary key is {primary or 'missing'}, not"
                            f" ({', '.join(PRIMARY_KEYS[table])}), so replays would duplicate rows")
    notes = tuple(
        f"{key} is at version {found.versions[key]}, newer than the {known} this sfeventlog knows"
        for key, known in [*((t, UPSTREAM_VERSION) for t in TABLES), (ADDITIONS_KEY, ADDITIONS_VERSION)]
        if found.versions.get(key, 0) > known
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


# -- MariaDB -----------------------------------------------------------------

# Upstream's shape (its tables name no engine options, charset or collation);
# see the module docstring for why none is named here either.
MARIADB_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_versions (
    table_name VARCHAR(64) NOT NULL PRIMARY KEY,
    version INT NOT NULL,
    updated_at DOUBLE NOT NULL
) ENGINE=InnoDB
"""

_MARIADB_ORDINAL = "ordinal SMALLINT UNSIGNED NOT NULL DEFAULT 0"

#: Step -> statements.  Each is safe to run again.
MARIADB_STEPS: dict[str, list[str]] = {
    "create events": ["""
        CREATE TABLE IF NOT EXISTS events (
            event_uuid CHAR(36) NOT NULL,
            event_type VARCHAR(32) NOT NULL,
            timestamp DOUBLE NOT NULL,
            fqdn VARCHAR(255) NOT NULL,
            duration DOUBLE NULL,
            message TEXT NOT NULL,
            extra JSON NULL,
            request_id VARCHAR(64) NULL,
            PRIMARY KEY (event_uuid),
            INDEX idx_events_type_timestamp (event_type, timestamp),
            INDEX idx_events_request_id (request_id)
        ) ENGINE=InnoDB
        """],
    "create event_objects": [f"""
        CREATE TABLE IF NOT EXISTS event_objects (
            object_type VARCHAR(32) NOT NULL,
            object_uuid VARCHAR(36) NOT NULL,
            event_uuid CHAR(36) NOT NULL,
            {_MARIADB_ORDINAL},
            PRIMARY KEY (object_type, object_uuid, event_uuid),
            INDEX idx_event_objects_event (event_uuid)
        ) ENGINE=InnoDB
        """],
    # INSTANT: metadata only, so no row is rewritten and the table is not
    # copied; the server refuses rather than silently rebuilding a huge table.
    ADD_ORDINAL: [f"ALTER TABLE event_objects ADD COLUMN {_MARIADB_ORDINAL}, ALGORITHM=INSTANT"],
    **{f"add {name}": [(f"ALTER TABLE {table} ADD INDEX {name} ({', '.join(columns)}),"
                        " ALGORITHM=INPLACE, LOCK=NONE")]
       for table, indexes in INDEXES.items() for name, columns in indexes.items()},
}

# -- SQLite ------------------------------------------------------------------

SQLITE_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_versions (
    table_name TEXT NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL,
    updated_at REAL NOT NULL
)
"""

SQLITE_STEPS: dict[str, list[str]] = {
    "create events": [
        f"""
        CREATE TABLE IF NOT EXISTS events (
            event_uuid TEXT NOT NULL PRIMARY KEY
                CHECK (length(event_uuid) <= {LIMITS['event_uuid']}),
            event_type TEXT NOT NULL CHECK (length(event_type) <= {LIMITS['event_type']}),
            timestamp REAL NOT NULL,
            fqdn TEXT NOT NULL CHECK (length(fqdn) <= {LIMITS['fqdn']}),
            duration REAL,
            message TEXT NOT NULL
                CHECK (length(CAST(message AS BLOB)) <= {LIMITS['message_bytes']}),
            extra TEXT CHECK (extra IS NULL OR json_valid(extra)),
            request_id TEXT CHECK (request_id IS NULL OR length(request_id) <= {LIMITS['request_id']})
        )
        """,
        "CREATE INDEX IF NOT EXISTS idx_events_type_timestamp ON events (event_type, timestamp)",
        "CREATE INDEX IF NOT EXISTS idx_events_request_id ON events (request_id)",
    ],
    "create event_objects": [
        f"""
        CREATE TABLE IF NOT EXISTS event_objects (
            object_type TEXT NOT NULL CHECK (length(object_type) <= {LIMITS['object_type']}),
            object_uuid TEXT NOT NULL CHECK (length(object_uuid) <= {LIMITS['object_uuid']}),
            event_uuid TEXT NOT NULL,
            ordinal INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (object_type, object_uuid, event_uuid)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX IF NOT EXISTS idx_event_objects_event ON event_objects (event_uuid)",
    ],
    ADD_ORDINAL: ["ALTER TABLE event_objects ADD COLUMN ordinal INTEGER NOT NULL DEFAULT 0"],
    **{f"add {name}": [f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})"]
       for table, indexes in INDEXES.items() for name, columns in indexes.items()},
}

assert set(MARIADB_STEPS) == set(SQLITE_STEPS) == set(STEPS)


def objects_order(layout: Layout) -> str:
    """The ORDER BY of an ``event_objects`` read: written order where it is known."""
    return ("event_uuid, ordinal, object_type, object_uuid" if layout.ordinal
            else "event_uuid, object_type, object_uuid")
