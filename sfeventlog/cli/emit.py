"""``sfeventlog emit``: enqueue test events, optionally draining them."""

from __future__ import annotations

import argparse
import time
from typing import Any

import sfeventlog
from sfeventlog.cli.common import Progress, UsageError, add_command, print_json
from sfeventlog.config import Settings


def register(sub: Any) -> None:
    p = add_command(
        sub, "emit", help="enqueue N test events through add_event",
        examples=[
            "sfeventlog emit --count 1000",
            "SHAKENFIST_EVENTLOG_TRANSPORT=null sfeventlog emit --count 10000 --drain",
        ],
    )
    p.add_argument("--count", "-n", type=int, default=100, help="events to emit (default 100)")
    p.add_argument("--event-type", default="audit")
    p.add_argument("--object-type", default="instance")
    p.add_argument("--drain", action="store_true",
                   help="start the drainer with the configured transport and wait for delivery")
    p.add_argument("--timeout", type=float, default=60.0, help="drain timeout in seconds")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.count < 0:
        raise UsageError("--count must be >= 0")
    settings = Settings()
    if args.drain:
        sfeventlog.start("sfeventlog-emit", settings)
    progress = Progress(args.count, "emitting")
    accepted = 0
    started = time.perf_counter()
    for i in range(args.count):
        if sfeventlog.add_event(args.event_type, args.object_type, f"emit-{i:08d}",
                                f"test event {i}", extra={"n": i}):
            accepted += 1
        if i % 500 == 0:
            progress.update(i)
    progress.update(args.count)
    progress.close()
    emit_s = time.perf_counter() - started
    drained = sfeventlog.stop(drain_timeout=args.timeout) if args.drain else None
    summary = {
        "transport": settings.eventlog_transport if args.drain else None,
        "emitted": args.count,
        "accepted": accepted,
        "dropped": args.count - accepted,
        "emit_seconds": round(emit_s, 3),
        "events_per_second": round(args.count / emit_s) if emit_s else None,
        "drained_to_empty": drained,
    }
    if args.json:
        print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0 if accepted == args.count and drained is not False else 1
