"""A ``ContractBackend`` for the jsonl transport, for ``sfeventlog.testing``.

Shipped with the plugin so that any test suite (ours, or an integrator's)
can run the public contract kit against it::

    class TestJsonl(TransportContract):
        @pytest.fixture
        def contract_backend(self, tmp_path):
            return JsonlBackend(tmp_path)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sfeventlog.records import EventRecord
from sfeventlog.testing import Requirement, make_record

from sfeventlog_jsonl.transport import JsonlSettings, decode_line

MAX_LINE_BYTES = 4096


class JsonlBackend:
    """A file in ``tmp_path`` as the store; a missing directory as the outage."""

    name = "jsonl"
    # It meets every requirement of the kit; none is skipped.
    meets = frozenset(Requirement)
    unmet: dict[Requirement, str] = {}

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.path = tmp_path / "events.jsonl"

    def settings(self) -> JsonlSettings:
        return self._settings(self.path)

    def unreachable_settings(self) -> JsonlSettings:
        return self._settings(self.tmp_path / "no-such-dir" / "events.jsonl")

    def _settings(self, path: Path) -> JsonlSettings:
        return JsonlSettings(
            eventlog_transport="jsonl", eventlog_spool_dir=self.tmp_path / "spool",
            eventlog_jsonl_path=path, eventlog_jsonl_max_line_bytes=MAX_LINE_BYTES,
        )

    def stored(self) -> list[EventRecord]:
        """Every complete line in the file, in order (duplicates included)."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        return [decode_line(line) for line in data.split(b"\n") if line]

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        wanted = set(event_uuids)
        return [r for r in self.stored() if r.event_uuid in wanted]

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        return len(self.read_back(event_uuids))

    def rejected_record(self) -> EventRecord:
        # Rule: a line longer than eventlog_jsonl_max_line_bytes is refused.
        return make_record(message="x" * (MAX_LINE_BYTES + 1))
