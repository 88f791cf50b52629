"""Upstream Shaken Fist's events tables and statements, written out from its facts.

Built here from ``shared/reference/upstream-facts.md`` ("MariaDB schema",
"Upstream's own MariaDB schema") and upstream's phase 1, 3 and 4 plans, not
from sfeventlog's code, so a test can start from a database exactly as
upstream's sf-database leaves it and drive it the way upstream's code does:

* the DDL: no charset or collation anywhere (the tables take the
  database's default), ``event_objects`` with exactly three columns;
* ``schema_versions`` rows ``events = 1`` and ``event_objects = 1``, set
  with upstream's upsert;
* the batch write: one transaction, one ``INSERT IGNORE`` per event and one
  per object, naming the columns; ``duration`` 0 stored as NULL, ``extra``
  JSON-encoded by ``json.dumps`` (SQLAlchemy's JSON type, which turns a
  Python None into the JSON text ``null``);
* the phase 4 read and delete, and the phase 3 prune stages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pymysql

from sfeventlog.records import EventRecord

VERSIONS_DDL = """
CREATE TABLE schema_versions (
    table_name VARCHAR(64) NOT NULL,
    version INTEGER NOT NULL,
    updated_at DOUBLE NOT NULL,
    PRIMARY KEY (table_name)
)
"""
EVENTS_DDL = """
CREATE TABLE events (
    event_uuid   CHAR(36)     NOT NULL,
    event_type   VARCHAR(32)  NOT NULL,
    timestamp    DOUBLE       NOT NULL,
    fqdn         VARCHAR(255) NOT NULL,
    duration     DOUBLE       NULL,
    message      TEXT         NOT NULL,
    extra        JSON         NULL,
    request_id   VARCHAR(64)  NULL,
    PRIMARY KEY (event_uuid),
    INDEX idx_events_type_timestamp (event_type, timestamp),
    INDEX idx_events_request_id     (request_id)
) ENGINE=InnoDB
"""
EVENT_OBJECTS_DDL = """
CREATE TABLE event_objects (
    object_type VARCHAR(32) NOT NULL,
    object_uuid VARCHAR(36) NOT NULL,
    event_uuid  CHAR(36)    NOT NULL,
    PRIMARY KEY (object_type, object_uuid, event_uuid),
    INDEX idx_event_objects_event (event_uuid)
) ENGINE=InnoDB
"""
SET_VERSION = (
    "INSERT INTO schema_versions (table_name, version, updated_at) VALUES (%s, %s, %s)"
    " ON DUPLICATE KEY UPDATE version = %s, updated_at = %s"
)
INSERT_EVENT = (
    "INSERT IGNORE INTO events (event_uuid, event_type, timestamp, fqdn, duration, message,"
    " extra, request_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_OBJECT = (
    "INSERT IGNORE INTO event_objects (object_type, object_uuid, event_uuid) VALUES (%s, %s, %s)"
)
READ_OBJECT_EVENTS = (
    "SELECT e.event_uuid, e.event_type, e.timestamp, e.fqdn, e.duration, e.message, e.extra,"
    " e.request_id FROM event_objects eo JOIN events e ON eo.event_uuid = e.event_uuid"
    " WHERE eo.object_type = %s AND eo.object_uuid = %s AND (%s = '' OR e.event_type = %s)"
    " ORDER BY e.timestamp DESC LIMIT %s"
)
DELETE_OBJECT_EVENTS = "DELETE FROM event_objects WHERE object_type = %s AND object_uuid = %s"
PRUNE_STAGE_A = (
    "DELETE FROM event_objects WHERE event_uuid IN (SELECT e.event_uuid FROM events e"
    " WHERE e.event_type = %s AND e.timestamp < %s) LIMIT 10000"
)
PRUNE_STAGE_C = (
    "DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM event_objects eo"
    " WHERE eo.event_uuid = events.event_uuid) LIMIT 10000"
)


class Upstream:
    """Upstream's sf-database, as far as the events tables go, on one database."""

    def __init__(self, connect: Any) -> None:
        self._connect = connect

    def _conn(self) -> pymysql.connections.Connection[Any]:
        conn: pymysql.connections.Connection[Any] = self._connect()
        return conn

    def create_schema(self, tables: Sequence[str] = ("events", "event_objects")) -> None:
        """What upstream's ensure_schema leaves: the tables and their version rows."""
        ddl = {"events": EVENTS_DDL, "event_objects": EVENT_OBJECTS_DDL}
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                cur.execute(VERSIONS_DDL)
                for table in tables:
                    cur.execute(ddl[table])
                    now = time.time()
                    cur.execute(SET_VERSION, (table, 1, now, 1, now))
            conn.commit()
        finally:
            conn.close()

    def write(self, records: Sequence[EventRecord]) -> None:
        """One batch, one transaction, statement by statement as upstream does."""
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                for r in records:
                    cur.execute(INSERT_EVENT, (
                        r.event_uuid, r.event_type, r.timestamp, r.fqdn, r.duration or None,
                        r.message, json.dumps(r.extra), r.request_id))
                    for object_type, object_uuid in r.objects:
                        cur.execute(INSERT_OBJECT, (object_type, object_uuid, r.event_uuid))
            conn.commit()
        finally:
            conn.close()

    def read(self, object_type: str, object_uuid: str, limit: int = 100,
             event_type: str = "") -> list[tuple[Any, ...]]:
        return self._run(READ_OBJECT_EVENTS, (object_type, object_uuid, event_type,
                                              event_type, limit))

    def delete_object_events(self, object_type: str, object_uuid: str) -> None:
        self._run(DELETE_OBJECT_EVENTS, (object_type, object_uuid))

    def prune(self, event_type: str, before: float) -> None:
        self._run(PRUNE_STAGE_A, (event_type, before))
        self._run(PRUNE_STAGE_C, ())

    def _run(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                rows = list(cur.fetchall())
            conn.commit()
            return rows
        finally:
            conn.close()
