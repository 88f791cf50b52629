"""``sfeventlog prune`` straight against a SQLite store: dry run, table, JSON, errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sfeventlog.cli.main import main as cli_main
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record

DAY = 86400.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    store = SqliteEventStore(tmp_path / "events.sqlite")
    now = time.time()
    store.write_batch([make_record(event_type="status", timestamp=now - 8 * DAY)
                       for _ in range(4)] + [make_record(event_type="status")])
    store.close()
    return tmp_path / "events.sqlite"


def test_dry_run_counts_then_prune_deletes(path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAKENFIST_MAX_AUDIT_EVENT_AGE", "-1")
    assert cli_main(["prune", "--sqlite", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete 8 rows (4 events)" in out
    assert "kept (age -1)" in out  # audit disabled
    assert SqliteEventStore(path).approx_rows() == 5
    assert cli_main(["prune", "--sqlite", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["rows_pruned"], result["events_pruned"], result["dry_run"]) == (8, 4, False)
    stages = {(s["stage"], s["label"]): s for s in result["stages"]}
    assert stages[("A", "status")]["rows"] == 4 and stages[("A", "audit")]["disabled"]
    assert cli_main(["prune", "--sqlite", str(path)]) == 0
    assert "deleted 0 rows (0 events)" in capsys.readouterr().out


def test_errors_are_messages_not_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_TRANSPORT", "null")
    assert cli_main(["prune"]) == 2
    assert "--sqlite PATH or --mariadb" in capsys.readouterr().err
    assert cli_main(["prune", "--sqlite", str(tmp_path / "none.sqlite")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_a_cli_prune_never_runs_beside_another_prune(path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # The servers' prune (RPC or schedule) holds the store's run lock; a CLI
    # prune straight against the store takes the same lock, or says it is busy.
    from sfeventlog.store.locks import PRUNE_RUN_LOCK

    holder = SqliteEventStore(path)
    lock = holder.named_lock(PRUNE_RUN_LOCK)
    assert lock.try_acquire()
    try:
        assert cli_main(["prune", "--sqlite", str(path)]) == 1
        assert "a prune is already running" in capsys.readouterr().err
        assert SqliteEventStore(path).approx_rows() == 5, "nothing deleted beside it"
        assert cli_main(["prune", "--sqlite", str(path), "--dry-run"]) == 0  # counts only
    finally:
        lock.release()
        holder.close()
    capsys.readouterr()
    assert cli_main(["prune", "--sqlite", str(path)]) == 0
    assert "deleted 8 rows (4 events)" in capsys.readouterr().out
