"""The monitoring assets in docs/monitoring/ match the code and work.

* promtool checks and unit-tests the alerting rules (``prometheus`` package);
* every metric the rules and the Grafana dashboard query is one the code
  registers, with the labels it really has;
* the dashboard shows every metric the code exports.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.backends import in_ci

MONITORING = Path(__file__).resolve().parent.parent / "docs" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
ALERTS_TEST = MONITORING / "alerts_test.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"

#: Packages whose modules define metrics (core, bundled transports, the
#: stores and the gRPC servers); every module is imported so none is missed.
METRIC_PACKAGES = ("sfeventlog", "sfeventlog_transports")

#: Names we own; anything else in a query (rate, sum, le, ...) is PromQL.
OUR_METRIC = re.compile(r"\b(?:eventlog|database)_[a-z0-9_]+\b")
SELECTOR = re.compile(r"\b((?:eventlog|database)_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
SCRAPE_LABELS = {"job", "instance"}


def _import_everything() -> None:
    for package_name in METRIC_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, package_name + "."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)


def _exported() -> dict[str, set[str]]:
    """Every sample name our code exports, mapped to its label names.

    Built from the collectors themselves, so labelled metrics that have no
    children yet (no samples) are included.
    """
    _import_everything()
    names: dict[str, set[str]] = {}
    # prometheus_client keeps no public map from collector to label names.
    for collector, sample_names in REGISTRY._collector_to_names.items():
        labels = set(getattr(collector, "_labelnames", ()))
        for name in sample_names:
            if OUR_METRIC.fullmatch(name):
                extra = {"le"} if name.endswith("_bucket") else set()
                names[name] = labels | extra
    return names


def _dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    queries: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            queries.extend(t["expr"] for t in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(dash["panels"])
    for var in dash["templating"]["list"]:
        query = var.get("query")
        queries.append(query["query"] if isinstance(query, dict) else str(query or ""))
    return queries


def _alert_text() -> str:
    # No YAML parser needed: any of our metric names anywhere in the file
    # (expressions or annotations) must exist.  promtool checks the syntax.
    return ALERTS.read_text()


def test_code_exports_the_metrics_the_docs_rely_on() -> None:
    exported = _exported()
    for name in ("eventlog_spool_depth", "database_events_inserted_total",
                 "database_record_event_batch_total", "eventlog_rpc_requests_total"):
        assert name in exported, f"{name} not registered; is its module importable?"


def test_every_labelled_counter_lists_its_known_labels() -> None:
    # The one list (sfeventlog.metrics.KNOWN_LABELS) is what puts each known
    # series at 0 from import; a labelled counter made without it would be
    # invisible until its first increment, and increase() would miss that.
    from prometheus_client import Counter

    from sfeventlog.metrics import KNOWN_LABELS

    _import_everything()
    for collector, sample_names in REGISTRY._collector_to_names.items():
        labels = tuple(getattr(collector, "_labelnames", ()))
        ours = [n for n in sample_names if OUR_METRIC.fullmatch(n)]
        if isinstance(collector, Counter) and labels and ours:
            name = next(n for n in ours if n.endswith("_total"))
            assert name in KNOWN_LABELS, f"{name}: make it with metrics.labelled_counter"
            assert tuple(KNOWN_LABELS[name]) == labels


def test_the_drop_alert_is_tested_on_series_as_a_process_exposes_them() -> None:
    # alerts_test.yml's node1 must look like a real scrape: every known
    # reason present, at 0 from its first sample (test_metrics.py checks a
    # fresh process does expose them so).
    from sfeventlog.metrics import KNOWN_LABELS

    series = re.findall(
        r"series: 'eventlog_spool_dropped_total\{[^}]*instance=\"node1:13001\","
        r" reason=\"(\w+)\"\}'\s+values: '(\S+)", ALERTS_TEST.read_text())
    reasons = KNOWN_LABELS["eventlog_spool_dropped_total"]["reason"]
    assert reasons and sorted(r for r, _ in series) == sorted(reasons)
    assert all(values.startswith("0") for _, values in series), series


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_queried_metric_exists_with_its_labels(source: str) -> None:
    exported = _exported()
    text = _alert_text() if source == "alerts" else "\n".join(_dashboard_queries())
    used = set(OUR_METRIC.findall(text))
    assert used, f"no metrics found in the {source}"
    missing = sorted(used - exported.keys())
    assert not missing, f"{source} query metrics the code does not export: {missing}"
    for name, matchers in SELECTOR.findall(text):
        for label in MATCHER.findall(matchers):
            if label not in SCRAPE_LABELS:
                assert label in exported[name], f"{source}: {name} has no label {label!r}"


def _family(sample_name: str) -> str:
    return re.sub(r"_(total|created|bucket|sum|count)$", "", sample_name)


def test_dashboard_shows_every_exported_metric() -> None:
    # A counter or histogram counts as shown if any of its series is queried.
    shown = {_family(n) for n in OUR_METRIC.findall("\n".join(_dashboard_queries()))}
    missing = sorted({_family(n) for n in _exported()} - shown)
    assert not missing, f"dashboard lacks panels for: {missing}"


def test_dashboard_is_importable_shape() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert dash["uid"] and dash["title"]
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        why = "promtool not found on PATH"
        if in_ci():
            pytest.fail(f"{why} (CI=true: .ci/run installs Debian's 'prometheus' package)",
                        pytrace=False)
        pytest.skip(f"{why}. To enable: apt-get install -y prometheus")
    return path


def test_promtool_checks_the_rules() -> None:
    proc = subprocess.run([_promtool(), "check", "rules", str(ALERTS)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_unit_tests_pass() -> None:
    proc = subprocess.run([_promtool(), "test", "rules", str(ALERTS_TEST)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


#: Grafana's variables, replaced by plausible values so promtool can parse.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$job": ".*"}


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses expressions only inside rule files: wrap each panel
    # query as a recording rule (JSON is valid YAML).
    rules = []
    for i, query in enumerate(_dashboard_queries()):
        if query.startswith("label_values("):
            continue  # a Grafana function, not PromQL
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        rules.append({"record": f"dashboard:query_{i}", "expr": query})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run([_promtool(), "check", "rules", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
