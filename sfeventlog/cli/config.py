"""``sfeventlog config check``: the effective configuration, and whether it can work.

Exit codes: 0 the config is valid (and, with ``--connect``, the store
answers); 1 the configured transport rejects its keys or its store is not
reachable; 2 the settings themselves are invalid or name no installed
transport.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pydantic import SecretStr, ValidationError

from sfeventlog.cli.common import add_command, print_json, print_table
from sfeventlog.config import ENV_PREFIX, Settings
from sfeventlog.errors import SfEventlogError
from sfeventlog.loader import installed_transports, load_transport_class

MASK = "********"


def register(sub: Any) -> None:
    p = add_command(
        sub, "config", help="show the effective configuration and check it",
        description="Loads the SHAKENFIST_* settings, shows each value (secrets masked) and"
        " where it came from, and checks the configured transport's keys without"
        " connecting; --connect also runs the transport's end-to-end check."
        " Exits 0 when valid, 1 when the transport rejects its config or its store,"
        " 2 when the settings are invalid.",
        examples=[
            "sfeventlog config check",
            "SHAKENFIST_EVENTLOG_TRANSPORT=mariadb sfeventlog config check --connect",
            "sfeventlog config check --json",
        ],
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="show and validate the effective configuration")
    check.add_argument("--connect", action="store_true",
                       help="also reach the store through the transport")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=run)


def _env_names() -> dict[str, str]:
    """Set SHAKENFIST_* variables, by lower-cased name (pydantic matches case-insensitively)."""
    return {k.lower(): k for k in os.environ if k.upper().startswith(ENV_PREFIX)}


def effective(settings: Settings) -> list[dict[str, str]]:
    """One row per key: its value as text (secrets masked) and where it came from."""
    env = _env_names()
    rows = []
    for field in sorted(Settings.model_fields):
        value = getattr(settings, field)
        if isinstance(value, SecretStr):
            shown = MASK if value.get_secret_value() else ""
        else:
            shown = "" if value is None else str(value)
        var = env.get((ENV_PREFIX + field).lower())
        rows.append({"key": field, "value": shown,
                     "source": f"env {var}" if var else "default"})
    return rows


def _check_transport(settings: Settings, connect: bool) -> tuple[int, str]:
    name = settings.eventlog_transport
    if name not in {t.name for t in installed_transports()}:
        try:
            load_transport_class(name)
        except SfEventlogError as exc:
            return 2, str(exc)
    try:
        transport = load_transport_class(name)(settings)
    except (SfEventlogError, ValueError) as exc:
        return 1, f"transport {name!r} rejects its config: {exc}"
    try:
        if connect:
            transport.check()
    except SfEventlogError as exc:
        return 1, f"transport {name!r} cannot reach its store: {exc}"
    finally:
        transport.close()
    return 0, f"transport {name!r}: " + ("store reachable" if connect else "config valid")


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = [f"{ENV_PREFIX}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                    for e in exc.errors()]
        if args.json:
            print_json({"valid": False, "errors": problems})
        for line in problems:
            print(f"invalid: {line}", file=sys.stderr)
        return 2
    rc, verdict = _check_transport(settings, args.connect)
    if args.json:
        print_json({"valid": rc == 0, "config": effective(settings), "transport": verdict})
        if rc:
            print(f"FAILED: {verdict}", file=sys.stderr)
    else:
        print_table(effective(settings), ["key", "value", "source"])
        print(("ok: " if rc == 0 else "FAILED: ") + verdict,
              file=sys.stdout if rc == 0 else sys.stderr)
    return rc
