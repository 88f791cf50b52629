"""Loader errors a third-party author or an operator will meet.

Each test registers a fake distribution: a temp dir on ``sys.path`` holding
a module and a ``*.dist-info`` with ``entry_points.txt``, which
``importlib.metadata`` (and so stevedore) discovers like an installed one.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from stevedore.extension import ExtensionManager

from sfeventlog.config import Settings
from sfeventlog.errors import TransportLoadError
from sfeventlog.loader import installed_transports, load_transport, load_transport_class
from sfeventlog.transport import TRANSPORT_API_VERSION

DIST = "fake-sfeventlog-plugin"
DIST_VERSION = "7.3.1"
MODULE = "fake_sfeventlog_plugin_mod"

PLUGIN_SOURCE = f"""
from sfeventlog.transport import Transport

class FutureTransport(Transport):
    api_version = {TRANSPORT_API_VERSION + 1}

    def record_event_batch(self, records):
        pass

class CurrentTransport(Transport):
    api_version = 1

    def record_event_batch(self, records):
        pass

class UnversionedTransport(Transport):
    def record_event_batch(self, records):
        pass
"""

BROKEN_SOURCE = """
raise ImportError("libfakestore.so.3: cannot open shared object file")
"""


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install the fake distribution for one test, then forget it."""
    (tmp_path / f"{MODULE}.py").write_text(PLUGIN_SOURCE)
    (tmp_path / f"{MODULE}_broken.py").write_text(BROKEN_SOURCE)
    info = tmp_path / f"{DIST.replace('-', '_')}-{DIST_VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {DIST_VERSION}\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [sfeventlog.transports]
        fromthefuture = {MODULE}:FutureTransport
        uptodate = {MODULE}:CurrentTransport
        unversioned = {MODULE}:UnversionedTransport
        brokenplugin = {MODULE}_broken:CurrentTransport
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    # stevedore caches each group's entry points for the life of the
    # process; an earlier test's load would hide this distribution.
    monkeypatch.setattr(ExtensionManager, "ENTRY_POINT_CACHE", {})
    yield tmp_path
    for name in (MODULE, f"{MODULE}_broken"):
        sys.modules.pop(name, None)


def test_fake_distribution_is_discovered(fake_dist: Path) -> None:
    found = {t.name: t for t in installed_transports()}
    assert found["uptodate"].distribution == DIST
    assert found["uptodate"].version == DIST_VERSION
    assert load_transport_class("uptodate").__name__ == "CurrentTransport"


def test_plugin_for_another_api_version_gets_a_clear_error(fake_dist: Path) -> None:
    with pytest.raises(TransportLoadError) as info:
        load_transport(Settings(eventlog_transport="fromthefuture"))
    message = str(info.value)
    assert f"implements transport API version {TRANSPORT_API_VERSION + 1}" in message
    assert f"this sfeventlog speaks version {TRANSPORT_API_VERSION}" in message
    assert f"{DIST} {DIST_VERSION}" in message  # which distribution to upgrade
    assert "upgrade" in message


def test_plugin_that_states_no_version_is_refused(fake_dist: Path) -> None:
    # Transport states no version of its own: forgetting the line is an error,
    # not a silent match with whatever this sfeventlog speaks.
    with pytest.raises(TransportLoadError) as info:
        load_transport_class("unversioned")
    message = str(info.value)
    assert "states no transport API version" in message
    assert f"api_version = {TRANSPORT_API_VERSION}" in message
    assert f"{DIST} {DIST_VERSION}" in message


def test_unknown_name_names_the_key_lists_installed_and_suggests(fake_dist: Path) -> None:
    with pytest.raises(TransportLoadError) as info:
        load_transport_class("uptodat")
    message = str(info.value)
    assert "SHAKENFIST_EVENTLOG_TRANSPORT" in message
    assert "eventlog_transport" in message
    for name in ("null", "uptodate", "fromthefuture", "brokenplugin"):
        assert name in message.split("Installed transports:")[1]
    assert "Did you mean 'uptodate'?" in message


def test_import_failure_names_the_exception_and_distribution(fake_dist: Path) -> None:
    with pytest.raises(TransportLoadError) as info:
        load_transport_class("brokenplugin")
    message = str(info.value)
    assert "failed to import" in message
    assert "ImportError: libfakestore.so.3: cannot open shared object file" in message
    assert f"{MODULE}_broken:CurrentTransport from {DIST} {DIST_VERSION}" in message
    assert isinstance(info.value.__cause__, ImportError)  # the original, for tracebacks
