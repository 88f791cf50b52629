"""The spool payload: phase 2 shape, validation, and old-format parsing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog.payload import UnparseableRow, parse_row
from sfeventlog.request_context import set_request_id_provider


def _rows() -> list[dict[str, object]]:
    spool = api.current_spool()
    assert spool is not None
    return [json.loads(raw) for _, raw in spool.dequeue_batch(1000)]


@pytest.fixture(autouse=True)
def _settings(settings: Settings) -> None:
    api.reset_for_tests(settings)


def test_phase2_payload_shape() -> None:
    assert sfeventlog.add_event("audit", "instance", "uuid-1", "Created instance",
                                duration=0.12, extra={"foo": 1}, request_id="req-abc")
    (row,) = _rows()
    assert set(row) == {"event_uuid", "event_type", "fqdn", "duration", "message", "extra",
                        "request_id", "timestamp", "objects"}
    assert row["request_id"] == "req-abc"
    assert isinstance(row["extra"], str)
    assert json.loads(row["extra"]) == {"foo": 1}
    assert "request-id" not in row["extra"]
    assert row["objects"] == [["instance", "uuid-1"]]
    assert row["duration"] == 0.12


def test_event_uuids_are_present_and_time_ordered() -> None:
    for i in range(50):
        sfeventlog.add_event("audit", "instance", f"u{i}", "m")
    uuids = [str(r["event_uuid"]) for r in _rows()]
    assert len(set(uuids)) == 50
    assert uuids == sorted(uuids)


def test_request_id_in_extra_is_lifted_to_top_level() -> None:
    sfeventlog.add_event("audit", "instance", "u", "m", extra={"request-id": "r-1", "a": 2})
    (row,) = _rows()
    assert row["request_id"] == "r-1"
    assert json.loads(str(row["extra"])) == {"a": 2}


def test_explicit_request_id_wins_over_provider() -> None:
    set_request_id_provider(lambda: "from-context")
    try:
        sfeventlog.add_event("audit", "instance", "u", "m")
        sfeventlog.add_event("audit", "instance", "u", "m", request_id="explicit")
    finally:
        set_request_id_provider(None)
    assert [r["request_id"] for r in _rows()] == ["from-context", "explicit"]


def test_flask_request_id_is_picked_up_inside_a_request() -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask("t")
    with app.test_request_context("/", environ_base={"FLASK_REQUEST_ID": "req-flask"}):
        sfeventlog.add_event("audit", "instance", "u", "m")
    sfeventlog.add_event("audit", "instance", "u", "m")  # outside any request
    assert [r["request_id"] for r in _rows()] == ["req-flask", None]


def test_repeated_objects_are_dropped_keeping_order() -> None:
    assert sfeventlog.add_event_multi(
        "mutate", [("instance", "i1"), ("network", "n1"), ("instance", "i1")], "m")
    (row,) = _rows()
    assert row["objects"] == [["instance", "i1"], ["network", "n1"]]


def test_multi_object_event_keeps_every_object() -> None:
    objs = [("instance", "i1"), ("network", "n1"), ("blob", "b1")]
    assert sfeventlog.add_event_multi("mutate", objs, "moved")
    (row,) = _rows()
    assert row["objects"] == [list(o) for o in objs]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"event_type": ""}, "event_type"),
        ({"event_type": None}, "event_type"),
        ({"objects": []}, "at least one"),
        ({"objects": [("instance",)]}, "objects[0]"),
        ({"objects": [("instance", "")]}, "object_uuid"),
        ({"objects": [("", "u")]}, "object_type"),
        ({"objects": [("instance", 5)]}, "object_uuid"),
        ({"objects": "instance"}, "iterable"),
        ({"extra": ["not", "a", "mapping"]}, "extra must be a mapping"),
        ({"extra": {"x": object()}}, "JSON-serialisable"),
        ({"extra": {"x": math.nan}}, "JSON-serialisable"),
        ({"duration": math.inf}, "duration must be finite"),
        ({"duration": "fast"}, "duration must be a number"),
        ({"timestamp": math.nan}, "timestamp must be finite"),
        ({"message": b"bytes"}, "message must be a str"),
        ({"message": None}, "message must be a str"),
        ({"request_id": 12}, "request_id must be a str"),
        ({"event_type": "x" * 33}, "event_type is 33 characters; the store allows 32"),
        ({"objects": [("t" * 33, "u")]}, "object_type is 33 characters"),
        ({"objects": [("instance", "u" * 37)]}, "object_uuid is 37 characters"),
        ({"request_id": "r" * 65}, "request_id is 65 characters"),
        ({"message": "\u00e9" * 40000}, "message is over 65535 bytes"),
        ({"message": "bad \ud800 surrogate"}, "lone surrogate"),
        ({"extra": {1: "int key"}}, "extra keys must be str"),
        ({"extra": {"deep": [{"x": {2: 3}}]}}, "keys must be str"),
        ({"extra": {"s": "\udfff"}}, "lone surrogate"),
        ({"extra": {"blob": "x" * 70_000}}, "the limit is 65536"),
    ],
)
def test_bad_input_raises_value_error_and_writes_nothing(
    kwargs: dict[str, object], needle: str, spool_dir: Path
) -> None:
    sfeventlog.add_event("audit", "instance", "u", "ok")  # open the spool
    args: dict[str, object] = {"event_type": "audit", "objects": [("instance", "u")],
                               "message": "m"}
    args.update(kwargs)
    with pytest.raises(ValueError) as err:
        sfeventlog.add_event_multi(**args)  # type: ignore[arg-type]
    assert needle in str(err.value)
    assert len(_rows()) == 1


def test_old_format_row_parses_with_fallbacks() -> None:
    old = {"event_type": "audit", "fqdn": "node-01", "duration": 0.12,
           "message": "Created instance",
           "extra": json.dumps({"request-id": "req-abc", "foo": 1}),
           "timestamp": 1748736000.123, "objects": [["instance", "uuid-1"]]}
    record, generated = parse_row(json.dumps(old).encode())
    assert generated
    assert len(record.event_uuid) == 36
    assert record.request_id == "req-abc"
    assert record.extra == {"foo": 1}
    assert record.objects == [("instance", "uuid-1")]


def test_dict_objects_and_zero_duration_parse() -> None:
    row = {"event_uuid": "0190a0a0-0000-7000-8000-000000000001", "event_type": "status",
           "fqdn": "n", "duration": 0.0, "message": "m", "extra": None, "request_id": None,
           "timestamp": 1.5,
           "objects": [{"object_type": "instance", "object_uuid": "i1"},
                       {"object_type": "node", "object_uuid": "n1"}]}
    record, generated = parse_row(json.dumps(row))
    assert not generated
    assert record.duration == 0.0
    assert record.objects == [("instance", "i1"), ("node", "n1")]


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"event_type": "x"}',
                                 (b'{"event_type":"a","fqdn":"f","message":"m","timestamp":1,'
                                  b'"objects":[]}')])
def test_unparseable_rows_say_why(raw: bytes) -> None:
    with pytest.raises(UnparseableRow):
        parse_row(raw)
