"""The embedded event store: one SQLite file, no server.

For the quick start, single-node development and the demo.  Same schema and
column limits as MariaDB (see ``sfeventlog.store.schema``), so a record one
store rejects the other rejects too.

Differences from the MariaDB store, on purpose:

* ``write_batch`` creates the schema in a new file itself (an embedded file
  has no DBA to run ``migrate`` first); an existing file whose schema is
  unusable still raises ``SchemaError``.  Reads never create anything.
* ``approx_rows`` is ``max(rowid)``: O(log n), an upper bound after deletes.

Durability: WAL with ``synchronous=FULL``, so a returned ``write_batch``
survives a power cut, not only a process crash.  Several processes may share
one file; a writer waits up to ``BUSY_TIMEOUT`` seconds for the lock.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.records import EventRecord
from sfeventlog.sqlite_tx import immediate
from sfeventlog.store import metrics
from sfeventlog.store.base import (
    READ_LIMIT_DEFAULT,
    EventStore,
    SchemaError,
    WriteResult,
)
from sfeventlog.store.locks import FileNamedLock, NamedLock
from sfeventlog.store.rows import (
    EVENT_COLUMNS,
    OBJECT_COLUMNS,
    dedupe,
    event_row,
    group_by_type,
    object_events_query,
    object_rows,
    records_from_rows,
)
from sfeventlog.store.schema import (
    RECORD_VERSIONS,
    SQLITE_STEPS,
    SQLITE_VERSIONS_TABLE,
    TABLES,
)
from sfeventlog.store.schema_plan import Found, Layout, Migration, migration, objects_order, plan

LOG = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT = 10.0

_INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (event_uuid) DO NOTHING"
)
# ON CONFLICT rather than INSERT OR IGNORE: OR IGNORE would also swallow CHECK
# failures (over-long fields), silently dropping rows instead of rejecting them.
_INSERT_OBJECT = {
    ordinal: f"INSERT INTO event_objects ({', '.join(OBJECT_COLUMNS[:n])})"
             f" VALUES ({', '.join('?' * n)}) ON CONFLICT DO NOTHING"
    for ordinal, n in ((True, 4), (False, 3))
}


def _classify(exc: sqlite3.Error) -> Exception:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
        return PermanentError(f"sqlite store rejected the batch: {text}")
    if isinstance(exc, sqlite3.OperationalError) and "no such table" in text:
        return SchemaError(text)
    if isinstance(exc, sqlite3.OperationalError):
        # Locked, busy, disk full or I/O error: the same batch may go in later.
        return RetryableError(f"sqlite store unavailable: {text}")
    metrics.STORE_UNEXPECTED_ERRORS.labels("sqlite", type(exc).__name__).inc()
    return RetryableError(f"sqlite store: unexpected {type(exc).__name__}: {text}")


class SqliteEventStore(EventStore):
    """An ``EventStore`` in the SQLite file at ``path`` (created on first write).

    Thread-safe: calls are serialised on one connection.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._schema_ok = False
        self._layout = Layout(ordinal=True)

    def __repr__(self) -> str:
        return f"SqliteEventStore({str(self.path)!r})"

    @property
    def where(self) -> str:
        return f"sqlite {self.path}"

    # -- connection ------------------------------------------------------

    def _connection(self, create: bool) -> sqlite3.Connection:
        if self._conn is None:
            if not create and not self.path.exists():
                raise SchemaError(
                    f"sqlite events store {self.path} does not exist; nothing has been"
                    " written there yet (or run `sfeventlog migrate --sqlite PATH`)"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT, isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn
        return self._conn

    def _guarded(self, create: bool, body: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                conn = self._connection(create)
                return body(conn)
            except sqlite3.Error as exc:  # any transaction was rolled back by ``immediate``
                raise _classify(exc) from exc
            except OSError as exc:  # the directory cannot be made or opened
                raise RetryableError(f"sqlite events store {self.path}: {exc}") from exc

    @staticmethod
    def _introspect(conn: sqlite3.Connection) -> Found:
        """What is really there: columns and keys from the table pragmas, and version rows."""
        columns: dict[str, frozenset[str]] = {}
        keys: dict[str, dict[str, tuple[str, ...]]] = {}
        for table in (*TABLES, "schema_versions"):
            names = [str(row[0]).lower() for row in
                     conn.execute("SELECT name FROM pragma_table_info(?)", (table,))]
            if not names:
                continue
            columns[table] = frozenset(names)
            table_keys = keys.setdefault(table, {})
            for _, index, _, origin, _ in conn.execute(f"PRAGMA index_list({table})").fetchall():
                cols = tuple(str(r[2]).lower() for r in conn.execute(f"PRAGMA index_info('{index}')"))
                table_keys["PRIMARY" if origin == "pk" else str(index)] = cols
        versions: dict[str, int] = {}
        if "schema_versions" in columns:
            versions = {name: int(v) for name, v in
                        conn.execute("SELECT table_name, version FROM schema_versions")}
        return Found(columns, keys, versions)

    def _migrate(self, conn: sqlite3.Connection) -> Migration:
        with immediate(conn):  # one migrator at a time across processes
            before = plan(self._introspect(conn), f"sqlite events store {self.path}")
            if before.blocker:
                raise SchemaError(before.blocker)
            for step in before.steps:
                for statement in SQLITE_STEPS.get(step, []):
                    conn.execute(statement)
            if RECORD_VERSIONS in before.steps:
                conn.execute(SQLITE_VERSIONS_TABLE)
                now = time.time()
                conn.executemany(
                    "INSERT INTO schema_versions (table_name, version, updated_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (table_name) DO UPDATE"
                    " SET version = excluded.version, updated_at = excluded.updated_at"
                    " WHERE version < excluded.version",
                    [(table, version, now) for table, version in before.versions],
                )
        self._layout = Layout(ordinal=True)
        self._schema_ok = True
        return migration(before, applied=True)

    def _check_schema(self, conn: sqlite3.Connection, create: bool) -> None:
        if self._schema_ok:
            return
        found = self._introspect(conn)
        if create and not any(t in found.columns for t in TABLES):
            self._migrate(conn)  # a new, empty file: see the module docstring
            return
        found_plan = plan(found, f"sqlite events store {self.path}")
        if found_plan.layout is None:
            raise SchemaError(found_plan.problem)
        self._layout = found_plan.layout
        self._schema_ok = True

    # -- EventStore --------------------------------------------------------

    def migrate(self, dry_run: bool = False) -> Migration:
        if dry_run:
            if not self.path.exists():  # nothing to look at, and a dry run creates nothing
                return migration(plan(Found({}, {}), str(self.path)), applied=False)
            return self._guarded(False, self._look)
        return self._guarded(True, self._migrate)

    def _look(self, conn: sqlite3.Connection) -> Migration:
        found_plan = plan(self._introspect(conn), f"sqlite events store {self.path}")
        if found_plan.blocker:
            raise SchemaError(found_plan.blocker)
        return migration(found_plan, applied=False)

    def _write_batch(self, records: Sequence[EventRecord]) -> WriteResult:
        unique, in_batch_duplicates = dedupe(records)
        groups = group_by_type(unique)
        event_rows = {t: [event_row(r) for r in rs] for t, rs in groups.items()}
        objects = [row for r in unique for row in object_rows(r)]

        def body(conn: sqlite3.Connection) -> WriteResult:
            self._check_schema(conn, create=True)
            if not unique:
                return WriteResult(0, in_batch_duplicates, {})
            inserted_by_type: dict[str, int] = {}
            with immediate(conn):
                for event_type, rows in event_rows.items():
                    inserted_by_type[event_type] = conn.executemany(_INSERT_EVENT, rows).rowcount
                layout = self._layout
                conn.executemany(_INSERT_OBJECT[layout.ordinal],
                                 objects if layout.ordinal else [o[:3] for o in objects])
            inserted = sum(inserted_by_type.values())
            return WriteResult(inserted, len(records) - inserted, inserted_by_type)

        return self._guarded(True, body)

    def get_object_events(
        self,
        object_type: str,
        object_uuid: str,
        limit: int = READ_LIMIT_DEFAULT,
        event_type: str | None = None,
    ) -> list[EventRecord]:
        sql, args = object_events_query("?", object_type, object_uuid, limit, event_type)

        def body(conn: sqlite3.Connection) -> list[EventRecord]:
            self._check_schema(conn, create=False)
            rows = conn.execute(sql, args).fetchall()
            return self._with_objects(conn, rows)

        return self._guarded(False, body)

    def get_events(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        """The stored records with these uuids (any order); for tests and tools."""
        uuids = list(dict.fromkeys(event_uuids))

        def body(conn: sqlite3.Connection) -> list[EventRecord]:
            self._check_schema(conn, create=False)
            rows = []
            for start in range(0, len(uuids), 500):
                chunk = uuids[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                rows += conn.execute(
                    f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
                    f" WHERE event_uuid IN ({marks})", chunk).fetchall()
            return self._with_objects(conn, rows)

        return self._guarded(False, body)

    def _with_objects(self, conn: sqlite3.Connection,
                      rows: list[tuple[object, ...]]) -> list[EventRecord]:
        objects: dict[str, list[tuple[str, str]]] = {str(r[0]): [] for r in rows}
        keys = list(objects)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for object_type, object_uuid, event_uuid in conn.execute(
                "SELECT object_type, object_uuid, event_uuid FROM event_objects"
                f" WHERE event_uuid IN ({marks}) ORDER BY {objects_order(self._layout)}", chunk,
            ):
                objects[event_uuid].append((object_type, object_uuid))
        return records_from_rows(rows, objects)

    def ping(self) -> None:
        """Open the file, check the schema and read one events row."""
        def body(conn: sqlite3.Connection) -> None:
            self._check_schema(conn, create=False)
            conn.execute("SELECT 1 FROM events LIMIT 1").fetchall()

        self._guarded(False, body)

    def approx_rows(self) -> int:
        def body(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT max(rowid) FROM events").fetchone()
            return int(row[0] or 0)

        return self._guarded(False, body)

    # -- lifecycle (see sfeventlog.store.prune) ---------------------------

    def _execute_delete(self, sql: str, args: Sequence[Any]) -> int:
        def body(conn: sqlite3.Connection) -> int:
            self._check_schema(conn, create=False)
            conn.execute("BEGIN IMMEDIATE")
            deleted = conn.execute(sql, list(args)).rowcount
            conn.execute("COMMIT")
            return int(deleted)

        return self._guarded(False, body)

    def _execute_select(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        def body(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            self._check_schema(conn, create=False)
            return [tuple(r) for r in conn.execute(sql, list(args)).fetchall()]

        return self._guarded(False, body)

    def _execute_count(self, sql: str, args: Sequence[Any]) -> int:
        def body(conn: sqlite3.Connection) -> int:
            self._check_schema(conn, create=False)
            row = conn.execute(sql, list(args)).fetchone()
            return int(row[0] or 0)

        return self._guarded(False, body)

    def named_lock(self, name: str) -> NamedLock:
        return FileNamedLock(name, self.path.with_name(f"{self.path.name}.{name}.lock"))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._schema_ok = False
