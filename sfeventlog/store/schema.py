"""The events schema, for MariaDB and SQLite, and its migrations.

One logical schema (``docs``: upstream-facts, "MariaDB schema"):

* ``events``: one row per event, keyed by ``event_uuid``;
* ``event_objects``: one row per (object, event), keyed by
  ``(object_type, object_uuid, event_uuid)``, plus ``ordinal``, the object's
  position in the record's ``objects`` list, so a read returns the list in
  the order it was written (an addition to the upstream schema; readers that
  do not know it ignore it);
* ``schema_versions``: the version of each table.

No foreign key between the two tables, on purpose (as upstream).  Key columns
use a binary collation so uuids and object types match exactly.

Column sizes come from ``sfeventlog.limits.LIMITS``, the one table of field
limits; SQLite enforces them through CHECK constraints, MariaDB through its
column types, so a record one store rejects the other rejects too.
"""

from __future__ import annotations

from sfeventlog.limits import LIMITS
from sfeventlog.store.base import SCHEMA_VERSION

#: The versioned tables, in creation order.
TABLES = ("events", "event_objects")

MARIADB_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_versions (
    table_name VARCHAR(64) NOT NULL PRIMARY KEY,
    version INT NOT NULL,
    updated_at DOUBLE NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""

#: version -> statements that bring the schema from version-1 to version.
MARIADB_MIGRATIONS: dict[int, list[str]] = {
    1: [
        f"""
        CREATE TABLE IF NOT EXISTS events (
            event_uuid CHAR({LIMITS.event_uuid}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
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
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci
        """,
        f"""
        CREATE TABLE IF NOT EXISTS event_objects (
            object_type VARCHAR({LIMITS.object_type}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            object_uuid VARCHAR({LIMITS.object_uuid}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            event_uuid CHAR({LIMITS.event_uuid}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            ordinal SMALLINT UNSIGNED NOT NULL DEFAULT 0,
            PRIMARY KEY (object_type, object_uuid, event_uuid),
            INDEX idx_event_objects_event (event_uuid)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci
        """,
    ],
}

SQLITE_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_versions (
    table_name TEXT NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL,
    updated_at REAL NOT NULL
)
"""

SQLITE_MIGRATIONS: dict[int, list[str]] = {
    1: [
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
        """
        CREATE INDEX IF NOT EXISTS idx_events_type_timestamp ON events (event_type, timestamp)
        """,
        "CREATE INDEX IF NOT EXISTS idx_events_request_id ON events (request_id)",
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
}

assert max(MARIADB_MIGRATIONS) == SCHEMA_VERSION == max(SQLITE_MIGRATIONS)

MIGRATE_HINT = "run `sfeventlog migrate` (see `sfeventlog migrate --help`)"


def pending_steps(current: dict[str, int]) -> list[int]:
    """The migration versions still to apply, given each table's version."""
    oldest = min((current.get(t, 0) for t in TABLES), default=0)
    return [v for v in range(oldest + 1, SCHEMA_VERSION + 1)]


def schema_problem(current: dict[str, int], where: str) -> str | None:
    """Why the schema cannot be used yet, or None if it is current (or newer)."""
    missing = [t for t in TABLES if t not in current]
    if missing:
        return f"{where}: the events schema is missing (no {', '.join(missing)}); {MIGRATE_HINT}"
    old = {t: v for t, v in current.items() if t in TABLES and v < SCHEMA_VERSION}
    if old:
        detail = ", ".join(f"{t} at version {v}" for t, v in sorted(old.items()))
        return (f"{where}: the events schema is too old ({detail}; this sfeventlog needs"
                f" version {SCHEMA_VERSION}); {MIGRATE_HINT}")
    return None
