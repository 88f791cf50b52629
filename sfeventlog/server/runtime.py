"""What both reference servers share: build, serve, shut down.

A server has a bounded thread pool (``workers``) and a bounded queue
(``maximum_concurrent_rpcs``; beyond it grpc answers RESOURCE_EXHAUSTED), a
max receive size, the standard health service, optional TLS or mTLS, and a
Prometheus endpoint.  On SIGTERM/SIGINT health turns NOT_SERVING, in-flight
calls get ``grace`` seconds, then the server stops.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import start_http_server

from sfeventlog.errors import ConfigError
from sfeventlog.server.limits import DEFAULT_MAX_MESSAGE_BYTES

LOG = logging.getLogger(__name__)

# Upstream sf-database's keepalive policy: tolerate clients' pings.
_KEEPALIVE_OPTIONS = [
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_ping_strikes", 0),
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


class RunningServer:
    """A started gRPC server plus its health and metrics endpoints."""

    def __init__(self, server: grpc.Server, health_servicer: health.HealthServicer,
                 port: int, host: str, metrics_port: int | None,
                 on_stop: Callable[[], None], grace: float,
                 metrics_server: WSGIServer | None) -> None:
        self.server = server
        self.health = health_servicer
        self.host = host
        self.port = port
        self.metrics_port = metrics_port
        self.grace = grace
        self._on_stop = on_stop
        self._metrics_server = metrics_server
        self._stopped = threading.Event()
        self._lock = threading.Lock()

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
        self.server.stop(self.grace if grace is None else grace).wait()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        self._on_stop()

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


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def start_server(
    options: ServerOptions,
    services: list[str],
    register: Callable[[grpc.Server], None],
    on_stop: Callable[[], None] = lambda: None,
) -> RunningServer:
    """Build, bind and start a server for ``services`` (full names, for health).

    ``register`` adds the service handlers.  Raises ``ConfigError`` when the
    address cannot be bound or TLS files are unusable.
    """
    host, _ = _split_listen(options.listen)
    max_rpcs = options.workers * 4
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.workers,
                                   thread_name_prefix="sfeventlog-rpc"),
        maximum_concurrent_rpcs=max_rpcs,
        options=[
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.max_send_message_length", options.max_message_bytes),
            *_KEEPALIVE_OPTIONS,
        ],
    )
    register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    credentials = server_credentials(options)
    try:
        if credentials is None:
            port = server.add_insecure_port(options.listen)
        else:
            port = server.add_secure_port(options.listen, credentials)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {options.listen}: {exc}") from exc
    if port == 0:
        raise ConfigError(f"cannot listen on {options.listen} (address in use?)")
    metrics_server, metrics_port = None, None
    if options.metrics_port is not None:
        metrics_host = options.metrics_host or host
        try:
            metrics_server, _thread = start_http_server(options.metrics_port, addr=metrics_host)
        except OSError as exc:
            server.stop(0)
            raise ConfigError(f"cannot serve metrics on {metrics_host}:{options.metrics_port}:"
                              f" {exc}") from exc
        metrics_port = int(metrics_server.server_address[1])
    server.start()
    for name in ["", *services]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, health_servicer, port, host, metrics_port, on_stop,
                         options.grace, metrics_server)
