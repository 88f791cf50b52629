"""``sfeventlog prune``: the retention prune, directly or through sf-database."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sfeventlog.cli.common import add_command, print_json, print_table
from sfeventlog.cli.reader_args import open_reader_for
from sfeventlog.cli.store_args import add_store_arguments
from sfeventlog.reads import StoreReader
from sfeventlog.store.prune import PruneReport, StageResult, prune_exclusively


def register(sub: Any) -> None:
    p = add_command(
        sub, "prune", help="delete events past their retention age ('sfeventlog docs retention')",
        description="Run the three-stage retention prune: per event type"
        " (SHAKENFIST_MAX_<TYPE>_EVENT_AGE), the api-requests override"
        " (SHAKENFIST_MAX_API_REQUEST_EVENT_AGE), then events nothing refers to."
        " Directly against the configured store (transport mariadb or sqlite, or"
        " --sqlite PATH / --mariadb), or through sf-database's PruneEvents when the"
        " transport is database (the server's ages apply then).  Deletes in bounded"
        " batches; safe to run again or to interrupt.",
        examples=[
            "sfeventlog prune --dry-run",
            "sfeventlog prune --sqlite /tmp/events.sqlite --json",
            "SHAKENFIST_EVENTLOG_TRANSPORT=database sfeventlog prune",
        ],
    )
    p.add_argument("--dry-run", action="store_true", help="only count what would go")
    p.add_argument("--json", action="store_true", help="the result as JSON")
    add_store_arguments(p)
    p.set_defaults(func=run)


class _Progress:
    """One updating line on stderr per stage, on a terminal only."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def __call__(self, stage: StageResult) -> None:
        if self.enabled:
            sys.stderr.write(f"\rstage {stage.stage} {stage.label}: {stage.rows} rows\033[K")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _rows(report: PruneReport) -> list[dict[str, Any]]:
    return [{"stage": s.stage, "what": s.label,
             "rows": "kept (age -1)" if s.disabled else s.rows} for s in report.stages]


def run(args: argparse.Namespace) -> int:
    reader = open_reader_for(args)
    progress = _Progress()
    try:
        if isinstance(reader, StoreReader):
            report = prune_exclusively(reader.store, reader.policy, dry_run=args.dry_run,
                                       on_batch=progress)
        else:
            if progress.enabled:
                sys.stderr.write(f"pruning through {reader.where} (may take minutes)...")
                sys.stderr.flush()
            report = reader.prune(dry_run=args.dry_run)
    finally:
        progress.close()
        reader.close()
    if args.json:
        print_json(report.as_dict())
        return 0
    print_table(_rows(report), ["stage", "what", "rows"])
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {report.rows_pruned} rows ({report.events_pruned} events)"
          f" from {reader.where} in {report.seconds:.1f}s")
    return 0
