"""The example third-party plugin (examples/jsonl-transport), installed.

The README's test command installs it with ``pip install -e
examples/jsonl-transport``; a missing install fails here, loudly, rather
than skipping, because it is the proof that third parties can plug in.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

import sfeventlog
from sfeventlog.loader import installed_transports
from sfeventlog.testing import TransportContract

INSTALL_HINT = "install it first: pip install -e examples/jsonl-transport"


def _plugin_testing() -> ModuleType:
    try:
        return importlib.import_module("sfeventlog_jsonl.testing")
    except ImportError as exc:
        pytest.fail(f"the example plugin sfeventlog-jsonl is not installed ({exc}); {INSTALL_HINT}",
                    pytrace=False)


def test_plugin_is_registered_by_its_own_distribution() -> None:
    found = {t.name: t for t in installed_transports()}
    if "jsonl" not in found:
        pytest.fail(f"no 'jsonl' entry point in sfeventlog.transports; {INSTALL_HINT}",
                    pytrace=False)
    assert found["jsonl"].distribution == "sfeventlog-jsonl"
    assert found["jsonl"].target == "sfeventlog_jsonl.transport:JsonlTransport"


def test_events_flow_through_the_caller_api_into_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _plugin_testing().JsonlBackend(tmp_path)
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_TRANSPORT", "jsonl")
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_JSONL_PATH", str(backend.path))

    sfeventlog.start("jsonl-example")
    single, multi = 150, 100
    for i in range(single):
        assert sfeventlog.add_event("audit", "instance", f"inst-{i}", f"single {i}")
    for i in range(multi):
        assert sfeventlog.add_event_multi(
            "mutate", [("instance", f"inst-{i}"), ("network", f"net-{i}")], f"multi {i}",
            duration=0.0, extra={"i": i}, request_id=f"req-{i}")
    assert sfeventlog.stop(drain_timeout=60.0), "spool not empty after stop()"

    stored = backend.stored()
    assert len(stored) == single + multi  # events in == lines out
    assert len({r.event_uuid for r in stored}) == single + multi
    assert {r.message for r in stored} == (
        {f"single {i}" for i in range(single)} | {f"multi {i}" for i in range(multi)})
    last = next(r for r in stored if r.message == f"multi {multi - 1}")
    assert last.objects == [("instance", f"inst-{multi - 1}"), ("network", f"net-{multi - 1}")]
    assert (last.duration, last.extra, last.request_id) == (0.0, {"i": multi - 1},
                                                            f"req-{multi - 1}")


class TestExamplePluginContract(TransportContract):
    """The public kit, unmodified, against the installed example plugin."""

    @pytest.fixture
    def contract_backend(self, tmp_path: Path) -> object:
        return _plugin_testing().JsonlBackend(tmp_path)
