#!/usr/bin/env python3
"""Drain throughput through the gRPC transports: now part of ``sfeventlog bench``.

A thin wrapper: the ``drain`` group (figures 5-6: raw limit, ``mariadb``,
``database``, ``legacy`` and ``sqlite`` drains, the transports alone) and the
``steps`` group (CPU per batch of each step on the database path) live in
``benchmarks/sfeventlog_bench``.  See docs/performance.md.

    python benchmarks/grpc_bench.py             # sfeventlog bench --only drain steps
    python benchmarks/grpc_bench.py --quick
"""

import sys

from sfeventlog.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "drain", "steps", *sys.argv[1:]]))
