"""``sfeventlog import-legacy DIR``: sf-eventlog's chunk files into the event store."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from sfeventlog.cli.common import Progress, UsageError, add_command, print_json
from sfeventlog.cli.reader_args import open_reader_for
from sfeventlog.cli.store_args import add_store_arguments
from sfeventlog.config import Settings
from sfeventlog.legacy_import import Importer, ImportSummary, Writer
from sfeventlog.reads import StoreReader
from sfeventlog.records import EventRecord
from sfeventlog.store.base import SchemaError


def register(sub: Any) -> None:
    p = add_command(
        sub, "import-legacy", help="import sf-eventlog's history (its per-object chunk files)",
        description="Read sf-eventlog's per-object SQLite chunks under DIR (its"
        " STORAGE_PATH, or STORAGE_PATH/events), every chunk schema version, stitch"
        " multi-object events back together by correlation_id, and write them into"
        " the configured store (transport mariadb or sqlite, --sqlite PATH /"
        " --mariadb, or sf-database when the transport is database).  Event uuids"
        " are derived from the source rows, so running it again adds nothing."
        " Damaged chunks are reported and skipped.",
        examples=[
            "sfeventlog import-legacy /srv/shakenfist --dry-run",
            "sfeventlog import-legacy /srv/shakenfist/events --mariadb",
            "sfeventlog import-legacy /tmp/chunks --sqlite /tmp/events.sqlite --json",
        ],
    )
    p.add_argument("directory", metavar="DIR", type=str,
                   help="sf-eventlog's STORAGE_PATH or its events directory")
    p.add_argument("--dry-run", action="store_true",
                   help="read and count everything, write nothing")
    p.add_argument("--json", action="store_true", help="the summary as JSON")
    add_store_arguments(p)
    p.set_defaults(func=run)


def _print_summary(summary: ImportSummary, where: str) -> None:
    verb = "would import" if summary.dry_run else "imported"
    print(f"chunk files read: {summary.files}"
          f" (schema versions: {', '.join(f'v{k}: {v}' for k, v in sorted(summary.versions.items())) or 'none'})")
    print(f"rows read: {summary.rows}")
    print(f"events: {summary.events}; {verb} {summary.inserted} new into {where},"
          f" {summary.already_present} already there")
    for item in summary.skipped_files:
        print(f"skipped file {item['file']}: {item['reason']}")
    for item in summary.skipped_rows[:20]:
        print(f"skipped {item['where']}: {item['reason']}")
    if len(summary.skipped_rows) > 20:
        print(f"... and {len(summary.skipped_rows) - 20} more skipped rows (see --json)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    root = Path(args.directory)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    settings = Settings()
    reader = open_reader_for(args, settings)
    write: Writer | None = None
    exists = None
    transport = None
    if isinstance(reader, StoreReader):
        store = reader.store

        def store_write(batch: Sequence[EventRecord]) -> tuple[int, int]:
            result = store.write_batch(batch)
            return result.inserted, result.duplicates

        def store_exists(uuids: Sequence[str]) -> int:
            try:
                return len(store.get_events(uuids))
            except SchemaError:  # no store (or schema) yet: nothing is there
                return 0

        write, exists = store_write, store_exists
    else:
        from sfeventlog_transports.database import DatabaseTransport

        transport = DatabaseTransport(settings)

        def send(batch: Sequence[EventRecord]) -> None:
            assert transport is not None
            transport.record_event_batch(batch)

        write = send
    if args.dry_run:
        write = None
    progress = Progress(1, "chunk files")

    def on_file(done: int, total: int) -> None:
        progress.total = max(1, total)
        progress.update(done)

    importer = Importer(root, write, exists, on_file=on_file)
    try:
        summary = importer.run()
    finally:
        progress.close()
        reader.close()
        if transport is not None:
            transport.close()
    if args.json:
        print_json({**summary.as_dict(), "store": reader.where})
    else:
        _print_summary(summary, reader.where)
    return 0
