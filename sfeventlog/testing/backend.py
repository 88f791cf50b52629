"""What a transport author provides to run the contract kit."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from sfeventlog.config import Settings
from sfeventlog.ids import uuid7
from sfeventlog.records import EventRecord


@runtime_checkable
class ContractBackend(Protocol):
    """A transport under test plus a way to look inside its store.

    ``name`` is the entry-point name; the kit builds every transport through
    ``sfeventlog.loader`` by that name, so registration is tested too.
    """

    name: str

    def settings(self) -> Settings:
        """Settings that select this transport and point at a working store."""
        ...

    def unreachable_settings(self) -> Settings | None:
        """Settings that select this transport but point at no store, or
        None if the transport has no store to be cut off from."""
        ...

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord] | None:
        """The stored records with these uuids, or None if the store keeps
        nothing readable (a discarding transport)."""
        ...

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        """How many stored copies of these events exist (duplicates count)."""
        ...

    def rejected_record(self) -> EventRecord | None:
        """A valid EventRecord the store rejects, or None if it rejects nothing."""
        ...


_seq = itertools.count()


def make_record(**overrides: Any) -> EventRecord:
    """A valid record with a fresh uuid; override any field."""
    n = next(_seq)
    fields: dict[str, Any] = {
        "event_uuid": uuid7(),
        "event_type": "audit",
        "timestamp": round(time.time(), 6),
        "fqdn": "node-01.example.com",
        "message": f"contract event {n}",
        "duration": None,
        "extra": None,
        "request_id": None,
        "objects": [("instance", f"00000000-0000-4000-8000-{n:012d}")],
    }
    fields.update(overrides)
    return EventRecord(**fields)
