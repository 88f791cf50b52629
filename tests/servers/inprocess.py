"""Reference servers inside the test process (for wire-level tests).

The backend matrix and flip tests run servers as separate processes; these
are for tests that talk raw bytes to a server and inspect its store at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sfeventlog.server.database import start_database_server
from sfeventlog.server.legacy import start_legacy_server
from sfeventlog.server.runtime import RunningServer, ServerOptions
from sfeventlog.store.sqlite import SqliteEventStore


@contextmanager
def database_server(sqlite_path: Path, **options: object) -> Iterator[RunningServer]:
    """A database server on a free loopback port over a SQLite store."""
    opts = ServerOptions(listen="127.0.0.1:0", grace=1.0, **options)  # type: ignore[arg-type]
    running = start_database_server(opts, lambda: SqliteEventStore(sqlite_path))
    try:
        yield running
    finally:
        running.stop(0)


@contextmanager
def legacy_server(store_dir: Path, **options: object) -> Iterator[RunningServer]:
    """A legacy sf-eventlog server on a free loopback port over ``store_dir``."""
    opts = ServerOptions(listen="127.0.0.1:0", grace=1.0, **options)  # type: ignore[arg-type]
    running = start_legacy_server(opts, store_dir)
    try:
        yield running
    finally:
        running.stop(0)
