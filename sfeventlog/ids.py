"""Time-ordered event identifiers.

Events are keyed by ``event_uuid`` in the store.  A random (v4) key scatters
inserts across the primary-key B-tree, which collapses insert rates once the
table outgrows the buffer pool.  A v7-style key (48-bit millisecond Unix time
first) makes inserts append-mostly while staying a valid 36-character UUID.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_seq = 0
_prefix = ""  # "tttttttt-tttt-7", the formatted _last_ms; changes once per ms


def _format_ms(ms: int) -> str:
    return f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7"


def uuid7() -> str:
    """Return a new RFC 9562 version 7 UUID as a 36-character string.

    Within one process the values are strictly increasing, even for many
    calls in the same millisecond (a 12-bit counter, then a borrowed
    millisecond when it overflows).
    """
    global _last_ms, _seq, _prefix
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms = now_ms
            _seq = random.getrandbits(10)
            _prefix = _format_ms(now_ms)
        else:
            _seq += 1
            if _seq > 0xFFF:
                _last_ms += 1
                _seq = 0
                _prefix = _format_ms(_last_ms)
        prefix, seq = _prefix, _seq
    # Not secret, only unique: the random module (reseeded in forked
    # children) is several times cheaper than os.urandom's syscall.
    rand = random.getrandbits(62)
    # Formatted by hand (uuid.UUID() costs more than the rest together):
    # version 7 and the counter, then variant 0b10 and 62 random bits.
    return f"{prefix}{seq:03x}-{0x8000 | (rand >> 48):04x}-{rand & 0xFFFFFFFFFFFF:012x}"


def uuid7_time(value: str) -> float:
    """Return the Unix time in seconds embedded in a v7 UUID string."""
    return (uuid.UUID(value).int >> 80) / 1000.0
