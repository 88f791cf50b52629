"""The transport contract suite, in the spirit of a dialect compliance kit.

Subclass ``TransportContract`` and provide a ``contract_backend`` fixture
returning a ``ContractBackend``.  Every test here states one clause of the
contract in ``sfeventlog.transport.Transport``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence

import pytest

from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.loader import installed_transports, load_transport, load_transport_class
from sfeventlog.records import EventRecord
from sfeventlog.testing.backend import ContractBackend, make_record
from sfeventlog.transport import TRANSPORT_API_VERSION, Transport

_NO_IO_PROBE = """
import socket, sys, time

def forbidden(*args, **kwargs):
    raise AssertionError("network I/O during import or construction")

socket.socket.connect = forbidden
socket.socket.connect_ex = forbidden
socket.create_connection = forbidden
from sfeventlog.config import Settings
from sfeventlog.loader import load_transport_class

cls = load_transport_class(sys.argv[1])
settings = Settings.model_validate_json(sys.argv[2])
started = time.monotonic()
transport = cls(settings)
assert time.monotonic() - started < 5.0, "construction blocked"
print("constructed without I/O")
"""

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
        stored = backend.read_back(uuids)
        if stored is None:
            return
        assert _by_uuid(stored) == _by_uuid(records)

    # -- registration and construction --------------------------------

    def test_loads_through_entry_point(self, contract_backend: ContractBackend) -> None:
        names = [t.name for t in installed_transports()]
        assert contract_backend.name in names
        cls = load_transport_class(contract_backend.name)
        assert issubclass(cls, Transport)
        assert cls.api_version == TRANSPORT_API_VERSION

    def test_no_io_at_import_or_construction(self, contract_backend: ContractBackend) -> None:
        # A fresh interpreter, so the plugin module is really imported anew.
        settings = contract_backend.unreachable_settings() or contract_backend.settings()
        proc = subprocess.run(
            [sys.executable, "-c", _NO_IO_PROBE, contract_backend.name,
             settings.model_dump_json()],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == "constructed without I/O", proc.stdout + proc.stderr

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

    def test_empty_batch_is_a_no_op(self, transport: Transport) -> None:
        transport.record_event_batch([])

    def test_replay_adds_nothing(self, contract_backend: ContractBackend,
                                 transport: Transport) -> None:
        records = [make_record() for _ in range(10)]
        if contract_backend.read_back([]) is None:
            pytest.skip(f"n/a: transport {contract_backend.name!r} keeps no identities to duplicate")
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

    # -- failures --------------------------------------------------------

    def test_unreachable_raises_retryable(self, contract_backend: ContractBackend) -> None:
        settings = contract_backend.unreachable_settings()
        if settings is None:
            pytest.skip(f"n/a: transport {contract_backend.name!r} has no store to lose")
        t = load_transport(settings)
        try:
            with pytest.raises(RetryableError):
                self._call_with_limit(t, [make_record()])
        finally:
            t.close()

    def test_rejected_record_raises_permanent(self, contract_backend: ContractBackend,
                                              transport: Transport) -> None:
        bad = contract_backend.rejected_record()
        if bad is None:
            pytest.skip(f"n/a: transport {contract_backend.name!r} declares it rejects nothing")
        with pytest.raises(PermanentError):
            transport.record_event_batch([bad])
        good = make_record()
        transport.record_event_batch([good])
        assert contract_backend.count_stored([good.event_uuid]) == 1

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
