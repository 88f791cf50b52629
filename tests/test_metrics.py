"""Every caller-side metric is exposed with its exact name and type."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


_FRESH_DAEMON = """
import sys
import prometheus_client
import json
import sfeventlog
from sfeventlog.metrics import KNOWN_LABELS
server, _ = prometheus_client.start_http_server(0, addr="127.0.0.1")
print(server.server_port, json.dumps(KNOWN_LABELS), flush=True)
sys.stdin.read()
"""


def test_a_fresh_daemon_exports_every_known_reason_at_zero() -> None:
    # A daemon that has only imported sfeventlog: no drop, no dead letter yet,
    # yet increase() must see the first one, so the series exist at 0.
    proc = subprocess.Popen([sys.executable, "-c", _FRESH_DAEMON], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        port, known = proc.stdout.readline().split(" ", 1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            lines = set(r.read().decode().splitlines())
    finally:
        proc.stdin.close()
        proc.wait(10)
    for reason in ("high_water_mark", "disk_full", "spool_error"):
        assert f'eventlog_spool_dropped_total{{reason="{reason}"}} 0.0' in lines
    for reason in ("rejected", "unparseable"):
        assert f'eventlog_spool_deadletter_total{{reason="{reason}"}} 0.0' in lines
    # Every combination the one list of known labels names, nothing left out.
    spec: dict[str, list[str] | None]
    for name, spec in json.loads(known).items():
        if any(values is None for values in spec.values()):
            continue
        for combination in itertools.product(*(v or () for v in spec.values())):
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(zip(spec, combination, strict=True)))
            assert f"{name}{{{labels}}} 0.0" in lines, (name, labels)


def test_a_fresh_database_server_exports_every_outcome_at_zero(tmp_path: Path) -> None:
    from tests.servers.reference import ServerProcess

    server = ServerProcess("database", ["--sqlite", str(tmp_path / "ev.sqlite")]).start()
    try:
        assert server.metrics_url is not None
        with urllib.request.urlopen(server.metrics_url, timeout=10) as r:
            lines = set(r.read().decode().splitlines())
    finally:
        server.terminate()
    for outcome in ("ok", "invalid", "store_rejected", "store_unavailable"):
        assert f'database_record_event_batch_outcomes_total{{outcome="{outcome}"}} 0.0' in lines
    assert 'database_events_inserted_total{event_type="audit"} 0.0' in lines

