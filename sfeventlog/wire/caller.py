"""Caller attribution on sf-database calls: upstream's ``caller-daemon`` / ``caller-node``.

Upstream's clients stamp every sf-database call with these two metadata
keys (from a client interceptor) and sf-database counts requests by
``caller-daemon``.  ``sfeventlog.start(daemon_name)`` records the name
here; until then, as upstream, the daemon is ``unknown``.  No grpc import:
``sfeventlog.api`` sets the name without loading grpc.  The interceptor
that sends the keys is ``sfeventlog.wire.client.CallerMetadataInterceptor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CALLER_DAEMON = "caller-daemon"
CALLER_NODE = "caller-node"
UNKNOWN = "unknown"

# One string reference: reads and the once-at-start write are atomic.
_caller_daemon = UNKNOWN


def set_caller_daemon(name: str) -> None:
    """Record this process's daemon name (``sfeventlog.start`` does)."""
    global _caller_daemon
    _caller_daemon = name or UNKNOWN


def caller_daemon() -> str:
    """This process's daemon name, or ``unknown`` before ``set_caller_daemon``."""
    return _caller_daemon


def metadata_value(metadata: Sequence[tuple[str, Any]] | None, key: str) -> str:
    """The first value of ``key`` in invocation metadata, or ``unknown``."""
    for name, value in metadata or ():
        if name == key:
            return str(value)
    return UNKNOWN
