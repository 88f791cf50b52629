"""start/stop, the pre-start behaviour, fail-fast loading, drops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog import api, metrics
from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, TransportLoadError
from sfeventlog.inspect import read_spool_file
from sfeventlog_transports.null import DISCARDED


def _discarded() -> float:
    return DISCARDED._value.get()


def test_start_emit_stop_delivers_every_event(settings: Settings) -> None:
    before = _discarded()
    sfeventlog.start("sf-test", settings)
    assert all(sfeventlog.add_event("audit", "instance", f"u{i}", "m") for i in range(500))
    assert sfeventlog.stop(drain_timeout=20)
    assert _discarded() - before == 500
    assert not list(settings.eventlog_spool_dir.glob("*.db")), "a clean stop leaves no file"


def test_spool_file_is_named_for_daemon_and_pid(settings: Settings) -> None:
    sfeventlog.start("sf-named", settings)
    spool = api.current_spool()
    assert spool is not None
    assert spool.path == settings.eventlog_spool_dir / f"sf-named-{os.getpid()}.db"


def test_events_before_start_are_spooled_then_drained(settings: Settings) -> None:
    api.reset_for_tests(settings)
    before = _discarded()
    for i in range(20):
        assert sfeventlog.add_event("audit", "instance", f"u{i}", "early")
    spool = api.current_spool()
    assert spool is not None and spool.count() == 20
    sfeventlog.start("sf-late", settings)
    assert sfeventlog.stop(drain_timeout=20)
    assert _discarded() - before == 20


def test_unknown_transport_fails_fast_at_start(settings: Settings) -> None:
    bad = settings.model_copy(update={"eventlog_transport": "databse"})
    with pytest.raises(TransportLoadError) as err:
        sfeventlog.start("sf-test", bad)
    assert "SHAKENFIST_EVENTLOG_TRANSPORT" in str(err.value)
    assert api.current_spool() is None
    assert not settings.eventlog_spool_dir.exists(), "nothing touched before the check"


def test_start_twice_is_harmless(settings: Settings) -> None:
    sfeventlog.start("sf-test", settings)
    first = api._state.drainer
    sfeventlog.start("sf-test", settings)
    assert api._state.drainer is first


def test_unusable_spool_dir_at_start_names_dir_and_key(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    settings = Settings(eventlog_transport="null", eventlog_spool_dir=blocker / "spool")
    with pytest.raises(ConfigError) as err:
        sfeventlog.start("sf-test", settings)
    assert str(blocker / "spool") in str(err.value)
    assert "eventlog_spool_dir" in str(err.value)


def test_unusable_spool_dir_before_start_drops_and_counts(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    api.reset_for_tests(Settings(eventlog_transport="null", eventlog_spool_dir=blocker / "s"))
    counter = metrics.SPOOL_DROPPED.labels(reason="spool_error")
    before = counter._value.get()
    assert sfeventlog.add_event("audit", "instance", "u", "m") is False
    assert counter._value.get() - before == 1


def test_high_water_drops_are_counted_and_persisted(settings: Settings) -> None:
    tight = settings.model_copy(update={"eventlog_spool_high_water_mark": 50})
    api.reset_for_tests(tight)
    counter = metrics.SPOOL_DROPPED.labels(reason="high_water_mark")
    before = counter._value.get()
    results = [sfeventlog.add_event("audit", "instance", f"u{i}", "m") for i in range(80)]
    accepted = sum(results)
    assert accepted == 50
    assert counter._value.get() - before == 80 - accepted
    spool = api.current_spool()
    assert spool is not None
    status = read_spool_file(spool.path)
    assert status.depth == 50
    assert status.dropped == {"high_water_mark": 30}


def test_invalid_daemon_name(settings: Settings) -> None:
    with pytest.raises(ValueError, match="daemon_name"):
        sfeventlog.start("../evil", settings)


def test_a_failing_orphan_rescue_never_fails_start(settings: Settings,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A read-only disk or a permission error while removing a rescued orphan
    # is our trouble, not the caller's: start() goes on and the drainer retries.
    calls: list[int] = []
    real = api.rescue_orphans

    def failing_once(spool: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", "orphan-1.db-wal")
        return real(spool, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "rescue_orphans", failing_once)
    before = _discarded()
    sfeventlog.start("sf-rescue-fails", settings)
    assert sfeventlog.add_event("audit", "instance", "u-1", "after a failed rescue")
    assert sfeventlog.stop(10)
    assert _discarded() - before == 1
