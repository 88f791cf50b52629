"""The contract kit itself: it must catch what it promises to catch.

A kit test that can never fail protects nobody, so each check here is run
against a deliberately bad plugin (a fake installed distribution), and the
public doubles and helpers are exercised the way a plugin author would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from sfeventlog.config import Settings
from sfeventlog.drainer import Drainer
from sfeventlog.errors import PermanentError
from sfeventlog.payload import build_payload, encode
from sfeventlog.records import EventRecord
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.testing import MockTransport, Requirement, io_at_construction, require
from sfeventlog.testing.mariadb import MariaDBServer, MariaDBUnavailable
from sfeventlog_transports.mariadb import MariaDBTransport
from tests.backends import unavailable

MODULE = "kitcheck_plugin_mod"

PLUGINS = """
import os, socket, sqlite3, subprocess, sys
from sfeventlog.transport import Transport

class Base(Transport):
    api_version = 1
    def record_event_batch(self, records):
        pass

class Clean(Base):
    pass

class MakesADirectory(Base):
    def __init__(self, settings):
        super().__init__(settings)
        os.makedirs(str(settings.eventlog_spool_dir) + "-plugin-state", exist_ok=True)

class OpensAFileForWriting(Base):
    def __init__(self, settings):
        super().__init__(settings)
        open(str(settings.eventlog_spool_dir) + "-plugin.log", "a").close()

class ConnectsSqlite(Base):
    def __init__(self, settings):
        super().__init__(settings)
        sqlite3.connect(":memory:").close()

class RunsAChild(Base):
    def __init__(self, settings):
        super().__init__(settings)
        subprocess.run([sys.executable, "-c", "pass"])

class Connects(Base):
    def __init__(self, settings):
        super().__init__(settings)
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", 9))
        except OSError:
            pass  # a refusal is still I/O at construction
        finally:
            s.close()
"""

BAD = {"kitmkdir": "MakesADirectory", "kitopen": "OpensAFileForWriting",
       "kitsqlite": "ConnectsSqlite", "kitchild": "RunsAChild", "kitconnect": "Connects"}


@pytest.fixture
def fake_plugins(tmp_path: Path) -> Path:
    """A distribution of plugins, one per kind of forbidden I/O."""
    root = tmp_path / "site"
    root.mkdir()
    (root / f"{MODULE}.py").write_text(PLUGINS)
    info = root / "kitcheck_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kitcheck-plugins\nVersion: 1.0\n")
    lines = [f"{name} = {MODULE}:{cls}" for name, cls in BAD.items()]
    (info / "entry_points.txt").write_text(
        "[sfeventlog.transports]\n" + f"kitclean = {MODULE}:Clean\n" + "\n".join(lines) + "\n")
    return root


def _settings(tmp_path: Path, name: str) -> str:
    return Settings(eventlog_transport=name,
                    eventlog_spool_dir=tmp_path / "spool").model_dump_json()


def test_a_clean_plugin_passes_the_io_check(fake_plugins: Path, tmp_path: Path) -> None:
    assert io_at_construction("kitclean", _settings(tmp_path, "kitclean"),
                              [str(fake_plugins)]) == []


@pytest.mark.parametrize("name", sorted(BAD))
def test_the_io_check_catches_each_kind_of_io(fake_plugins: Path, tmp_path: Path,
                                              name: str) -> None:
    found = io_at_construction(name, _settings(tmp_path, name), [str(fake_plugins)])
    assert found, f"{BAD[name]} did I/O at construction and the kit missed it"


def test_the_directory_made_in_init_is_named(fake_plugins: Path, tmp_path: Path) -> None:
    found = io_at_construction("kitmkdir", _settings(tmp_path, "kitmkdir"), [str(fake_plugins)])
    assert any("os.mkdir" in f and "plugin-state" in f for f in found), found


class _Backend:
    name = "half"
    meets = frozenset({Requirement.READ_BACK})
    unmet = {Requirement.PROBE: "this store has no cheap health check"}


def test_an_unmet_requirement_skips_with_its_name_and_reason() -> None:
    require(_Backend(), Requirement.READ_BACK)  # met: no skip
    with pytest.raises(pytest.skip.Exception) as info:
        require(_Backend(), Requirement.PROBE)
    assert "PROBE" in str(info.value) and "no cheap health check" in str(info.value)
    with pytest.raises(pytest.skip.Exception) as undeclared:
        require(_Backend(), Requirement.UNREACHABLE)
    assert "declares no reason" in str(undeclared.value)


def test_mock_transport_records_each_delivery_of_a_bisection(tmp_path: Path) -> None:
    prepare_spool_dir(tmp_path)
    spool = Spool(spool_path(tmp_path, "kit", 1))
    for n in range(20):
        message = "POISON" if n == 13 else f"event {n}"
        spool.enqueue(encode(build_payload(event_type="audit", objects=[("instance", f"u-{n}")],
                                           message=message, fqdn="node-1")))

    def handler(records: Sequence[EventRecord]) -> None:
        if any(r.message == "POISON" for r in records):
            raise PermanentError("no poison")

    transport = MockTransport(handler)
    drainer = Drainer(spool, transport, "kit")
    drainer.start()
    deadline = time.monotonic() + 30
    while spool.count() and time.monotonic() < deadline:
        time.sleep(0.02)
    drainer.stop(5)
    spool.close()
    assert len(transport.stored) == 19 and transport.accepted == 19
    failed = [d for d in transport.deliveries if not d.ok]
    # The whole batch first, then halves that still hold the poison, down to it.
    assert [len(d.records) for d in failed][0] == 20
    assert len(failed[-1].records) == 1 and failed[-1].records[0].message == "POISON"
    assert all(isinstance(d.error, PermanentError) for d in failed)
    assert sum(len(d.records) for d in transport.deliveries if d.ok) == 19


def test_the_public_mariadb_helper_runs_a_real_server(tmp_path: Path) -> None:
    try:
        server = MariaDBServer(tmp_path / "mariadb")
        server.__enter__()
    except MariaDBUnavailable as exc:
        unavailable("mariadb", str(exc), "install mariadb-server")
        return
    try:
        database = server.create_database("kit")
        store = MariaDBEventStore(server.settings(database))
        store.migrate()
        store.close()
        transport = MariaDBTransport(server.settings(database))
        record = EventRecord(event_uuid="0190a0a0-0000-7000-8000-000000000001",
                             event_type="audit", timestamp=1.0, fqdn="n", message="m",
                             objects=[("instance", "u")])
        transport.record_event_batch([record])
        transport.close()
        rows = server.execute("SELECT COUNT(*) FROM events", database=database)
        assert rows[0][0] == 1
    finally:
        server.__exit__(None, None, None)
    assert server.process is None or server.process.poll() is not None


