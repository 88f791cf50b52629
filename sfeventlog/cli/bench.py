"""``sfeventlog bench``: the write path's figures against their limits and targets."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sfeventlog.cli.common import UsageError, add_command


def register(sub: Any) -> None:
    from sfeventlog.bench.runner import GROUPS

    p = add_command(
        sub, "bench", help="benchmark the write path against the physical limit and peers",
        description="Measure enqueue, depth sampling, drains, store scale, recovery and"
        " memory; print each figure (a median) next to a reference measured in the same"
        " run, the ratio, the target and PASS/MISS. MariaDB figures use a private"
        " throwaway mariadbd (never the system one). See 'sfeventlog docs performance'.",
        examples=[
            "sfeventlog bench --quick",
            "sfeventlog bench --only enqueue backlog",
            "sfeventlog bench --json > results.json",
            "sfeventlog bench --save results.json    # the table, and JSON to a file",
        ],
    )
    p.add_argument("--quick", action="store_true",
                   help="smaller runs: about a minute (some figures on smaller tables)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--save", metavar="PATH", default=None,
                   help="also write the results as JSON to PATH (with the per-run values)")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="only these groups: " + ", ".join(g.name for g in GROUPS))
    p.add_argument("--tmpdir", default=None, help="where the temporary files go")
    p.set_defaults(func=run)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def run(args: argparse.Namespace) -> int:
    from sfeventlog.bench import runner

    unknown = sorted(set(args.only or ()) - set(runner.GROUP_NAMES))
    if unknown:
        raise UsageError(f"unknown group(s) {', '.join(unknown)};"
                         f" choose from {', '.join(runner.GROUP_NAMES)}")
    figures, meta = runner.run(quick=args.quick, only=args.only, tmpdir=args.tmpdir)
    print(runner.report(figures, meta, as_json=args.json))
    if args.save:
        with open(args.save, "w", encoding="utf-8") as out:
            out.write(runner.report(figures, meta, as_json=True) + "\n")
    missing = [f for f in figures if f.unavailable]
    for f in missing:
        print(f"sfeventlog bench: figure {f.key} NOT MEASURED: {f.note}", file=sys.stderr)
    if missing and _in_ci():
        print("sfeventlog bench: CI=true and figures could not be measured", file=sys.stderr)
        return 1
    return 0
