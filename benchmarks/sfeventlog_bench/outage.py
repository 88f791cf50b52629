"""The seed's outage drill: SIGSTOP the database server under load, then SIGCONT.

Runs a reference ``sfeventlog serve database`` (on a temporary SQLite store,
or on MariaDB from SHAKENFIST_MARIADB_* with --mariadb) as a separate
process on 127.0.0.1, makes this process an emitting daemon with the
``database`` transport, and prints the spool depth every second: it must
climb during the outage, drain to zero after it, with no drops and the
backoff back at 0.  ``tools/outage-drill`` runs this; so does figure 8 of
``sfeventlog bench`` (in a child process, since it starts this process's
drainer).

    tools/outage-drill                 # the 30 s drill
    tools/outage-drill --outage 5 --rate 200
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import sfeventlog
from sfeventlog import api, metrics
from sfeventlog.config import Settings
from sfeventlog_bench.servers import ServeProcess

#: The lines figure 8 parses from the drill's output.
RESUME_TO_EMPTY = "time from resume to depth 0:"
RESUME_TO_FIRST = "time from resume to first delivery:"


def emit(rate: float, stop: threading.Event, counts: dict[str, int]) -> None:
    interval, next_at, i = 1.0 / rate, time.monotonic(), 0
    while not stop.is_set():
        ok = sfeventlog.add_event("audit", "instance", f"drill-{i % 100}", f"drill event {i}")
        counts["accepted" if ok else "dropped"] += 1
        i += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--outage", type=float, default=30.0, help="seconds the server is stopped")
    p.add_argument("--rate", type=float, default=100.0, help="events per second emitted")
    p.add_argument("--lead", type=float, default=5.0, help="seconds of normal load first")
    p.add_argument("--mariadb", action="store_true", help="use MariaDB from SHAKENFIST_MARIADB_*")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sfeventlog-drill-") as tmp:
        workdir = Path(tmp)
        store = [] if args.mariadb else ["--sqlite", str(workdir / "events.sqlite")]
        server = ServeProcess("database", ["--grace", "2", *store],
                              log_path=workdir / "server.log")
        settings = Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                            mariadb_gateway_port=server.port, mariadb_gateway_timeout=2.0,
                            eventlog_spool_dir=workdir / "spool")
        sfeventlog.start("outage-drill", settings)
        spool = api.current_spool()
        assert spool is not None
        counts = {"accepted": 0, "dropped": 0}
        stop_emitting = threading.Event()
        emitter = threading.Thread(target=emit, args=(args.rate, stop_emitting, counts))
        emitter.start()
        started = time.monotonic()
        stopped_at = resumed_at = first_at = drained_at = None
        resume_depth = 0
        max_backoff = 0.0
        print(f"{'t(s)':>6} {'phase':<8} {'depth':>7} {'backoff(s)':>10} {'accepted':>9}")
        try:
            while True:
                t = time.monotonic() - started
                if stopped_at is None and t >= args.lead:
                    os.kill(server.process.pid, signal.SIGSTOP)
                    stopped_at = t
                if stopped_at is not None and resumed_at is None and t >= stopped_at + args.outage:
                    os.kill(server.process.pid, signal.SIGCONT)
                    resumed_at = t
                    stop_emitting.set()
                    emitter.join()
                    resume_depth = spool.count()
                depth = spool.count()
                if resumed_at is not None and first_at is None and depth < resume_depth:
                    first_at = t
                backoff = metrics.DRAIN_BACKOFF._value.get()
                max_backoff = max(max_backoff, backoff)
                phase = "normal" if stopped_at is None else "outage" if resumed_at is None else "drain"
                print(f"{t:6.1f} {phase:<8} {depth:7d} {backoff:10.2f} {counts['accepted']:9d}",
                      flush=True)
                if resumed_at is not None and depth == 0:
                    drained_at = t
                    break
                if resumed_at is not None and t > resumed_at + 120:
                    break
                time.sleep(1.0 if phase != "drain" else 0.1)
        finally:
            stop_emitting.set()
            emitter.join()
            if resumed_at is None:
                os.kill(server.process.pid, signal.SIGCONT)
            backoff_after = metrics.DRAIN_BACKOFF._value.get()
            sfeventlog.stop(drain_timeout=30)
            server.stop()
        print()
        print(f"outage: {args.outage:.0f} s at {args.rate:.0f} events/s")
        print(f"accepted: {counts['accepted']}  dropped: {counts['dropped']}")
        print(f"max backoff during outage: {max_backoff:.2f} s;"
              f" backoff after drain: {backoff_after:.2f} s")
        if drained_at is None or resumed_at is None:
            print("FAIL: the spool did not drain to zero")
            return 1
        if first_at is not None:
            print(f"{RESUME_TO_FIRST} {first_at - resumed_at:.2f} s"
                  f" (then {drained_at - first_at:.2f} s to drain {resume_depth} events)")
        print(f"{RESUME_TO_EMPTY} {drained_at - resumed_at:.2f} s")
        ok = counts["dropped"] == 0 and backoff_after == 0
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
