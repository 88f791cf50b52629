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


def uuid7() -> str:
    """Return a new RFC 9562 version 7 UUID as a 36-character string.

    Within one process the values are strictly increasing, even for many
    calls in the same millisecond (a 12-bit counter, then a borrowed
    millisecond when it overflows).
    """
    global _last_ms, _seq
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms = now_ms
            _seq = random.getrandbits(10)
        else:
            _seq += 1
            if _seq > 0xFFF:
                _last_ms += 1
                _seq = 0
        ms, seq = _last_ms, _seq
    # Not secret, only unique: the random module (reseeded in forked
    # children) is several times cheaper than os.urandom's syscall.
    rand = random.getrandbits(62)
    h = "%032x" % ((ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand)
    # Formatted by hand: uuid.UUID() costs more than the rest together.
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7_time(value: str) -> float:
    """Return the Unix time in seconds embedded in a v7 UUID string."""
    return (uuid.UUID(value).int >> 80) / 1000.0
