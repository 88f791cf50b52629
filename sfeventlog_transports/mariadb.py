"""The ``mariadb`` transport: batches straight into MariaDB through PyMySQL.

Configuration: ``SHAKENFIST_MARIADB_HOST``, ``_PORT``, ``_USER``,
``_PASSWORD``, ``_DATABASE``, ``_UNIX_SOCKET`` and the ``_CONNECT_TIMEOUT`` /
``_READ_TIMEOUT`` / ``_WRITE_TIMEOUT`` keys.  Run ``sfeventlog migrate
--mariadb`` once before first use.
"""

from __future__ import annotations

from sfeventlog.config import Settings
from sfeventlog.store.base import EventStore
from sfeventlog_transports._store import StoreTransport


class MariaDBTransport(StoreTransport):
    """Writes each batch in one MariaDB transaction (see ``MariaDBEventStore``)."""

    api_version = 1
    #: One connection, so one batch in flight; the drainer reads and parses
    #: the next batch while MariaDB commits this one.
    max_in_flight = 1

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        settings.require_mariadb()  # fail at load, not as an endless retry

    def make_store(self) -> EventStore:
        # Imported here so that listing or loading transports stays cheap.
        from sfeventlog.store.mariadb import MariaDBEventStore

        return MariaDBEventStore(self.settings)
