"""Done-when: ``SHAKENFIST_EVENTLOG_TRANSPORT=mariadb`` (and ``sqlite``) deliver
events from ``sfeventlog.add_event`` into the real store, and ``sfeventlog
events`` reads them back.  Counts events in vs rows out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog.cli.main import main as cli_main
from sfeventlog.config import Settings
from sfeventlog.store.base import EventStore
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.store.sqlite import SqliteEventStore
from tests.servers.mariadb import TEST_PASSWORD, TEST_USER, MariaDBServer

N = 250


def _configure(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               request: pytest.FixtureRequest) -> EventStore:
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_TRANSPORT", kind)
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_SPOOL_DIR", str(tmp_path / "spool"))
    if kind == "sqlite":
        path = tmp_path / "store" / "events.sqlite"
        monkeypatch.setenv("SHAKENFIST_EVENTLOG_SQLITE_PATH", str(path))
        return SqliteEventStore(path)
    server: MariaDBServer = request.getfixturevalue("mariadb_server")
    database = request.getfixturevalue("mariadb_database")
    for key, value in {"HOST": server.host, "PORT": str(server.port), "USER": TEST_USER,
                       "PASSWORD": TEST_PASSWORD, "DATABASE": database}.items():
        monkeypatch.setenv(f"SHAKENFIST_MARIADB_{key}", value)
    return MariaDBEventStore(Settings())


@pytest.mark.parametrize("kind", ["sqlite", "mariadb"])
def test_add_event_to_store_and_back(kind: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     request: pytest.FixtureRequest,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    store = _configure(kind, tmp_path, monkeypatch, request)
    sfeventlog.start("e2e-" + kind)
    for i in range(N):
        assert sfeventlog.add_event("audit", "instance", f"i-{i % 5}", f"event {i}",
                                    duration=0.0 if i % 2 else None,
                                    extra={"i": i} if i % 3 else None,
                                    request_id=f"req-{i}")
    assert sfeventlog.add_event_multi("mutate", [("instance", "i-0"), ("network", "n-1")],
                                      "multi")
    assert sfeventlog.stop(60) is True

    try:
        per_object = [store.get_object_events("instance", f"i-{k}", limit=1000)
                      for k in range(5)]
        messages = sorted(r.message for rs in per_object for r in rs)
        assert len(messages) == N + 1  # in == out: nothing lost ...
        assert len(set(messages)) == N + 1  # ... nothing duplicated
        assert store.get_object_events("network", "n-1")[0].objects == [
            ("instance", "i-0"), ("network", "n-1")]
        first = next(r for r in per_object[0] if r.message == "event 0")
        assert (first.duration, first.extra, first.request_id) == (None, None, "req-0")
        third = next(r for r in per_object[3] if r.message == "event 3")
        assert (third.duration, third.extra) == (0.0, None)
        assert next(r for r in per_object[1] if r.message == "event 1").extra == {"i": 1}
    finally:
        store.close()

    capsys.readouterr()
    assert cli_main(["events", "instance", "i-0", "--json", "--limit", "0"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown) == len(per_object[0])
    assert shown[0]["message"] == "multi"  # newest first
    assert cli_main(["events", "instance", "i-0", "--event-type", "mutate"]) == 0
    table = capsys.readouterr().out
    assert "multi" in table and "event 0" not in table
