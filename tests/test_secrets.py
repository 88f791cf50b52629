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
from sfeventlog.errors import ConfigError, RetryableError
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


#: Latin-1 characters are fine for PyMySQL; the euro sign and the rest are not.
UNSENDABLE = "Zq-pässwörd-€-canary"


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def test_an_unsendable_password_is_a_config_error_carrying_no_secret(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(eventlog_transport="mariadb", mariadb_host="127.0.0.1",
                        mariadb_port=free_port(), mariadb_password=UNSENDABLE)  # type: ignore[arg-type]
    t = load_transport(settings)
    try:
        with pytest.raises(ConfigError, match="SHAKENFIST_MARIADB_PASSWORD") as err:
            t.record_event_batch([make_record()])
    finally:
        t.close()
    chain = _chain(err.value)
    assert [type(e) for e in chain] == [ConfigError], "no cause or context to leak from"
    for text in [str(err.value), repr(err.value), caplog.text]:
        assert UNSENDABLE not in text and "€" not in text


def test_serve_database_with_an_unsendable_password_says_so_and_exits_1(tmp_path: Path) -> None:
    env = {**os.environ, "SHAKENFIST_MARIADB_PASSWORD": UNSENDABLE,
           "SHAKENFIST_MARIADB_HOST": "127.0.0.1", "SHAKENFIST_MARIADB_PORT": str(free_port())}
    proc = subprocess.run([SCRIPT, "serve", "database", "--listen", "127.0.0.1:0"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "SHAKENFIST_MARIADB_PASSWORD cannot be sent" in proc.stderr
    assert "Traceback" not in proc.stderr and UNSENDABLE not in proc.stdout + proc.stderr
