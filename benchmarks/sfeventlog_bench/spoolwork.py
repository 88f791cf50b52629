"""Enqueue and drain work on a given spool file, for the backlog figures."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sfeventlog.config import Settings
from sfeventlog.drainer import Drainer
from sfeventlog.loader import load_transport
from sfeventlog.payload import build_payload, encode
from sfeventlog.spool import Spool
from sfeventlog_bench.workload import EVENT, FQDN


def open_spool(path: Path) -> Spool:
    return Spool(path, high_water_mark=10**9, lock=False)


def enqueuer(spool: Spool) -> Callable[[int], None]:
    """``n`` enqueues of the typical event into ``spool``.

    The same calls as ``add_event`` makes (build, encode, enqueue), aimed at
    a given spool rather than the process's own.
    """
    objects = [(EVENT["object_type"], EVENT["object_uuid"])]

    def work(n: int) -> None:
        for _ in range(n):
            payload = build_payload(event_type=EVENT["event_type"], objects=objects,
                                    message=EVENT["message"], fqdn=FQDN, extra=EVENT["extra"])
            if spool.enqueue(encode(payload)) is not None:
                raise RuntimeError("enqueue dropped an event during the benchmark")
    return work


def trim(spool: Spool, keep: int) -> None:
    """Deliver-and-forget the oldest rows until ``keep`` remain (untimed housekeeping)."""
    while (extra := spool.count() - keep) > 0:
        spool.delete_ids(row_id for row_id, _ in spool.dequeue_batch(min(extra, 10_000)))


def null_drain_rate(spool: Spool, rows: int) -> float:
    """Events/s of the drainer moving the oldest ``rows`` rows to the ``null`` transport."""
    transport = load_transport(Settings(eventlog_transport="null"))
    drainer = Drainer(spool, transport, "null")
    done = 0
    started = time.perf_counter()
    while done < rows:
        sent = drainer.drain_once()
        if not sent:
            break
        done += sent
    elapsed = time.perf_counter() - started
    transport.close()
    return done / elapsed
