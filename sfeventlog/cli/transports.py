"""``sfeventlog transports``: what is installed, and whether it loads."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sfeventlog.cli.common import UsageError, add_command, print_json, print_table
from sfeventlog.config import Settings
from sfeventlog.errors import SfEventlogError
from sfeventlog.loader import (
    InstalledTransport,
    installed_transports,
    load_transport_class,
    unknown_transport_error,
)


def register(sub: Any) -> None:
    p = add_command(
        sub, "transports", help="list installed transports and whether each loads",
        examples=[
            "sfeventlog transports",
            "sfeventlog transports --json",
            "SHAKENFIST_EVENTLOG_TRANSPORT=mariadb sfeventlog transports --check",
        ],
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--check", action="store_true",
        help="also build each transport from the current config and probe its store"
        " (through the server, for the gRPC transports); exits 1 if the configured"
        " transport's probe fails, 2 if the configured transport is not installed",
    )
    p.set_defaults(func=run)


def _probe(name: str, settings: Settings) -> str:
    try:
        cls = load_transport_class(name)
        transport = cls(settings.model_copy(update={"eventlog_transport": name}))
        try:
            transport.check()
        finally:
            transport.close()
    except SfEventlogError as exc:
        return f"failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - report, never crash the listing
        return f"failed: {type(exc).__name__}: {exc}"
    return "ok"


def _configured_is_installed(name: str, installed: list[InstalledTransport]) -> None:
    """Raise ``UsageError`` (exit 2) naming the installed ones when ``name`` is not."""
    if name not in {t.name for t in installed}:
        raise UsageError(str(unknown_transport_error(name)))


def run(args: argparse.Namespace) -> int:
    settings = Settings() if args.check else None
    installed = installed_transports()
    if settings is not None:
        _configured_is_installed(settings.eventlog_transport, installed)
    rows: list[dict[str, Any]] = []
    failed = False
    for t in installed:
        try:
            load_transport_class(t.name)
            loads = "yes"
        except SfEventlogError as exc:
            loads = f"no: {exc}"
            failed = True
        row = {"name": t.name, "target": t.target, "distribution": t.distribution,
               "version": t.version, "loads": loads}
        if settings is not None:
            row["check"] = _probe(t.name, settings)
            # Only the configured transport's store is expected to be up.
            if t.name == settings.eventlog_transport and row["check"] != "ok":
                failed = True
                print(f"sfeventlog transports: the configured transport {t.name!r}"
                      f" is not ready: {row['check']}", file=sys.stderr)
        rows.append(row)
    if args.json:
        print_json(rows)
    else:
        cols = ["name", "target", "distribution", "version", "loads"]
        print_table(rows, cols + (["check"] if settings is not None else []))
    return 1 if failed else 0
