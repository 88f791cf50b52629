"""The transport contract suite, in the spirit of a dialect compliance kit.

Subclass ``TransportContract`` and provide a ``contract_backend`` fixture
returning a ``ContractBackend``.  Every test here states one clause of the
contract in ``sfeventlog.transport.Transport``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import pytest

from sfeventlog.errors import PermanentError, RetryableError, TransportError
from sfeventlog.loader import installed_transports, load_transport, load_transport_class
from sfeventlog.records import EventRecord
from sfeventlog.testing.backend import ContractBackend, make_record
from sfeventlog.testing.requirements import Requirement, require
from sfeventlog.transport import (
    SUPPORTED_TRANSPORT_API_VERSIONS,
    Transport,
    declared_api_version,
    in_flight_depth,
)

T = TypeVar("T")

# Run in a fresh interpreter: the plugin module is imported, and the
# transport built, under an audit hook that records every kind of I/O the
# contract forbids there (sys.addaudithook sees what monkeypatching a socket
# would miss: a mkdir, a file opened for writing, sqlite3.connect, a child).
_NO_IO_PROBE = """
import json, os, sys
sys.dont_write_bytecode = True
from importlib import metadata
from sfeventlog.config import Settings
import sfeventlog.transport

(entry_point,) = metadata.entry_points(group="sfeventlog.transports", name=sys.argv[1])
settings = Settings.model_validate_json(sys.argv[2])
WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
FORBIDDEN = {"socket.connect", "socket.bind", "sqlite3.connect", "subprocess.Popen",
             "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.chmod", "os.chown",
             "os.symlink", "os.link", "os.truncate", "os.system", "os.posix_spawn",
             "os.exec", "os.fork", "os.forkpty", "os.kill", "shutil.rmtree",
             "shutil.copyfile", "shutil.move"}
seen = []
active = False

def hook(event, args):
    if not active:
        return
    if event == "open":
        path, mode, flags = (list(args) + [None, None, 0])[:3]
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITES:
            seen.append(f"open({path!r}, {mode!r}) for writing")
    elif event in FORBIDDEN:
        seen.append(f"{event}{tuple(str(a)[:200] for a in args)}")

sys.addaudithook(hook)
active = True
cls = entry_point.load()
transport = cls(settings)
active = False
print(json.dumps(seen))
"""


def io_at_construction(name: str, settings_json: str,
                       extra_path: Sequence[str] = ()) -> list[str]:
    """The forbidden I/O done importing transport ``name`` and building it.

    Raises AssertionError if the probe itself fails (import error, crash).
    ``extra_path`` is prepended to the child's ``PYTHONPATH``.
    """
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([*extra_path, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", _NO_IO_PROBE, name, settings_json],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    found: list[str] = json.loads(lines[-1])
    return found


HOSTILE = "'; DROP TABLE events; -- \" \\ % _ \x00? `x` /* */"


def _by_uuid(records: Sequence[EventRecord]) -> dict[str, EventRecord]:
    return {r.event_uuid: r for r in records}


class TransportContract:
    """Contract tests; needs a ``contract_backend`` fixture."""

    @pytest.fixture
    def transport(self, contract_backend: ContractBackend) -> Iterator[Transport]:
        t = load_transport(contract_backend.settings())
        yield t
        t.close()

    def _roundtrip(self, backend: ContractBackend, transport: Transport,
                   records: list[EventRecord]) -> None:
        transport.record_event_batch(records)
        uuids = [r.event_uuid for r in records]
        assert backend.count_stored(uuids) == len(records)
        if Requirement.READ_BACK not in backend.meets:
            return
        assert _by_uuid(backend.read_back(uuids)) == _by_uuid(records)

    # -- registration and construction --------------------------------

    def test_requirements_are_declared(self, contract_backend: ContractBackend) -> None:
        meets = frozenset(contract_backend.meets)
        unmet = dict(contract_backend.unmet)
        for requirement in Requirement:
            assert (requirement in meets) != (requirement in unmet), (
                f"{contract_backend.name!r} must declare {requirement.name} either met"
                " (in meets) or unmet (in unmet, with a reason), not both or neither")
        for requirement, reason in unmet.items():
            assert isinstance(reason, str) and reason.strip(), (
                f"{contract_backend.name!r}: unmet {requirement.name} needs a reason")

    def test_loads_through_entry_point(self, contract_backend: ContractBackend) -> None:
        names = [t.name for t in installed_transports()]
        assert contract_backend.name in names
        cls = load_transport_class(contract_backend.name)
        assert issubclass(cls, Transport)
        # Stated by the plugin itself, as a literal the loader can refuse.
        version = declared_api_version(cls)
        assert isinstance(version, int), f"{cls.__name__} must set api_version = <int>"
        assert version in SUPPORTED_TRANSPORT_API_VERSIONS

    def test_no_io_at_import_or_construction(self, contract_backend: ContractBackend) -> None:
        settings = (contract_backend.unreachable_settings()
                    if Requirement.UNREACHABLE in contract_backend.meets
                    else contract_backend.settings())
        found = io_at_construction(contract_backend.name, settings.model_dump_json())
        assert not found, f"I/O while importing or building the transport: {found}"

    def test_close_twice(self, contract_backend: ContractBackend) -> None:
        t = load_transport(contract_backend.settings())
        t.record_event_batch([make_record()])
        t.close()
        t.close()

    # -- delivery --------------------------------------------------------

    def test_roundtrip_field_for_field(self, contract_backend: ContractBackend,
                                       transport: Transport) -> None:
        records = [
            make_record(),
            make_record(objects=[("instance", "i-1"), ("network", "n-1"), ("blob", "b-1")]),
            make_record(extra=None),
            make_record(extra={"foo": 1, "nested": {"a": [1, 2, 3]}, "s": "x"}),
            make_record(request_id=None),
            make_record(request_id="req-abc"),
            make_record(duration=0.0),
            make_record(duration=None),
            make_record(duration=1.25, event_type="usage"),
        ]
        self._roundtrip(contract_backend, transport, records)

    def test_empty_batch_is_a_no_op(self, contract_backend: ContractBackend,
                                    transport: Transport) -> None:
        first = make_record()
        transport.record_event_batch([first])
        transport.record_event_batch([])
        # (A discarding store counts everything it was given: still one.)
        assert contract_backend.count_stored([first.event_uuid]) == 1

    def test_check_passes_on_a_working_store(self, transport: Transport) -> None:
        self._within(10.0, transport.check)

    def test_probe_answers_quickly_on_a_working_store(self, contract_backend: ContractBackend,
                                                      transport: Transport) -> None:
        answer = self._within(1.5, transport.probe)
        if Requirement.PROBE in contract_backend.meets:
            assert answer is True, "a probe must say True while the store answers"
        else:
            assert answer is None, "a transport declaring no PROBE must answer None"

    def test_replay_adds_nothing(self, contract_backend: ContractBackend,
                                 transport: Transport) -> None:
        require(contract_backend, Requirement.DEDUPES)
        records = [make_record() for _ in range(10)]
        transport.record_event_batch(records)
        transport.record_event_batch(records)
        transport.record_event_batch(records[3:7])
        assert contract_backend.count_stored([r.event_uuid for r in records]) == len(records)

    def test_four_byte_utf8(self, contract_backend: ContractBackend,
                            transport: Transport) -> None:
        records = [make_record(message="launched \U0001F680 ok \u00e9\u4e2d",
                               extra={"emoji": "\U0001F525"}, request_id="req-\U0001F600")]
        self._roundtrip(contract_backend, transport, records)

    def test_sql_metacharacters_stored_literally(self, contract_backend: ContractBackend,
                                                 transport: Transport) -> None:
        hostile = HOSTILE.replace("\x00", "")
        records = [make_record(
            message=hostile, fqdn="node'; --", request_id="r'\"%",
            extra={"k'\"": hostile}, objects=[("instance", "u'--"), ("network", "n\"%_")],
        )]
        self._roundtrip(contract_backend, transport, records)

    def test_batch_of_one_hundred(self, contract_backend: ContractBackend,
                                  transport: Transport) -> None:
        self._roundtrip(contract_backend, transport, [make_record() for _ in range(100)])

    def test_calls_as_max_in_flight_declares(self, contract_backend: ContractBackend,
                                              transport: Transport) -> None:
        """n = ``max_in_flight`` >= 1: n calls at once from other threads each
        store their batch once.  0: calls one after another on one thread."""
        depth = in_flight_depth(transport)
        batches = [[make_record() for _ in range(20)] for _ in range(max(depth, 1) * 3)]
        if depth == 0:
            for batch in batches:
                transport.record_event_batch(batch)
        else:
            gate = threading.Barrier(depth)
            errors: list[BaseException] = []

            def send(mine: list[list[EventRecord]]) -> None:
                try:
                    for batch in mine:
                        gate.wait(30)  # every thread's next call starts together
                        transport.record_event_batch(batch)
                except BaseException as exc:  # noqa: BLE001 - handed to the test
                    errors.append(exc)
                    gate.abort()

            workers = [threading.Thread(target=send, args=(batches[i::depth],), daemon=True)
                       for i in range(depth)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(120)
            assert not errors, errors
        uuids = [r.event_uuid for batch in batches for r in batch]
        assert contract_backend.count_stored(uuids) == len(uuids)

    # -- failures --------------------------------------------------------

    def test_unreachable_raises_retryable(self, contract_backend: ContractBackend) -> None:
        require(contract_backend, Requirement.UNREACHABLE)
        t = load_transport(contract_backend.unreachable_settings())
        try:
            with pytest.raises(RetryableError):
                self._call_with_limit(t, [make_record()])
        finally:
            t.close()

    def test_check_fails_on_an_unreachable_store(self, contract_backend: ContractBackend) -> None:
        require(contract_backend, Requirement.UNREACHABLE)
        t = load_transport(contract_backend.unreachable_settings())
        try:
            with pytest.raises(TransportError):
                self._within(60.0, t.check)
        finally:
            t.close()

    def test_probe_never_raises_on_an_outage(self, contract_backend: ContractBackend) -> None:
        require(contract_backend, Requirement.UNREACHABLE)
        t = load_transport(contract_backend.unreachable_settings())
        try:
            answer = self._within(1.5, t.probe)
        finally:
            t.close()
        expected = False if Requirement.PROBE in contract_backend.meets else None
        assert answer is expected, f"probe() on an outage answered {answer!r}"

    def test_rejected_record_raises_permanent(self, contract_backend: ContractBackend,
                                              transport: Transport) -> None:
        require(contract_backend, Requirement.REJECTS_RECORDS)
        bad = contract_backend.rejected_record()
        with pytest.raises(PermanentError):
            transport.record_event_batch([bad])
        good = make_record()
        transport.record_event_batch([good])
        assert contract_backend.count_stored([good.event_uuid]) == 1

    @staticmethod
    def _within(limit: float, call: Callable[[], T]) -> T:
        """``call()``, failing the test if it takes longer than ``limit`` seconds."""
        started = time.monotonic()
        result = call()
        elapsed = time.monotonic() - started
        assert elapsed <= limit, f"took {elapsed:.2f}s, the contract allows {limit}s"
        return result

    @staticmethod
    def _call_with_limit(t: Transport, records: list[EventRecord], limit: float = 60.0) -> None:
        """Run a call that must fail, bounding how long it may hang."""
        result: list[BaseException | None] = []

        def target() -> None:
            try:
                t.record_event_batch(records)
                result.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                result.append(exc)

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(limit)
        assert result, f"record_event_batch against an unreachable store hung for {limit}s"
        if result[0] is not None:
            raise result[0]
