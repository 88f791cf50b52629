"""The event-store interface shared by the MariaDB and SQLite stores.

Transports that write directly (``mariadb``, ``sqlite``) and the database
gRPC server all go through an ``EventStore``.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sfeventlog.errors import PermanentError, SfEventlogError
from sfeventlog.limits import structure_problems
from sfeventlog.records import EventRecord
from sfeventlog.store import metrics

if TYPE_CHECKING:
    from sfeventlog.store.locks import NamedLock
    from sfeventlog.store.prune import OnBatch, PruneReport, RetentionPolicy
    from sfeventlog.store.schema_plan import Migration

LOG = logging.getLogger(__name__)

READ_LIMIT_DEFAULT = 100
READ_LIMIT_MAX = 1000


class SchemaError(SfEventlogError):
    """The store's schema is missing or unusable; the message says whether
    ``sfeventlog migrate`` fixes it (see ``sfeventlog.store.schema``)."""


@dataclass(frozen=True)
class WriteResult:
    """What one ``write_batch`` did: new events, and replays it ignored."""

    inserted: int
    duplicates: int
    inserted_by_type: dict[str, int]


def clamp_limit(limit: int) -> int:
    """A read limit <= 0 means the default; anything above the cap is capped."""
    if limit <= 0:
        return READ_LIMIT_DEFAULT
    return min(limit, READ_LIMIT_MAX)


class EventStore(abc.ABC):
    """Writes batches of events and reads them back per object."""

    #: When the (cheap, not free) row estimate for ``database_events_rows`` is next due.
    _rows_due = 0.0

    def write_batch(self, records: Sequence[EventRecord], *,
                    limits_checked: bool = False) -> WriteResult:
        """Insert ``records`` in one transaction, ignoring ``event_uuid``s already stored.

        Returns only after the commit, then counts the result in the store
        metrics.  Raises ``RetryableError`` or ``PermanentError`` (classified
        store errors) or ``SchemaError``.  A record nested deeper or about more
        objects than ``sfeventlog.limits`` allows is a ``PermanentError``
        before any SQL, the same rule on every store (column lengths are the
        columns' own, sized from the same table).  ``limits_checked`` says
        the caller has already applied ``sfeventlog.limits.record_problems``
        (which includes those bounds) to every record, as the servers do,
        so they are not checked twice.
        """
        if not limits_checked:
            for record in records:
                problems = structure_problems(record)
                if problems:
                    raise PermanentError(f"event {record.event_uuid}: {'; '.join(problems)}")
        result = self._write_batch(records)
        metrics.publish_write(result.inserted_by_type, result.duplicates)
        now = time.monotonic()
        if now >= self._rows_due:
            self._rows_due = now + metrics.ROWS_REFRESH_SECONDS
            try:
                metrics.EVENTS_ROWS.set(self.approx_rows())
            except Exception as exc:  # noqa: BLE001 - a gauge must not fail a write
                LOG.debug("could not refresh database_events_rows: %s", exc)
        return result

    @abc.abstractmethod
    def _write_batch(self, records: Sequence[EventRecord]) -> WriteResult:
        """The store-specific insert behind ``write_batch``: one transaction."""

    @abc.abstractmethod
    def get_object_events(
        self,
        object_type: str,
        object_uuid: str,
        limit: int = READ_LIMIT_DEFAULT,
        event_type: str | None = None,
    ) -> list[EventRecord]:
        """Events about one object, newest first; see ``clamp_limit``."""

    @abc.abstractmethod
    def get_events(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        """The stored records with these ``event_uuid``s, in no particular order.

        For tools and tests that check what a batch left behind.
        """

    @abc.abstractmethod
    def migrate(self, dry_run: bool = False) -> Migration:
        """Create or upgrade the schema in place; idempotent.

        Never rewrites or deletes a row.  Returns what it found and did
        (false when it did nothing: the schema was already current).  With
        ``dry_run``, changes nothing and returns what it would do.  Raises
        ``SchemaError`` (changing nothing) when the tables are not a layout
        it knows how to upgrade.
        """

    @abc.abstractmethod
    def approx_rows(self) -> int:
        """A cheap estimate of the events table's size (never COUNT(*) on MariaDB)."""

    @property
    def where(self) -> str:
        """Which store this is, for messages (never a secret)."""
        return repr(self)

    def ping(self) -> None:
        """A cheap round trip proving the store answers now; returns None.

        Raises the store's classified errors (``RetryableError``,
        ``SchemaError``, ``ConfigError``, ...).  Servers call it about once a
        second to drive their health.  The default reads the row estimate.
        """
        self.approx_rows()

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection; safe to call twice."""

    # -- lifecycle: retention prune and hard delete (sfeventlog.store.prune) --

    #: The driver's placeholder in the SQL the stores share.
    placeholder = "?"

    def prune(self, policy: RetentionPolicy, *, now: float | None = None,
              dry_run: bool = False, on_batch: OnBatch | None = None) -> PruneReport:
        """The three-stage retention prune (see ``sfeventlog.store.prune``)."""
        from sfeventlog.store.prune import prune_store

        return prune_store(self, policy, now=now, dry_run=dry_run, on_batch=on_batch)

    def delete_object_events(self, object_type: str, object_uuid: str) -> int:
        """Delete one object's references; returns how many rows went."""
        from sfeventlog.store.prune import delete_object

        return delete_object(self, object_type, object_uuid)

    def named_lock(self, name: str) -> NamedLock:
        """A lock shared by every user of this store (see ``sfeventlog.store.locks``)."""
        raise NotImplementedError(f"{type(self).__name__} has no named locks")

    def _execute_delete(self, sql: str, args: Sequence[Any]) -> int:
        """Run one DELETE in its own transaction; returns the rows it deleted."""
        raise NotImplementedError(f"{type(self).__name__} cannot prune")

    def _execute_select(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one plain (non-locking) SELECT; returns its rows."""
        raise NotImplementedError(f"{type(self).__name__} cannot prune")

    def _execute_count(self, sql: str, args: Sequence[Any]) -> int:
        """Run one ``SELECT COUNT(*)``; returns the count."""
        raise NotImplementedError(f"{type(self).__name__} cannot count")
