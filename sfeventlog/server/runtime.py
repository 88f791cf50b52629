"""What both reference servers share: build, serve, shut down.

A server is a ``grpc.aio`` server on its own event-loop thread, so a call
costs a worker thread only while its request is processed:

* requests are received on the loop, at most ``read_slots`` at once and
  ``read_slots_per_connection`` per connection (gRPC flow control holds the
  others back), each within ``read_timeout`` seconds: an idle or slow stream
  gets DEADLINE_EXCEEDED (RESOURCE_EXHAUSTED if it never got a slot), holds
  no worker meanwhile, and one connection can never hold every slot;
* requests being processed hold their size from a byte budget
  (``request_bytes_budget``), and at most ``workers`` run at once, so memory
  under large requests is bounded (docs/reliability.md has the figures);
* the standard health service answers on the loop, even with every worker
  busy;
* keepalive pings drop dead peers, idle connections are closed, every
  connection is recycled after 30 minutes; ``max_concurrent_rpcs`` caps
  calls in flight (beyond it grpc answers RESOURCE_EXHAUSTED);
* the port is never shared with another server (``grpc.so_reuseport`` 0).

Services register ordinary synchronous unary handlers (``bytes`` in,
``bytes`` out, ``context.abort`` for errors); they run in the worker pool.
Optional TLS or mTLS, a metrics port serving ``/metrics``, ``/healthz`` and
``/readyz`` (``sfeventlog.server.probes``).  On SIGTERM/SIGINT health turns
NOT_SERVING (and ``/readyz`` 503), in-flight calls get ``grace`` seconds, then
the server stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import start_http_server

from sfeventlog.errors import ConfigError
from sfeventlog.server.limits import DEFAULT_MAX_MESSAGE_BYTES
from sfeventlog.server.probes import NotReady, probe_app

LOG = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PORT = 65535
#: Bytes of requests being processed at once (parsing multiplies them ~5x).
DEFAULT_REQUEST_BYTES_BUDGET = 32 * 1024 * 1024
#: Requests being received at once, and per connection.
DEFAULT_READ_SLOTS = 8
DEFAULT_READ_SLOTS_PER_CONNECTION = 2
#: Seconds a call may take to send its request once it is being received.
DEFAULT_READ_TIMEOUT = 10.0
#: Calls in flight (idle ones included) before RESOURCE_EXHAUSTED.
DEFAULT_MAX_CONCURRENT_RPCS = 1024

# Upstream sf-database's keepalive policy: tolerate clients' pings.
_KEEPALIVE_OPTIONS = [
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_ping_strikes", 0),
]
# Ours on top: nothing holds a connection forever.
_CONNECTION_OPTIONS = [
    ("grpc.so_reuseport", 0),  # a second server on this port fails to bind
    ("grpc.keepalive_time_ms", 60_000),  # ping every connection each minute...
    ("grpc.keepalive_timeout_ms", 20_000),  # ...and drop it if the ping is not acked
    ("grpc.max_connection_idle_ms", 300_000),  # no call for 5 min: GOAWAY
    ("grpc.max_connection_age_ms", 1_800_000),  # recycle connections every 30 min...
    ("grpc.max_connection_age_grace_ms", 60_000),  # ...after in-flight calls had 60 s
    ("grpc.max_concurrent_streams", 100),  # per connection
    ("grpc.http2.bdp_probe", 0),
]


@dataclass(frozen=True)
class ServerOptions:
    """How to run one server; paths are read when the server is built."""

    listen: str = "127.0.0.1:0"
    workers: int = 16
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    grace: float = 10.0
    metrics_host: str | None = None
    metrics_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    request_bytes_budget: int = DEFAULT_REQUEST_BYTES_BUDGET
    read_slots: int = DEFAULT_READ_SLOTS
    read_slots_per_connection: int = DEFAULT_READ_SLOTS_PER_CONNECTION
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS


def server_credentials(options: ServerOptions) -> grpc.ServerCredentials | None:
    """TLS (cert + key) or mTLS (plus a client CA, client certs required)."""
    if options.tls_cert is None and options.tls_key is None:
        if options.tls_client_ca is not None:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if options.tls_cert is None or options.tls_key is None:
        raise ConfigError("--tls-cert and --tls-key go together")
    try:
        pair = (options.tls_key.read_bytes(), options.tls_cert.read_bytes())
        client_ca = options.tls_client_ca.read_bytes() if options.tls_client_ca else None
    except OSError as exc:
        raise ConfigError(f"cannot read a TLS file: {exc}") from exc
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


class _ByteBudget:
    """An async semaphore weighted in bytes; a request over the whole budget runs alone."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._changed = asyncio.Condition()

    async def acquire(self, size: int) -> int:
        """Wait for ``size`` bytes (capped at the budget); returns what to ``release``."""
        size = min(size, self.capacity)
        if not self._changed.locked() and self._used + size <= self.capacity:
            self._used += size  # what the wait below would do at once, minus its steps
            return size
        async with self._changed:
            await self._changed.wait_for(lambda: self._used + size <= self.capacity)
            self._used += size
        return size

    async def release(self, size: int) -> None:
        async with self._changed:
            self._used -= size
            self._changed.notify_all()


class _ReadSlots:
    """At most ``slots`` requests being received at once, ``per_peer`` per connection.

    gRPC's flow control keeps a stream that is not being read to a small
    window, so slots bound the request bytes in memory.  The per-connection
    cap means one connection's idle streams can never hold every slot.
    """

    def __init__(self, slots: int, per_peer: int) -> None:
        self.slots, self.per_peer = slots, per_peer
        self._by_peer: dict[str, int] = {}
        self._used = 0
        self._changed = asyncio.Condition()

    def try_acquire(self, peer: str) -> bool:
        """Take a slot if one is free now (what ``acquire`` would do without waiting)."""
        if (self._changed.locked() or self._used >= self.slots
                or self._by_peer.get(peer, 0) >= self.per_peer):
            return False
        self._used += 1
        self._by_peer[peer] = self._by_peer.get(peer, 0) + 1
        return True

    async def acquire(self, peer: str) -> None:
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._used < self.slots and self._by_peer.get(peer, 0) < self.per_peer)
            self._used += 1
            self._by_peer[peer] = self._by_peer.get(peer, 0) + 1

    async def release(self, peer: str) -> None:
        async with self._changed:
            self._used -= 1
            left = self._by_peer[peer] - 1
            if left:
                self._by_peer[peer] = left
            else:
                del self._by_peer[peer]
            self._changed.notify_all()


class _Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


class SyncContext:
    """What a synchronous handler may use of its call, from a worker thread."""

    def __init__(self, metadata: Sequence[tuple[str, Any]], peer: str) -> None:
        self._metadata = tuple(metadata)
        self._peer = peer

    def invocation_metadata(self) -> Sequence[tuple[str, Any]]:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        """End the call with ``code``; like ``grpc.ServicerContext.abort``."""
        raise _Aborted(code, details)


class _Limits:
    def __init__(self, options: ServerOptions, pool: futures.ThreadPoolExecutor) -> None:
        self.read_timeout = options.read_timeout
        self.budget = _ByteBudget(options.request_bytes_budget)
        self.reads = _ReadSlots(options.read_slots, options.read_slots_per_connection)
        self.pool = pool


def _on_the_loop(handler: grpc.RpcMethodHandler[Any, Any],
                 limits: _Limits) -> grpc.RpcMethodHandler[Any, Any]:
    """A sync unary handler as an async one: read on the loop, work in the pool."""
    behaviour: Callable[[Any, SyncContext], Any] = handler.unary_unary  # type: ignore[assignment]
    deserialize, serialize = handler.request_deserializer, handler.response_serializer

    def work(data: bytes, context: SyncContext) -> Any:
        reply = behaviour(deserialize(data) if deserialize else data, context)
        return serialize(reply) if serialize else reply

    async def call(_requests: object, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        peer, timeout = context.peer(), limits.read_timeout
        if not limits.reads.try_acquire(peer):
            try:
                async with asyncio.timeout(timeout):
                    await limits.reads.acquire(peer)
            except TimeoutError:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    f"server busy: no request slot within {timeout:g} s")
        try:
            # asyncio.timeout, not wait_for: no task of its own per read.
            async with asyncio.timeout(timeout):
                data = await context.read()
            if data is grpc.aio.EOF:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")
            # Keep the read slot until the bytes count in the budget.
            held = await limits.budget.acquire(len(data))
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"request not received within {timeout:g} s")
        finally:
            await limits.reads.release(peer)
        try:
            sync_context = SyncContext(tuple(context.invocation_metadata() or ()), peer)
            return await asyncio.get_running_loop().run_in_executor(
                limits.pool, work, data, sync_context)
        except _Aborted as exc:
            await context.abort(exc.code, exc.details)
        finally:
            await limits.budget.release(held)

    return grpc.stream_unary_rpc_method_handler(call)


class _GenericOnTheLoop(grpc.GenericRpcHandler):
    """Wraps a service's generic handler so its unary methods run via ``_on_the_loop``."""

    def __init__(self, inner: grpc.GenericRpcHandler, limits: _Limits) -> None:
        self._inner = inner
        self._limits = limits
        self._cache: dict[str, grpc.RpcMethodHandler[Any, Any] | None] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = details.method
        if method not in self._cache:
            handler = self._inner.service(details)
            if handler is not None and handler.unary_unary is not None:
                handler = _on_the_loop(handler, self._limits)
            self._cache[method] = handler
        return self._cache[method]


class _Registry:
    """What ``register`` callbacks see: ``add_generic_rpc_handlers`` as on grpc.Server."""

    def __init__(self, server: grpc.aio.Server, limits: _Limits) -> None:
        self._server = server
        self._limits = limits

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            [_GenericOnTheLoop(h, self._limits) for h in handlers])


class _Loop:
    """An asyncio loop on its own daemon thread; ``run`` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever,
                                        name="sfeventlog-grpc-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


class Health:
    """The standard health service, set from any thread (it answers on the loop)."""

    def __init__(self, servicer: health.aio.HealthServicer, loop: _Loop) -> None:
        self.servicer = servicer
        self._loop = loop

    def set(self, service: str, status: int) -> None:
        self._loop.run(self.servicer.set(service, status), timeout=10)

    def enter_graceful_shutdown(self) -> None:
        self._loop.run(self.servicer.enter_graceful_shutdown(), timeout=10)


class RunningServer:
    """A started gRPC server plus its health and metrics endpoints."""

    def __init__(self, server: grpc.aio.Server, loop: _Loop, health_service: Health,
                 pool: futures.ThreadPoolExecutor, port: int, host: str,
                 metrics_port: int | None, on_stop: Callable[[], None], grace: float,
                 metrics_server: WSGIServer | None, ready: NotReady | None = None) -> None:
        self.server = server
        self.health = health_service
        self.host = host
        self.port = port
        self.metrics_port = metrics_port
        self.grace = grace
        self._loop = loop
        self._pool = pool
        self._on_stop = on_stop
        self._metrics_server = metrics_server
        self._ready = ready
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        # prometheus_client's server, its app wrapped so it serves the probes too.
        metrics_app = None if metrics_server is None else metrics_server.get_app()
        if metrics_server is not None and metrics_app is not None:
            metrics_server.set_app(probe_app(metrics_app, self.not_ready))

    def not_ready(self) -> str | None:
        """None while the server takes writes (``/readyz`` 200), else why not."""
        if self._stopped.is_set():
            return "the server is stopping"
        return None if self._ready is None else self._ready()

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING, let in-flight calls finish within ``grace``, stop.

        Safe to call twice.
        """
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        self.health.enter_graceful_shutdown()
        self._loop.run(self.server.stop(self.grace if grace is None else grace))
        # The services stop (store watch, stores) while the loop still runs:
        # a last health change must not land on a closed loop.
        self._on_stop()
        self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()

    def catch_signals(self) -> threading.Event:
        """Install SIGTERM/SIGINT handlers (main thread only); the event is set on one.

        Call it before announcing readiness, so a signal sent the moment the
        server says it is up stops it cleanly instead of killing it.
        """
        requested = threading.Event()

        def handler(signum: int, _frame: FrameType | None) -> None:
            LOG.info("signal %d: health NOT_SERVING, stopping within %.1fs", signum, self.grace)
            requested.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        return requested

    def wait_for_signal(self, requested: threading.Event | None = None) -> None:
        """Block until SIGTERM or SIGINT, then ``stop()``."""
        if requested is None:
            requested = self.catch_signals()
        while not requested.wait(0.5):
            if self._stopped.is_set():
                return
        self.stop()


def split_listen(listen: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``; ``ConfigError`` unless the port is 0-65535."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--listen must be HOST:PORT, got {listen!r}")
    if int(port) > MAX_PORT:
        raise ConfigError(f"--listen port must be 0-{MAX_PORT}, got {port}")
    return host.strip("[]"), int(port)


def _grpc_options(options: ServerOptions) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.max_send_message_length", options.max_message_bytes),
        *_KEEPALIVE_OPTIONS,
        *_CONNECTION_OPTIONS,
    ]


def start_server(
    options: ServerOptions,
    services: list[str],
    register: Callable[[Any], None],
    on_stop: Callable[[], None] = lambda: None,
    ready: NotReady | None = None,
) -> RunningServer:
    """Build, bind and start a server for ``services`` (full names, for health).

    ``register`` gets an object with ``add_generic_rpc_handlers`` and adds the
    service handlers (synchronous unary ones).  ``ready`` says why the
    server cannot take writes (None when it can), for ``/readyz``.  Raises
    ``ConfigError`` when the address cannot be bound or TLS files are unusable.
    """
    host, _ = split_listen(options.listen)
    if options.metrics_port is not None and not 0 <= options.metrics_port <= MAX_PORT:
        raise ConfigError(f"--metrics-port must be 0-{MAX_PORT}, got {options.metrics_port}")
    credentials = server_credentials(options)
    pool = futures.ThreadPoolExecutor(max_workers=options.workers,
                                      thread_name_prefix="sfeventlog-rpc")
    loop = _Loop()
    try:
        server, servicer, port = loop.run(_build(options, credentials, register, pool))
    except BaseException:
        loop.close()
        pool.shutdown(wait=False)
        raise
    metrics_server, metrics_port = None, None
    if options.metrics_port is not None:
        metrics_host = options.metrics_host or host
        try:
            metrics_server, _thread = start_http_server(options.metrics_port, addr=metrics_host)
        except OSError as exc:
            loop.run(server.stop(0))
            loop.close()
            pool.shutdown(wait=False)
            raise ConfigError(f"cannot serve metrics on {metrics_host}:{options.metrics_port}:"
                              f" {exc}") from exc
        metrics_port = int(metrics_server.server_address[1])
    health_service = Health(servicer, loop)
    loop.run(server.start())
    for name in ["", *services]:
        health_service.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, loop, health_service, pool, port, host, metrics_port, on_stop,
                         options.grace, metrics_server, ready)


async def _build(options: ServerOptions, credentials: grpc.ServerCredentials | None,
                 register: Callable[[Any], None], pool: futures.ThreadPoolExecutor
                 ) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
    server = grpc.aio.server(options=_grpc_options(options),
                             maximum_concurrent_rpcs=options.max_concurrent_rpcs)
    register(_Registry(server, _Limits(options, pool)))
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    try:
        if credentials is None:
            port = server.add_insecure_port(options.listen)
        else:
            port = server.add_secure_port(options.listen, credentials)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {options.listen}: address in use or not"
                          " available") from exc
    if port == 0:
        raise ConfigError(f"cannot listen on {options.listen} (address in use?)")
    return server, servicer, port
