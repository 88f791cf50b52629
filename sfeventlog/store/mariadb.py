"""The production event store: MariaDB >= 10.11 through PyMySQL.

Write path: one transaction per batch, multi-row inserts (PyMySQL's
``executemany`` rewrites ``INSERT ... VALUES`` into one statement).  The
statement's affected-row count is the number of new events; when a batch of
several event types holds replays, the insert is redone one statement per
type so ``database_events_inserted_total{event_type}`` stays exact.

Replays are no-ops through ``ON DUPLICATE KEY UPDATE event_uuid = event_uuid``
rather than ``INSERT IGNORE``: same effect on duplicates, but IGNORE would
also turn "data too long" or "incorrect string value" into warnings and
silently store truncated or dropped rows.  The session runs in strict SQL
mode for the same reason.

Connection: one, opened lazily, reused across batches, with connect/read/write
timeouts from Settings.  A connection lost between batches (e.g. idle
timeout) is replaced and the batch tried once more at once; a server that is
really down raises ``RetryableError``.  On first connect the server is checked
(version, InnoDB, utf8mb4), and on first use the schema: what tables, columns
and keys are really there (``sfeventlog.store.schema_plan``).  A database
upstream Shaken Fist created (no ``event_objects.ordinal``) is written to as
it is, objects without their order, with one warning naming ``sfeventlog
migrate``, and looked at again every ``UPSTREAM_LAYOUT_RECHECK`` seconds, so a
migration run elsewhere is picked up without a restart; a missing or
unusable schema raises ``SchemaError``.

The password (a ``SecretStr``) is unwrapped only in the ``connect`` call.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import pymysql
import pymysql.cursors

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, PermanentError, RetryableError, SfEventlogError
from sfeventlog.records import EventRecord
from sfeventlog.store import metrics
from sfeventlog.store.base import (
    READ_LIMIT_DEFAULT,
    EventStore,
    SchemaError,
    WriteResult,
)
from sfeventlog.store.compat import IncompatibleServerError, server_problems
from sfeventlog.store.locks import MariaDBNamedLock, NamedLock
from sfeventlog.store.mariadb_errors import ErrorKind, classify, error_number
from sfeventlog.store.rows import (
    EVENT_COLUMNS,
    OBJECT_COLUMNS,
    ObjectRow,
    dedupe,
    event_row,
    object_events_query,
    object_rows,
    records_from_rows,
)
from sfeventlog.store.schema import (
    MARIADB_STEPS,
    MARIADB_VERSIONS_TABLE,
    RECORD_VERSIONS,
    TABLES,
)
from sfeventlog.store.schema_plan import (
    Found,
    Layout,
    Migration,
    Plan,
    migration,
    objects_order,
    plan,
)

LOG = logging.getLogger(__name__)
T = TypeVar("T")
if TYPE_CHECKING:
    Conn = pymysql.connections.Connection[pymysql.cursors.Cursor]

#: "Cannot execute statement: ... BINLOG_FORMAT = STATEMENT ..." (READ COMMITTED writes).
ER_BINLOG_STMT_MODE_AND_ROW_ENGINE = 1665
SESSION_SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)})"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    " ON DUPLICATE KEY UPDATE event_uuid = event_uuid"
)
#: By layout: with ``ordinal``, or upstream's three columns (``Layout.ordinal``).
INSERT_OBJECTS = {
    ordinal: f"INSERT INTO event_objects ({', '.join(OBJECT_COLUMNS[:n])})"
             f" VALUES ({', '.join(['%s'] * n)}) ON DUPLICATE KEY UPDATE event_uuid = event_uuid"
    for ordinal, n in ((True, 4), (False, 3))
}
#: A migration waits this long (seconds) for a metadata lock, not forever:
#: while it waits, every new write to the table queues behind it.
MIGRATE_LOCK_WAIT = 10
#: How often (seconds) a store writing upstream's layout looks for ``ordinal`` again.
UPSTREAM_LAYOUT_RECHECK = 60.0


def password_is_sendable(password: str) -> bool:
    """Whether PyMySQL can encode ``password`` (it uses latin-1)."""
    return all(ord(c) < 256 for c in password)


class MariaDBEventStore(EventStore):
    """An ``EventStore`` in the MariaDB database named by ``settings``.

    Building it does no I/O.  Thread-safe: calls are serialised on the one
    connection (use one store per thread for parallel writes).
    """

    def __init__(self, settings: Settings) -> None:
        settings.require_mariadb()
        self.settings = settings
        self._conn: Conn | None = None
        self._lock = threading.Lock()
        self._server_ok = False
        self._schema_ok = False
        self._layout = Layout(ordinal=True)
        self._recheck_at = 0.0
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"MariaDBEventStore({self.where})"

    @property
    def where(self) -> str:
        """Where events go, for messages (never includes the password)."""
        s = self.settings
        place = f"socket {s.mariadb_unix_socket}" if s.mariadb_unix_socket else \
            f"{s.mariadb_host}:{s.mariadb_port}"
        return f"mariadb {s.mariadb_user}@{place}/{s.mariadb_database}"

    # -- connection ------------------------------------------------------

    def _connect(self) -> Conn:
        s = self.settings
        password = s.mariadb_password.get_secret_value()
        if not password_is_sendable(password):
            # Checked here, not left to PyMySQL: its UnicodeEncodeError would
            # look like an outage forever and carry the password in .object.
            raise ConfigError(
                "SHAKENFIST_MARIADB_PASSWORD cannot be sent to MariaDB: PyMySQL sends"
                " passwords as latin-1 and this one has characters outside it;"
                " change the password (or the setting) to latin-1 characters")
        conn: Conn = pymysql.connect(
            host=s.mariadb_host,
            port=s.mariadb_port,
            unix_socket=s.mariadb_unix_socket or None,
            user=s.mariadb_user,
            password=password,
            database=s.mariadb_database,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=s.mariadb_connect_timeout,
            read_timeout=s.mariadb_read_timeout,
            write_timeout=s.mariadb_write_timeout,
            init_command=f"SET SESSION sql_mode = '{SESSION_SQL_MODE}'",
        )
        LOG.info("connected to %s", self.where)
        if not self._server_ok:
            self._check_server(conn)
        return conn

    def _check_server(self, conn: Conn) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), @@default_storage_engine, @@character_set_database")
            row = cur.fetchone()
        assert row is not None
        problems = server_problems(str(row[0]), str(row[1]), str(row[2]))
        if problems:
            conn.close()
            raise IncompatibleServerError(f"{self.where} refused: " + "; ".join(problems))
        self._server_ok = True

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is already broken
                pass

    def _run(self, body: Callable[[Conn], T]) -> T:
        """Run ``body`` on the connection, translating and classifying errors."""
        with self._lock:
            for attempt in (1, 2):
                fresh = self._conn is None
                try:
                    if self._conn is None:
                        self._conn = self._connect()
                    return body(self._conn)
                except pymysql.MySQLError as exc:
                    kind, known = classify(exc)
                    if kind is ErrorKind.CONNECTION or not known:
                        self._drop_connection()
                    else:
                        self._rollback()
                    if kind is ErrorKind.CONNECTION and not fresh and attempt == 1:
                        LOG.info("%s: connection lost (%s); reconnecting", self.where, exc)
                        continue  # a stale connection, not an outage: try a new one
                    raise self._translate(exc, kind, known) from exc
                except SfEventlogError:
                    self._rollback()  # our own checks (schema, server): connection is fine
                    raise
                except Exception as exc:
                    # PyMySQL can leak non-MySQL errors from a half-broken
                    # connection; never reuse it, and let the batch be retried.
                    self._drop_connection()
                    metrics.STORE_UNEXPECTED_ERRORS.labels("mariadb", type(exc).__name__).inc()
                    raise RetryableError(
                        f"{self.where}: unexpected {type(exc).__name__}: {exc}"
                    ) from exc
            raise AssertionError("unreachable")

    def _rollback(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rollback()
        except Exception:  # noqa: BLE001 - the connection is then useless
            self._drop_connection()

    def _translate(self, exc: pymysql.MySQLError, kind: ErrorKind, known: bool) -> Exception:
        number = error_number(exc)
        text = f"{self.where}: {exc}"
        if not known:
            metrics.STORE_UNEXPECTED_ERRORS.labels(
                "mariadb", str(number) if number is not None else type(exc).__name__
            ).inc()
            return RetryableError(f"{text} (unclassified error, treated as retryable)")
        if kind is ErrorKind.PERMANENT:
            return PermanentError(text)
        if kind is ErrorKind.SCHEMA:
            self._schema_ok = False
            return SchemaError(f"{text}; run `sfeventlog migrate`")
        return RetryableError(text)

    # -- schema ------------------------------------------------------------

    def _introspect(self, cur: pymysql.cursors.Cursor) -> Found:
        """What is really there: columns and keys from information_schema, and version rows."""
        names = (*TABLES, "schema_versions")
        marks = ", ".join(["%s"] * len(names))
        cur.execute("SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS"
                    f" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({marks})", names)
        columns: dict[str, set[str]] = {}
        for table, column in cur.fetchall():
            columns.setdefault(str(table), set()).add(str(column).lower())
        cur.execute("SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS"
                    f" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({marks})"
                    " ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX", names)
        keys: dict[str, dict[str, tuple[str, ...]]] = {}
        for table, index, column in cur.fetchall():
            table_keys = keys.setdefault(str(table), {})
            table_keys[str(index)] = (*table_keys.get(str(index), ()), str(column).lower())
        versions: dict[str, int] = {}
        if "schema_versions" in columns:
            cur.execute("SELECT table_name, version FROM schema_versions")
            versions = {str(name): int(version) for name, version in cur.fetchall()}
        return Found({t: frozenset(c) for t, c in columns.items()}, keys, versions)

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            LOG.warning("%s", message)

    def _use(self, found_plan: Plan) -> None:
        """Adopt a usable plan's layout, warning once about what migrate would add."""
        assert found_plan.layout is not None
        self._layout = found_plan.layout
        self._recheck_at = time.monotonic() + UPSTREAM_LAYOUT_RECHECK
        for note in found_plan.notes:
            self._warn_once(f"{self.where}: {note}")
        if not found_plan.layout.ordinal:
            self._warn_once(
                f"{self.where}: upstream Shaken Fist's events schema ({found_plan.found});"
                " objects are stored and read without their order until `sfeventlog"
                " migrate` adds event_objects.ordinal")
        self._schema_ok = True

    def _check_schema(self, conn: Conn) -> None:
        if self._schema_ok and (self._layout.ordinal or time.monotonic() < self._recheck_at):
            return
        with conn.cursor() as cur:
            found = self._introspect(cur)
        conn.commit()  # end the read snapshot the check opened
        found_plan = plan(found, self.where)
        if found_plan.problem:
            raise SchemaError(found_plan.problem)
        self._use(found_plan)

    def _apply(self, conn: Conn, cur: pymysql.cursors.Cursor) -> tuple[Plan, Plan]:
        """Run the steps the schema needs; the plans before and after."""
        # DDL commits implicitly in MariaDB; each step is itself idempotent.
        cur.execute(MARIADB_VERSIONS_TABLE)
        before = plan(self._introspect(cur), self.where)
        if before.blocker:
            raise SchemaError(before.blocker)
        for step in before.steps:
            for statement in MARIADB_STEPS.get(step, []):
                cur.execute(statement)
        if RECORD_VERSIONS in before.steps:
            # Only missing or lower rows; GREATEST in case another migrator raced us.
            cur.executemany(
                "INSERT INTO schema_versions (table_name, version, updated_at)"
                " VALUES (%s, %s, UNIX_TIMESTAMP(NOW(6)))"
                " ON DUPLICATE KEY UPDATE updated_at = IF(version < VALUES(version),"
                " VALUES(updated_at), updated_at),"
                " version = GREATEST(version, VALUES(version))",
                before.versions,
            )
        conn.commit()
        after = plan(self._introspect(cur), self.where)
        conn.commit()
        return before, after

    def migrate(self, dry_run: bool = False) -> Migration:
        def look(conn: Conn) -> Migration:
            with conn.cursor() as cur:
                found_plan = plan(self._introspect(cur), self.where)
            conn.commit()
            if found_plan.blocker:
                raise SchemaError(found_plan.blocker)
            return migration(found_plan, applied=False)

        def body(conn: Conn) -> Migration:
            with conn.cursor() as cur:
                cur.execute(f"SET SESSION lock_wait_timeout = {MIGRATE_LOCK_WAIT}")
                try:
                    before, after = self._apply(conn, cur)
                finally:
                    cur.execute("SET SESSION lock_wait_timeout = DEFAULT")
            if after.problem or after.steps:
                raise SchemaError(f"{self.where}: migrate left the schema incomplete"
                                  f" ({after.found}; still to do: {', '.join(after.steps)})")
            self._use(after)
            done = migration(before, applied=True)
            for line in done.steps:
                LOG.info("%s: migrate: %s", self.where, line)
            return done

        return self._run(look if dry_run else body)

    # -- EventStore --------------------------------------------------------

    def _write_batch(self, records: Sequence[EventRecord]) -> WriteResult:
        unique, _ = dedupe(records)
        rows = [event_row(r) for r in unique]
        objects = [row for r in unique for row in object_rows(r)]
        counts = Counter(r.event_type for r in unique)

        def body(conn: Conn) -> WriteResult:
            self._check_schema(conn)
            if not unique:
                return WriteResult(0, len(records), {})
            # No BEGIN: with autocommit off the first INSERT opens the
            # transaction, which saves a round trip per batch.
            with conn.cursor() as cur:
                inserted = int(cur.executemany(INSERT_EVENTS, rows) or 0)
                if inserted == len(unique) or len(counts) == 1:
                    by_type = {t: (n if inserted == len(unique) else inserted)
                               for t, n in counts.items()}
                else:
                    # Replayed events among several types: redo the insert one
                    # statement per type, whose counts say which types were new.
                    # Rare (replays only), so the common case stays one statement.
                    conn.rollback()
                    by_type = {
                        t: int(cur.executemany(INSERT_EVENTS, [r for r in rows if r[1] == t]) or 0)
                        for t in counts
                    }
                cur.executemany(INSERT_OBJECTS[self._layout.ordinal],
                                self._object_rows(objects))
            conn.commit()
            total = sum(by_type.values())
            return WriteResult(total, len(records) - total, by_type)

        return self._run(body)

    def get_object_events(
        self,
        object_type: str,
        object_uuid: str,
        limit: int = READ_LIMIT_DEFAULT,
        event_type: str | None = None,
    ) -> list[EventRecord]:
        sql, args = object_events_query("%s", object_type, object_uuid, limit, event_type)

        def body(conn: Conn) -> list[EventRecord]:
            self._check_schema(conn)
            with conn.cursor() as cur:
                cur.execute(sql, args)
                rows = list(cur.fetchall())
                records = self._with_objects(cur, rows)
            conn.commit()
            return records

        return self._run(body)

    def get_events(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        uuids = list(dict.fromkeys(event_uuids))

        def body(conn: Conn) -> list[EventRecord]:
            self._check_schema(conn)
            rows: list[tuple[Any, ...]] = []
            with conn.cursor() as cur:
                for start in range(0, len(uuids), 500):
                    chunk = uuids[start:start + 500]
                    cur.execute(
                        f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
                        f" WHERE event_uuid IN ({', '.join(['%s'] * len(chunk))})", chunk)
                    rows += cur.fetchall()
                records = self._with_objects(cur, rows)
            conn.commit()
            return records

        return self._run(body)

    def _object_rows(self, objects: list[ObjectRow]) -> list[tuple[Any, ...]]:
        """The ``event_objects`` rows in the layout's shape (no ordinal upstream)."""
        if self._layout.ordinal:
            return list(objects)
        return [row[:3] for row in objects]

    def _with_objects(self, cur: pymysql.cursors.Cursor,
                      rows: list[tuple[Any, ...]]) -> list[EventRecord]:
        objects: dict[str, list[tuple[str, str]]] = {str(r[0]): [] for r in rows}
        keys = list(objects)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            cur.execute(
                "SELECT object_type, object_uuid, event_uuid FROM event_objects"
                f" WHERE event_uuid IN ({', '.join(['%s'] * len(chunk))})"
                f" ORDER BY {objects_order(self._layout)}", chunk)
            for object_type, object_uuid, event_uuid in cur.fetchall():
                objects[event_uuid].append((object_type, object_uuid))
        return records_from_rows(rows, objects)

    def ping(self) -> None:
        """Connect if needed, check the schema and read one events row."""
        def body(conn: Conn) -> None:
            self._check_schema(conn)
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM events LIMIT 1")
                cur.fetchall()
            conn.commit()

        self._run(body)

    def approx_rows(self) -> int:
        def body(conn: Conn) -> int:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT TABLE_ROWS FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'events'"
                )
                row = cur.fetchone()
            conn.commit()
            return int(row[0] or 0) if row else 0

        return self._run(body)

    # -- lifecycle (see sfeventlog.store.prune) ---------------------------

    placeholder = "%s"

    #: READ COMMITTED for prune statements, unless the server's binlog forbids it.
    _prune_read_committed = True

    def _execute_delete(self, sql: str, args: Sequence[Any]) -> int:
        """One prune statement at READ COMMITTED: its subquery then locks only the
        aged rows it deletes, with no gap locks, so concurrent inserts of new
        events neither wait on it nor deadlock with it."""
        def body(conn: Conn) -> int:
            self._check_schema(conn)
            with conn.cursor() as cur:
                if self._prune_read_committed:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                try:
                    deleted = int(cur.execute(sql, list(args)) or 0)
                except pymysql.MySQLError as exc:
                    if error_number(exc) != ER_BINLOG_STMT_MODE_AND_ROW_ENGINE:
                        raise
                    # binlog_format=STATEMENT: READ COMMITTED writes are refused.
                    conn.rollback()
                    self._prune_read_committed = False
                    deleted = int(cur.execute(sql, list(args)) or 0)
            conn.commit()
            return deleted

        return self._run(body)

    def _execute_select(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        def body(conn: Conn) -> list[tuple[Any, ...]]:
            self._check_schema(conn)
            with conn.cursor() as cur:
                cur.execute(sql, list(args))
                rows = [tuple(r) for r in cur.fetchall()]
            conn.commit()  # end the read snapshot
            return rows

        return self._run(body)

    def _execute_count(self, sql: str, args: Sequence[Any]) -> int:
        def body(conn: Conn) -> int:
            self._check_schema(conn)
            with conn.cursor() as cur:
                cur.execute(sql, list(args))
                row = cur.fetchone()
            conn.commit()
            return int(row[0] or 0) if row else 0

        return self._run(body)

    def named_lock(self, name: str) -> NamedLock:
        # Scoped to the database (servers of other databases share the
        # MariaDB); hashed, so a long name can never truncate two locks to one.
        scope = hashlib.sha1(self.settings.mariadb_database.encode()).hexdigest()[:16]
        return MariaDBNamedLock(f"sfeventlog.{scope}.{name}", self._connect)

    def close(self) -> None:
        with self._lock:
            self._drop_connection()
            self._schema_ok = False
