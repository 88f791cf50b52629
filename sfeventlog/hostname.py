"""This host's FQDN, resolved in the background so no caller waits on DNS.

``socket.getfqdn()`` asks the resolver, which can take the resolver's whole
timeout when DNS is down.  ``fqdn()`` never waits: until the background
lookup has finished it returns ``socket.gethostname()``, which is also what
``getfqdn()`` itself returns when the lookup fails.
"""

from __future__ import annotations

import os
import socket
import threading

_lock = threading.Lock()
_done = threading.Event()
_resolved: str | None = None
_started = False


def _resolve() -> None:
    global _resolved
    try:
        name = socket.getfqdn()
    except Exception:  # noqa: BLE001 - fall back, as getfqdn itself does
        name = ""
    _resolved = name or socket.gethostname()
    _done.set()


def start_resolving() -> None:
    """Start the lookup on a daemon thread, once per process."""
    global _started
    if _started:
        return
    with _lock:
        if _started:
            return
        _started = True
        threading.Thread(target=_resolve, name="eventlog-fqdn", daemon=True).start()


def fqdn() -> str:
    """The resolved FQDN, or the host name while the lookup is still running."""
    if _resolved is not None:
        return _resolved
    start_resolving()
    return _resolved or socket.gethostname()


def wait(timeout: float) -> bool:
    """Wait up to ``timeout`` for the lookup (not for callers' threads); True once resolved."""
    start_resolving()
    return _done.wait(timeout)


def _after_fork_in_child() -> None:
    # A lookup in flight at fork has no thread in the child: start again.
    global _lock, _done, _started
    _lock = threading.Lock()
    if _resolved is None:
        _done = threading.Event()
        _started = False


os.register_at_fork(after_in_child=_after_fork_in_child)
