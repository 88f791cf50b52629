"""CPU cost of each step on the ``database`` path, per batch of 100.

Absorbed from the gRPC engineer's ``benchmarks/grpc_bench.py``.  CPU time
(best of 7), not wall time, so other load on the machine matters less; the
reference of every row is the sum of the steps, so the ratio is each step's
share of the path's Python CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sfeventlog.payload import encode, parse_row, payload_from_record
from sfeventlog.server.database import parse_request
from sfeventlog.store.rows import event_row, object_rows
from sfeventlog.wire.database_codec import encode_batch
from sfeventlog_bench.context import BenchContext
from sfeventlog_bench.figures import Figure
from sfeventlog_bench.servers import ServeProcess
from sfeventlog_bench.workload import BATCH, Objects, batches


def _best_ms(step: Callable[[], object], per: int) -> float:
    best = float("inf")
    for _ in range(7):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best / per * 1000


def _round_trip_ms(port: int) -> float:
    import grpc

    from sfeventlog.wire import database_pb2_grpc

    empty = encode_batch([])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = database_pb2_grpc.DatabaseServiceStub(channel)
        stub.RecordEventBatch(empty, timeout=10)
        started = time.perf_counter()
        for _ in range(200):
            stub.RecordEventBatch(empty, timeout=10)
        return (time.perf_counter() - started) / 200 * 1000


def run(ctx: BenchContext) -> list[Figure]:
    work = batches("v7", Objects(), ctx.scaled(20, 50))
    spooled = [[encode(payload_from_record(r)) for r in b] for b in work]
    wire = [encode_batch(b).SerializeToString() for b in work]
    decoded = [parse_request(w) for w in wire]
    steps = {
        "S1": ("drainer: parse spool rows (parse_row)",
               lambda: [[parse_row(x) for x in b] for b in spooled]),
        "S2": ("transport: encode RecordEventBatchRequest",
               lambda: [encode_batch(b).SerializeToString() for b in work]),
        "S3": ("server: parse and validate the request",
               lambda: [parse_request(w) for w in wire]),
        "S4": ("store: build the MariaDB rows",
               lambda: [([event_row(r) for r in b], [o for r in b for o in object_rows(r)])
                        for b in decoded]),
    }
    costs = {key: _best_ms(step, len(work)) for key, (_, step) in steps.items()}
    with ServeProcess("database", ["--sqlite", str(ctx.tmp / "steps.sqlite"), "--grace", "1"],
                      log_path=ctx.tmp / "steps-server.log") as server:
        costs["S5"] = _round_trip_ms(server.port)
    names = {key: name for key, (name, _) in steps.items()}
    names["S5"] = "gRPC round trip, empty batch (wall)"
    total = sum(costs.values())
    return [Figure(key, f"{names[key]}, per {BATCH}", cost, "ms", total, "all steps", runs=7)
            for key, cost in costs.items()]
