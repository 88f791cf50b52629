"""``MockTransport``: a transport whose store is a function, for tests.

In the spirit of httpx's ``MockTransport``: the test supplies a handler
that sees each batch and either returns (the batch is stored) or raises
(``RetryableError``, ``PermanentError``, anything). Every call is recorded,
delivery by delivery, so a test can assert on exactly what the drainer sent
and in which order::

    def handler(records):
        if any(r.event_type == "bad" for r in records):
            raise PermanentError("no bad events")

    transport = MockTransport(handler)
    ...
    assert [len(d.records) for d in transport.deliveries] == [100, 50, 25, ...]
    assert set(transport.stored) == expected_uuids
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.transport import Transport

Handler = Callable[[Sequence[EventRecord]], None]


@dataclass(frozen=True)
class Delivery:
    """One ``record_event_batch`` call: what was sent and how it ended."""

    records: tuple[EventRecord, ...]
    error: BaseException | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _accept(records: Sequence[EventRecord]) -> None:
    """The default handler: the store takes everything."""


class MockTransport(Transport):
    """Hands each batch to ``handler``; records every delivery.

    ``stored`` holds the accepted records by ``event_uuid`` (a replay does
    not add a second copy, as the contract requires of a real store), and
    ``accepted`` counts every record of every accepted batch, replays
    included. ``probe`` is what ``probe()`` answers (default: no probe).
    ``max_in_flight`` is declared as a real transport would (see
    ``Transport.max_in_flight``).  Safe to call from several threads; the
    handler runs outside the lock, so concurrent calls overlap in it.
    """

    api_version = 1

    def __init__(self, handler: Handler | None = None, settings: Settings | None = None, *,
                 probe: Callable[[], bool | None] | None = None, max_in_flight: int = 0) -> None:
        super().__init__(settings or Settings(eventlog_transport="mock"))
        self.max_in_flight = max_in_flight
        self.handler = handler or _accept
        self.probe_fn: Callable[[], bool | None] = probe or (lambda: None)
        self.deliveries: list[Delivery] = []
        self.stored: dict[str, EventRecord] = {}
        self.accepted = 0
        self.probes = 0
        self.closed = 0
        self.lock = threading.Lock()

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        batch = tuple(records)
        try:
            # Outside the lock: with max_in_flight > 1 handlers may overlap.
            self.handler(batch)
        except BaseException as exc:
            with self.lock:
                self.deliveries.append(Delivery(batch, exc))
            raise
        with self.lock:
            self.deliveries.append(Delivery(batch, None))
            self.accepted += len(batch)
            for record in batch:
                self.stored.setdefault(record.event_uuid, record)

    def probe(self) -> bool | None:
        with self.lock:
            self.probes += 1
        return self.probe_fn()

    def close(self) -> None:
        with self.lock:
            self.closed += 1

    @property
    def calls(self) -> list[int]:
        """The size of each batch sent, in order."""
        with self.lock:
            return [len(d.records) for d in self.deliveries]
