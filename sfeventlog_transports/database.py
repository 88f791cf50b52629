"""The ``database`` transport: sf-database's ``DatabaseService.RecordEventBatch``.

Config: ``SHAKENFIST_MARIADB_GATEWAY_HOSTS`` (comma-separated, required),
``..._GATEWAY_PORT``, ``..._GATEWAY_TIMEOUT`` (per-call deadline) and the
optional ``SHAKENFIST_GRPC_TLS_*`` files.

Calls are spread over every host round-robin, as upstream's client does.
A host that answers UNAVAILABLE or DEADLINE_EXCEEDED is left at once for
the next one and benched for ``BENCH_SECONDS`` (tried last while benched).
Every call carries upstream's ``caller-daemon`` / ``caller-node`` metadata.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import grpc

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, PermanentError, RetryableError
from sfeventlog.records import EventRecord
from sfeventlog.wire import database_pb2, database_pb2_grpc
from sfeventlog.wire.client import (
    FAILOVER_CODES,
    CallerMetadataInterceptor,
    classify_rpc_error,
    with_port,
)
from sfeventlog.wire.database_codec import encode_batch
from sfeventlog.wire.replies import classify_status_reply
from sfeventlog_transports._grpc import GrpcTransport


def classify_reply_error(reply: database_pb2.StatusReply,
                         target: str) -> PermanentError | RetryableError:
    """Classify a ``StatusReply(success=false)``: its ``failure`` field first,
    then upstream's known refusal texts (``sfeventlog.wire.replies``)."""
    return classify_status_reply(reply, f"sf-database at {target}")


T = TypeVar("T")

#: How long a host that failed over stays at the back of the rotation.
BENCH_SECONDS = 30.0


class DatabaseTransport(GrpcTransport[database_pb2_grpc.DatabaseServiceStub]):
    """Sends batches to sf-database over gRPC; one reused channel per host, lazily opened."""

    api_version = 1
    #: sf-database (ours and upstream's) serves calls concurrently and
    #: ignores events it already has, so a drainer keeps two batches in flight.
    max_in_flight = 2

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        hosts = settings.gateway_hosts()
        if not hosts:
            raise ConfigError("SHAKENFIST_MARIADB_GATEWAY_HOSTS is not set;"
                              " the database transport needs at least one sf-database host")
        self._targets = [with_port(h, settings.mariadb_gateway_port) for h in hosts]
        self._timeout = settings.mariadb_gateway_timeout
        self._next = 0
        self._benched_until: dict[str, float] = {}

    def targets(self) -> Sequence[str]:
        return self._targets

    def make_stub(self, channel: grpc.Channel) -> database_pb2_grpc.DatabaseServiceStub:
        return database_pb2_grpc.DatabaseServiceStub(channel)

    def interceptors(self) -> Sequence[grpc.UnaryUnaryClientInterceptor]:
        return (CallerMetadataInterceptor(self.settings.fqdn()),)

    def rotation(self) -> list[str]:
        """This call's order: every host once, starting one further than the last
        call did; benched hosts go last."""
        n = len(self._targets)
        start, self._next = self._next, (self._next + 1) % n
        order = [self._targets[(start + i) % n] for i in range(n)]
        now = time.monotonic()
        return sorted(order, key=lambda t: self._benched_until.get(t, 0.0) > now)

    def call(self, what: str, rpc: Callable[[database_pb2_grpc.DatabaseServiceStub], T]) -> T:
        """Run ``rpc`` on the next host in the rotation, failing over as the write path does.

        UNAVAILABLE or DEADLINE_EXCEEDED moves to the next host at once and
        benches the failed one; any other gRPC error is classified and raised.
        Once every host has been tried, ``RetryableError`` lists what each
        said.  ``sfeventlog.reads`` sends its reads and deletes through here,
        so they share the hosts, TLS, metadata and failover of the writes.
        """
        return self._call_answered(what, rpc)[0]

    def _call_answered(self, what: str,
                       rpc: Callable[[database_pb2_grpc.DatabaseServiceStub], T]) -> tuple[T, str]:
        """``call``, and the host that answered (calls may run in several threads)."""
        failures: list[str] = []
        for target in self.rotation():
            try:
                result = rpc(self.stub(target))
            except grpc.RpcError as exc:
                error = classify_rpc_error(exc, f"sf-database at {target}", self.settings)
                if isinstance(exc, grpc.Call) and exc.code() in FAILOVER_CODES:
                    failures.append(str(error))
                    self._benched_until[target] = time.monotonic() + BENCH_SECONDS
                    self.close_target(target)
                    continue
                raise error from None
            self._benched_until.pop(target, None)
            return result, target
        done = "accepted the batch" if what == "RecordEventBatch" else f"answered {what}"
        raise RetryableError(f"no sf-database host {done}: " + "; ".join(failures))

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        """Deliver ``records``; an empty batch is still sent, as a probe."""
        request = encode_batch(records)
        reply, target = self._call_answered(
            "RecordEventBatch", lambda stub: stub.RecordEventBatch(request, timeout=self._timeout))
        if not reply.success:
            raise classify_reply_error(reply, target)
