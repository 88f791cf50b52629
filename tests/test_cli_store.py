"""``sfeventlog migrate`` and ``sfeventlog events``: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sfeventlog.cli.main import main as cli_main
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record
from tests.servers.mariadb import TEST_PASSWORD, TEST_USER, MariaDBServer


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("migrate", "events"):
        with pytest.raises(SystemExit) as info:
            cli_main([command, "--help"])
        assert info.value.code == 0
        examples = capsys.readouterr().out.split("examples:\n", 1)[1]
        assert f"sfeventlog {command} " in examples


def test_usage_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["events", "instance", "x", "--sqlite", str(tmp_path / "a"), "--mariadb"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli_main(["events", "instance"])
    assert info.value.code == 2
    # (transport database reads through sf-database: tests/test_lifecycle_grpc.py)
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_TRANSPORT", "null")
    assert cli_main(["events", "instance", "x"]) == 2
    assert "--sqlite PATH or --mariadb" in capsys.readouterr().err


def test_sqlite_migrate_twice_then_events(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.sqlite"
    assert cli_main(["migrate", "--sqlite", str(path), "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "to do: create table events" in dry and "dry run, nothing changed" in dry
    assert not path.exists()  # a dry run creates nothing
    assert cli_main(["migrate", "--sqlite", str(path)]) == 0
    assert cli_main(["migrate", "--sqlite", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("found no events schema") and "done: create table events" in out[1]
    assert "schema migrated to upstream layout 1 + sfeventlog additions 1" in out[4]
    assert len(out) == 7 and "nothing to do" in out[6]

    store = SqliteEventStore(path)
    old = make_record(timestamp=100.0, objects=[("instance", "i-1")], message="old")
    new = make_record(timestamp=200.0, objects=[("instance", "i-1")], message="new",
                      event_type="status", duration=0.0)
    store.write_batch([old, new])
    store.close()

    assert cli_main(["events", "instance", "i-1", "--sqlite", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["message"] for e in shown] == ["new", "old"]
    assert shown[0]["duration"] == 0.0 and shown[1]["duration"] is None
    assert cli_main(["events", "instance", "i-1", "--sqlite", str(path), "--limit", "1"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["TIME", "TYPE", "FQDN", "DURATION",
                                             "REQUEST_ID", "MESSAGE"]
    assert "new" in table and "old" not in table
    assert cli_main(["events", "instance", "nobody", "--sqlite", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "(none)"


def test_events_on_a_missing_store_exit_1(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["events", "instance", "x", "--sqlite", str(tmp_path / "none.sqlite")]) == 1
    assert "sfeventlog migrate" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()  # reading creates nothing


def test_mariadb_migrate_twice_and_missing_schema(mariadb_server: MariaDBServer,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    database = mariadb_server.create_database()
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_TRANSPORT", "mariadb")
    for key, value in {"HOST": mariadb_server.host, "PORT": str(mariadb_server.port),
                       "USER": TEST_USER, "PASSWORD": TEST_PASSWORD,
                       "DATABASE": database}.items():
        monkeypatch.setenv(f"SHAKENFIST_MARIADB_{key}", value)
    assert cli_main(["events", "instance", "x"]) == 1
    err = capsys.readouterr().err
    assert "schema is missing" in err and "run `sfeventlog migrate`" in err
    assert cli_main(["migrate"]) == 0
    assert cli_main(["migrate", "--mariadb"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "found no events schema" in out[0] and "schema migrated to" in out[4]
    assert len(out) == 7 and "nothing to do" in out[6]
    versions = mariadb_server.execute("SELECT table_name, version FROM schema_versions",
                                      database=database)
    assert sorted(versions) == [("event_objects", 1), ("events", 1), ("sfeventlog", 1)]
    assert cli_main(["events", "instance", "x"]) == 0
    assert TEST_PASSWORD not in "".join(capsys.readouterr())
