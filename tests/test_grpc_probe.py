"""The gRPC transports' readiness probe, against real server processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from sfeventlog.loader import load_transport
from tests.backends.database import DatabaseBackend
from tests.backends.legacy import LegacyBackend
from tests.servers.reference import wait_until


@pytest.mark.parametrize("kind", ["database", "legacy"])
def test_probe_tracks_the_server(kind: str, request: pytest.FixtureRequest) -> None:
    backend: DatabaseBackend | LegacyBackend = request.getfixturevalue(f"backend_{kind}")
    transport = load_transport(backend.settings())
    down = load_transport(backend.unreachable_settings())  # type: ignore[arg-type]
    try:
        assert transport.probe() is True
        assert down.probe() is False
        assert backend.server.process is not None
        pid = backend.server.process.pid
        os.kill(pid, signal.SIGSTOP)  # as in the outage drill: it stops answering
        # SIGSTOP is asynchronous: wait until every thread has really stopped.
        assert wait_until(lambda: Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "T",
                          5, 0.01)
        try:
            assert transport.probe() is False
        finally:
            os.kill(pid, signal.SIGCONT)
        assert transport.probe() is True
    finally:
        transport.close()
        down.close()
