"""``sfeventlog status``: spool files, depth, oldest age, drops."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sfeventlog.cli.common import add_command, print_json, print_table
from sfeventlog.cli.failures import describe
from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError
from sfeventlog.inspect import SpoolFileStatus, corrupt_files, read_spool_file, spool_files


def register(sub: Any) -> None:
    p = add_command(
        sub, "status", help="show spool files: depth, oldest age, dead letters, drops",
        examples=["sfeventlog status", "sfeventlog status --spool-dir /tmp/spool --json"],
    )
    p.add_argument("--spool-dir", type=Path, help="default: eventlog_spool_dir from config")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 1 when the spool dir is missing or any spool file cannot be read.

    With ``--json``, stdout is JSON whatever fails, with an ``error`` field.
    """
    if not args.json:
        return _status(args)
    try:
        return _status(args)
    except Exception as exc:  # noqa: BLE001 - reported as JSON, as promised
        failure = describe(exc)
        print_json({"spool_dir": None if args.spool_dir is None else str(args.spool_dir),
                    "files": [], "corrupt_moved_aside": [], "error": failure.message})
        print(f"sfeventlog status: {failure.message}", file=sys.stderr)
        return failure.exit_code


def _status(args: argparse.Namespace) -> int:
    spool_dir: Path = args.spool_dir or Settings().eventlog_spool_dir
    if not spool_dir.is_dir():
        raise ConfigError(f"spool directory {spool_dir} does not exist"
                          " (set SHAKENFIST_EVENTLOG_SPOOL_DIR or --spool-dir)")
    files = [read_spool_file(p) for p in spool_files(spool_dir)]
    corrupt = [str(p) for p in corrupt_files(spool_dir)]
    unreadable = [f for f in files if f.error]
    if args.json:
        print_json({"spool_dir": str(spool_dir), "files": [f.as_dict() for f in files],
                    "corrupt_moved_aside": corrupt,
                    "error": f"{len(unreadable)} spool file(s) unreadable" if unreadable else None})
    else:
        _print_table(spool_dir, files, corrupt)
    for f in unreadable:
        print(f"sfeventlog status: cannot read {f.path}: {f.error}", file=sys.stderr)
    return 1 if unreadable else 0


def _print_table(spool_dir: Path, files: list[SpoolFileStatus], corrupt: list[str]) -> None:
    rows = [
        {
            "file": Path(f.path).name,
            "owner": "live" if f.owner_alive else "gone",
            "depth": f.depth,
            "oldest_age_s": "-" if f.oldest_age_seconds is None else f"{f.oldest_age_seconds:.1f}",
            "deadletter": f.deadletter,
            "dropped": sum(f.dropped.values()),
            "error": f.error or "",
        }
        for f in files
    ]
    print(f"spool dir: {spool_dir}")
    print_table(rows, ["file", "owner", "depth", "oldest_age_s", "deadletter", "dropped", "error"])
    print(f"total depth: {sum(f.depth for f in files)}  dead letters: "
          f"{sum(f.deadletter for f in files)}  dropped: {sum(sum(f.dropped.values()) for f in files)}")
    for path in corrupt:
        print(f"corrupt spool moved aside: {path}")
