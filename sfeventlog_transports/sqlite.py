"""The ``sqlite`` transport: batches into a local SQLite events store.

The embedded default for the demo and single-node development.  The file is
``SHAKENFIST_EVENTLOG_SQLITE_PATH``; its schema is created on first write.
"""

from __future__ import annotations

from sfeventlog.store.base import EventStore
from sfeventlog_transports._store import StoreTransport


class SqliteTransport(StoreTransport):
    """Writes each batch in one SQLite transaction (see ``SqliteEventStore``)."""

    def make_store(self) -> EventStore:
        from sfeventlog.store.sqlite import SqliteEventStore

        return SqliteEventStore(self.settings.eventlog_sqlite_path)
