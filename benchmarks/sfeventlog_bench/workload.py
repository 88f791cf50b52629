"""What the benchmarks write: one typical event, spool rows, store records."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

from sfeventlog.ids import uuid7
from sfeventlog.payload import build_payload, encode
from sfeventlog.records import EventRecord

BATCH = 100
FQDN = "node-07.cloud.example.com"
#: add_event arguments of a typical event (an instance state change).
EVENT: dict[str, Any] = {
    "event_type": "audit",
    "object_type": "instance",
    "object_uuid": "6d4a7f0e-2b1c-4d57-9a3e-8f1b2c3d4e5f",
    "message": "Instance state changed",
    "extra": {"state": "running", "previous": "creating"},
}


def event_payload() -> bytes:
    """The spool payload add_event writes for ``EVENT`` (for the raw references)."""
    return encode(build_payload(
        event_type=EVENT["event_type"], objects=[(EVENT["object_type"], EVENT["object_uuid"])],
        message=EVENT["message"], fqdn=FQDN, extra=EVENT["extra"],
    ))


def spool_rows(count: int) -> Iterator[tuple[bytes, float]]:
    """``count`` distinct spool rows ``(payload, created_at)``, each its own event_uuid."""
    template = event_payload()
    start = template.index(b'"event_uuid":"') + len(b'"event_uuid":"')
    head, tail = template[:start], template[start + 36:]  # a uuid is 36 characters
    now = time.time()
    for _ in range(count):
        yield head + uuid7().encode() + tail, now


# -- store records (absorbed from the store engineer's store_bench.py) -------

_v7_state = {"ms": 0, "seq": 0}


def uuid7_at(ms: int) -> str:
    """A v7 uuid for the millisecond ``ms`` (monotonic within this process)."""
    if ms <= _v7_state["ms"]:
        ms = _v7_state["ms"]
        _v7_state["seq"] += 1
        if _v7_state["seq"] > 0xFFF:
            ms += 1
            _v7_state["seq"] = 0
    else:
        _v7_state["seq"] = 0
    _v7_state["ms"] = ms
    rand = random.getrandbits(62)
    value = (ms << 80) | (0x7 << 76) | (_v7_state["seq"] << 64) | (0b10 << 62) | rand
    return str(uuid.UUID(int=value))


def new_uuid(kind: str) -> str:
    """A time-ordered (``v7``) or random (``v4``) event uuid."""
    return uuid7_at(time.time_ns() // 1_000_000) if kind == "v7" else str(uuid.uuid4())


class Objects:
    """A fixed pool of object uuids, like a cloud's instances."""

    def __init__(self, count: int = 1000) -> None:
        self.uuids = [str(uuid.uuid4()) for _ in range(count)]

    def pick(self) -> tuple[str, str]:
        return ("instance", random.choice(self.uuids))


def make_records(n: int, kind: str, objects: Objects) -> list[EventRecord]:
    now = time.time()
    return [
        EventRecord(
            event_uuid=new_uuid(kind), event_type="audit", timestamp=now + i * 1e-3,
            fqdn=FQDN, message=f"Instance state changed {i}", duration=0.012,
            extra={"state": "running", "n": i}, request_id=None, objects=[objects.pick()],
        )
        for i in range(n)
    ]


def batches(kind: str, objects: Objects, count: int) -> list[list[EventRecord]]:
    """``count`` batches of ``BATCH`` fresh records."""
    return [make_records(BATCH, kind, objects) for _ in range(count)]
