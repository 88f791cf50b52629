"""The ``legacy`` transport: sf-eventlog's ``EventService.RecordMultiEventBatch``.

Config: ``SHAKENFIST_EVENTLOG_NODE_IP``, ``SHAKENFIST_EVENTLOG_API_PORT``,
``SHAKENFIST_EVENTLOG_API_TIMEOUT`` (per-call deadline) and the optional
``SHAKENFIST_GRPC_TLS_*`` files.  The request id travels inside ``extra`` as
``request-id`` and the event uuid in an extension field; see
``sfeventlog.wire.legacy_codec``.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from sfeventlog.config import Settings
from sfeventlog.errors import RetryableError
from sfeventlog.records import EventRecord
from sfeventlog.wire import event_pb2_grpc
from sfeventlog.wire.client import (
    classify_rpc_error,
    with_port,
)
from sfeventlog.wire.legacy_codec import encode_batch
from sfeventlog_transports._grpc import GrpcTransport


class LegacyTransport(GrpcTransport[event_pb2_grpc.EventServiceStub]):
    """Sends batches to sf-eventlog; one reused channel, lazily opened.

    ``ack=false`` (the server failed some event of the batch) is retryable.
    """

    api_version = 1

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        host = settings.require("eventlog_node_ip", "the legacy transport")
        self._target = with_port(host, settings.eventlog_api_port)
        self._timeout = settings.eventlog_api_timeout

    def targets(self) -> Sequence[str]:
        return (self._target,)

    def make_stub(self, channel: grpc.Channel) -> event_pb2_grpc.EventServiceStub:
        return event_pb2_grpc.EventServiceStub(channel)

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        """Deliver ``records``; an empty batch is still sent, as a probe."""
        try:
            reply = self.stub().RecordMultiEventBatch(
                encode_batch(records), timeout=self._timeout, wait_for_ready=False)
        except grpc.RpcError as exc:
            raise classify_rpc_error(exc, f"sf-eventlog at {self._target}", self.settings) from None
        if not reply.ack:
            # Always retryable: refused records get INVALID_ARGUMENT instead.
            why = f": {reply.error}" if reply.error else ""
            raise RetryableError(f"sf-eventlog at {self._target} did not acknowledge the batch{why}")
