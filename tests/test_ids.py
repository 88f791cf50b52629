from __future__ import annotations

import time
import uuid

from sfeventlog.ids import uuid7, uuid7_time


def test_uuid7_is_a_valid_version_7_uuid() -> None:
    value = uuid7()
    parsed = uuid.UUID(value)
    assert len(value) == 36
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_uuid7_strictly_increases_within_a_process() -> None:
    values = [uuid7() for _ in range(20_000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_uuid7_embeds_the_current_time() -> None:
    before = time.time()
    value = uuid7()
    assert abs(uuid7_time(value) - before) < 5.0
