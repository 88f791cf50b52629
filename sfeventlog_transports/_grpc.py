"""What the gRPC transports share: one channel per target, opened lazily, probed, closed."""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from typing import Generic, TypeVar

import grpc

from sfeventlog.config import Settings
from sfeventlog.errors import RetryableError
from sfeventlog.transport import Transport
from sfeventlog.wire.client import channel_credentials, health_probe, health_problem, open_channel

StubT = TypeVar("StubT")

#: The probe's whole budget: ``Transport.probe`` must answer within about a second.
PROBE_BUDGET = 1.0


class GrpcTransport(Transport, Generic[StubT]):
    """A transport talking to one or more targets, one reused channel each.

    No I/O in ``__init__``: a channel is opened by the first call that
    needs it (gRPC connects on the first RPC).  Channels are opened and
    closed under a lock: calls may come from several sender threads.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._channels: dict[str, tuple[grpc.Channel, StubT]] = {}
        self._channels_lock = threading.Lock()

    @abc.abstractmethod
    def targets(self) -> Sequence[str]:
        """Every ``host:port`` this transport may call."""

    @abc.abstractmethod
    def make_stub(self, channel: grpc.Channel) -> StubT:
        """The service stub over ``channel``."""

    def interceptors(self) -> Sequence[grpc.UnaryUnaryClientInterceptor]:
        """Client interceptors for every channel (none by default)."""
        return ()

    def stub(self, target: str | None = None) -> StubT:
        """The stub for ``target`` (default: the first), opening its channel if needed."""
        return self._opened(self.targets()[0] if target is None else target)[1]

    def channel(self, target: str) -> grpc.Channel:
        """``target``'s channel, opening it if needed."""
        return self._opened(target)[0]

    def _opened(self, target: str) -> tuple[grpc.Channel, StubT]:
        opened = self._channels.get(target)
        if opened is None:
            with self._channels_lock:
                opened = self._channels.get(target)
                if opened is None:
                    channel = open_channel(target, channel_credentials(self.settings),
                                           self.interceptors())
                    opened = self._channels[target] = (channel, self.make_stub(channel))
        return opened

    def check(self) -> None:
        """Send the empty-batch probe, then ask every host's health: all must say ready.

        The empty batch reaches the store on our servers; an upstream
        sf-database answers it without touching MariaDB but drives its
        health from MariaDB, so health is asked too.
        """
        super().check()
        problems = []
        for target in self.targets():
            problem = health_problem(self.channel(target))
            if problem is not None:
                problems.append(f"{target}: {problem}")
        if problems:
            # Every configured host must be ready: a go/no-go that passes
            # while one host's store is down would hide it until failover.
            raise RetryableError("; ".join(problems))

    def probe(self) -> bool:
        """True if any target's standard gRPC health service says SERVING.

        Our servers (and upstream's sf-database) report NOT_SERVING while
        their store does not answer, so SERVING means a store is back, not
        only the server in front of it.  The targets share a budget of
        about a second.
        """
        targets = self.targets()
        timeout = max(0.2, PROBE_BUDGET / len(targets))
        for target in targets:
            if health_probe(self.channel(target), timeout=timeout):
                return True
        return False

    def close_target(self, target: str) -> None:
        """Close ``target``'s channel; its next call opens a fresh one."""
        with self._channels_lock:
            opened = self._channels.pop(target, None)
        if opened is not None:
            opened[0].close()

    def close(self) -> None:
        """Close every channel; the next call opens new ones. Safe twice."""
        for target in list(self._channels):
            self.close_target(target)
