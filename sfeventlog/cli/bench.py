"""``sfeventlog bench``: the write path's figures against their limits and targets."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sfeventlog.cli.common import UsageError, add_command
from sfeventlog.errors import SfEventlogError


def register(sub: Any) -> None:
    # The benchmark code is its own package (benchmarks/sfeventlog_bench),
    # imported only when the command runs: no other command pays for it.
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
                   help="only these groups (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the groups of figures and exit")
    p.add_argument("--tmpdir", default=None, help="where the temporary files go")
    p.set_defaults(func=run)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def run(args: argparse.Namespace) -> int:
    try:
        from sfeventlog_bench import runner
    except ImportError as exc:
        raise SfEventlogError(
            f"the benchmarks are not installed ({exc}); pip install 'sfeventlog[bench]'"
        ) from None
    if args.list:
        for name in runner.GROUP_NAMES:
            print(name)
        return 0
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
