"""Behaviour of the jsonl transport beyond the shared contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sfeventlog.config import Settings
from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.testing import make_record

from sfeventlog_jsonl.testing import MAX_LINE_BYTES, JsonlBackend
from sfeventlog_jsonl.transport import JsonlTransport


@pytest.fixture
def backend(tmp_path: Path) -> JsonlBackend:
    return JsonlBackend(tmp_path)


def test_two_instances_on_one_file_store_each_event_once(backend: JsonlBackend) -> None:
    # Another process (say, one that rescued an orphaned spool) replays
    # what this one already appended: the shared file must not duplicate.
    first, second = JsonlTransport(backend.settings()), JsonlTransport(backend.settings())
    records = [make_record() for _ in range(5)]
    first.record_event_batch(records[:3])
    second.record_event_batch(records)
    first.record_event_batch(records)
    assert [r.event_uuid for r in backend.stored()] == [r.event_uuid for r in records]


def test_duplicate_within_one_batch_is_stored_once(backend: JsonlBackend) -> None:
    record = make_record()
    JsonlTransport(backend.settings()).record_event_batch([record, record])
    assert backend.count_stored([record.event_uuid]) == 1


def test_torn_last_line_is_cut_before_appending(backend: JsonlBackend) -> None:
    kept = make_record()
    JsonlTransport(backend.settings()).record_event_batch([kept])
    with backend.path.open("ab") as f:
        f.write(b'{"event_uuid": "half-writ')  # a writer died mid-line
    fresh = make_record()
    JsonlTransport(backend.settings()).record_event_batch([fresh])
    assert [r.event_uuid for r in backend.stored()] == [kept.event_uuid, fresh.event_uuid]


def test_rejection_writes_nothing_of_the_batch(backend: JsonlBackend) -> None:
    good = make_record()
    with pytest.raises(PermanentError, match="line limit"):
        JsonlTransport(backend.settings()).record_event_batch([good, backend.rejected_record()])
    assert backend.stored() == []


def test_record_that_is_not_utf8_is_rejected(backend: JsonlBackend) -> None:
    with pytest.raises(PermanentError, match="UTF-8"):
        JsonlTransport(backend.settings()).record_event_batch([make_record(message="\ud800")])


def test_missing_directory_is_retryable_and_names_the_key(backend: JsonlBackend) -> None:
    transport = JsonlTransport(backend.unreachable_settings())
    with pytest.raises(RetryableError, match="SHAKENFIST_EVENTLOG_JSONL_PATH"):
        transport.record_event_batch([make_record()])
    with pytest.raises(RetryableError, match="does not exist"):
        transport.check()
    assert transport.probe() is False
    # Once the operator creates the directory, the probe says so (the drainer
    # then retries early) and the same batch goes through.
    backend.unreachable_settings().eventlog_jsonl_path.parent.mkdir()
    assert transport.probe() is True
    transport.record_event_batch([make_record()])


def test_keys_come_from_the_environment_when_given_core_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env.jsonl"
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_JSONL_PATH", str(path))
    monkeypatch.setenv("SHAKENFIST_EVENTLOG_JSONL_MAX_LINE_BYTES", str(MAX_LINE_BYTES))
    transport = JsonlTransport(Settings(eventlog_transport="jsonl"))
    assert transport.max_line_bytes == MAX_LINE_BYTES
    record = make_record()
    transport.record_event_batch([record])
    assert json.loads(path.read_text())["event_uuid"] == record.event_uuid


def test_rotated_file_is_started_afresh(backend: JsonlBackend) -> None:
    transport = JsonlTransport(backend.settings())
    transport.record_event_batch([make_record()])
    backend.path.rename(backend.path.with_suffix(".1"))
    record = make_record()
    transport.record_event_batch([record])
    assert [r.event_uuid for r in backend.stored()] == [record.event_uuid]
