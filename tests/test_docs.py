"""The operator docs cover every configuration key and every metric."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from sfeventlog.config import ENV_PREFIX, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _table_rows(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith("| `")]


def _documented_default(field: str) -> str | None:
    """The default as the docs print it, for fields with a plain default."""
    info = Settings.model_fields[field]
    if info.default_factory is not None:
        return None
    default = info.default
    if default is None:
        return "unset"
    if isinstance(default, (str, int, float, Path)) and str(default) != "":
        return f"`{default}`"
    return None


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_configuration_reference(field: str) -> None:
    env = ENV_PREFIX + field.upper()
    rows = [r for r in _table_rows(DOCS / "configuration.md") if r.startswith(f"| `{field}` |")]
    assert len(rows) == 1, f"docs/configuration.md needs one table row for {field}"
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == f"`{env}`", f"{field}: env name should be {env}"
    expected = _documented_default(field)
    if expected is not None:
        assert cells[2] == expected, f"{field}: default is {expected}, docs say {cells[2]}"
    assert len(cells[3]) > 10, f"{field}: say what it means"


def _exported_families() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Our metric names (as scraped) -> (type, label names)."""
    for package_name in ("sfeventlog", "sfeventlog_transports"):
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, package_name + "."):
            importlib.import_module(module.name)
    found = {}
    # prometheus_client keeps no public map from collector to label names.
    for collector in REGISTRY._collector_to_names:
        name = getattr(collector, "_name", "")
        kind = getattr(collector, "_type", "")
        if re.match(r"(eventlog|database)_", name):
            scraped = name + ("_total" if kind == "counter" else "")
            found[scraped] = (kind, tuple(getattr(collector, "_labelnames", ())))
    return found


def test_every_metric_is_in_the_metrics_reference() -> None:
    rows = {r.split("`")[1]: r for r in _table_rows(DOCS / "metrics.md")}
    exported = _exported_families()
    missing = sorted(set(exported) - set(rows))
    assert not missing, f"docs/metrics.md lacks: {missing}"
    stale = sorted(set(rows) - set(exported))
    assert not stale, f"docs/metrics.md documents metrics the code lacks: {stale}"
    for name, (kind, labels) in exported.items():
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        assert cells[1] == kind, f"{name} is a {kind}, docs say {cells[1]}"
        # Labels are separated by ";", each optionally followed by ": values".
        documented = {m.group(1) for part in cells[2].split(";")
                      if (m := re.match(r"\s*`([a-z_]+)`", part))}
        assert documented == set(labels), f"{name} has labels {labels}, docs say {cells[2]!r}"


def _module_paths() -> set[str]:
    root = DOCS.parent
    found = set()
    for package in ("sfeventlog", "sfeventlog_transports"):
        for path in (root / package).rglob("*.py"):
            rel = path.relative_to(root / package).as_posix()
            if path.name != "__init__.py" and "_pb2" not in path.name:
                found.add(rel)
    return found


def test_architecture_page_names_only_modules_that_exist() -> None:
    text = (DOCS / "architecture.md").read_text()
    named = set(re.findall(r"\*\*`([a-z_/]+\.py)`\*\*", text))
    assert named, "no module paragraphs found"
    stale = sorted(named - _module_paths())
    assert not stale, f"docs/architecture.md describes modules that do not exist: {stale}"
    packages = set(re.findall(r"\*\*`([a-z_]+)/`\*\*", text))
    root = DOCS.parent
    gone = sorted(p for p in packages
                  if not (root / "sfeventlog" / p).is_dir() and not (root / p).is_dir())
    assert not gone, f"docs/architecture.md describes packages that do not exist: {gone}"


def test_architecture_page_has_a_paragraph_per_module() -> None:
    text = (DOCS / "architecture.md").read_text()
    named = set(re.findall(r"\*\*`([a-z_/]+\.py)`\*\*", text))
    # A tooling subpackage may instead have one paragraph as a whole: **`bench/`**.
    packages = set(re.findall(r"\*\*`([a-z_]+)/`\*\*", text))
    missing = sorted(m for m in _module_paths() - named if m.split("/")[0] not in packages)
    assert not missing, f"docs/architecture.md lacks a paragraph for: {missing}"
