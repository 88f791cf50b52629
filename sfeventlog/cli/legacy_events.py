"""``sfeventlog legacy-events``: what the reference sf-eventlog has stored."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from sfeventlog.cli.common import UsageError, add_command, print_json, print_table
from sfeventlog.server.legacy_store import read_rows


def register(sub: Any) -> None:
    p = add_command(
        sub, "legacy-events", help="list the rows a reference legacy server stored",
        description="List the rows (one per event and object) in the store of"
        " `sfeventlog serve legacy --store DIR`.",
        examples=[
            "sfeventlog legacy-events --store /tmp/sf-eventlog",
            "sfeventlog legacy-events --store /tmp/sf-eventlog --json",
            "sfeventlog legacy-events --store /tmp/sf-eventlog --count",
            "sfeventlog legacy-events --store /tmp/sf-eventlog --export-chunks /tmp/chunks",
        ],
    )
    p.add_argument("--store", type=Path, required=True, metavar="DIR")
    p.add_argument("--json", action="store_true", help="every row as JSON")
    p.add_argument("--count", action="store_true",
                   help="only counts: rows, distinct events, rows per method")
    p.add_argument("--export-chunks", type=Path, metavar="OUT",
                   help="write the store as upstream sf-eventlog's chunk files under"
                   " OUT/events (for `sfeventlog import-legacy OUT`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.store.is_dir():
        raise UsageError(f"--store {args.store} is not a directory")
    if args.export_chunks is not None:
        from sfeventlog.server.legacy_export import export_chunks

        files, written = export_chunks(args.store, args.export_chunks)
        print(f"wrote {written} rows in {files} chunk files under {args.export_chunks / 'events'}")
        return 0
    rows = read_rows(args.store)
    if args.count:
        summary = {
            "rows": len(rows),
            "events": len({r.correlation_id for r in rows}),
            "by_method": dict(Counter(r.method for r in rows)),
        }
        if args.json:
            print_json(summary)
        else:
            for key, value in summary.items():
                print(f"{key}: {value}")
        return 0
    if args.json:
        print_json([r.as_dict() for r in rows])
    else:
        print_table([r.as_dict() for r in rows],
                    ["correlation_id", "object_type", "object_uuid", "event_type", "message"])
    return 0
