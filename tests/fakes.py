"""In-process test doubles for unit tests of the core (never a matrix backend)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.transport import Transport


class RecordingTransport(Transport):
    """Keeps what it is given, keyed by event_uuid; failures are scripted.

    ``fail_with`` is consulted per call: return an exception to raise, or
    None to accept the batch.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        fail_with: Callable[[Sequence[EventRecord]], BaseException | None] | None = None,
    ) -> None:
        super().__init__(settings or Settings(eventlog_transport="null"))
        self.fail_with = fail_with
        self.stored: dict[str, EventRecord] = {}
        self.calls: list[int] = []
        self.closed = 0
        self.lock = threading.Lock()
        #: What ``probe()`` answers; None means "no cheap probe".
        self.probe_fn: Callable[[], bool | None] = lambda: None
        self.probes = 0

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        with self.lock:
            self.calls.append(len(records))
            exc = self.fail_with(records) if self.fail_with else None
            if exc is not None:
                raise exc
            for record in records:
                self.stored[record.event_uuid] = record

    def probe(self) -> bool | None:
        self.probes += 1
        return self.probe_fn()

    def close(self) -> None:
        self.closed += 1
