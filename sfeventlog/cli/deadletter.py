"""``sfeventlog deadletter``: list, replay or purge rows the store rejected."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from sfeventlog.cli.common import Progress, UsageError, add_command, print_json, print_table
from sfeventlog.config import Settings
from sfeventlog.inspect import read_deadletters, spool_files
from sfeventlog.spool import DeadLetter, Spool


def register(sub: Any) -> None:
    p = add_command(
        sub, "deadletter", help="list, replay or purge dead-lettered events",
        description="Rows the store rejected, or that could not be parsed, are kept in each"
        " spool file's dead-letter table. IDs are FILE:ID as printed by 'list'.",
        examples=[
            "sfeventlog deadletter list",
            "sfeventlog deadletter list --json",
            "sfeventlog deadletter replay sf-api-1234.db:7 sf-api-1234.db:9",
            "sfeventlog deadletter replay --all      # e.g. after a schema fix",
            "sfeventlog deadletter purge --all",
        ],
    )
    p.add_argument("--spool-dir", type=Path, help="default: eventlog_spool_dir from config")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = actions.add_parser("list", help="show dead letters")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    for name, text in (("replay", "move rows back into the spool for delivery"),
                       ("purge", "delete rows for good")):
        a = actions.add_parser(name, help=text)
        a.add_argument("ids", nargs="*", metavar="FILE:ID")
        a.add_argument("--all", action="store_true", help="every dead letter in the spool dir")
    p.set_defaults(func=run)


def _targets(args: argparse.Namespace, files: list[Path]) -> dict[Path, list[int] | None]:
    if args.all == bool(args.ids):
        raise UsageError(f"{args.action}: give FILE:ID arguments or --all")
    if args.all:
        return {f: None for f in files}
    by_name = {f.name: f for f in files}
    chosen: dict[Path, list[int] | None] = {}
    for token in args.ids:
        name, _, raw_id = token.rpartition(":")
        if name not in by_name or not raw_id.isdigit():
            raise UsageError(f"{args.action}: no dead letter {token!r}"
                             " (use FILE:ID from 'sfeventlog deadletter list')")
        ids = chosen.setdefault(by_name[name], [])
        assert ids is not None
        ids.append(int(raw_id))
    return chosen


def _readable(files: list[Path]) -> tuple[dict[Path, list[DeadLetter]], int]:
    """Each file's dead letters, read-only, and how many files could not be read.

    An unreadable file is skipped (and said on stderr), so the others are
    still listed or handled; the command then exits 1, as ``status`` does.
    """
    found: dict[Path, list[DeadLetter]] = {}
    unreadable = 0
    for path in files:
        try:
            found[path] = read_deadletters(path)
        except sqlite3.Error as exc:
            unreadable += 1
            print(f"skipping {path}: {exc}", file=sys.stderr)
    return found, unreadable


def run(args: argparse.Namespace) -> int:
    spool_dir: Path = args.spool_dir or Settings().eventlog_spool_dir
    files = spool_files(spool_dir) if spool_dir.is_dir() else []
    readable, unreadable = _readable(files)
    failed = 1 if unreadable else 0
    if args.action == "list":
        rows = []
        for path, letters in readable.items():
            for d in letters:
                rows.append({"id": f"{path.name}:{d.id}", "reason": d.reason,
                             "error_class": d.error_class, "error": d.error,
                             "attempts": d.attempts, "first_seen": d.first_seen,
                             "last_seen": d.last_seen,
                             "payload": d.payload.decode("utf-8", "replace")})
        if args.json:
            print_json(rows)
        else:
            print_table(rows, ["id", "reason", "error_class", "attempts", "error"])
        return failed
    # Only files that hold dead letters: replay and purge never add our
    # tables to someone else's file (an upstream daemon's spool, say).
    targets = _targets(args, [p for p, letters in readable.items() if letters])
    progress = Progress(len(targets), args.action)
    total = 0
    for done, (path, ids) in enumerate(targets.items(), start=1):
        spool = Spool(path, lock=False)
        try:
            if args.action == "replay":
                total += spool.replay_deadletters(ids)
            else:
                total += spool.purge_deadletters(ids)
        finally:
            spool.close()
        progress.update(done)
    progress.close()
    verb = "replayed into the spool" if args.action == "replay" else "purged"
    print(f"{total} dead letters {verb}")
    return failed
