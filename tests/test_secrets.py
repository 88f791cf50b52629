"""Secrets (the MariaDB password, TLS private keys) never leak.

Every CLI command that reads configuration runs with a distinctive password
and key, through success and failure paths, with verbose logging; neither
may appear in any output.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.errors import RetryableError
from sfeventlog.loader import load_transport
from sfeventlog.testing import make_record
from tests.servers.mariadb import free_port

PASSWORD = "Zq-password-canary-7f3e"
KEY_CANARY = "PRIVATE-KEY-CANARY-91b2"
SCRIPT = str(Path(sys.executable).with_name("sfeventlog"))


@pytest.fixture
def secret_env(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "client.key"
    key.write_text(f"-----BEGIN PRIVATE KEY-----\n{KEY_CANARY}\n-----END PRIVATE KEY-----\n")
    cert = tmp_path / "client.crt"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n")
    return {**os.environ,
            "SHAKENFIST_MARIADB_PASSWORD": PASSWORD,
            "SHAKENFIST_MARIADB_HOST": "127.0.0.1",
            "SHAKENFIST_MARIADB_PORT": str(free_port()),
            "SHAKENFIST_MARIADB_GATEWAY_HOSTS": "127.0.0.1",
            "SHAKENFIST_MARIADB_GATEWAY_PORT": str(free_port()),
            "SHAKENFIST_MARIADB_GATEWAY_TIMEOUT": "1",
            "SHAKENFIST_EVENTLOG_NODE_IP": "127.0.0.1",
            "SHAKENFIST_EVENTLOG_API_PORT": str(free_port()),
            "SHAKENFIST_GRPC_TLS_CA_FILE": str(cert),
            "SHAKENFIST_GRPC_TLS_CERT_FILE": str(cert),
            "SHAKENFIST_GRPC_TLS_KEY_FILE": str(key),
            "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path / "spool"),
            "SHAKENFIST_EVENTLOG_SQLITE_PATH": str(tmp_path / "events.sqlite")}


COMMANDS = [
    ["transports", "--check"],
    ["transports", "--check", "--json"],
    ["status"],
    ["migrate", "--mariadb"],
    ["events", "--mariadb", "instance", "i-1"],
    ["events", "--mariadb", "instance", "i-1", "--json"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_cli_output_never_shows_secrets(command: list[str], secret_env: dict[str, str]) -> None:
    proc = subprocess.run([SCRIPT, "-v", *command], env=secret_env, capture_output=True,
                          text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert output, "the command said nothing at all"
    assert PASSWORD not in output
    assert KEY_CANARY not in output


@pytest.mark.parametrize("transport", ["mariadb", "database", "legacy"])
def test_failures_repr_and_logs_never_show_secrets(transport: str, secret_env: dict[str, str],
                                                   caplog: pytest.LogCaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in secret_env.items():
        if key.startswith("SHAKENFIST_"):
            monkeypatch.setenv(key, value)
    settings = Settings(eventlog_transport=transport)
    caplog.set_level(logging.DEBUG)
    t = load_transport(settings)
    try:
        with pytest.raises(Exception) as err:
            t.record_event_batch([make_record()])
    finally:
        t.close()
    seen = [repr(settings), str(settings), repr(t), str(err.value), repr(err.value),
            caplog.text, settings.model_dump_json()]
    if isinstance(err.value, RetryableError) and err.value.__cause__ is not None:
        seen.append(repr(err.value.__cause__))
    for text in seen:
        assert PASSWORD not in text
        assert KEY_CANARY not in text
