"""``sfeventlog migrate``: create or upgrade the events schema (idempotent)."""

from __future__ import annotations

import argparse
from typing import Any

from sfeventlog.cli.common import add_command
from sfeventlog.cli.store_args import add_store_arguments, open_store
from sfeventlog.store.schema import CURRENT


def register(sub: Any) -> None:
    p = add_command(
        sub, "migrate", help="create or upgrade the events schema (safe to run again)",
        description="Create the events, event_objects and schema_versions tables, or"
        " upgrade them in place to this version's schema: upstream Shaken Fist's layout"
        " plus sfeventlog's additions. It decides from the tables, columns and keys really"
        " there, so it upgrades a database upstream Shaken Fist created (adding"
        " event_objects.ordinal, instantly, no row rewritten). It never deletes or rewrites"
        " a row, and running it again changes nothing. --dry-run shows what it would do."
        " Without --sqlite/--mariadb it migrates the store of the configured transport"
        " (SHAKENFIST_EVENTLOG_TRANSPORT=mariadb or sqlite). MariaDB must be >= 10.11,"
        " InnoDB, utf8mb4; the database itself must already exist.",
        examples=[
            "SHAKENFIST_MARIADB_HOST=db1 SHAKENFIST_MARIADB_PASSWORD=... sfeventlog migrate --mariadb",
            "sfeventlog migrate --sqlite /srv/shakenfist/eventlog/events.sqlite",
            "sfeventlog migrate --mariadb --dry-run",
        ],
    )
    p.add_argument("--dry-run", action="store_true",
                   help="change nothing: print what is there and what migrate would do")
    add_store_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        migration = store.migrate(dry_run=args.dry_run)
    finally:
        store.close()
    print(f"{store!r}: found {migration.found}")
    for note in migration.notes:
        print(f"  note: {note}")
    for line in migration.steps:
        print(f"  {'done' if migration.applied else 'to do'}: {line}")
    if not migration.steps:
        print(f"{store!r}: schema already at {CURRENT}; nothing to do")
    elif migration.applied:
        print(f"{store!r}: schema migrated to {CURRENT}")
    else:
        print(f"{store!r}: dry run, nothing changed; `sfeventlog migrate` would bring it to"
              f" {CURRENT}")
    return 0
