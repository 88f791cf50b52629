"""The ``database`` transport: sf-database's ``DatabaseService.RecordEventBatch``.

Config: ``SHAKENFIST_MARIADB_GATEWAY_HOSTS`` (comma-separated, tried in
order; an unavailable host fails over to the next), ``..._GATEWAY_PORT``,
``..._GATEWAY_TIMEOUT`` (per-call deadline) and the optional
``SHAKENFIST_GRPC_TLS_*`` files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import grpc

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, PermanentError, RetryableError
from sfeventlog.records import EventRecord
from sfeventlog.wire import database_pb2_grpc
from sfeventlog.wire.client import (
    classify_rpc_error,
    with_port,
)
from sfeventlog.wire.database_codec import encode_batch
from sfeventlog_transports._grpc import GrpcTransport

#: ``StatusReply.error`` texts meaning the server rejects the records
#: themselves (ours and upstream's validation wording); anything else in a
#: ``success=false`` reply is treated as a store-side, retryable failure.
_PERMANENT_REPLY = re.compile(
    r"invalid|validat|malformed|cannot map|unknown object type|too long|rejected", re.IGNORECASE
)


def classify_reply_error(error: str, target: str) -> PermanentError | RetryableError:
    """Classify a ``StatusReply(success=false)`` by its error text."""
    message = f"sf-database at {target} refused the batch: {error or '(no error text)'}"
    if _PERMANENT_REPLY.search(error):
        return PermanentError(message)
    return RetryableError(message)


class DatabaseTransport(GrpcTransport[database_pb2_grpc.DatabaseServiceStub]):
    """Sends batches to sf-database over gRPC; one reused channel, lazily opened."""

    api_version = 1

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        hosts = settings.gateway_hosts()
        if not hosts:
            raise ConfigError("SHAKENFIST_MARIADB_GATEWAY_HOSTS names no host")
        self._targets = [with_port(h, settings.mariadb_gateway_port) for h in hosts]
        self._timeout = settings.mariadb_gateway_timeout
        self._current = 0

    def current_target(self) -> str:
        return self._targets[self._current]

    def make_stub(self, channel: grpc.Channel) -> database_pb2_grpc.DatabaseServiceStub:
        return database_pb2_grpc.DatabaseServiceStub(channel)

    def _fail_over(self) -> None:
        self.close()
        self._current = (self._current + 1) % len(self._targets)

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        """Deliver ``records``; an empty batch is still sent, as a probe.

        UNAVAILABLE moves to the next host at once; once every host has
        been tried, ``RetryableError`` lists what each said.
        """
        request = encode_batch(records)
        failures: list[str] = []
        for _ in range(len(self._targets)):
            target = self._targets[self._current]
            try:
                reply = self.stub().RecordEventBatch(request, timeout=self._timeout)
            except grpc.RpcError as exc:
                error = classify_rpc_error(exc, f"sf-database at {target}")
                if isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.UNAVAILABLE:
                    failures.append(str(error))
                    self._fail_over()
                    continue
                raise error from None
            if not reply.success:
                raise classify_reply_error(reply.error, target)
            return
        raise RetryableError("no sf-database host accepted the batch: " + "; ".join(failures))
