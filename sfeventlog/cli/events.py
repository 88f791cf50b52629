"""``sfeventlog events``: one object's events from the event store, newest first."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from sfeventlog.cli.common import add_command, print_json, print_table
from sfeventlog.cli.events_delete import run_delete
from sfeventlog.cli.reader_args import open_reader_for
from sfeventlog.cli.store_args import add_store_arguments
from sfeventlog.records import EventRecord
from sfeventlog.store.base import READ_LIMIT_DEFAULT, READ_LIMIT_MAX


def register(sub: Any) -> None:
    p = add_command(
        sub, "events", help="show an object's events from the event store, newest first",
        description="Read the events of one object from the store of the configured"
        " transport (SHAKENFIST_EVENTLOG_TRANSPORT=mariadb or sqlite), through"
        " sf-database (transport database: a daemon node), or from the store"
        " chosen with --sqlite PATH / --mariadb.  --delete drops the object's"
        " references instead (the hard-delete clean-up; the events go in the next"
        " prune once nothing else refers to them).",
        examples=[
            "sfeventlog events instance 6a8d2c3e-0b7c-4d1e-9a57-1f2e3d4c5b6a",
            "sfeventlog events instance 6a8d2c3e-0b7c-4d1e-9a57-1f2e3d4c5b6a --event-type audit",
            "sfeventlog events network n-1 --sqlite /tmp/events.sqlite --json --limit 10",
            "sfeventlog events --delete instance 6a8d2c3e-0b7c-4d1e-9a57-1f2e3d4c5b6a --yes",
        ],
    )
    p.add_argument("object_type", metavar="OBJECT_TYPE", help="e.g. instance, network, node")
    p.add_argument("object_uuid", metavar="OBJECT_UUID")
    p.add_argument("--limit", type=int, default=READ_LIMIT_DEFAULT,
                   help=f"at most this many (default {READ_LIMIT_DEFAULT}, <= 0 means the"
                   f" default, capped at {READ_LIMIT_MAX})")
    p.add_argument("--event-type", help="only events of this type, e.g. audit")
    p.add_argument("--json", action="store_true", help="every event as JSON, all fields")
    p.add_argument("--delete", action="store_true",
                   help="delete the object's event references (asks first; see --yes)")
    p.add_argument("--yes", action="store_true", help="with --delete: do not ask")
    add_store_arguments(p)
    p.set_defaults(func=run)


def _row(record: EventRecord) -> dict[str, Any]:
    when = datetime.fromtimestamp(record.timestamp, tz=UTC)
    return {
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "type": record.event_type,
        "fqdn": record.fqdn,
        "duration": "" if record.duration is None else f"{record.duration:g}",
        "request_id": record.request_id or "",
        "message": record.message,
    }


def run(args: argparse.Namespace) -> int:
    if args.delete:
        return run_delete(args)
    reader = open_reader_for(args)
    try:
        records = reader.get_object_events(
            args.object_type, args.object_uuid, limit=args.limit, event_type=args.event_type
        )
    finally:
        reader.close()
    if args.json:
        print_json([r.model_dump(mode="json") for r in records])
    else:
        print_table([_row(r) for r in records],
                    ["time", "type", "fqdn", "duration", "request_id", "message"])
    return 0
