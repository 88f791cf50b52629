"""Whether a server's store answers, checked at most about once a second.

A reference server is only as available as the store behind it.  A
``StoreWatch`` pings the store (``EventStore.ping`` or the legacy store's)
from a background thread every ``CHECK_INTERVAL`` seconds and on demand
(an empty batch, the clients' probe), never more often than that, and
reports each change to a callback; the servers drive their gRPC health
with it: NOT_SERVING while the store is down, SERVING once it answers.
Writes report their own outcome too, so a failing write marks the store
down at once.  A ping blocks for at most the store's own timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from grpc_health.v1 import health_pb2

LOG = logging.getLogger(__name__)

#: Seconds between two store checks, at most one check per interval.
CHECK_INTERVAL = 1.0


class StoreWatch:
    """Tracks whether the store answers; ``reason`` says why it does not.

    ``ping`` raises when the store does not answer; ``where`` names the
    store in messages.  ``start(on_change)`` calls ``on_change(up)`` on
    every transition (and once for the first check).
    """

    def __init__(self, ping: Callable[[], None], where: str,
                 interval: float = CHECK_INTERVAL) -> None:
        self._ping = ping
        self.where = where
        self._on_change: Callable[[bool], None] = lambda _up: None
        self.interval = interval
        self._check_lock = threading.Lock()  # one ping at a time
        self._state_lock = threading.Lock()  # writes never wait on a ping
        self._checked_at = float("-inf")  # monotonic time of the last check
        self._reason: str | None = None
        self._known = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def reason(self) -> str | None:
        """None while the store answers; else why not (names the store)."""
        return self._reason

    def not_ready(self) -> str | None:
        """None once a check found the store answering, else why not (never pings)."""
        if not self._known:
            return f"store {self.where} not checked yet"
        return self._reason

    def start(self, on_change: Callable[[bool], None]) -> None:
        """Report to ``on_change``; check now, then every ``interval`` s on a daemon thread."""
        self._on_change = on_change
        self._known = False
        self.current()
        self._thread = threading.Thread(target=self._loop, name="sfeventlog-store-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.current()

    def current(self) -> str | None:
        """The store's state, checked now unless a check finished within ``interval``."""
        with self._check_lock:
            if time.monotonic() - self._checked_at >= self.interval:
                try:
                    self._ping()
                except Exception as exc:  # noqa: BLE001 - any failure means "down"
                    self.note(exc)
                else:
                    self.note(None)
                self._checked_at = time.monotonic()
        return self._reason

    def note(self, failure: BaseException | None) -> None:
        """What a real write (or ping) just showed: None (it worked) or its error."""
        with self._state_lock:
            self._set(None if failure is None else self.describe(failure))

    def describe(self, failure: BaseException) -> str:
        """``failure`` as a reason that names the store once."""
        text = str(failure)
        return text if self.where in text else f"{self.where}: {type(failure).__name__}: {text}"

    def _set(self, reason: str | None) -> None:
        was_up = self._reason is None
        self._reason = reason
        if self._known and was_up == (reason is None):
            return
        first, self._known = not self._known, True
        if reason is None:
            # A recovery is worth a line at the servers' default level.
            (LOG.info if first else LOG.warning)("store %s answers: health SERVING", self.where)
        else:
            LOG.warning("store down, health NOT_SERVING: %s", reason)
        try:
            self._on_change(reason is None)
        except Exception as exc:  # noqa: BLE001 - health must never break the watch
            LOG.warning("could not update health: %s", exc)


class HealthSetter(Protocol):
    """What health_follows needs: the server's health, settable from any thread."""

    def set(self, service: str, status: int) -> None: ...


def health_follows(watch: StoreWatch, servicer: HealthSetter,
                   services: Sequence[str]) -> None:
    """Start ``watch``; the health of the server ("") and of ``services`` follows it."""
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING

    def on_change(up: bool) -> None:
        for name in ["", *services]:
            servicer.set(name, serving if up else not_serving)

    watch.start(on_change)
