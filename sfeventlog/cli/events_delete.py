"""``sfeventlog events --delete TYPE UUID``: the hard-delete clean-up, after a confirmation."""

from __future__ import annotations

import argparse
import sys

from sfeventlog.cli.common import UsageError
from sfeventlog.cli.reader_args import open_reader_for


def confirm(question: str) -> bool:
    """Ask on the terminal; without one (a script), refuse rather than guess."""
    if not sys.stdin.isatty():
        raise UsageError("refusing to delete without a terminal to confirm on; add --yes")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def run_delete(args: argparse.Namespace) -> int:
    reader = open_reader_for(args)
    try:
        what = f"{args.object_type} {args.object_uuid}"
        if not args.yes and not confirm(f"Delete every event reference of {what}"
                                        f" in {reader.where}?"):
            print("nothing deleted")
            return 1
        deleted = reader.delete_object_events(args.object_type, args.object_uuid)
    finally:
        reader.close()
    if deleted is None:
        print(f"deleted the event references of {what}")
    else:
        print(f"deleted {deleted} event references of {what}")
    print("events no other object refers to go in the next prune (sfeventlog prune)")
    return 0
