"""``sfeventlog drain``: a standalone drainer for spools whose daemon is gone."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import start_http_server

import sfeventlog
from sfeventlog import api
from sfeventlog.cli.common import add_command
from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError
from sfeventlog.orphans import rescue_orphans

RESCUE_INTERVAL = 10.0


def register(sub: Any) -> None:
    p = add_command(
        sub, "drain", help="drain spool files left behind by daemons that are gone",
        description="Takes over every unowned spool file in the spool directory and delivers"
        " its rows with the configured transport. Live daemons' files are never touched."
        " Stops cleanly on SIGTERM or SIGINT, draining for up to --drain-timeout.",
        examples=[
            "sfeventlog drain --once",
            "SHAKENFIST_EVENTLOG_TRANSPORT=database sfeventlog drain --metrics-port 13099",
        ],
    )
    p.add_argument("--spool-dir", type=Path, help="default: eventlog_spool_dir from config")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--metrics-addr", default="127.0.0.1", help="metrics bind address")
    p.add_argument("--once", action="store_true", help="exit when the spool is empty")
    p.add_argument("--drain-timeout", type=float, default=20.0,
                   help="how long to keep draining after SIGTERM (or with --once)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.spool_dir is not None:
        settings = settings.model_copy(update={"eventlog_spool_dir": args.spool_dir})
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.metrics_port is not None:
        try:
            start_http_server(args.metrics_port, addr=args.metrics_addr)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {args.metrics_addr}:{args.metrics_port}:"
                              f" {exc.strerror or exc} (--metrics-port)") from exc
    sfeventlog.start("sfeventlog-drain", settings)
    spool = api.current_spool()
    assert spool is not None
    print(f"draining {settings.eventlog_spool_dir} via {settings.eventlog_transport}:"
          f" {spool.count()} rows", flush=True)
    # --once: one --drain-timeout in all, the wait for an empty spool and the
    # final stop together.  Otherwise the timeout starts at the signal.
    deadline = time.monotonic() + args.drain_timeout
    if args.once:
        while spool.count() and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.1)
    else:
        while not stop.wait(RESCUE_INTERVAL):
            rescue_orphans(spool)
        deadline = time.monotonic() + args.drain_timeout
    empty = sfeventlog.stop(drain_timeout=max(0.0, deadline - time.monotonic()))
    print("spool drained" if empty else "stopped with rows left in the spool", flush=True)
    return 0 if empty else 1
