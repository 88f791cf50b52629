"""What the gRPC transports share: one channel, opened lazily, probed, closed."""

from __future__ import annotations

import abc
from typing import Generic, TypeVar

import grpc

from sfeventlog.config import Settings
from sfeventlog.errors import RetryableError
from sfeventlog.transport import Transport
from sfeventlog.wire.client import channel_credentials, health_probe, health_problem, open_channel

StubT = TypeVar("StubT")


class GrpcTransport(Transport, Generic[StubT]):
    """A transport talking to one target at a time over one reused channel.

    No I/O in ``__init__``: the channel is opened by the first call that
    needs it (gRPC connects on the first RPC).
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._channel: grpc.Channel | None = None
        self._stub: StubT | None = None

    @abc.abstractmethod
    def current_target(self) -> str:
        """``host:port`` the next call goes to."""

    @abc.abstractmethod
    def make_stub(self, channel: grpc.Channel) -> StubT:
        """The service stub over ``channel``."""

    def stub(self) -> StubT:
        """The stub for the current target, opening its channel if needed."""
        if self._stub is None:
            self._channel = open_channel(self.current_target(),
                                         channel_credentials(self.settings))
            self._stub = self.make_stub(self._channel)
        return self._stub

    def check(self) -> None:
        """Send the empty-batch probe, then ask health: both must say ready.

        The empty batch reaches the store on our servers; an upstream
        sf-database answers it without touching MariaDB but drives its
        health from MariaDB, so health is asked too.
        """
        super().check()
        assert self._channel is not None
        problem = health_problem(self._channel)
        if problem is not None:
            raise RetryableError(f"{self.current_target()}: {problem}")

    def probe(self) -> bool:
        """Ask the server's standard gRPC health service (1 s deadline).

        Our servers (and upstream's sf-database) report NOT_SERVING while
        their store does not answer, so SERVING means the store is back,
        not only the server in front of it.
        """
        self.stub()
        assert self._channel is not None
        return health_probe(self._channel)

    def close(self) -> None:
        """Close the channel; the next call opens a new one. Safe twice."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            channel.close()
