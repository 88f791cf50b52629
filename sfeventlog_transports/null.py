"""The ``null`` transport: accepts every batch and discards it."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from sfeventlog.records import EventRecord
from sfeventlog.transport import Transport

DISCARDED = Counter(
    "eventlog_null_discarded_total", "Events accepted and discarded by the null transport."
)


class NullTransport(Transport):
    """Discards everything and counts it; for tests, benchmarks and opting out."""

    api_version = 1

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        """Return at once; the records are counted, then forgotten."""
        DISCARDED.inc(len(records))
