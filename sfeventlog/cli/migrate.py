"""``sfeventlog migrate``: create or upgrade the events schema (idempotent)."""

from __future__ import annotations

import argparse
from typing import Any

from sfeventlog.cli.common import add_command
from sfeventlog.cli.store_args import add_store_arguments, open_store
from sfeventlog.store.base import SCHEMA_VERSION


def register(sub: Any) -> None:
    p = add_command(
        sub, "migrate", help="create or upgrade the events schema (safe to run again)",
        description="Create the events, event_objects and schema_versions tables, or"
        " upgrade them to this version's schema. Running it again changes nothing."
        " Without --sqlite/--mariadb it migrates the store of the configured transport"
        " (SHAKENFIST_EVENTLOG_TRANSPORT=mariadb or sqlite). MariaDB must be >= 10.11,"
        " InnoDB, utf8mb4; the database itself must already exist.",
        examples=[
            "SHAKENFIST_MARIADB_HOST=db1 SHAKENFIST_MARIADB_PASSWORD=... sfeventlog migrate --mariadb",
            "sfeventlog migrate --sqlite /srv/shakenfist/eventlog/events.sqlite",
        ],
    )
    add_store_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        changed = store.migrate()
    finally:
        store.close()
    if changed:
        print(f"{store!r}: schema migrated to version {SCHEMA_VERSION}")
    else:
        print(f"{store!r}: schema already at version {SCHEMA_VERSION}; nothing to do")
    return 0
