"""The drain loop against real spool files and an in-process recording transport."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import tenacity

from sfeventlog import metrics
from sfeventlog.backoff import wait_equal_jitter
from sfeventlog.drainer import THREAD_NAME, Drainer
from sfeventlog.errors import ConfigError, PermanentError, RetryableError
from sfeventlog.payload import build_payload, encode
from sfeventlog.records import EventRecord
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path
from tests.fakes import RecordingTransport


def _wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    prepare_spool_dir(tmp_path)
    s = Spool(spool_path(tmp_path, "drain", os.getpid()))
    yield s
    s.close()


def _fill(spool: Spool, n: int, **overrides: object) -> None:
    for i in range(n):
        args: dict[str, object] = {"event_type": "audit", "objects": [("instance", f"u{i}")],
                                   "message": f"m{i}", "fqdn": "node"}
        args.update(overrides)
        assert spool.enqueue(encode(build_payload(**args))) is None  # type: ignore[arg-type]


def _fast_wait(maximum: float = 0.08) -> wait_equal_jitter:
    return wait_equal_jitter(initial=0.01, maximum=maximum)


def _drainer(spool: Spool, transport: RecordingTransport, **kwargs: object) -> Drainer:
    kwargs.setdefault("wait", _fast_wait())
    kwargs.setdefault("poll_interval", 0.01)
    return Drainer(spool, transport, "test", **kwargs)  # type: ignore[arg-type]


def test_delivers_everything_and_deletes_only_delivered(spool: Spool) -> None:
    _fill(spool, 450)
    transport = RecordingTransport()
    d = _drainer(spool, transport)
    d.start()
    assert d._thread is not None and d._thread.name == THREAD_NAME
    _wait_for(lambda: spool.count() == 0)
    assert d.stop(5)
    assert len(transport.stored) == 450
    assert max(transport.calls) <= 100


def test_failure_keeps_rows_then_delivers_once(spool: Spool) -> None:
    _fill(spool, 120)
    healthy = threading.Event()
    transport = RecordingTransport(
        fail_with=lambda recs: None if healthy.is_set() else RetryableError("store down"))
    d = _drainer(spool, transport)
    d.start()
    _wait_for(lambda: len(transport.calls) >= 3)
    assert spool.count() == 120
    assert transport.stored == {}
    healthy.set()
    _wait_for(lambda: spool.count() == 0)
    d.stop(5)
    assert len(transport.stored) == 120


def test_backoff_grows_to_the_cap_and_resets_on_success(spool: Spool) -> None:
    _fill(spool, 5)
    healthy = threading.Event()
    seen: list[float] = []
    transport = RecordingTransport(
        fail_with=lambda recs: None if healthy.is_set() else RetryableError("down"))
    d = _drainer(spool, transport, wait=wait_equal_jitter(initial=0.004, maximum=0.064))
    original = d._before_sleep

    def spy(state: tenacity.RetryCallState) -> None:
        original(state)
        seen.append(metrics.DRAIN_BACKOFF._value.get())

    d._retrying.before_sleep = spy
    d.start()
    _wait_for(lambda: len(seen) >= 12)
    healthy.set()
    _wait_for(lambda: spool.count() == 0)
    d.stop(5)
    nominal = [min(0.064, 0.004 * 2**i) for i in range(12)]
    for got, nom in zip(seen[:12], nominal, strict=True):
        assert nom / 2 <= got <= nom
    assert max(seen) > 0.032  # reached the cap's range
    assert metrics.DRAIN_BACKOFF._value.get() == 0


def test_equal_jitter_spreads_nodes_at_the_cap() -> None:
    policy = wait_equal_jitter()
    state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = 20
    delays = [policy(state) for _ in range(200)]
    assert all(15.0 <= d <= 30.0 for d in delays)
    mean = sum(delays) / len(delays)
    spread = math.sqrt(sum((d - mean) ** 2 for d in delays) / len(delays))
    assert spread > 2.0, "many nodes would retry in lockstep"
    assert len({round(d, 3) for d in delays}) > 150
    state.attempt_number = 1
    assert 0.25 <= policy(state) <= 0.5


def test_unexpected_exception_does_not_kill_the_thread(spool: Spool,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    _fill(spool, 30)
    broken = threading.Event()
    broken.set()
    transport = RecordingTransport(
        fail_with=lambda recs: KeyError("surprise") if broken.is_set() else None)
    before = metrics.DRAIN_ERRORS.labels(error="KeyError")._value.get()
    d = _drainer(spool, transport)
    d.start()
    _wait_for(lambda: len(transport.calls) >= 5)
    assert d.alive
    assert metrics.DRAIN_ERRORS.labels(error="KeyError")._value.get() - before >= 4
    logged = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert len(logged) == 1, "one log line per distinct error, not per attempt"
    assert logged[0].exc_info is not None
    broken.clear()
    _wait_for(lambda: spool.count() == 0)
    d.stop(5)
    assert len(transport.stored) == 30


def test_unparseable_row_is_dead_lettered_and_does_not_block(spool: Spool) -> None:
    _fill(spool, 3)
    spool.enqueue(b"{not json")
    _fill(spool, 3)
    transport = RecordingTransport()
    d = _drainer(spool, transport)
    d.start()
    _wait_for(lambda: spool.count() == 0)
    d.stop(5)
    assert len(transport.stored) == 6
    (dead,) = spool.deadletters()
    assert dead.payload == b"{not json"
    assert dead.reason == "unparseable"


def test_one_poison_record_in_100_costs_about_log2_calls(spool: Spool) -> None:
    _fill(spool, 57)
    _fill(spool, 1, message="POISON")
    _fill(spool, 42)

    def reject(recs: Sequence[EventRecord]) -> BaseException | None:
        if any(r.message == "POISON" for r in recs):
            return PermanentError("data too long for column 'message'")
        return None

    transport = RecordingTransport(fail_with=reject)
    d = _drainer(spool, transport)
    d.start()
    _wait_for(lambda: spool.count() == 0)
    d.stop(5)
    assert len(transport.stored) == 99
    assert len(transport.calls) <= 1 + 2 * math.ceil(math.log2(100))
    (dead,) = spool.deadletters()
    assert b"POISON" in dead.payload
    assert dead.reason == "rejected"
    assert dead.error_class == "PermanentError"
    assert "data too long" in dead.error
    assert dead.attempts >= 2
    assert dead.first_seen <= dead.last_seen


def test_old_format_uuid_is_persisted_before_sending(spool: Spool) -> None:
    spool.enqueue(b'{"event_type":"audit","fqdn":"n","message":"m","timestamp":1.0,'
                  b'"extra":"{\\"request-id\\": \\"r\\"}","objects":[["instance","u"]]}')
    sent: list[str] = []

    def fail_once(recs: Sequence[EventRecord]) -> BaseException | None:
        sent.extend(r.event_uuid for r in recs)
        return RetryableError("blip") if len(sent) == 1 else None

    transport = RecordingTransport(fail_with=fail_once)
    d = _drainer(spool, transport)
    d.start()
    _wait_for(lambda: spool.count() == 0)
    d.stop(5)
    assert len(sent) == 2 and sent[0] == sent[1], "a retry must resend the same uuid"
    (record,) = transport.stored.values()
    assert record.request_id == "r"


def test_stop_drains_what_is_left(spool: Spool) -> None:
    transport = RecordingTransport()
    d = _drainer(spool, transport, poll_interval=5.0)
    d.start()
    _fill(spool, 300)
    assert d.stop(drain_timeout=10)
    assert spool.count() == 0
    assert len(transport.stored) == 300


def test_stop_gives_up_at_the_timeout_and_keeps_rows(spool: Spool) -> None:
    _fill(spool, 10)
    transport = RecordingTransport(fail_with=lambda recs: RetryableError("down"))
    d = _drainer(spool, transport, wait=wait_equal_jitter(initial=0.05, maximum=0.2))
    d.start()
    assert d.stop(drain_timeout=0.5)
    assert not d.alive
    assert spool.count() == 10


def test_batch_level_rejection_is_split_without_dead_letters(spool: Spool) -> None:
    """'Too large' is about the batch, not a record: every record must still arrive."""
    _fill(spool, 100)

    def too_big(recs: Sequence[EventRecord]) -> BaseException | None:
        return PermanentError("message larger than max") if len(recs) > 7 else None

    transport = RecordingTransport(fail_with=too_big)
    d = _drainer(spool, transport)
    d.start()
    _wait_for(lambda: spool.count() == 0)
    d.stop(5)
    assert len(transport.stored) == 100
    assert spool.deadletters() == []


def test_a_long_backoff_ends_early_once_the_probe_says_ready(spool: Spool) -> None:
    _fill(spool, 20)
    healthy = threading.Event()
    transport = RecordingTransport(
        fail_with=lambda recs: None if healthy.is_set() else RetryableError("down"))
    transport.probe_fn = healthy.is_set
    # Every backoff is 15-30 s: without the probe nothing could arrive in time.
    d = _drainer(spool, transport, wait=wait_equal_jitter(initial=30.0, maximum=30.0))
    d.start()
    _wait_for(lambda: transport.probes >= 2)
    assert transport.stored == {}
    healthy.set()
    _wait_for(lambda: spool.count() == 0, timeout=8.0)
    assert d.stop(5)
    assert len(transport.stored) == 20
    assert len(transport.calls) == 2, "one failed call, then one after the probe"


def test_a_failing_probe_counts_as_not_ready(spool: Spool) -> None:
    _fill(spool, 5)
    transport = RecordingTransport(fail_with=lambda recs: RetryableError("down"))

    def broken_probe() -> bool:
        raise OSError("probe exploded")

    transport.probe_fn = broken_probe
    d = _drainer(spool, transport, wait=wait_equal_jitter(initial=30.0, maximum=30.0))
    d.start()
    _wait_for(lambda: transport.probes >= 2)
    assert d.alive
    assert len(transport.calls) == 1, "a probe error never triggers an early retry"
    assert d.stop(0.5)
    assert spool.count() == 5


def test_a_probe_that_was_wrong_cuts_no_more_backoffs(spool: Spool) -> None:
    """A server whose health ignores its store says "ready" while every call fails."""
    _fill(spool, 5)
    transport = RecordingTransport(fail_with=lambda recs: RetryableError("store down"))
    transport.probe_fn = lambda: True
    # Backoffs of 5-10 s: a trusted probe would retry about every second.
    d = _drainer(spool, transport, wait=wait_equal_jitter(initial=10.0, maximum=10.0))
    d.start()
    _wait_for(lambda: len(transport.calls) >= 2)
    probes = transport.probes
    time.sleep(3.5)
    assert len(transport.calls) == 2, "the retry after the wrong probe, then a full backoff"
    assert transport.probes == probes, "the probe is not asked again"
    assert d.stop(0.5)
    assert spool.count() == 5


def test_a_config_error_is_named_once_and_keeps_the_rows(
        spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    _fill(spool, 5)
    transport = RecordingTransport(
        fail_with=lambda recs: ConfigError("SHAKENFIST_MARIADB_PASSWORD cannot be sent"))
    d = _drainer(spool, transport)
    with caplog.at_level("WARNING", logger="sfeventlog.drainer"):
        d.start()
        _wait_for(lambda: len(transport.calls) >= 3)
        assert d.stop(0.5)
    named = [r for r in caplog.records if "configuration fix" in r.getMessage()]
    assert len(named) == 1 and named[0].levelname == "ERROR" and named[0].exc_info is None
    assert "SHAKENFIST_MARIADB_PASSWORD" in named[0].getMessage()
    assert not [r for r in caplog.records if "unexpected" in r.getMessage()]
    assert spool.count() == 5 and spool.deadletters() == []
