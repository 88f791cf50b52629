"""The events schema, for MariaDB and SQLite: its layout, identity, DDL and limits.

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
decided by what is really there (tables, columns, keys, indexes;
``sfeventlog.store.schema_plan``), so a
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

Column sizes come from ``sfeventlog.limits.LIMITS``, the one table of field
limits; SQLite enforces them through CHECK constraints, MariaDB through its
column types, so a record one store rejects the other rejects too.
"""

from __future__ import annotations

from sfeventlog.limits import LIMITS
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

MIGRATE_HINT = "run `sfeventlog migrate` (see `sfeventlog migrate --help`)"

#: Step keys (``STEPS``), where the DDL below and ``schema_plan`` meet.
RECORD_VERSIONS = "record versions"
ADD_ORDINAL = "add event_objects.ordinal"
#: The ``schema_versions`` rows of a current schema; a missing or lower one is
#: (re)written, a higher one kept.
VERSION_ROWS = (*((t, UPSTREAM_VERSION) for t in TABLES), (ADDITIONS_KEY, ADDITIONS_VERSION))
#: The current schema, for operators.
CURRENT = (f"upstream layout {UPSTREAM_VERSION} + sfeventlog additions {ADDITIONS_VERSION}"
           " (event_objects.ordinal)")

#: What each step does, for ``sfeventlog migrate``'s report; the DDL steps
#: below have one statement list per store.
STEPS: dict[str, str] = {
    "create events": "create table events",
    "create event_objects": "create table event_objects (with sfeventlog's ordinal column)",
    ADD_ORDINAL: "add column event_objects.ordinal (instant: no row is rewritten;"
                 " rows written before it read as ordinal 0)",
    **{f"add {name}": f"add index {name} on {table} ({', '.join(columns)}), in place"
       for table, indexes in INDEXES.items() for name, columns in indexes.items()},
}

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
    "create events": [f"""
        CREATE TABLE IF NOT EXISTS events (
            event_uuid CHAR({LIMITS.event_uuid}) NOT NULL,
            event_type VARCHAR({LIMITS.event_type}) NOT NULL,
            timestamp DOUBLE NOT NULL,
            fqdn VARCHAR({LIMITS.fqdn}) NOT NULL,
            duration DOUBLE NULL,
            message TEXT NOT NULL,
            extra JSON NULL,
            request_id VARCHAR({LIMITS.request_id}) NULL,
            PRIMARY KEY (event_uuid),
            INDEX idx_events_type_timestamp (event_type, timestamp),
            INDEX idx_events_request_id (request_id)
        ) ENGINE=InnoDB
        """],
    "create event_objects": [f"""
        CREATE TABLE IF NOT EXISTS event_objects (
            object_type VARCHAR({LIMITS.object_type}) NOT NULL,
            object_uuid VARCHAR({LIMITS.object_uuid}) NOT NULL,
            event_uuid CHAR({LIMITS.event_uuid}) NOT NULL,
            {_MARIADB_ORDINAL},
            PRIMARY KEY (object_type, object_uuid, event_uuid),
            INDEX idx_event_objects_event (event_uuid)
        ) ENGINE=InnoDB
        """],
    # INSTANT: metadata only, so no row is rewritten and the table is not
    # copied; the server refuses rather than silently rebuilding a huge table.
    ADD_ORDINAL: [(f"ALTER TABLE event_objects ADD COLUMN IF NOT EXISTS {_MARIADB_ORDINAL},"
                   " ALGORITHM=INSTANT")],
    **{f"add {name}": [(f"ALTER TABLE {table} ADD INDEX IF NOT EXISTS {name}"
                        f" ({', '.join(columns)}),"
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
                CHECK (length(event_uuid) <= {LIMITS.event_uuid}),
            event_type TEXT NOT NULL CHECK (length(event_type) <= {LIMITS.event_type}),
            timestamp REAL NOT NULL,
            fqdn TEXT NOT NULL CHECK (length(fqdn) <= {LIMITS.fqdn}),
            duration REAL,
            message TEXT NOT NULL
                CHECK (length(CAST(message AS BLOB)) <= {LIMITS.message_bytes}),
            extra TEXT CHECK (extra IS NULL OR json_valid(extra)),
            request_id TEXT CHECK (request_id IS NULL OR length(request_id) <= {LIMITS.request_id})
        )
        """,
        "CREATE INDEX IF NOT EXISTS idx_events_type_timestamp ON events (event_type, timestamp)",
        "CREATE INDEX IF NOT EXISTS idx_events_request_id ON events (request_id)",
    ],
    "create event_objects": [
        f"""
        CREATE TABLE IF NOT EXISTS event_objects (
            object_type TEXT NOT NULL CHECK (length(object_type) <= {LIMITS.object_type}),
            object_uuid TEXT NOT NULL CHECK (length(object_uuid) <= {LIMITS.object_uuid}),
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

