"""What a transport author provides to run the contract kit."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from sfeventlog.config import Settings
from sfeventlog.ids import uuid7
from sfeventlog.records import EventRecord
from sfeventlog.testing.requirements import Requirement


@runtime_checkable
class ContractBackend(Protocol):
    """A transport under test plus a way to look inside its store.

    ``name`` is the entry-point name; the kit builds every transport through
    ``sfeventlog.loader`` by that name, so registration is tested too.

    ``meets`` lists the requirements (``sfeventlog.testing.Requirement``)
    this backend meets; ``unmet`` gives the reason for every other one. The
    kit calls a method below only when its requirement is met.
    """

    name: str
    meets: frozenset[Requirement]
    unmet: Mapping[Requirement, str]

    def settings(self) -> Settings:
        """Settings that select this transport and point at a working store."""
        ...

    def unreachable_settings(self) -> Settings:
        """Settings that select this transport but point at no store
        (needs ``UNREACHABLE``)."""
        ...

    def read_back(self, event_uuids: Sequence[str]) -> list[EventRecord]:
        """The stored records with these uuids (needs ``READ_BACK``)."""
        ...

    def count_stored(self, event_uuids: Sequence[str]) -> int:
        """How many stored copies of these events exist (duplicates count)."""
        ...

    def rejected_record(self) -> EventRecord:
        """A valid EventRecord the store rejects (needs ``REJECTS_RECORDS``)."""
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
