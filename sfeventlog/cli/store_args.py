"""``--sqlite PATH | --mariadb``: which event store a CLI command reads or migrates."""

from __future__ import annotations

import argparse
from pathlib import Path

from sfeventlog.cli.common import UsageError
from sfeventlog.config import Settings
from sfeventlog.store.base import EventStore

STORE_TRANSPORTS = ("mariadb", "sqlite")


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--sqlite", type=Path, metavar="PATH",
                       help="the SQLite events store at PATH")
    group.add_argument("--mariadb", action="store_true",
                       help="the MariaDB named by SHAKENFIST_MARIADB_* settings")


def open_store(args: argparse.Namespace, settings: Settings | None = None) -> EventStore:
    """The store chosen on the command line, else the configured transport's.

    Builds it without I/O; a transport without a local store is a usage error.
    """
    settings = settings or Settings()
    if args.sqlite is not None:
        kind = "sqlite"
    elif args.mariadb:
        kind = "mariadb"
    elif settings.eventlog_transport in STORE_TRANSPORTS:
        kind = settings.eventlog_transport
    else:
        raise UsageError(
            f"the configured transport {settings.eventlog_transport!r} has no store this"
            " command can open; choose one with --sqlite PATH or --mariadb"
        )
    if kind == "sqlite":
        from sfeventlog.store.sqlite import SqliteEventStore

        return SqliteEventStore(args.sqlite or settings.eventlog_sqlite_path)
    from sfeventlog.store.mariadb import MariaDBEventStore

    return MariaDBEventStore(settings)
