"""Entry point of the ``sfeventlog`` console script.

Exit codes: 0 success, 1 operational failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sfeventlog.cli.common import UsageError
from sfeventlog.errors import SfEventlogError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: Command modules, each with ``register(subparsers)``; order is help order.
COMMAND_MODULES = [
    "sfeventlog.cli.transports",
    "sfeventlog.cli.status",
    "sfeventlog.cli.emit",
    "sfeventlog.cli.deadletter",
    "sfeventlog.cli.drain",
    "sfeventlog.cli.serve",
    "sfeventlog.cli.legacy_events",
    "sfeventlog.cli.demo",
    "sfeventlog.cli.migrate",
    "sfeventlog.cli.events",
    "sfeventlog.cli.prune",
    "sfeventlog.cli.import_legacy",
    "sfeventlog.cli.bench",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sfeventlog",
        description="Durable, pluggable event-log write path for Shaken Fist.",
        epilog="Configuration comes from SHAKENFIST_* environment variables;"
        " see docs/configuration.md.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or EXIT_OK)
    except UsageError as exc:
        print(f"sfeventlog {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SfEventlogError as exc:
        print(f"sfeventlog {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
