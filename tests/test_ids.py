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


def test_forked_processes_do_not_repeat_each_other() -> None:
    import os

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_fd, "\n".join(uuid7() for _ in range(2000)).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    mine = {uuid7() for _ in range(2000)}
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.waitpid(pid, 0)
    theirs = set(b"".join(chunks).decode().split("\n"))
    assert len(theirs) == 2000
    assert not mine & theirs


def test_uuid7_fields_decode_as_time_counter_variant_and_random() -> None:
    before_ms = time.time_ns() // 1_000_000
    values = [uuid.UUID(uuid7()) for _ in range(5000)]
    for value in values:
        assert value.version == 7 and value.variant == uuid.RFC_4122
        assert (value.int >> 80) >= before_ms
    # The 12-bit counter right after the version nibble keeps ids in one
    # millisecond ordered.
    assert [v.int for v in values] == sorted(v.int for v in values)
