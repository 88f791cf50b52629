"""Helpers shared by CLI commands: output formats and help text."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any


class UsageError(Exception):
    """Bad command-line usage; the CLI exits with status 2."""


def add_command(
    sub: Any, name: str, *, help: str, examples: Sequence[str], description: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with worked examples."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=help,
        description=description or help,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Left-aligned columns with a header; empty output says so."""
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


class Progress:
    """A plain progress bar on stderr, drawn only on a terminal."""

    def __init__(self, total: int, label: str, *, enabled: bool | None = None) -> None:
        self.total = max(1, total)
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        pct = min(100, done * 100 // self.total)
        if pct == self._last:
            return
        self._last = pct
        bar = "#" * (pct // 4)
        sys.stderr.write(f"\r{self.label} [{bar:<25}] {pct:3d}% ({done}/{self.total})")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
