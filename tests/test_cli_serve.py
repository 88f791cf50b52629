"""CLI glue of the reference servers: help, usage errors (2), failures (1)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.servers.reference import SFEVENTLOG


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SFEVENTLOG, *args], capture_output=True, text=True, timeout=60)


def test_help_has_examples() -> None:
    for args in (["serve", "--help"], ["serve", "database", "--help"],
                 ["serve", "legacy", "--help"], ["legacy-events", "--help"], ["demo", "--help"]):
        proc = run(*args)
        assert proc.returncode == 0, proc.stderr
        assert "examples:" in proc.stdout, args


def test_bad_listen_is_a_usage_error(tmp_path: Path) -> None:
    proc = run("serve", "legacy", "--listen", "nowhere", "--store", str(tmp_path))
    assert proc.returncode == 2
    assert "--listen must be HOST:PORT" in proc.stderr


def test_port_in_use_is_a_failure(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run("serve", "database", "--listen", f"127.0.0.1:{port}",
                   "--sqlite", str(tmp_path / "ev.sqlite"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot listen" in proc.stderr


def test_mtls_needs_a_server_cert(tmp_path: Path) -> None:
    proc = run("serve", "legacy", "--listen", "127.0.0.1:0", "--store", str(tmp_path),
               "--tls-client-ca", str(tmp_path / "ca.pem"))
    assert proc.returncode == 1
    assert "--tls-client-ca needs --tls-cert and --tls-key" in proc.stderr


def test_legacy_events_on_a_missing_store_is_a_usage_error(tmp_path: Path) -> None:
    proc = run("legacy-events", "--store", str(tmp_path / "missing"))
    assert proc.returncode == 2
