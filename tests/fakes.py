"""In-process test doubles for unit tests of the core (never a matrix backend)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sfeventlog.config import Settings
from sfeventlog.records import EventRecord
from sfeventlog.testing import MockTransport


class RecordingTransport(MockTransport):
    """The public ``MockTransport`` with a failure script for the core's tests.

    ``fail_with`` is consulted per call: return an exception to raise, or
    None to accept the batch.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        fail_with: Callable[[Sequence[EventRecord]], BaseException | None] | None = None,
    ) -> None:
        super().__init__(self._scripted, settings)
        self.fail_with = fail_with

    def _scripted(self, records: Sequence[EventRecord]) -> None:
        exc = self.fail_with(records) if self.fail_with else None
        if exc is not None:
            raise exc
