"""The read side through sf-database uses the write path's TLS settings (mTLS here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfeventlog.errors import RetryableError
from sfeventlog.reads import DatabaseReader
from sfeventlog.store.sqlite import SqliteEventStore
from tests.servers.reference import ServerProcess
from tests.test_grpc_tls import Pki, mtls_database, pki, send, settings

__all__ = ["mtls_database", "pki"]  # fixtures


def test_reads_over_mtls_and_refused_without_a_client_cert(
        mtls_database: ServerProcess, pki: Pki, tmp_path: Path) -> None:
    tls = {"grpc_tls_ca_file": pki.ca, "grpc_tls_cert_file": pki.client.cert,
           "grpc_tls_key_file": pki.client.key}
    uuid = send(settings(mtls_database, tmp_path, **tls))
    store = SqliteEventStore(tmp_path / "ev.sqlite")  # the server's store
    try:
        object_type, object_uuid = store.get_events([uuid])[0].objects[0]
    finally:
        store.close()
    with DatabaseReader(settings(mtls_database, tmp_path, **tls)) as reader:
        assert [r.event_uuid for r in reader.get_object_events(object_type, object_uuid)] == [uuid]
    with DatabaseReader(settings(mtls_database, tmp_path, grpc_tls_ca_file=pki.ca)) as plain:
        with pytest.raises(RetryableError, match="UNAVAILABLE"):
            plain.get_object_events(object_type, object_uuid)
