"""Daemon threads that run a drainer's transport calls, so it can read ahead.

Not ``concurrent.futures.ThreadPoolExecutor``: its workers are joined, and
new work refused, when the interpreter starts shutting down, before
``atexit`` handlers run; the drain at exit (``sfeventlog.stop``, an atexit
handler) must still be able to send.  These threads are daemons, as the
drainer's own thread is, and results travel in ``concurrent.futures.Future``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_Work = tuple[Future[Any], Callable[[], Any]]
_STOP = None


class Senders:
    """``size`` daemon threads named ``name-N``, started on first use."""

    def __init__(self, size: int, name: str) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self._name = name
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, call: Callable[[], T]) -> Future[T]:
        """Run ``call`` on one of the threads; its result or exception goes to the future."""
        with self._lock:
            if self._closed:
                raise RuntimeError("senders are shut down")
            if not self._threads:
                for n in range(self.size):
                    thread = threading.Thread(target=self._work, name=f"{self._name}-{n}",
                                              daemon=True)
                    thread.start()
                    self._threads.append(thread)
        future: Future[T] = Future()
        self._queue.put((future, call))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting drainer
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self) -> None:
        """Let the threads end once the work already queued is done. Safe twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._queue.put(_STOP)
