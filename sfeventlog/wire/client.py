"""Client-side gRPC plumbing shared by the ``database`` and ``legacy`` transports."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import grpc

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, PermanentError, RetryableError, TransportError
from sfeventlog.wire.caller import CALLER_DAEMON, CALLER_NODE, caller_daemon

#: Codes meaning "the server will never accept these records".
PERMANENT_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT})


#: gRPC's wording when a message exceeds a send or receive size limit.
_TOO_LARGE = re.compile(r"larger than max|message too large|exceeds.*max", re.IGNORECASE)


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS credentials from the ``grpc_tls_*`` keys, or None for plaintext.

    A CA file alone gives TLS; a client cert and key on top give mTLS.
    """
    ca, cert, key = settings.grpc_tls_ca_file, settings.grpc_tls_cert_file, settings.grpc_tls_key_file
    if (cert is None) != (key is None):
        raise ConfigError("set both SHAKENFIST_GRPC_TLS_CERT_FILE and"
                          " SHAKENFIST_GRPC_TLS_KEY_FILE for mTLS, or neither")
    if ca is None and cert is None:
        return None
    try:
        return grpc.ssl_channel_credentials(
            root_certificates=ca.read_bytes() if ca is not None else None,
            private_key=key.read_bytes() if key is not None else None,
            certificate_chain=cert.read_bytes() if cert is not None else None,
        )
    except OSError as exc:
        raise ConfigError(f"cannot read a SHAKENFIST_GRPC_TLS_* file: {exc}") from exc


#: Codes after which the ``database`` transport tries the next host at once:
#: the host is down (UNAVAILABLE) or stalled (DEADLINE_EXCEEDED).  A retry
#: elsewhere is safe, stores ignore a second copy of an event.
FAILOVER_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def open_channel(target: str, credentials: grpc.ChannelCredentials | None,
                 interceptors: Sequence[grpc.UnaryUnaryClientInterceptor] = ()) -> grpc.Channel:
    """A channel to ``target``; connecting happens on the first call."""
    if credentials is None:
        channel = grpc.insecure_channel(target)
    else:
        channel = grpc.secure_channel(target, credentials)
    return grpc.intercept_channel(channel, *interceptors) if interceptors else channel


def health_probe(channel: grpc.Channel, service: str = "", timeout: float = 1.0) -> bool:
    """True if the server's standard health service says ``service`` is SERVING.

    The default, ``""``, is the whole server, as upstream sf-database sets it.
    """
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def health_problem(channel: grpc.Channel, service: str = "", timeout: float = 5.0) -> str | None:
    """None if health says SERVING or the server has no health service; else what it says."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        if code in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND):
            return None  # nothing to ask: the call itself already answered
        return f"health check failed: {code.name if code else exc}"
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return None
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return f"health {name} (the server says its store is not ready)"


def with_port(host: str, port: int) -> str:
    """``host:port`` unless ``host`` already names a port (``h:1``, ``[::1]:1``)."""
    if host.startswith("["):
        return host if "]:" in host else f"{host}:{port}"
    if host.count(":") == 1:
        return host
    if host.count(":") > 1:  # a bare IPv6 literal
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def tls_hint(details: str, settings: Settings | None) -> str | None:
    """The likely cause of a refused TLS connection, from gRPC's details text.

    gRPC reports most refusals as UNAVAILABLE, often only "Socket closed"
    (the server hung up during the handshake); what the client is
    configured with tells which cause is likely.
    """
    if "CERTIFICATE_VERIFY_FAILED" in details:
        return ("unknown CA: the server's certificate is not signed by the CA in"
                " SHAKENFIST_GRPC_TLS_CA_FILE")
    if "Hostname Verification" in details or "Peer name" in details:
        return ("hostname mismatch: the server's certificate does not name the host"
                " this client dials (check the host setting and the certificate's SANs)")
    if "WRONG_VERSION_NUMBER" in details:
        return "the server does not speak TLS: unset SHAKENFIST_GRPC_TLS_* or enable TLS on it"
    if settings is None or "Socket closed" not in details:
        return None
    if settings.grpc_tls_ca_file is None and settings.grpc_tls_cert_file is None:
        return ("the server may require TLS: set SHAKENFIST_GRPC_TLS_CA_FILE"
                " (and a client certificate for mTLS)")
    if settings.grpc_tls_cert_file is None:
        return ("no client certificate: the server may require mTLS; set"
                " SHAKENFIST_GRPC_TLS_CERT_FILE and SHAKENFIST_GRPC_TLS_KEY_FILE")
    return ("the server refused the client certificate: is it signed by the CA the"
            " server trusts (--tls-client-ca)?")


def classify_rpc_error(exc: grpc.RpcError, what: str,
                       settings: Settings | None = None) -> TransportError:
    """Map a failed call to the transport error taxonomy.

    Every code but ``PERMANENT_CODES`` (and a batch over a message-size
    limit) is retryable, unexpected ones included, so rows are kept rather
    than dead-lettered on a misconfiguration.  With the client's
    ``settings``, an UNAVAILABLE that looks like a TLS refusal names its
    likely cause.
    """
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    message = f"{what}: {code.name if code else 'error'}: {details}"
    if code == grpc.StatusCode.UNAVAILABLE and (hint := tls_hint(details or "", settings)):
        message += f" (likely cause: {hint})"
    if code in PERMANENT_CODES:
        return PermanentError(message)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and _TOO_LARGE.search(details or ""):
        # The batch itself is over a message-size limit: retrying the same
        # bytes can never succeed, but the drainer's bisection into smaller
        # batches can.
        return PermanentError(message)
    return RetryableError(message)


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class CallerMetadataInterceptor(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds ``caller-daemon`` and ``caller-node`` to every unary call.

    Attribution must never break a call: the daemon name is read at call
    time, the node name is fixed per channel.
    """

    def __init__(self, node: str, daemon: Callable[[], str] = caller_daemon) -> None:
        self._node = node
        self._daemon = daemon

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), (CALLER_DAEMON, self._daemon()),
                    (CALLER_NODE, self._node)]
        return continuation(_CallDetails(
            details.method, details.timeout, metadata, details.credentials,
            details.wait_for_ready, getattr(details, "compression", None)), request)
