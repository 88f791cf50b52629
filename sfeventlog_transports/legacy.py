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
from sfeventlog.transport import Transport
from sfeventlog.wire import event_pb2_grpc
from sfeventlog.wire.client import (
    channel_credentials,
    classify_rpc_error,
    health_probe,
    open_channel,
    with_port,
)
from sfeventlog.wire.legacy_codec import encode_batch


class LegacyTransport(Transport):
    """Sends batches to sf-eventlog; one reused channel, lazily opened.

    ``ack=false`` (the server failed some event of the batch) is retryable.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._target = with_port(settings.eventlog_node_ip, settings.eventlog_api_port)
        self._timeout = settings.eventlog_api_timeout
        self._channel: grpc.Channel | None = None
        self._stub: event_pb2_grpc.EventServiceStub | None = None

    def _get_stub(self) -> event_pb2_grpc.EventServiceStub:
        if self._stub is None:
            self._channel = open_channel(self._target, channel_credentials(self.settings))
            self._stub = event_pb2_grpc.EventServiceStub(self._channel)
        return self._stub

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        """Deliver ``records``; an empty batch is still sent, as a probe."""
        try:
            reply = self._get_stub().RecordMultiEventBatch(
                encode_batch(records), timeout=self._timeout, wait_for_ready=False)
        except grpc.RpcError as exc:
            raise classify_rpc_error(exc, f"sf-eventlog at {self._target}") from None
        if not reply.ack:
            raise RetryableError(f"sf-eventlog at {self._target} did not acknowledge the batch")

    def probe(self) -> bool:
        """Ask the server's gRPC health service (1 s deadline)."""
        self._get_stub()
        assert self._channel is not None
        return health_probe(self._channel)

    def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            channel.close()
