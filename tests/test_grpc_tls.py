"""TLS and mTLS between the gRPC transports and the reference servers.

Certificates are made per test run; the servers run as separate processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.errors import RetryableError
from sfeventlog.loader import load_transport
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing import make_record
from tests.certs import CertificateAuthority, Pair
from tests.servers.reference import ServerProcess


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: Pair
    client: Pair
    rogue_client: Pair
    rogue_ca: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory, "test-ca")
    rogue = CertificateAuthority(directory, "rogue-ca")
    return Pki(ca=ca.pair.cert, server=ca.issue("server", server=True),
               client=ca.issue("client", server=False),
               rogue_client=rogue.issue("rogue-client", server=False), rogue_ca=rogue.pair.cert)


def start(kind: str, tmp_path: Path, pki: Pki, *, mtls: bool) -> ServerProcess:
    args = ["--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key), "--grace", "1"]
    if mtls:
        args += ["--tls-client-ca", str(pki.ca)]
    args += (["--sqlite", str(tmp_path / "ev.sqlite")] if kind == "database"
             else ["--store", str(tmp_path / "legacy")])
    return ServerProcess(kind, args, log_path=tmp_path / f"{kind}.log").start()


@pytest.fixture
def tls_database(tmp_path: Path, pki: Pki) -> Iterator[ServerProcess]:
    server = start("database", tmp_path, pki, mtls=False)
    yield server
    server.terminate()


@pytest.fixture
def mtls_database(tmp_path: Path, pki: Pki) -> Iterator[ServerProcess]:
    server = start("database", tmp_path, pki, mtls=True)
    yield server
    server.terminate()


def settings(server: ServerProcess, tmp_path: Path, **tls: object) -> Settings:
    return Settings(eventlog_transport="database", mariadb_gateway_hosts="127.0.0.1",
                    mariadb_gateway_port=server.port, mariadb_gateway_timeout=10,
                    eventlog_spool_dir=tmp_path / "spool", **tls)  # type: ignore[arg-type]


def stored(tmp_path: Path, uuid: str) -> int:
    store = SqliteEventStore(tmp_path / "ev.sqlite")
    try:
        return len(store.get_events([uuid]))
    finally:
        store.close()


def send(s: Settings) -> str:
    record = make_record()
    with load_transport(s) as transport:
        transport.record_event_batch([record])
    return record.event_uuid


def test_tls_with_the_ca_delivers(tls_database: ServerProcess, pki: Pki,
                                  tmp_path: Path) -> None:
    uuid = send(settings(tls_database, tmp_path, grpc_tls_ca_file=pki.ca))
    assert stored(tmp_path, uuid) == 1


@pytest.mark.parametrize("wrong_ca, cause", [
    (False, "likely cause: the server may require TLS: set SHAKENFIST_GRPC_TLS_CA_FILE"),
    (True, "likely cause: unknown CA"),
], ids=["plaintext", "wrong-ca"])
def test_tls_server_refuses_untrusting_clients(tls_database: ServerProcess, pki: Pki,
                                               tmp_path: Path, wrong_ca: bool, cause: str) -> None:
    tls = {"grpc_tls_ca_file": pki.rogue_ca} if wrong_ca else {}
    with pytest.raises(RetryableError, match="UNAVAILABLE") as err:
        send(settings(tls_database, tmp_path, **tls))
    assert cause in str(err.value)


def test_a_hostname_mismatch_is_named(pki: Pki, tmp_path: Path) -> None:
    # The server's certificate names localhost and 127.0.0.1, not 127.0.0.2.
    server = ServerProcess("database", [
        "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key), "--grace", "1",
        "--sqlite", str(tmp_path / "ev.sqlite"), "--listen", "127.0.0.2:0"]).start()
    try:
        s = settings(server, tmp_path, grpc_tls_ca_file=pki.ca)
        with pytest.raises(RetryableError, match="likely cause: hostname mismatch"):
            send(s.model_copy(update={"mariadb_gateway_hosts": "127.0.0.2"}))
    finally:
        server.terminate()


def test_tls_client_to_a_plaintext_server_is_named(pki: Pki, tmp_path: Path) -> None:
    server = ServerProcess("database", ["--sqlite", str(tmp_path / "ev.sqlite")]).start()
    try:
        with pytest.raises(RetryableError, match="likely cause: the server does not speak TLS"):
            send(settings(server, tmp_path, grpc_tls_ca_file=pki.ca))
    finally:
        server.terminate()


def test_mtls_with_a_valid_client_cert_delivers(mtls_database: ServerProcess,
                                                pki: Pki, tmp_path: Path) -> None:
    uuid = send(settings(mtls_database, tmp_path, grpc_tls_ca_file=pki.ca,
                         grpc_tls_cert_file=pki.client.cert, grpc_tls_key_file=pki.client.key))
    assert stored(tmp_path, uuid) == 1


@pytest.mark.parametrize("rogue, cause", [
    (False, "likely cause: no client certificate: the server may require mTLS"),
    (True, "likely cause: the server refused the client certificate"),
], ids=["no-cert", "untrusted-cert"])
def test_mtls_refuses_clients_without_a_valid_cert(mtls_database: ServerProcess, pki: Pki,
                                                    tmp_path: Path, rogue: bool,
                                                    cause: str) -> None:
    tls: dict[str, object] = {"grpc_tls_ca_file": pki.ca}
    if rogue:
        tls.update(grpc_tls_cert_file=pki.rogue_client.cert,
                   grpc_tls_key_file=pki.rogue_client.key)
    with pytest.raises(RetryableError, match="UNAVAILABLE") as err:
        send(settings(mtls_database, tmp_path, **tls))
    assert cause in str(err.value)
    assert mtls_database.alive


def test_legacy_over_mtls(tmp_path: Path, pki: Pki) -> None:
    server = start("legacy", tmp_path, pki, mtls=True)
    try:
        s = Settings(eventlog_transport="legacy", eventlog_node_ip="127.0.0.1",
                     eventlog_api_port=server.port, eventlog_spool_dir=tmp_path / "spool",
                     grpc_tls_ca_file=pki.ca, grpc_tls_cert_file=pki.client.cert,
                     grpc_tls_key_file=pki.client.key)
        with load_transport(s) as transport:
            transport.record_event_batch([make_record()])
    finally:
        server.terminate()
