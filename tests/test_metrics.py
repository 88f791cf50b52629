"""Every caller-side metric is exposed with its exact name and type."""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings

EXPECTED = {
    "eventlog_spool_dropped": "counter",
    "eventlog_spool_depth": "gauge",
    "eventlog_spool_oldest_event_age_seconds": "gauge",
    "eventlog_drain_batches": "counter",
    "eventlog_drain_events": "counter",
    "eventlog_drain_send_seconds": "histogram",
    "eventlog_drain_backoff_seconds": "gauge",
    "eventlog_spool_deadletter": "counter",
    "eventlog_spool_deadletter_depth": "gauge",
}


def _families() -> dict[str, tuple[str, list[object]]]:
    text = generate_latest().decode()
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(text)}


def test_every_metric_has_its_name_and_type(settings: Settings) -> None:
    sfeventlog.start("sf-metrics", settings)
    sfeventlog.add_event("audit", "instance", "u", "m")
    sfeventlog.stop(5)
    families = _families()
    for name, kind in EXPECTED.items():
        assert name in families, name
        assert families[name][0] == kind, name
    text = generate_latest().decode()
    assert "eventlog_spool_dropped_total" in text
    assert 'eventlog_drain_batches_total{outcome="ok",transport="null"}' in text
    assert 'eventlog_drain_events_total{transport="null"}' in text


def _sample(name: str) -> float:
    for family in text_string_to_metric_families(generate_latest().decode()):
        for s in family.samples:
            if s.name == name:
                return float(s.value)
    raise AssertionError(name)


def test_depth_and_oldest_age_are_sampled_at_scrape(settings: Settings) -> None:
    api.reset_for_tests(settings)
    assert _sample("eventlog_spool_depth") == 0
    for i in range(12):
        sfeventlog.add_event("audit", "instance", f"u{i}", "m")
    time.sleep(0.05)
    assert _sample("eventlog_spool_depth") == 12
    assert _sample("eventlog_spool_oldest_event_age_seconds") > 0


def test_a_failing_sample_reads_as_zero(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    api.reset_for_tests(settings)
    sfeventlog.add_event("audit", "instance", "u", "m")
    spool = api.current_spool()
    assert spool is not None

    def boom() -> int:
        raise RuntimeError("spool gone")

    monkeypatch.setattr(spool, "count", boom)
    assert _sample("eventlog_spool_depth") == 0


def test_depth_reads_zero_in_a_process_without_a_spool() -> None:
    assert api.current_spool() is None
    assert _sample("eventlog_spool_depth") == 0
