"""A daemon stand-in for fault tests: ``python -m tests.emitter ...``.

Starts sfeventlog with the transport from the environment, emits events
(optionally at a rate), prints ``accepted <message>`` for each event whose
``add_event`` returned True (flushed, so a SIGKILL loses no report of an
accepted event), and can crash itself at a chosen fault point.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

from prometheus_client import start_http_server

import sfeventlog
from sfeventlog import drainer, metrics

_say_lock = threading.Lock()


def say(line: str) -> None:
    """One whole line to stdout, flushed; the drainer thread reports too."""
    with _say_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _kill_after_commit(nth: int) -> None:
    """SIGKILL this process after the store took batch ``nth``, before the spool delete."""
    seen = 0
    original = drainer.Drainer.__init__

    def hook(ids: Sequence[int]) -> None:
        nonlocal seen
        seen += 1
        if seen == nth:
            say(f"killed-after-commit {len(ids)}")
            os.kill(os.getpid(), signal.SIGKILL)

    def init(self: drainer.Drainer, *args: object, **kwargs: object) -> None:
        kwargs["after_commit"] = hook
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    drainer.Drainer.__init__ = init  # type: ignore[method-assign]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--name", default="emitter")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--rate", type=float, default=0.0, help="events/s; 0 = as fast as possible")
    p.add_argument("--metrics-port", type=int)
    p.add_argument("--kill-after-commit", type=int, default=0)
    p.add_argument("--drain-timeout", type=float, default=60.0)
    p.add_argument("--prefix", default="e")
    p.add_argument("--linger", type=float, default=0.0,
                   help="seconds to keep running (and serving metrics) after emitting")
    args = p.parse_args()
    if args.kill_after_commit:
        _kill_after_commit(args.kill_after_commit)
    if args.metrics_port is not None:
        start_http_server(args.metrics_port, addr="127.0.0.1")
    sfeventlog.start(args.name)
    say("started")
    interval = 1.0 / args.rate if args.rate else 0.0
    next_at = time.monotonic()
    accepted = 0
    for i in range(args.count):
        message = f"{args.prefix}-{i}"
        if sfeventlog.add_event("audit", "instance", f"{args.prefix}-{i % 50}", message):
            accepted += 1
            say(f"accepted {message}")
        if interval:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    say(f"emitted {accepted}")
    time.sleep(args.linger)
    drained = sfeventlog.stop(drain_timeout=args.drain_timeout)
    failed = sum(s.value for metric in metrics.DRAIN_BATCHES.collect() for s in metric.samples
                 if s.name.endswith("_total") and s.labels.get("outcome") != "ok")
    say(f"done accepted={accepted} drained={drained} failed_batches={int(failed)}")
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(main())
