"""Entry point of the ``sfeventlog`` console script.

Exit codes: 0 success, 1 operational failure, 2 usage or configuration
error.  A failure is one line on stderr (``sfeventlog.cli.failures``); ``--debug``
or ``-v`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import cast

from pydantic import ValidationError

import sfeventlog
from sfeventlog import logsetup
from sfeventlog.cli.docs import see
from sfeventlog.cli.failures import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    describe,
    silence_broken_pipe,
)
from sfeventlog.config import LogFormat, Settings

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

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
    "sfeventlog.cli.config",
    "sfeventlog.cli.docs",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sfeventlog",
        description="Durable, pluggable event-log write path for Shaken Fist.",
        epilog="Configuration comes from SHAKENFIST_* environment variables;"
        f" {see('configuration')} for every key.",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {sfeventlog.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log at INFO level, and show tracebacks")
    parser.add_argument("--debug", action="store_true",
                        help="log at DEBUG level, and show tracebacks")
    parser.add_argument(
        "--log-format", choices=logsetup.LOG_FORMATS,
        help="text, or one JSON object per line (default: SHAKENFIST_LOG_FORMAT, else text)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    show_traceback = args.verbose or args.debug
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logsetup.configure(level, _log_format(args), tracebacks=show_traceback)
    try:
        code = int(args.func(args) or EXIT_OK)
        # Flush here, not at exit: a closed pipe must fail inside the handler.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        silence_broken_pipe()
        return EXIT_FAILURE
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the one place users are told
        failure = describe(exc)
        if show_traceback:
            traceback.print_exc()
        print(f"sfeventlog {args.command}: {failure.message}", file=sys.stderr)
        return failure.exit_code


def _log_format(args: argparse.Namespace) -> LogFormat:
    if args.log_format is not None:
        return cast(LogFormat, args.log_format)
    try:
        return Settings().log_format
    except ValidationError:
        # The command itself reports the invalid settings.
        return "text"


if __name__ == "__main__":
    sys.exit(main())
