"""``sfeventlog demo``: the whole write path on one machine, no services needed.

Starts the sf-database gRPC server in-process on a free loopback port over a
temporary SQLite store (or MariaDB with ``--mariadb``), emits events through
``add_event`` with the ``database`` transport, drains them, reads a sample
back with ``sfeventlog events`` and prints throughput and key metrics.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

import sfeventlog
from sfeventlog import api
from sfeventlog.cli.common import Progress, UsageError, add_command
from sfeventlog.config import ENV_PREFIX, Settings
from sfeventlog.server.runtime import RunningServer, ServerOptions

OBJECTS = 10


def register(sub: Any) -> None:
    p = add_command(
        sub, "demo", help="run the write path end to end on this machine (no services needed)",
        description="Start sf-database in-process over a temporary SQLite store (or"
        " MariaDB with --mariadb), emit events through add_event with the database"
        " transport, drain them, read a sample back and print throughput and metrics.",
        examples=[
            "sfeventlog demo",
            "sfeventlog demo --count 100000",
            "SHAKENFIST_MARIADB_HOST=127.0.0.1 sfeventlog demo --mariadb",
        ],
    )
    p.add_argument("--count", "-n", type=int, default=10_000,
                   help="events to emit (default 10000)")
    p.add_argument("--mariadb", action="store_true",
                   help="store in the MariaDB named by SHAKENFIST_MARIADB_* instead of SQLite")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds to wait for delivery (default 300)")
    p.set_defaults(func=run)


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = labels or {}
    total = 0.0
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in want.items()):
                total += s.value
    return total


def _start_server(settings: Settings, sqlite: Path | None) -> RunningServer:
    from sfeventlog.cli.serve import store_factory
    from sfeventlog.server.database import start_database_server

    options = ServerOptions(listen="127.0.0.1:0", workers=4, grace=2.0)
    return start_database_server(options, store_factory(settings, sqlite))


def _deliver(count: int, timeout: float) -> bool:
    """Wait, with a progress bar, until the spool is empty; then stop the drainer."""
    progress = Progress(count, "delivering")
    deadline = time.monotonic() + timeout
    spool = api.current_spool()
    while spool is not None and time.monotonic() < deadline:
        left = spool.count()
        progress.update(count - left)
        if left == 0:
            break
        time.sleep(0.05)
    progress.close()
    return sfeventlog.stop(drain_timeout=max(0.0, deadline - time.monotonic()))


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise UsageError("--count must be >= 1")
    with tempfile.TemporaryDirectory(prefix="sfeventlog-demo-") as tmp:
        overrides: dict[str, Any] = {}
        # The default spool dir (/srv/...) may not be writable on a fresh machine.
        if f"{ENV_PREFIX}EVENTLOG_SPOOL_DIR" not in {k.upper() for k in os.environ}:
            overrides["eventlog_spool_dir"] = Path(tmp) / "spool"
        base = Settings(**overrides)
        sqlite = None if args.mariadb else Path(tmp) / "events.sqlite"
        server = _start_server(base, sqlite)
        try:
            return _run_demo(args, base, server, sqlite)
        finally:
            server.stop(grace=1.0)


def _run_demo(args: argparse.Namespace, base: Settings, server: RunningServer,
              sqlite: Path | None) -> int:
    settings = base.model_copy(update={
        "eventlog_transport": "database", "mariadb_gateway_hosts": "127.0.0.1",
        "mariadb_gateway_port": server.port,
    })
    store_name = "MariaDB (SHAKENFIST_MARIADB_*)" if sqlite is None else f"SQLite {sqlite}"
    print(f"sf-database serving on {server.target}, storing in {store_name}")
    print(f"spool: {settings.eventlog_spool_dir}")
    inserted_before = _sample("database_events_inserted_total", {"event_type": "audit"})
    sfeventlog.start("sfeventlog-demo", settings)
    objects = [str(uuid.uuid4()) for _ in range(OBJECTS)]
    progress = Progress(args.count, "emitting  ")
    accepted = 0
    started = time.perf_counter()
    for i in range(args.count):
        if sfeventlog.add_event("audit", "instance", objects[i % OBJECTS], f"demo event {i}",
                                extra={"n": i}, request_id=f"demo-{i // 100}"):
            accepted += 1
        if i % 250 == 0:
            progress.update(i)
    progress.update(args.count)
    progress.close()
    emitted_s = time.perf_counter() - started
    drained = _deliver(accepted, args.timeout)
    total_s = time.perf_counter() - started
    inserted = _sample("database_events_inserted_total", {"event_type": "audit"}) - inserted_before

    print(f"\nemitted {accepted}/{args.count} events in {emitted_s:.2f}s"
          f" ({accepted / emitted_s:,.0f} events/s into the spool)")
    print(f"delivered {int(inserted)} to the store in {total_s:.2f}s end to end"
          f" ({inserted / total_s:,.0f} events/s)")
    print(f"\nnewest events of instance {objects[0]} (sfeventlog events):")
    from sfeventlog.cli.main import main as cli_main

    store_args = ["--sqlite", str(sqlite)] if sqlite is not None else ["--mariadb"]
    cli_main(["events", "instance", objects[0], "--limit", "5", *store_args])
    print("\nkey metrics:")
    for name, labels in (
        ("eventlog_drain_events_total", {"transport": "database"}),
        ("eventlog_drain_batches_total", {"transport": "database", "outcome": "ok"}),
        ("eventlog_drain_batches_total", {"transport": "database", "outcome": "retryable"}),
        ("eventlog_spool_dropped_total", None),
        ("database_record_event_batch_outcomes_total", {"outcome": "ok"}),
        ("database_events_inserted_total", {"event_type": "audit"}),
        ("database_events_duplicates_total", None),
        ("database_events_rows", None),
    ):
        shown = ",".join(f'{k}="{v}"' for k, v in (labels or {}).items())
        note = "  (estimate, refreshed at most every 30s)" if name == "database_events_rows" else ""
        print(f"  {name}{{{shown}}} {_sample(name, labels):g}{note}")
    ok = drained and accepted == args.count and int(inserted) == accepted
    print("\nOK: every event was stored exactly once" if ok else "\nINCOMPLETE: see above")
    return 0 if ok else 1
