"""The ``sqlite`` transport: batches into a local SQLite events store.

The embedded default for the demo and single-node development.  The file is
``SHAKENFIST_EVENTLOG_SQLITE_PATH``; its schema is created on first write.
"""

from __future__ import annotations

import os

from sfeventlog.errors import RetryableError
from sfeventlog.store.base import EventStore
from sfeventlog_transports._store import StoreTransport


class SqliteTransport(StoreTransport):
    """Writes each batch in one SQLite transaction (see ``SqliteEventStore``)."""

    api_version = 1

    def make_store(self) -> EventStore:
        from sfeventlog.store.sqlite import SqliteEventStore

        return SqliteEventStore(self.settings.eventlog_sqlite_path)

    def check(self) -> None:
        """Probe without creating anything: read an existing store's schema,
        or check that a new one could be created where configured."""
        path = self.settings.eventlog_sqlite_path
        if path.exists():
            self.store.approx_rows()
            return
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise RetryableError(
                f"cannot create the sqlite events store {path}: {parent} is not a writable directory"
                " (set SHAKENFIST_EVENTLOG_SQLITE_PATH)"
            )
