#!/usr/bin/env python3
"""Event-store benchmark: now part of ``sfeventlog bench`` (a thin wrapper).

The store figures live in ``benchmarks/sfeventlog_bench``: raw PyMySQL limit, the
``mariadb`` transport alone and the per-row baseline in the ``drain`` group
(figures 6d and 6f beside figure 5), the 1M-row uuid7/uuid4 scale run in the
``scale`` group (figure 7).  See docs/performance.md.

    python benchmarks/store_bench.py            # sfeventlog bench --only drain
    python benchmarks/store_bench.py --scale    # ... --only drain scale (minutes)
"""

import sys

from sfeventlog.cli.main import main

if __name__ == "__main__":
    args = sys.argv[1:]
    groups = ["drain"]
    if "--scale" in args:
        args.remove("--scale")
        groups.append("scale")
    sys.exit(main(["bench", "--only", *groups, *args]))
