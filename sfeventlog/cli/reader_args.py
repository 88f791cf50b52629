"""Which read side a CLI command uses: ``--sqlite PATH | --mariadb``, else the transport's.

Like ``store_args.open_store``, plus the ``database`` transport: a daemon node
without MariaDB credentials reads, deletes and prunes through sf-database
(``sfeventlog.reads``).
"""

from __future__ import annotations

import argparse

from sfeventlog.cli.common import UsageError
from sfeventlog.cli.store_args import open_store
from sfeventlog.config import Settings
from sfeventlog.reads import READER_TRANSPORTS, DatabaseReader, EventReader, StoreReader


def open_reader_for(args: argparse.Namespace, settings: Settings | None = None) -> EventReader:
    """The reader the command line or the configured transport names (no I/O yet)."""
    settings = settings or Settings()
    if args.sqlite is None and not args.mariadb and settings.eventlog_transport == "database":
        return DatabaseReader(settings)
    if args.sqlite is None and not args.mariadb and \
            settings.eventlog_transport not in READER_TRANSPORTS:
        raise UsageError(
            f"the configured transport {settings.eventlog_transport!r} has no store this"
            " command can reach; choose one with --sqlite PATH or --mariadb, or set"
            " SHAKENFIST_EVENTLOG_TRANSPORT=database to go through sf-database"
        )
    return StoreReader(open_store(args, settings), settings)
