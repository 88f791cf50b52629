"""The shared body of the transports that write straight into an EventStore."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, RetryableError, SfEventlogError, TransportError
from sfeventlog.records import EventRecord
from sfeventlog.store.base import EventStore
from sfeventlog.transport import Transport


class StoreTransport(Transport):
    """Delivers each batch with ``EventStore.write_batch``.

    The store is built lazily by ``make_store`` (no I/O in ``__init__``).
    Store errors map onto the transport contract: ``RetryableError`` and
    ``PermanentError`` pass through; a missing or unusable schema or a
    refused server become ``RetryableError`` with the store's message, which
    says what to do (run ``sfeventlog migrate``, or fix the tables or the
    server by hand).  That is a loud stall on purpose, not dead letters: the
    spool keeps the events, the drainer backs off and warns at each attempt,
    and they are delivered once fixed, with no replay.
    A ``ConfigError`` (e.g. a password that cannot be sent) passes through
    as itself.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._store: EventStore | None = None

    @abc.abstractmethod
    def make_store(self) -> EventStore:
        """Build the store from ``self.settings``; must do no I/O."""

    @property
    def store(self) -> EventStore:
        if self._store is None:
            self._store = self.make_store()
        return self._store

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        """Write ``records`` in one store transaction; replays are no-ops."""
        try:
            self.store.write_batch(records)
        except (TransportError, ConfigError):
            raise  # a config error is not an outage: the drainer says so
        except SfEventlogError as exc:
            raise RetryableError(str(exc)) from exc

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()
