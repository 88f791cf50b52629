"""One store per gRPC worker thread.

Stores hold one connection and are used by one thread at a time; the
server's workers each get their own, made on first use by a factory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerThread(Generic[T]):
    """Lazily makes one ``T`` per thread; ``close_all`` closes them all."""

    def __init__(self, factory: Callable[[], T], close: Callable[[T], None]) -> None:
        self._factory = factory
        self._close = close
        self._local = threading.local()
        self._all: list[T] = []
        self._lock = threading.Lock()

    def get(self) -> T:
        item: T | None = getattr(self._local, "item", None)
        if item is None:
            item = self._factory()
            self._local.item = item
            with self._lock:
                self._all.append(item)
        return item

    def close_all(self) -> None:
        with self._lock:
            items, self._all = self._all, []
        for item in items:
            self._close(item)
